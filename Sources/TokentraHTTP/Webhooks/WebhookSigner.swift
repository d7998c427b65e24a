import Crypto

/// Webhook signatures: `X-TokenTra-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed by
/// the endpoint's signing secret (its UTF-8 bytes).
///
/// ```swift
/// let header = WebhookSigner.signatureHeader(body: Array(body.utf8), secret: "whsec_…")  // "sha256=3f…"
/// ```
public enum WebhookSigner {
    public static let signatureHeader = "X-TokenTra-Signature"
    public static let eventIDHeader = "X-TokenTra-Event-Id"
    public static let eventTypeHeader = "X-TokenTra-Event-Type"
    public static let timestampHeader = "X-TokenTra-Timestamp"
    public static let deliveryIDHeader = "X-TokenTra-Delivery-Id"
    public static let attemptHeader = "X-TokenTra-Delivery-Attempt"

    /// The lowercase hex HMAC-SHA256 of `body` under `secret`.
    public static func hexSignature(body: [UInt8], secret: String) -> String {
        let key = SymmetricKey(data: Array(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in mac {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of `X-TokenTra-Signature`.
    public static func signatureHeader(body: [UInt8], secret: String) -> String {
        "sha256=" + hexSignature(body: body, secret: secret)
    }

    /// Checks a received `X-TokenTra-Signature` value in constant time (what a receiver does).
    public static func verify(header: String, body: [UInt8], secret: String) -> Bool {
        let expected = Array(signatureHeader(body: body, secret: secret).utf8)
        let given = Array(header.utf8)
        guard expected.count == given.count else { return false }
        var diff: UInt8 = 0
        for i in expected.indices { diff |= expected[i] ^ given[i] }
        return diff == 0
    }
}
