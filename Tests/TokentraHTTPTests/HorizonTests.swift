import Foundation
import SegmentStore
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// HTTP ingest applies the org's raw retention horizon (the same `IngestHorizon` as `tokentra ingest`),
/// and a quarantined segment shows as "degraded" in /readyz and /metrics.
@Suite struct HorizonTests {
    @Test func httpAppliesEachOrgsRawHorizon() async throws {
        let d = try await TestDaemon.start()
        let (keyA, _) = try d.createKey(org: "org_a")
        let (keyB, _) = try d.createKey(org: "org_b")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // org_a keeps 2 raw days, org_b the default (30).
        try d.index.setRetentionPolicy(RetentionPolicy(rawDays: 2, hourlyDays: 90, dailyDays: 365), orgID: "org_a", now: now)
        let fiveDaysAgo = UTCTimestamp.format(now - 5 * 86_400_000)
        let old = "{\"request_id\":\"\(UUID().uuidString.lowercased())\",\"timestamp\":\"\(fiveDaysAgo)\",\"provider\":\"openai\","
            + "\"model\":\"gpt-4o\",\"input_tokens\":10,\"output_tokens\":5,\"input_cost\":0.001,\"output_cost\":0.002}"
        let fresh = Payload.event()
        let a = try await HTTP.ingest(d, key: keyA, body: Payload.batch([old, fresh]))
        #expect(a.status == 200, "\(a.body)")
        #expect(a.json["processed"] as? Int == 1)
        #expect(a.json["failed"] as? Int == 1)
        let errors = try #require(a.json["errors"] as? [[String: Any]])
        #expect(errors.first?["index"] as? Int == 0)
        #expect(errors.first?["code"] as? String == "TIMESTAMP_TOO_OLD")
        #expect((errors.first?["message"] as? String)?.contains("org_a's raw retention horizon (2 days") == true)
        // The same event is within org_b's 30 days.
        let b = try await HTTP.ingest(d, key: keyB, body: Payload.batch([old]))
        #expect(b.json["processed"] as? Int == 1, "\(b.body)")
        try await d.stop()
    }

    @Test func quarantinedSegmentMakesReadinessDegraded() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let r = try await HTTP.ingest(d, key: key, body: Payload.batch((0..<5).map { _ in Payload.event() }))
        #expect(r.json["processed"] as? Int == 5)
        try await d.store.flush()
        let ready = try await HTTP.request(d.baseURL + "/readyz")
        #expect(ready.status == 200)
        #expect(ready.json["status"] as? String == "ready")
        // Record a quarantined segment as the store does when a read fails its checksums.
        let segment = try #require(try d.index.segments().first)
        try d.index.quarantine(segmentID: segment.id!, record: QuarantinedSegment(
            orgID: segment.orgID, day: segment.day, file: segment.file, quarantinedFile: "quarantine/x.tseg", rows: segment.rows,
            reason: "column latency_ms checksum 0x00000000, expected 0x12345678", quarantinedAt: 0))
        let degraded = try await HTTP.request(d.baseURL + "/readyz")
        #expect(degraded.status == 200)
        #expect(degraded.json["status"] as? String == "degraded")
        let checks = try #require(degraded.json["checks"] as? [String: Any])
        let seg = try #require(checks["segments"] as? [String: Any])
        #expect(seg["ok"] as? Bool == false)
        #expect((seg["detail"] as? String)?.contains("1 segment(s) quarantined") == true)
        let metrics = try await HTTP.request(d.baseURL + "/metrics")
        #expect(metrics.body.contains("tokentra_segments_quarantined 1"))
        try await d.stop()
    }
}
