import Foundation
import Synchronization
import Testing
import TokentraCore
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The real OpenTelemetry Python SDK (`.venv-test`, made by `scripts/test-python-env.sh`) exporting
/// GenAI spans to the real `tokentra serve` over OTLP/HTTP.
@Suite struct OTLPProcessTests {
    static let python = repositoryRoot + "/.venv-test/bin/python"
    static let emitter = repositoryRoot + "/Tests/Fixtures/otlp/emit_genai_spans.py"

    static func emit(_ mode: String, base: Int, startMs: Int64, extra: [String] = [], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProgram(python, [emitter, mode, "--id-base", String(base), "--start-ns", String(startMs * 1_000_000)] + extra,
                             environment: environment)
    }

    static func exportLines(_ dir: String) async throws -> [String] {
        let r = try await runCLI(["export", "--data-dir", dir, "--format", "ndjson"])
        guard r.status == 0 else { throw TestFailure("export failed: \(r.stderr)") }
        return r.stdout.split(separator: "\n").map(String.init)
    }

    static func ndjson(_ e: UsageEvent) -> String {
        var s = ""
        EventExport.ndjson(e, into: &s)
        return s
    }

    static func post(_ base: String, _ body: [UInt8], contentType: String, key: String?, extraHeaders: [(String, String)] = []) async throws -> TestResponse {
        var h = [("Content-Type", contentType)] + extraHeaders
        if let key { h.append(("Authorization", "Bearer \(key)")) }
        return try await HTTP.request(base + "/v1/traces", method: "POST", headers: h, body: body, timeout: 10)
    }

    /// `google.rpc.Status{code, message}` as protobuf, built independently of the server's encoder.
    static func statusBytes(_ code: Int64, _ message: String) -> [UInt8] {
        PB.build { p in p.int(1, code); p.str(2, message) }
    }

