import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
@Suite struct IngestTests {
    @Test func partialSuccessIsDurableAndDeduplicated() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let good1 = UUID().uuidString.lowercased(), good2 = UUID().uuidString.lowercased()
        let body = Payload.batch([
            Payload.event(id: good1),
            #"{"request_id":"bad-1","timestamp":"not a time","provider":"openai","model":"gpt-4o"}"#,
            Payload.event(id: good2),
            #"{"request_id":"neg","timestamp":"2026-01-01T00:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":-5}"#,
        ])
        let r = try await HTTP.ingest(d, key: key, body: body)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["success"] as? Bool == true)
        #expect(r.json["processed"] as? Int == 2)
        #expect(r.json["failed"] as? Int == 2)
        #expect(r.json["duplicates"] as? Int == 0)
        let errors = try #require(r.json["errors"] as? [[String: Any]])
        #expect(errors.map { $0["index"] as? Int } == [1, 3])
        #expect(errors[0]["request_id"] as? String == "bad-1")
        #expect(errors[0]["code"] as? String == "INVALID_TIMESTAMP")
        #expect(errors[1]["code"] as? String == "NEGATIVE_TOKENS")
        #expect(r.header("X-Processing-Time-Ms").flatMap { Int($0) } != nil)
        #expect(r.header("X-RateLimit-Remaining-Minute") != nil)
        #expect(r.header("X-RateLimit-Remaining-Day") != nil)

        // The 200 means durable: the events are in the store (WAL/memtable) right now.
        let stored = try await d.storedEvents()
        #expect(Set(stored.map(\.requestID.description)) == [good1, good2])
        #expect(stored.allSatisfy { $0.orgID == "org_a" })

        // A retry of the same batch stores nothing twice.
        let again = try await HTTP.ingest(d, key: key, body: body)
        #expect(again.json["processed"] as? Int == 0)
        #expect(again.json["duplicates"] as? Int == 2)
        #expect(try await d.storedEvents().count == 2)
        try await d.stop()
    }

    /// A client that re-stamps its retries: the same request_id with a timestamp on another UTC day
    /// (yesterday, two days ago) is a duplicate of the first copy: unsealed, after a seal, and after
    /// a restart. Stored: one event, the first copy (its day, its cost).
    @Test func retryOnAnotherDayIsADuplicate() async throws {
        let d = try await TestDaemon.start()
        let dataDir = d.daemon.configuration.dataDirectory
        let (key, _) = try d.createKey()
        let id = UUID().uuidString.lowercased()
        func event(daysAgo: Int, cost: String) -> String {
            let ts = UTCTimestamp.format(Int64(Date().timeIntervalSince1970 * 1000) - Int64(daysAgo) * 86_400_000)
            return #"{"request_id":"\#(id)","timestamp":"\#(ts)","provider":"openai","model":"gpt-4o","input_tokens":10,"output_tokens":5,"total_cost":\#(cost)}"#
        }
        let first = try await HTTP.ingest(d, key: key, body: Payload.batch([event(daysAgo: 0, cost: "0.25")]))
        #expect(first.json["processed"] as? Int == 1, "\(first.body)")
        for daysAgo in [1, 2] {
            let r = try await HTTP.ingest(d, key: key, body: Payload.batch([event(daysAgo: daysAgo, cost: "9")]))
            #expect(r.json["processed"] as? Int == 0, "\(r.body)")
            #expect(r.json["duplicates"] as? Int == 1)
        }
        _ = try await d.store.flush()
        let sealed = try await HTTP.ingest(d, key: key, body: Payload.batch([event(daysAgo: 1, cost: "9")]))
        #expect(sealed.json["duplicates"] as? Int == 1, "\(sealed.body)")
        try await d.stop(keepDirectory: true)

        let again = try await TestDaemon.start(dataDirectory: dataDir)
        let (key2, _) = try again.createKey()
        let restarted = try await HTTP.ingest(again, key: key2, body: Payload.batch([event(daysAgo: 2, cost: "9"), event(daysAgo: 0, cost: "9")]))
        #expect(restarted.json["processed"] as? Int == 0, "\(restarted.body)")
        #expect(restarted.json["duplicates"] as? Int == 2)
        let stored = try await again.storedEvents()
        #expect(stored.count == 1)
        #expect(stored.first?.requestID.description == id)
        #expect(stored.first?.totalCost.description == "0.25")
        try await again.stop()
    }

    @Test func emptyBatchIsOK() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let r = try await HTTP.ingest(d, key: key, body: #"{"events":[]}"#)
        #expect(r.status == 200)
        #expect(r.json["processed"] as? Int == 0)
        try await d.stop()
    }

    @Test func allInvalidIsValidationError() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let r = try await HTTP.ingest(d, key: key, body: Payload.batch([#"{"request_id":"x"}"#, "{}"]))
        #expect(r.status == 400)
        #expect(r.errorCode == "VALIDATION_ERROR")
        let error = try #require(r.json["error"] as? [String: Any])
        let details = try #require(error["details"] as? [[String: Any]])
        #expect(details.count == 2)
        #expect(details[0]["code"] as? String == "MISSING_FIELD")
        #expect(error["message"] as? String == "All events failed validation")
        try await d.stop()
    }

    @Test(arguments: [
        ("not json", "INVALID_REQUEST"),
        (#"{"events":"#, "INVALID_REQUEST"),
        (#"{"data":[]}"#, "INVALID_REQUEST"),
        (#"{"events":{}}"#, "INVALID_REQUEST"),
        (#"[{"request_id":"a"}]"#, "INVALID_REQUEST"),
        ("", "INVALID_REQUEST"),
    ])
    func malformedBodies(body: String, code: String) async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let r = try await HTTP.ingest(d, key: key, body: body)
        #expect(r.status == 400, "\(body): \(r.body)")
        #expect(r.errorCode == code, "\(body): \(r.body)")
        #expect((r.json["error"] as? [String: Any])?["message"] is String)
        try await d.stop()
    }

    @Test func batchLimitIsEnforcedAndConfigurable() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let tooMany = try await HTTP.ingest(d, key: key, body: Payload.batch((0..<101).map { _ in Payload.event() }))
        #expect(tooMany.status == 400)
        #expect(tooMany.errorCode == "BATCH_TOO_LARGE")
        let exactly = try await HTTP.ingest(d, key: key, body: Payload.batch((0..<100).map { _ in Payload.event() }))
        #expect(exactly.status == 200)
        #expect(exactly.json["processed"] as? Int == 100)
        try await d.stop()

        let small = try await TestDaemon.start { $0.maxBatchEvents = 3 }
        let (k2, _) = try small.createKey()
        let four = try await HTTP.ingest(small, key: k2, body: Payload.batch((0..<4).map { _ in Payload.event() }))
        #expect(four.errorCode == "BATCH_TOO_LARGE")
        #expect((four.json["error"] as? [String: Any])?["message"] as? String == "Maximum 3 events per batch (got 4)")
        try await small.stop()
    }

    @Test func oversizedBodyIs413() async throws {
        let d = try await TestDaemon.start { $0.maxBodyBytes = 64 * 1024 }
        let (key, _) = try d.createKey()
        let padding = String(repeating: "x", count: 100 * 1024)
        let r = try await HTTP.ingest(d, key: key, body: "{\"events\":[],\"pad\":\"\(padding)\"}")
        #expect(r.status == 413)
        #expect(r.errorCode == "PAYLOAD_TOO_LARGE")
        // The connection is still usable and the next request works.
        let ok = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()]))
        #expect(ok.status == 200)
        try await d.stop()
    }

    @Test func orgIsolation() async throws {
        let d = try await TestDaemon.start()
        let (keyA, _) = try d.createKey(org: "org_a")
        let (keyB, _) = try d.createKey(org: "org_b")
        let own = UUID().uuidString.lowercased(), noOrg = UUID().uuidString.lowercased()
        let foreign = UUID().uuidString.lowercased(), foreignTenant = UUID().uuidString.lowercased()
        let r = try await HTTP.ingest(d, key: keyA, body: Payload.batch([
            Payload.event(id: own, org: "org_a"),
            Payload.event(id: noOrg),
            Payload.event(id: foreign, org: "org_b"),
            Payload.event(id: foreignTenant, extra: #""tenant_id":"org_b""#),
        ]))
        #expect(r.status == 200)
        #expect(r.json["processed"] as? Int == 2)
        let errors = try #require(r.json["errors"] as? [[String: Any]])
        #expect(errors.map { $0["code"] as? String } == ["ORG_MISMATCH", "ORG_MISMATCH"])
        #expect(errors.map { $0["request_id"] as? String } == [foreign, foreignTenant])
        #expect(try await d.storedEvents(org: "org_b").isEmpty)
        #expect(Set(try await d.storedEvents(org: "org_a").map(\.requestID.description)) == [own, noOrg])

        // The same request id under another org is a different event (no cross-org dedup leak).
        let b = try await HTTP.ingest(d, key: keyB, body: Payload.batch([Payload.event(id: own)]))
        #expect(b.json["processed"] as? Int == 1)
        #expect(b.json["duplicates"] as? Int == 0)
        try await d.stop()
    }

    /// The seed's Python SDK (`TelemetryEvent.to_dict()`, `requests.post(json=...)`) payload.
    @Test func pythonSDKPayload() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey(org: "org_py")
        // datetime.utcnow().isoformat() + "Z": microseconds, no offset.
        let now = Date()
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
        let ts = f.string(from: now) + "Z"
        let id1 = UUID().uuidString.lowercased(), id2 = UUID().uuidString.lowercased()
        // json.dumps separators: ", " and ": " (Python's default).
        let e1 = """
            {"request_id": "\(id1)", "timestamp": "\(ts)", "provider": "openai", "model": "gpt-4", "input_tokens": 150, \
            "output_tokens": 50, "total_tokens": 200, "input_cost": 0.0045, "output_cost": 0.003, "total_cost": 0.0075, \
            "latency_ms": 812, "sdk_version": "1.0.0", "sdk_language": "python", "feature": "chat", "team": "platform", \
            "environment": "development", "metadata": {"route": "/chat", "n": 1}}
            """
        let e2 = """
            {"request_id": "\(id2)", "timestamp": "\(ts)", "provider": "anthropic", "model": "claude-3-5-sonnet-20241022", \
            "input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "input_cost": 0, "output_cost": 0, "total_cost": 0, \
            "latency_ms": 95, "sdk_version": "1.0.0", "sdk_language": "python", "cached_tokens": 1200, "cached_cost": 0.00036, \
            "is_error": true, "error_code": "RateLimitError", "error_message": "Error code: 429"}
            """
        let r = try await HTTP.ingest(d, key: key, body: "{\"events\": [\(e1), \(e2)]}", headers: [
            ("X-SDK-Version", "1.0.0"), ("X-SDK-Language", "python"), ("User-Agent", "python-requests/2.31.0"),
        ])
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["processed"] as? Int == 2, "\(r.body)")
        let stored = try await d.storedEvents(org: "org_py").sorted { $0.provider < $1.provider }
        #expect(stored.count == 2)
        #expect(stored.last?.totalCost == (try Money(parsing: "0.0075")))
        #expect(stored.first?.isError == true)
        try await d.stop()
    }

    /// Float artifacts from the seed SDK's cost arithmetic (`(tokens / 1000) * price`) are rejected
    /// by the core decoder (more than 10 decimals: INVALID_COST). Tracked as a known issue.
    @Test func pythonSDKFloatArtifactCosts() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let e = """
            {"request_id": "\(UUID().uuidString.lowercased())", "timestamp": "\(Payload.nowISO())", "provider": "openai", \
            "model": "gpt-4", "input_tokens": 1234, "output_tokens": 567, "total_tokens": 1801, "input_cost": 0.03702, \
            "output_cost": 0.034019999999999995, "total_cost": 0.07103999999999999, "latency_ms": 1000}
            """
        let r = try await HTTP.ingest(d, key: key, body: "{\"events\": [\(e)]}")
        #expect(r.status == 200, "\(r.body)")
        #expect(r.body.contains("\"processed\":1"), "\(r.body)")
        try await d.stop()
    }

    /// A Token Trackr SDK event: prompt/completion tokens, tenant_id, host metadata, no request_id,
    /// key in X-API-Key.
    @Test func tokenTrackrPayload() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey(org: "tenant-42")
        let e = """
            {"tenant_id": "tenant-42", "provider": "bedrock", "model": "anthropic.claude-3-sonnet", "prompt_tokens": 100, \
            "completion_tokens": 50, "latency_ms": 1500, "timestamp": "\(Payload.nowISO())", "hostname": "web-1", \
            "cloud_provider": "aws", "instance_id": "i-0abc", "k8s_pod": "api-7d9", "k8s_namespace": "prod", "k8s_node": "node-3"}
            """
        let r = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST", headers: [("X-API-Key", key), ("Content-Type", "application/json")],
            body: Array("{\"events\": [\(e)]}".utf8))
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["processed"] as? Int == 1, "\(r.body)")
        // Identical retry deduplicates through the derived request id.
        let again = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST", headers: [("X-API-Key", key)], body: Array("{\"events\": [\(e)]}".utf8))
        #expect(again.json["duplicates"] as? Int == 1)
        let stored = try await d.storedEvents(org: "tenant-42")
        #expect(stored.count == 1)
        #expect(stored.first?.inputTokens == 100)
        #expect(stored.first?.outputTokens == 50)
        #expect(stored.first?.k8sPod == "api-7d9")
        try await d.stop()
    }

    @Test func ingestHealthEndpoint() async throws {
        let d = try await TestDaemon.start()
        let r = try await HTTP.request(d.baseURL + "/api/v1/sdk/ingest")
        #expect(r.status == 200)
        #expect(r.json["status"] as? String == "ok")
        #expect(r.json["version"] as? String == "1.0")
        let ts = try #require(r.json["timestamp"] as? String)
        #expect(parseTimestamp(ts) != nil)
        try await d.stop()
    }

    @Test func unknownRoutesAndMethodsAreJSONErrors() async throws {
        let d = try await TestDaemon.start()
        let notFound = try await HTTP.request(d.baseURL + "/api/v1/nope")
        #expect(notFound.status == 404)
        #expect(notFound.errorCode == "NOT_FOUND")
        let wrongMethod = try await HTTP.request(d.baseURL + "/api/v1/sdk/ingest", method: "PUT", body: [])
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.errorCode == "METHOD_NOT_ALLOWED")
        #expect(wrongMethod.header("Allow")?.contains("POST") == true)
        let deleteHealth = try await HTTP.request(d.baseURL + "/healthz", method: "DELETE")
        #expect(deleteHealth.status == 405)
        try await d.stop()
    }
}
