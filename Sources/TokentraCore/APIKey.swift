import Crypto
import Foundation

// The API key model, shared by `tokentra keys` and the daemon's authenticator: scopes, the key
// format, generation and hashing. Storage is UsageIndex's (`APIKeyRecord`, `IndexDatabase+APIKeys`).

/// What an API key may do.
public struct APIKeyScope: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Post usage events (`POST /api/v1/sdk/ingest`).
    public static let sdkWrite = APIKeyScope("sdk:write")
    /// Read usage aggregates (query API).
    public static let usageRead = APIKeyScope("usage:read")
    /// Everything.
    public static let admin = APIKeyScope("admin")

    /// Every scope a key can have.
    public static let all: [APIKeyScope] = [.sdkWrite, .usageRead, .admin]

    /// Parses `sdk:write,usage:read`.
    /// - Throws: ``APIKeyError`` for an empty list or an unknown scope.
    public static func parseList(_ text: String) throws -> [APIKeyScope] {
        var out: [APIKeyScope] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let scope = all.first(where: { $0.rawValue == name }) else {
                throw APIKeyError("unknown scope '\(name)' (allowed: \(all.map(\.rawValue).joined(separator: ", ")))")
            }
            if !out.contains(scope) { out.append(scope) }
        }
        guard !out.isEmpty else { throw APIKeyError("at least one scope is required (sdk:write, usage:read, admin)") }
        return out
    }
}

/// A problem with an API key's parameters (CLI input).
public struct APIKeyError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// API key format, generation and hashing.
///
/// A key is `tt_live_` or `tt_test_` followed by 40 random characters from the URL-safe alphabet
/// `[A-Za-z0-9_-]` (240 bits from the system CSPRNG), so it matches
/// `^tt_(live|test)_[a-zA-Z0-9_-]{32,}$`. Only its SHA-256 and its first 12 characters (the
/// display and lookup prefix) are stored.
///
/// ```swift
/// let created = APIKeys.generate(environment: .live)
/// print(created.key)        // shown once
/// store(created.hash, created.prefix)
/// ```
public enum APIKeys {
    /// Which kind of key.
    public enum Environment: String, Sendable, CaseIterable {
        case live, test
    }

    /// Number of random characters after `tt_live_`.
    public static let randomLength = 40
    /// Length of the stored display/lookup prefix (`tt_live_` + 4 characters).
    public static let prefixLength = 12
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// A fresh key: the text (show it once), its SHA-256 and its prefix.
    public static func generate<R: RandomNumberGenerator>(
        environment: Environment, using rng: inout R
    ) -> (key: String, hash: [UInt8], prefix: String) {
        var bytes = Array("tt_\(environment.rawValue)_".utf8)
        for _ in 0..<randomLength {
            // 64 symbols: the low 6 bits of a uniform UInt64 are uniform, so there is no modulo bias.
            bytes.append(alphabet[Int(rng.next() & 63)])
        }
        let key = String(decoding: bytes, as: UTF8.self)
        return (key, hash(key), prefix(of: key))
    }

    /// A fresh key from the system's cryptographically secure generator (getrandom on Linux).
    public static func generate(environment: Environment) -> (key: String, hash: [UInt8], prefix: String) {
        var rng = SystemRandomNumberGenerator()
        return generate(environment: environment, using: &rng)
    }

    /// A new key id: `key_` + 24 hex digits.
    public static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var out = Array("key_".utf8)
        for _ in 0..<24 { out.append(hex[Int(rng.next() & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `key` has the shape of a tokentra key (`^tt_(live|test)_[a-zA-Z0-9_-]{32,}$`, at most 256 bytes).
    public static func isWellFormed(_ key: some StringProtocol) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count <= 256 else { return false }
        let body: ArraySlice<UInt8>
        if bytes.starts(with: "tt_live_".utf8) || bytes.starts(with: "tt_test_".utf8) {
            body = bytes[8...]
        } else {
            return false
        }
        guard body.count >= 32 else { return false }
        for b in body {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// SHA-256 of the key's UTF-8 bytes.
    public static func hash(_ key: some StringProtocol) -> [UInt8] { Array(Crypto.SHA256.hash(data: Array(key.utf8))) }

    /// The stored display/lookup prefix of a key.
    public static func prefix(of key: some StringProtocol) -> String { String(key.prefix(prefixLength)) }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
