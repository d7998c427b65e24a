import Logging
import Testing
import TokentraCore
import TokentraHTTP
import UsageIndex

/// SHA-256 (API keys) and HMAC-SHA256 (webhooks) come from swift-crypto; stored key hashes are
/// those the earlier hand-written SHA-256 produced (the standard digest), so existing keys work.
@Suite struct CryptoCompatibilityTests {
    static func hex(_ b: [UInt8]) -> String { b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    /// Reference digests from Python's hashlib / hmac.
    @Test func apiKeyHashIsUnchanged() throws {
        let key = "tt_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AB"
        #expect(Self.hex(APIKeys.hash(key)) == "e6dcdc1e2b1ac42a98a4983f5dec134aed8e0fbc141e4621d3d8eb4b4305bb14")
        // A key stored with that hash authenticates.
        let index = try IndexDatabase()
        try index.insertAPIKey(APIKeyRecord(id: "key_1", orgID: "org_a", name: "old", prefix: APIKeys.prefix(of: key),
                                            keyHash: [UInt8](hexString: "e6dcdc1e2b1ac42a98a4983f5dec134aed8e0fbc141e4621d3d8eb4b4305bb14"),
                                            scopes: "admin", createdAt: 0, updatedAt: 0))
        let auth = APIKeyAuthenticator(index: index, refreshIntervalMs: 1000, logger: .init(label: "test"))
        #expect(try auth.authenticate(key[...], nowMs: 1).orgID == "org_a")
    }

    @Test func webhookSignatureMatchesReference() {
        let body = Array(#"{"id":"evt_1"}"#.utf8)
        #expect(WebhookSigner.signatureHeader(body: body, secret: "whsec_test") == "sha256=030fa3b2413d1993c551364bd53bb9b3edb5c0c34d55dba6ada6041245632811")
        #expect(WebhookSigner.verify(header: "sha256=030fa3b2413d1993c551364bd53bb9b3edb5c0c34d55dba6ada6041245632811", body: body, secret: "whsec_test"))
        #expect(!WebhookSigner.verify(header: "sha256=030fa3b2413d1993c551364bd53bb9b3edb5c0c34d55dba6ada6041245632810", body: body, secret: "whsec_test"))
    }
}

extension [UInt8] {
    init(hexString: String) {
        var out: [UInt8] = []
        var it = hexString.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        self = out
    }
}
