import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The overview page in a real browser: Debian's `chromium` (headless) against the real
/// `tokentra serve` holding 20,000 events of `scripts/gen-events.py` (the last 30 days).
///
/// A headless Chromium cannot be handed a cookie, so each run signs in through a one-time link
/// (`POST /v1/signin-links` with the `usage:read` key, then Chromium opens `/signin?token=…`, which
/// sets the session cookie and redirects to `/`). Screenshots go to
/// `.build/test-artifacts/overview-desktop.png` (1280×1600) and `overview-phone.png` (390×844);
/// the rendered DOM (`--dump-dom`) must show the numbers of `/v1/usage` and of a Python Decimal
/// sum over the generated file. Chromium reaches loopback only: every other host goes to a
/// refused proxy port on 127.0.0.1. Without `chromium` on the PATH the test fails (CI installs
/// it: `make test-deps`).
@Suite struct OverviewChromiumTests {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url
    }()
    static var artifacts: String { packageRoot.appendingPathComponent(".build/test-artifacts").path }

    static func chromium() -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/chromium"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs chromium headless on `url` with `extra` arguments, killed after 90 s (coreutils `timeout`).
    static func runChromium(_ chromium: String, profile: String, url: String, _ extra: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        var args = ["90", chromium, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--disable-default-apps", "--metrics-recording-only", "--no-pings", "--user-data-dir=\(profile)",
                    // Loopback only: anything that is not 127.0.0.1 goes to a proxy port nobody listens on.
                    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
        if getuid() == 0 { args.append("--no-sandbox") }  // Chromium refuses to run as root with its sandbox
        return try await runProgram("/usr/bin/timeout", args + extra + [url])
    }

    @Test func rendersInHeadlessChromium() async throws {
        guard let chromium = Self.chromium() else {
            Issue.record("chromium is not on the PATH: install Debian's chromium package (`make test-deps`, or `apt-get install -y chromium`)")
            return
        }
        #expect(DaemonProcess.available, "build the binary first: swift build --build-tests")
        let tmp = TemporaryDirectory("tokentra-overview")
        defer { tmp.remove() }
        let data = tmp.file("data"), events = tmp.file("events.ndjson")
        let gen = try await runProgram("/usr/bin/env", ["python3", Self.packageRoot.appendingPathComponent("scripts/gen-events.py").path,
                                                         "--events", "20000", "--days", "29", "--seed", "14", "--out", events])
        #expect(gen.status == 0, "\(gen.stderr)")
        let ingest = try await runCLI(["ingest", "--data-dir", data, "--org", "acme", events])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        func key(_ scopes: String) async throws -> String {
            let r = try await runCLI(["keys", "create", "--data-dir", data, "--org", "acme", "--name", scopes, "--scopes", scopes, "--format", "key"])
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let reader = try await key("usage:read"), admin = try await key("admin")
        let daemon = try await DaemonProcess.start(dataDir: data)
        let budget = try await HTTP.request(
            daemon.baseURL + "/v1/budgets", method: "POST", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
            body: Array(#"{"name":"All spend <b>monthly</b>","amount":2500,"period":"monthly"}"#.utf8))
        #expect(budget.status == 201, "\(budget.body)")

        func link() async throws -> String {
            let r = try await HTTP.request(daemon.baseURL + "/v1/signin-links", method: "POST", headers: [("Authorization", "Bearer \(reader)")])
            return daemon.baseURL + (try r.strict["data"]?["path"]?.stringValue ?? "/")
        }
        try FileManager.default.createDirectory(atPath: Self.artifacts, withIntermediateDirectories: true)
        for (name, width, height) in [("desktop", 1280, 1600), ("phone", 390, 844)] {
            let path = Self.artifacts + "/overview-\(name).png"
            try? FileManager.default.removeItem(atPath: path)
            let run = try await Self.runChromium(chromium, profile: tmp.file("profile-\(name)"), url: try await link(),
                                                 ["--window-size=\(width),\(height)", "--screenshot=\(path)"])
            #expect(run.status == 0, "\(run.stderr.suffix(2000))")
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let png = try PNGImage(bytes)
            #expect(png.width == width && png.height == height, "\(name): \(png.width)×\(png.height)")
            // Not blank: many colors, and the chart's bar color (#3567d6) over a real area.
            #expect(png.distinctColors > 20, "\(name): \(png.distinctColors) colors")
            #expect(png.count(near: (0x35, 0x67, 0xD6)) > 2000, "\(name): \(png.count(near: (0x35, 0x67, 0xD6))) bar pixels")
        }

        // The rendered DOM carries the numbers of /v1/usage and of an independent Decimal sum.
        let dom = try await Self.runChromium(chromium, profile: tmp.file("profile-dom"), url: try await link(), ["--dump-dom"])
        #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
        try? dom.stdout.write(toFile: Self.artifacts + "/overview-dom.html", atomically: true, encoding: .utf8)
        let page = try #require(OverviewHTML.parse(dom.stdout), "no #spend in the DOM: \(dom.stdout.prefix(500))")
        #expect(!dom.stdout.contains("<b>monthly") && dom.stdout.contains("All spend &lt;b&gt;monthly&lt;/b&gt;"))
        #expect(page.days.count == 30 && page.models.count >= 5 && page.features.count >= 5 && page.budgets.count == 1)
        let problems = try await compareWithAPI(page, base: daemon.baseURL, key: reader)
        #expect(problems.isEmpty, "\(problems)")
        let reference = try await runProgram("/usr/bin/env", ["python3", "-c", Self.decimalReference, events,
                                                               page.spend["data-start"] ?? "", page.spend["data-end"] ?? ""])
        #expect(reference.status == 0, "\(reference.stderr)")
        var expected: [String: (String, String)] = [:]
        for line in reference.stdout.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            expected[f[0]] = (f[1], f[2])
        }
        #expect(expected["total"]?.0 == page.spend["data-total-cost"] && expected["total"]?.1 == page.spend["data-total-requests"])
        for day in page.days {
            let e = expected[day["data-date"] ?? ""] ?? ("0", "0")
            #expect(e.0 == day["data-cost"] && e.1 == day["data-requests"], "\(day)")
        }
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit().status == 0)
    }

    /// Python: per UTC day in [start, end) and in total, the exact Decimal sum of `total_cost` and
    /// the number of distinct events (the first line of a repeated `request_id` counts), printed
    /// like MoneySum (no exponent, no trailing zeros).
    static let decimalReference = #"""
        import json, sys
        from decimal import Decimal
        path, start, end = sys.argv[1:4]
        seen, days = set(), {}
        for line in open(path):
            e = json.loads(line, parse_float=Decimal)
            if e["request_id"] in seen: continue
            seen.add(e["request_id"])
            day = e["timestamp"][:10]
            if not (start <= day < end): continue
            c, n = days.get(day, (Decimal(0), 0))
            days[day] = (c + Decimal(e["total_cost"]), n + 1)
        def text(d):
            s = format(d, "f")
            return (s.rstrip("0").rstrip(".") if "." in s else s) or "0"
        total = sum((c for c, _ in days.values()), Decimal(0))
        print("total", text(total), sum(n for _, n in days.values()))
        for day in sorted(days): print(day, text(days[day][0]), days[day][1])
        """#
}