    @Test func realPythonExporterRoundTripsExactly() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            Issue.record("needs \(Self.python): run scripts/test-python-env.sh (make test does)"); return
        }
        let tmp = TemporaryDirectory("tokentra-otlp")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_otel", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let daemon = try await DaemonProcess.start(dataDir: dir)
        let startMs = (Int64(Date().timeIntervalSince1970 * 1000) / 1000 - 120) * 1000
        let otelEnv = ["OTEL_EXPORTER_OTLP_ENDPOINT": daemon.baseURL, "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20\(key)"]

        // 1. The real OTLPSpanExporter, protobuf + gzip, configured by the standard environment variables.
        let first = try await Self.emit("protobuf", base: 1, startMs: startMs, extra: ["--gzip"], environment: otelEnv)
        #expect(first.status == 0 && first.stdout == "SUCCESS\n", "\(first.stdout) \(first.stderr) \(daemon.stderr.suffix(800))")
        // 2. The same spans (new ids) as OTLP/JSON.
        let json = try await Self.emit("json", base: 2, startMs: startMs, extra: ["--url", daemon.baseURL + "/v1/traces", "--key", key])
        #expect(json.status == 0)
        let jsonReply = try StrictJSON.parse(json.stdout)
        #expect(jsonReply["status"]?.intValue == 200, "\(json.stdout) \(json.stderr)")
        #expect(jsonReply["body"]?.stringValue == "{}")
        // 3. An exporter retry of batch 1 (uncompressed this time): acknowledged, stored once.
        let retry = try await Self.emit("protobuf", base: 1, startMs: startMs, environment: otelEnv)
        #expect(retry.status == 0 && retry.stdout == "SUCCESS\n", "\(retry.stderr)")

        // Bad input: OTLP error answers in the request's encoding, never a 500.
        let fixture = try otlpFixture("genai-spans.pb")
        let truncated = Array(fixture[0..<100])
        let bad = try await Self.post(daemon.baseURL, truncated, contentType: "application/x-protobuf", key: key)
        #expect(bad.status == 400)
        #expect(bad.header("Content-Type") == "application/x-protobuf")
        #expect(bad.bytes == Self.statusBytes(3, "INVALID_REQUEST: invalid OTLP protobuf ExportTraceServiceRequest: length 2204 at byte 1 runs past the end of the enclosing message (97 bytes left)"))
        let wrongType = try await Self.post(daemon.baseURL, fixture, contentType: "text/plain", key: key)
        #expect(wrongType.status == 415)
        #expect(wrongType.body == #"{"code":3,"message":"UNSUPPORTED_MEDIA_TYPE: Content-Type must be application/x-protobuf or application/json (got 'text/plain')"}"#)
        let noAuth = try await Self.post(daemon.baseURL, fixture, contentType: "application/x-protobuf", key: nil)
        #expect(noAuth.status == 401)
        #expect(noAuth.bytes == Self.statusBytes(16, "MISSING_AUTH: Authorization header required (Authorization: Bearer <api key>)"))
        let huge = try await Self.post(daemon.baseURL, [UInt8](repeating: 0x0A, count: 2 << 20), contentType: "application/x-protobuf", key: key)
        #expect(huge.status == 413)
        #expect(huge.bytes == Self.statusBytes(3, "PAYLOAD_TOO_LARGE: request body of 2097152 bytes exceeds the limit of 1048576 bytes"))
        let badGzip = try await Self.post(daemon.baseURL, [0x1F, 0x8B, 0x08, 0, 1, 2, 3], contentType: "application/json", key: key,
                                          extraHeaders: [("Content-Encoding", "gzip")])
        #expect(badGzip.status == 400)
        #expect(try StrictJSON.parse(badGzip.body)["code"]?.intValue == 3)
        let badJSON = try await Self.post(daemon.baseURL, Array(#"{"resourceSpans":[{"scopeSpans":{}}]}"#.utf8), contentType: "application/json", key: key)
        #expect(badJSON.status == 400)
        #expect(badJSON.body == #"{"code":3,"message":"INVALID_REQUEST: invalid OTLP JSON ExportTraceServiceRequest: resourceSpans[0].scopeSpans must be an array"}"#)

        // A key over its rate limit: 429 with Retry-After and RESOURCE_EXHAUSTED (8).
        let (slowKey, _) = try await ProcessTests.createKey(dir, org: "org_slow", extra: ["--rate-minute", "1", "--rate-day", "0"])
        let allowed = try await Self.post(daemon.baseURL, Array("{}".utf8), contentType: "application/json", key: slowKey)
        #expect(allowed.status == 200 && allowed.body == "{}")
        let limited = try await Self.post(daemon.baseURL, Array("{}".utf8), contentType: "application/json", key: slowKey)
        #expect(limited.status == 429)
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 >= 1)
        #expect(try StrictJSON.parse(limited.body)["code"]?.intValue == 8)
        #expect(try StrictJSON.parse(limited.body)["message"]?.stringValue?.hasPrefix("RATE_LIMIT_EXCEEDED: Rate limit exceeded (1 requests per minute)") == true)

        // Partial success: the good span is kept, the bad one reported.
        let startNs = String(startMs * 1_000_000)
        let partialBody = #"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"spans":[
             {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat","startTimeUnixNano":"\#(startNs)","endTimeUnixNano":"\#(startNs)",
              "attributes":[{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
                            {"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":20}}]},
             {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"chat","startTimeUnixNano":"\#(startNs)","endTimeUnixNano":"\#(startNs)",
              "attributes":[{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
                            {"key":"gen_ai.usage.input_tokens","value":{"intValue":"-3"}}]}]}]}]}
            """#
        let partial = try await Self.post(daemon.baseURL, Array(partialBody.utf8), contentType: "application/json", key: key)
        #expect(partial.status == 200)
        #expect(partial.header("Content-Type") == "application/json")
        #expect(partial.body == #"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"1 span rejected: span 1 (5b8efff798038103d269b633813fc60c-eee19b7ec3c1b175): NEGATIVE_TOKENS: attribute gen_ai.usage.input_tokens is negative (-3)"}}"#)

        // Metrics: spans by outcome.
        let metrics = try await HTTP.request(daemon.baseURL + "/metrics").body
        let otlpLines = metrics.split(separator: "\n").filter { $0.hasPrefix("tokentra_otlp_") }.map(String.init).sorted()
        #expect(otlpLines == [
            #"tokentra_otlp_requests_total{result="invalid"} 2"#,
            #"tokentra_otlp_requests_total{result="ok"} 4"#,
            #"tokentra_otlp_requests_total{result="partial"} 1"#,
            #"tokentra_otlp_spans_total{result="duplicate",reason=""} 4"#,
            #"tokentra_otlp_spans_total{result="rejected",reason="NEGATIVE_TOKENS"} 1"#,
            #"tokentra_otlp_spans_total{result="skipped",reason="not_genai"} 3"#,
            #"tokentra_otlp_spans_total{result="skipped",reason="operation"} 3"#,
            #"tokentra_otlp_spans_total{result="stored",reason=""} 9"#,
        ], "\(otlpLines)")

        daemon.signal(SIGTERM)
        let exit = try await daemon.waitForExit(timeout: .seconds(20))
        #expect(exit.status == 0, "\(daemon.stderr.suffix(1000))")

        // Every stored event, field by field (the export line is every column).
        var extra = UsageEvent(orgID: "org_otel", requestID: GenAIFixture.requestID("otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"),
                               timestampMs: startMs, provider: "openai", model: "gpt-4o")
        extra.inputTokens = 10; extra.outputTokens = 20; extra.totalTokens = 30; extra.project = "svc"; extra.latencyMs = 0
        extra.inputCost = try Money(parsing: "0.00005"); extra.outputCost = try Money(parsing: "0.0003"); extra.totalCost = try Money(parsing: "0.00035")
        extra.costSource = .priceTable(version: 1)
        let expected = (GenAIFixture.events(org: "org_otel", base: 1, startMs: startMs) + GenAIFixture.events(org: "org_otel", base: 2, startMs: startMs) + [extra])
            .map(Self.ndjson).sorted()
        let stored = try await Self.exportLines(dir).sorted()
        #expect(stored.count == expected.count)
        for (got, want) in zip(stored, expected) {
            #expect(got == want)
            _ = try StrictJSON.parse(got)
        }
    }

    /// Spans a real daemon acknowledged survive a SIGKILL in the middle of exports; retries of
    /// acknowledged batches after the restart are stored once.
    @Test func killDashNineDuringExportLosesNoAcknowledgedSpan() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let tmp = TemporaryDirectory("tokentra-otlp-kill9")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_k", extra: ["--rate-minute", "0", "--rate-day", "0"])
        let acked = Collected()
        let counter = SpanCounter()
        let nowNs = UInt64(Date().timeIntervalSince1970 * 1000) * 1_000_000
        @Sendable func batch() -> ([UInt8], [String]) {
            var spans: [[UInt8]] = []
            var ids: [String] = []
            for _ in 0..<64 {
                let n = counter.value.add(1, ordering: .relaxed).newValue
                let trace: [UInt8] = (0..<8).map { UInt8(($0 + 1) * 17) } + (0..<8).map { UInt8((n >> (56 - 8 * UInt64($0))) & 0xFF) }
                let span: [UInt8] = (0..<8).map { UInt8((n >> (56 - 8 * UInt64($0))) & 0xFF) }
                spans.append(PB.span(trace: trace, span: span, startNs: nowNs, endNs: nowNs + 5_000_000, attributes: [
                    PB.kv("gen_ai.operation.name", string: "chat"), PB.kv("gen_ai.provider.name", string: "openai"),
                    PB.kv("gen_ai.request.model", string: "gpt-4o"), PB.kv("gen_ai.usage.input_tokens", int: 7),
                ]))
                ids.append("otel-" + trace.map { String(format: "%02x", $0) }.joined() + "-" + span.map { String(format: "%02x", $0) }.joined())
            }
            return (PB.request(spans: spans), ids)
        }
        for _ in 0..<3 {
            let daemon = try await DaemonProcess.start(dataDir: dir, environment: ["TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1"])
            let killed = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !killed.isSet {
                            let (body, ids) = batch()
                            guard let r = try? await Self.post(daemon.baseURL, body, contentType: "application/x-protobuf", key: key) else { break }
                            if r.status == 200 && r.body.isEmpty { acked.ids.withLock { $0 += ids } }
                            // The same body again: an exporter retry, acknowledged and deduplicated.
                            if r.status == 200, let again = try? await Self.post(daemon.baseURL, body, contentType: "application/x-protobuf", key: key) {
                                #expect(again.status == 200 && again.body.isEmpty)
                            }
                        }
                    }
                }
                // Kill in the middle of exports, once this round has had some acknowledged (on a
                // loaded machine the first ones can take seconds), at a random moment after that.
                let before = acked.ids.withLock { $0.count }
                let deadline = ContinuousClock.now + .seconds(60)
                while acked.ids.withLock({ $0.count }) < before + 192 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 0...400)))
                daemon.signal(SIGKILL)
                killed.set()
                try await group.waitForAll()
            }
            let exit = try await daemon.waitForExit()
            #expect(exit.reason == .uncaughtSignal && exit.status == SIGKILL)
        }
        let ackedIDs = acked.ids.withLock { $0 }
        let stored = try await ProcessTests.exportedIDs(dir)
        #expect(ackedIDs.count >= 3 * 192, "only \(ackedIDs.count) spans were acknowledged")
        #expect(Set(stored).count == stored.count, "a span is stored twice")
        let missing = Set(ackedIDs).subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) acknowledged spans are missing")
        let verify = try await runCLI(["verify", "--data-dir", dir, "--format", "json"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }
}

final class SpanCounter: Sendable {
    let value = Atomic<UInt64>(0)
}
