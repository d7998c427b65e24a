import Foundation

/// Validation of webhook endpoint URLs and the addresses they resolve to (SSRF protection).
///
/// Accepted: `http://` or `https://` URLs with a host, no user name or password, at most 2048
/// bytes. Refused unless the operator allows private targets (`webhooks.allow_private_targets`):
/// `localhost` names and addresses in loopback (127/8, ::1), private (10/8, 172.16/12,
/// 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10),
/// "this network" (0/8, ::), multicast and reserved ranges, and IPv4-mapped forms of them. The
/// delivery worker checks the resolved addresses again before every attempt.
public enum WebhookTarget {
    public static let maxURLLength = 2048

    /// The parsed parts of an accepted URL.
    public struct Parsed: Sendable, Equatable {
        public var scheme: String
        public var host: String
        public var port: Int?
    }

    /// Validates a URL; `field` names it in the error.
    public static func validate(_ text: String, allowPrivate: Bool, field: String = "url") throws(FieldError) -> Parsed {
        guard text.utf8.count <= maxURLLength else { throw FieldError(field, "\(field) is longer than \(maxURLLength) bytes") }
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased() else {
            throw FieldError(field, "\(field) must be an absolute http:// or https:// URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw FieldError(field, "\(field) must use http or https, not \(scheme)")
        }
        let afterScheme = text.range(of: "://").map { text[$0.upperBound...] } ?? Substring(text)
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard c.user == nil, c.password == nil, !authority.contains("@") else {
            throw FieldError(field, "\(field) must not contain credentials (user:password@); receivers verify the signature instead")
        }
        guard var host = c.host?.lowercased(), !host.isEmpty else { throw FieldError(field, "\(field) must have a host") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let port = c.port, port < 1 || port > 65535 { throw FieldError(field, "\(field) has an invalid port") }
        if !allowPrivate {
            if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".local") || host.hasSuffix(".internal") {
                throw FieldError(field, "\(field) points to a local host name (\(host)); private targets are refused unless webhooks.allow_private_targets is true")
            }
            if let bytes = ipBytes(host), isPrivate(bytes) {
                throw FieldError(field, "\(field) points to a loopback, private or link-local address (\(host)); refused unless webhooks.allow_private_targets is true")
            }
            if looksNumeric(host) && ipBytes(host) == nil {
                throw FieldError(field, "\(field) has a numeric host that is not a dotted IPv4 address (\(host))")
            }
        }
        return Parsed(scheme: scheme, host: host, port: c.port)
    }

    /// Hosts like `2130706433` or `0x7f.1` that some resolvers read as IPv4 addresses.
    static func looksNumeric(_ host: String) -> Bool {
        host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == "x" } && host.first?.isNumber == true
    }

    /// The address bytes of an IPv4 (dotted quad) or IPv6 literal.
    public static func ipBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// Whether an address (4 or 16 bytes) is not a public unicast address.
    public static func isPrivate(_ b: [UInt8]) -> Bool {
        if b.count == 4 {
            switch (b[0], b[1]) {
            case (0, _), (10, _), (127, _): return true
            case (100, 64...127): return true
            case (169, 254): return true
            case (172, 16...31): return true
            case (192, 168): return true
            case (192, 0) where b[2] == 0 || b[2] == 2: return true
            case (198, 18...19): return true
            case (198, 51) where b[2] == 100: return true
            case (203, 0) where b[2] == 113: return true
            default: return b[0] >= 224
            }
        }
        guard b.count == 16 else { return true }
        if b.allSatisfy({ $0 == 0 }) { return true }  // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }  // ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return isPrivate(Array(b[12..<16])) }  // ::ffff:a.b.c.d
        if b[0..<12].allSatisfy({ $0 == 0 }) { return isPrivate(Array(b[12..<16])) }  // ::a.b.c.d (deprecated)
        if b[0] & 0xFE == 0xFC { return true }  // fc00::/7
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return true }  // fe80::/10
        if b[0] == 0xFF { return true }  // multicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return true }  // documentation
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return isPrivate(Array(b[12..<16])) }  // NAT64
        return false
    }

    /// Resolves `host` and returns the first private address it maps to, if any (`nil`: all public).
    public static func privateAddress(resolving host: String) -> String? {
        if let b = ipBytes(host) { return isPrivate(b) ? host : nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(first) }
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                let bytes = withUnsafeBytes(of: &a) { Array($0) }
                if isPrivate(bytes) { return bytes.map(String.init).joined(separator: ".") }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let bytes = withUnsafeBytes(of: &a) { Array($0) }
                if isPrivate(bytes) { return "IPv6 " + bytes.map { String($0, radix: 16) }.joined(separator: ":") }
            }
            p = ai.pointee.ai_next
        }
        return nil
    }
}
