import Foundation

/// Validation of webhook endpoint URLs and the addresses they resolve to (SSRF protection).
///
/// Accepted: `http://` or `https://` URLs with a host, no user name or password, at most 2048
/// bytes. Refused unless the operator allows private targets (`webhooks.allow_private_targets`):
/// `localhost` names and addresses in loopback (127/8, ::1), private (10/8, 172.16/12,
/// 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10),
/// "this network" (0/8, ::), multicast and reserved ranges, and IPv4-mapped forms of them. The
/// delivery worker resolves the host once per attempt, checks every address it resolves to
/// (``pin(host:allowPrivate:)``) and connects to the checked address (DNS rebinding cannot slip
/// another address in between).
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
            // `localhost.` is `localhost`: the fully qualified form must not slip through.
            var name = Substring(host)
            while name.hasSuffix(".") { name = name.dropLast() }
            if name == "localhost" || name.hasSuffix(".localhost") || name.hasSuffix(".local") || name.hasSuffix(".internal") {
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

    /// The text form of a 4- or 16-byte address (`127.0.0.1`, `::1`).
    public static func addressText(_ b: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = b.count == 4 ? AF_INET : AF_INET6
        let ok = b.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &out, socklen_t(out.count)) != nil }
        return ok ? String(cString: out) : b.map(String.init).joined(separator: ".")
    }

    /// The addresses `host` resolves to (once, with `getaddrinfo`), in the resolver's order; an IP
    /// literal is itself.
    public static func resolve(_ host: String) -> [[UInt8]] {
        if let b = ipBytes(host) { return [b] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [[UInt8]] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                out.append(withUnsafeBytes(of: &a) { Array($0) })
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                out.append(withUnsafeBytes(of: &a) { Array($0) })
            }
            p = ai.pointee.ai_next
        }
        var seen: Set<[UInt8]> = []
        return out.filter { seen.insert($0).inserted }
    }

    /// Why ``pin(host:allowPrivate:)`` refused a host.
    public struct Refusal: Error, Sendable, Equatable {
        public var message: String
    }

    /// Resolves `host` once and returns the address to connect to (the first IPv4 address, else
    /// the first IPv6 one). Unless `allowPrivate`, every resolved address is checked and the host
    /// is refused when any of them is not public — the connection then goes to the checked address
    /// (with the host name kept for the `Host` header and TLS SNI), never to a second resolution.
    public static func pin(host: String, allowPrivate: Bool) throws(Refusal) -> String {
        let addresses = resolve(host)
        guard !addresses.isEmpty else { throw Refusal(message: "\(host) does not resolve") }
        if !allowPrivate, let bad = addresses.first(where: isPrivate) {
            throw Refusal(message: "\(host) resolves to a loopback, private or link-local address (\(addressText(bad))); refused unless webhooks.allow_private_targets is true")
        }
        return addressText(addresses.first { $0.count == 4 } ?? addresses[0])
    }
}
