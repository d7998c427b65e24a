import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
@Suite struct TransportTests {
    @Test func gzipBodies() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let events = (0..<50).map { _ in Payload.event() }
        let compressed = gzip(Array(Payload.batch(events).utf8))
        let r = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
            body: compressed)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["processed"] as? Int == 50)

        // Two concatenated gzip members are one body.
        let half1 = gzip(Array("{\"events\":[\(Payload.event()),".utf8)), half2 = gzip(Array("\(Payload.event())]}".utf8))
        let concatenated = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip")], body: half1 + half2)
        #expect(concatenated.json["processed"] as? Int == 2, "\(concatenated.body)")

        // A gzip bomb: 64 MiB of zeros in ~64 KiB, under the body limit, over the decompressed limit.
        let bomb = gzip([UInt8](repeating: 0x20, count: 64 << 20), level: 9)
        #expect(bomb.count < 1 << 20)
        let exploded = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip")], body: bomb)
        #expect(exploded.status == 413)
        #expect(exploded.errorCode == "PAYLOAD_TOO_LARGE")

        let corrupt = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip")], body: Array(compressed.prefix(20)))
        #expect(corrupt.status == 400)
        #expect(corrupt.errorCode == "INVALID_REQUEST")

        let notGzip = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip")], body: Array("{\"events\":[]}".utf8))
        #expect(notGzip.status == 400)

        let brotli = try await HTTP.request(
            d.baseURL + "/api/v1/sdk/ingest", method: "POST",
            headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "br")], body: [1, 2, 3])
        #expect(brotli.status == 415)
        #expect(brotli.errorCode == "UNSUPPORTED_ENCODING")
        try await d.stop()
    }

    @Test func chunkedOversizedBody() async throws {
        let d = try await TestDaemon.start { $0.maxBodyBytes = 16 * 1024 }
        let (key, _) = try d.createKey()
        let response = try await RawConnection.connect(port: d.port).run { out, read in
            try await out.write(ByteBuffer(string: "POST /api/v1/sdk/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nTransfer-Encoding: chunked\r\n\r\n"))
            for _ in 0..<8 {
                let chunk = String(repeating: "a", count: 4096)
                try await out.write(ByteBuffer(string: String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"))
            }
            try await out.write(ByteBuffer(string: "0\r\n\r\n"))
            return try await read()
        }
        #expect(response.hasPrefix("HTTP/1.1 413"), "\(response.prefix(200))")
        #expect(response.contains("PAYLOAD_TOO_LARGE"))
        try await d.stop()
    }

    /// A client that sends its body very slowly gets 408 after the read timeout, and never
    /// delays other clients.
    @Test func slowClientsDoNotBlockOthers() async throws {
        // No wall-clock thresholds (shared CI machines are noisy): the proof is the order of events.
        // Both slow clients are answered only at their 30 s body timeout, and all 10 normal
        // requests must have completed before either slow client got its answer (a generous
        // margin: the whole suite runs in parallel on 2 cores in CI).
        let d = try await TestDaemon.start { $0.bodyTimeoutSeconds = 30 }
        let (key, _) = try d.createKey()
        async let trickle: (String, ContinuousClock.Instant) = RawConnection.connect(port: d.port).run { out, read in
            try await out.write(ByteBuffer(string: "POST /api/v1/sdk/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: 5000\r\n\r\n{\"events\":["))
            // One byte every 100 ms: would take 8 minutes.
            for _ in 0..<500 {
                try await Task.sleep(for: .milliseconds(100))
                do { try await out.write(ByteBuffer(string: " ")) } catch { break }
            }
            return (try await read(), ContinuousClock.now)
        }
        async let stalled: (String, ContinuousClock.Instant) = RawConnection.connect(port: d.port).run { out, read in
            try await out.write(ByteBuffer(string: "POST /api/v1/sdk/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: 100\r\n\r\n{\"ev"))
            return (try await read(), ContinuousClock.now)
        }
        // Meanwhile, 10 normal requests all complete.
        try await Task.sleep(for: .milliseconds(100))
        for _ in 0..<10 {
            let r = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event()]))
            #expect(r.status == 200)
        }
        let fastDone = ContinuousClock.now
        let ((a, aDone), (b, bDone)) = try await (trickle, stalled)
        #expect(fastDone < aDone && fastDone < bDone, "a normal request waited for a slow client")
        #expect(a.hasPrefix("HTTP/1.1 408"), "\(a.prefix(200))")
        #expect(a.contains("REQUEST_TIMEOUT"))
        #expect(b.hasPrefix("HTTP/1.1 408"), "\(b.prefix(200))")
        // Nothing of the slow bodies was stored, the fast ones were.
        #expect(try await d.storedEvents().count == 10)
        try await d.stop()
    }

    @Test func healthReadinessAndMetrics() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let health = try await HTTP.request(d.baseURL + "/healthz")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "ok")
        let ready = try await HTTP.request(d.baseURL + "/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        #expect(ready.json["status"] as? String == "ready")

        _ = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event(), Payload.event(), #"{"request_id":"x"}"#]))
        _ = try await HTTP.ingest(d, key: key, body: Payload.batch([]))
        _ = try await HTTP.ingest(d, key: nil, body: "{}")
        let metrics = try await HTTP.request(d.baseURL + "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
        let text = metrics.body
        for needle in [
            #"tokentra_ingest_events_total{result="stored",reason=""} 2"#,
            #"tokentra_ingest_events_total{result="rejected",reason="MISSING_FIELD"} 1"#,
            "tokentra_ingest_batch_size_count 2",
            "tokentra_ingest_ack_duration_seconds_count",
            #"tokentra_http_requests_total{route="/api/v1/sdk/ingest",method="POST",status="200"} 2"#,
            #"tokentra_http_requests_total{route="/api/v1/sdk/ingest",method="POST",status="401"} 1"#,
            "tokentra_wal_fsyncs_total ", "tokentra_wal_fsync_seconds_total ", "tokentra_store_unsealed_events 2", "tokentra_segments ",
            "tokentra_segment_bytes ", "tokentra_rollup_lag_seconds ",
        ] {
            #expect(text.contains(needle), "missing \(needle)")
        }
        try await d.stop()
    }

    @Test func readinessFailsWithReasons() async throws {
        let d = try await TestDaemon.start { $0.readinessMinFreeBytes = Int64.max / 2 }
        let r = try await HTTP.request(d.baseURL + "/readyz")
        #expect(r.status == 503)
        #expect(r.json["status"] as? String == "not_ready")
        #expect((r.json["reason"] as? String)?.contains("disk space low") == true, "\(r.body)")
        #expect(r.errorCode == "NOT_READY")
        try await d.stop()

        // A dirty bucket older than the lag threshold (rollups are disabled in this daemon).
        let lag = try await TestDaemon.start { $0.readinessMaxRollupLagSeconds = 1 }
        let (key, _) = try lag.createKey()
        _ = try await HTTP.ingest(lag, key: key, body: Payload.batch([Payload.event()]))
        try await lag.store.flush()  // marks the hour dirty
        try await Task.sleep(for: .milliseconds(2100))
        let late = try await HTTP.request(lag.baseURL + "/readyz")
        #expect(late.status == 503)
        #expect((late.json["reason"] as? String)?.contains("rollup lag") == true, "\(late.body)")
        try await lag.stop()
    }

    /// Shutdown waits for in-flight requests: every request that got a 200 is stored.
    @Test func gracefulShutdownDrainsInFlightRequests() async throws {
        let d = try await TestDaemon.start()
        let (key, _) = try d.createKey()
        let dir = d.store.configuration.dataDirectory
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let ackedRequests = Counter()
        let stopping = Counter()  // 1 once the shutdown begins
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var acked: [String] = []
                    for _ in 0..<30 {
                        let ids = (0..<20).map { _ in UUID().uuidString.lowercased() }
                        // After the shutdown the client's connection attempts are refused (short timeout:
                        // the HTTP client would otherwise retry connecting until its deadline). Before it,
                        // a request that timed out on a loaded machine is simply not counted (its ids
                        // were never acknowledged), and the client goes on.
                        guard let r = try? await HTTP.ingest(d, key: key, body: Payload.batch(ids.map { Payload.event(id: $0) }), timeout: 5),
                            r.status == 200
                        else {
                            if stopping.value.load(ordering: .relaxed) == 1 { break }
                            continue
                        }
                        acked += ids
                        ackedRequests.value.add(1, ordering: .relaxed)
                    }
                    return acked
                }
            }
            // Shut down mid-stream: once requests are being acknowledged (on a loaded machine the
            // first ones can take seconds), not after a fixed delay.
            let deadline = ContinuousClock.now + .seconds(60)
            while ackedRequests.value.load(ordering: .relaxed) < 3 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            stopping.value.store(1, ordering: .relaxed)
            try await d.stop(keepDirectory: true)
            var all: [String] = []
            for try await r in group { all += r }
            return all
        }
        #expect(!results.isEmpty)
        // Reopen the directory: every acknowledged event is there exactly once.
        let store = try await SegmentStore.open(configuration: .init(dataDirectory: dir), logger: .init(label: "reopen"))
        var stored: [String] = []
        try await store.forEachDay { _, _, events in stored += events.map(\.requestID.description) }
        await store.close()
        #expect(Set(results).isSubset(of: Set(stored)))
        #expect(Set(stored).count == stored.count)
        d.dir.remove()
    }
}
