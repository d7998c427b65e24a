import Foundation
import Logging
import Synchronization
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport

/// What operators expect of a daemon: Prometheus naming (checked by Debian's `promtool`), JSON
/// log lines, a version from the build.
@Suite struct ConventionsTests {
    /// The real binary with JSON logs and fast jobs: after traffic of every kind and a few job
    /// runs, `promtool check metrics` reports nothing on `/metrics`, every family has help text,
    /// `tokentra_build_info` carries the version, and every stderr line is one JSON object.
    @Test func promtoolAcceptsMetricsAndLogLinesAreJSON() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else {
            Issue.record("promtool not found: run scripts/install-deps.sh (Debian package prometheus)")
            return
        }
        let tmp = TemporaryDirectory("tokentra-conventions")
        defer { tmp.remove() }
        let dir = tmp.file("data")
        let (key, _) = try await ProcessTests.createKey(dir, org: "org_conv")
        let daemon = try await DaemonProcess.start(dataDir: dir, environment: [
            "TOKENTRA_LOG_FORMAT": "json", "TOKENTRA_STORAGE_SEAL_INTERVAL_SECONDS": "1", "TOKENTRA_ROLLUP_INTERVAL_SECONDS": "1",
        ])
        let ids = (0..<3).map { _ in UUID().uuidString.lowercased() }
        #expect(try await ProcessTests.post(daemon.baseURL, key: key, ids: ids).status == 200)
        #expect(try await ProcessTests.post(daemon.baseURL, key: key, ids: [ids[0]]).json["duplicates"] as? Int == 1)
        #expect(try await ProcessTests.post(daemon.baseURL, key: "tt_live_nope", ids: ids).status == 401)
        #expect(try await HTTP.request(daemon.baseURL + "/nothing-here").status == 404)
        // Wait for a seal and a rollup run, so the job and segment families have samples.
        var text = ""
        let deadline = ContinuousClock.now + .seconds(20)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            text = try await HTTP.request(daemon.baseURL + "/metrics").body
        } while !(text.contains(#"tokentra_job_runs_total{job="rollup",result="ok"}"#) && text.contains("tokentra_segment_rows 3"))
            && ContinuousClock.now < deadline
        #expect(text.contains(#"tokentra_ingest_events_total{result="stored",reason=""} 3"#), "\(text)")
        #expect(text.contains(#"tokentra_ingest_events_total{result="duplicate",reason=""} 1"#))
        #expect(text.contains(#"tokentra_http_requests_total{route="/api/v1/sdk/ingest",method="POST",status="401"} 1"#))
        #expect(text.contains("tokentra_segment_rows 3"))
        #expect(text.contains(#"tokentra_job_runs_total{job="rollup",result="ok"}"#))
        #expect(text.contains("tokentra_build_info{version=\"\(BuildInfo.version)\",commit=\"\(BuildInfo.commit)\"} 1"), "\(text)")

        // Every family has HELP right before its TYPE.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var families = 0
        for (i, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
            families += 1
            let name = line.split(separator: " ")[2]
            #expect(i > 0 && lines[i - 1].hasPrefix("# HELP \(name) "), "no help for \(name)")
        }
        #expect(families >= 20, "\(families) families")

        let file = tmp.file("metrics.txt")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try await shell("\(promtool) check metrics < \(file)")
        #expect(check.status == 0, "promtool: \(check.output)")
        #expect(check.output == "", "promtool: \(check.output)")
        // The check is real: the old counter name without `_total` is reported.
        try "# HELP tokentra_http_requests Requests.\n# TYPE tokentra_http_requests counter\ntokentra_http_requests 1\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try await shell("\(promtool) check metrics < \(file)")
        #expect(bad.status != 0)
        #expect(bad.output.contains(#"counter metrics should have "_total" suffix"#), "\(bad.output)")

        daemon.signal(SIGTERM)
        let exit = try await daemon.waitForExit()
        #expect(exit.status == 0)
        let logLines = daemon.stderr.split(separator: "\n")
        #expect(logLines.count >= 2)
        var messages: [String] = []
        for line in logLines {
            let json = try StrictJSON.parse(String(line))
            #expect(json.keys.prefix(4) == ["timestamp", "level", "label", "message"], "\(line)")
            #expect(json["timestamp"]?.stringValue.flatMap(parseTimestamp) != nil, "\(line)")
            messages.append(json["message"]?.stringValue ?? "")
            if json["message"]?.stringValue == "storage open" {
                #expect(json["metadata"]?["data_dir"]?.stringValue == dir)
                #expect(json["metadata"]?["version"]?.stringValue == BuildInfo.version)
                #expect(json["level"]?.stringValue == "info")
                #expect(json["label"]?.stringValue == "tokentra")
            }
        }
        #expect(messages.contains("storage open"), "\(messages)")
        #expect(messages.contains("tokentra stopped cleanly"), "\(messages)")
        try? FileManager.default.removeItem(atPath: daemon.stderrPath)
    }

    /// The handler itself: fields in order, metadata from the logger, the provider and the call
    /// (the call wins), nested values kept, hostile text escaped, one line per event.
    @Test func jsonLogHandlerWritesOneObjectPerLine() throws {
        let sink = Collected()
        let provider = Logger.MetadataProvider { ["request.id": "r-1", "from": "provider"] }
        var logger = Logger(label: "tokentra.test") { label in
            var h = JSONLogHandler(label: label, metadataProvider: provider, sink: { l in sink.ids.withLock { $0.append(l) } }, clock: { 1_764_614_400_123 })
            h.logLevel = .debug
            return h
        }
        logger[metadataKey: "data_dir"] = "/var/lib/tokentra"
        logger.debug("line \"one\"\nwith a newline \u{1}", metadata: [
            "from": "call", "nested": ["a": "1", "list": ["x", .stringConvertible(42)]],
        ])
        logger.trace("not written")
        logger.error("ünïcødé ✓")
        let captured = sink.ids.withLock { $0 }
        #expect(captured.count == 2)
        #expect(captured.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().firstIndex(of: "\n") == nil })
        #expect(captured[0] == #"{"timestamp":"2025-12-01T18:40:00.123Z","level":"debug","label":"tokentra.test","message":"line \"one\"\nwith a newline \u0001","metadata":{"data_dir":"/var/lib/tokentra","from":"call","nested":{"a":"1","list":["x","42"]},"request.id":"r-1"}}"# + "\n")
        let first = try StrictJSON.parse(String(captured[0].dropLast()))
        #expect(first["message"]?.stringValue == "line \"one\"\nwith a newline \u{1}")
        #expect(first["metadata"]?["nested"]?["list"]?[1]?.stringValue == "42")
        let second = try StrictJSON.parse(String(captured[1].dropLast()))
        #expect(second["level"]?.stringValue == "error")
        #expect(second["message"]?.stringValue == "ünïcødé ✓")
        #expect(second["metadata"]?["from"]?.stringValue == "provider")
    }

    /// `tokentra --version` prints the version constant and the build's commit (`unknown` for a
    /// build that `make release` did not stamp, as the test build).
    @Test func versionComesFromTheBuild() async throws {
        guard DaemonProcess.available else { Issue.record("needs \(DaemonProcess.binary) (swift build --build-tests)"); return }
        let r = try await runCLI(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == "\(BuildInfo.version) (commit \(BuildInfo.commit))\n")
        #expect(BuildInfo.commit == "unknown")
        // The README's upgrade section names the current version.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("tokentra --version"))
    }
}
