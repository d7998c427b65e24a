import Foundation
import Testing
import TokentraCore
import TokentraTestSupport

/// `tokentra prices`, `reprice` and `audit` as real processes; expected costs come from Python's
/// Decimal (a script below), given the exported events and the price file.
@Suite(.cliIsolated) struct RepriceCLITests {
    static let v2 = """
        {"version":2,"prices":[
         {"provider":"openai","model":"gpt-4o","input_per_1k":"0.005","output_per_1k":"0.015"},
         {"provider":"openai","model":"gpt-4o","input_per_1k":"0.0025","output_per_1k":"0.01","cached_per_1k":"0.00125","effective_from":"2026-11-18"},
         {"provider":"anthropic","model":"claude-3-5-haiku-20241022","input_per_1m":"1","output_per_1m":"5"},
         {"provider":"acme","model":"mystery-1","input_per_1k":"0.0001","output_per_1k":"0.0002","effective_from":"2026-11-01T00:00:00Z"}]}
        """

    /// The independent reference: re-costs an export with a price file, in Decimal.
    static let reference = #"""
        import json, sys
        from datetime import datetime
        from decimal import Decimal, ROUND_HALF_EVEN
        export, prices_path, frm, to, include = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
        def ms(s): return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
        table = json.load(open(prices_path))
        def per1k(p, k):
            if k + "_per_1k" in p: return Decimal(str(p[k + "_per_1k"]))
            if k + "_per_1m" in p: return Decimal(str(p[k + "_per_1m"])) / 1000
            return None
        prices = {}
        for p in table["prices"]:
            eff = p.get("effective_from", "1970-01-01")
            eff_ms = ms(eff + "T00:00:00Z") if len(eff) == 10 else ms(eff)
            i, o, c = per1k(p, "input"), per1k(p, "output"), per1k(p, "cached")
            prices.setdefault((p["provider"], p["model"]), []).append((eff_ms, i, o, c if c is not None else i))
        def units(tokens, rate):
            return int((Decimal(tokens) * rate / 1000 * Decimal(10) ** 10).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        def money(s): return int(Decimal(str(s)) * Decimal(10) ** 10)
        frm, to = ms(frm), ms(to)
        out = {"events": 0, "repriced": 0, "old": 0, "new": 0, "models": {}, "totals": {}}
        for line in open(export):
            e = json.loads(line, parse_float=Decimal)
            old = money(e["total_cost"]); new = old
            t = ms(e["timestamp"])
            if t >= frm and t < to:
                src = e["cost_source"]
                entries = sorted(prices.get((e["provider"], e["model"]), []))
                price = [p for p in entries if p[0] <= t]
                price = price[-1] if price else None
                if price and (src != "client" or include):
                    if e.get("was_cached"): new, newsrc = 0, "price_table@2"
                    else:
                        new = units(e["input_tokens"], price[1]) + units(e["output_tokens"], price[2]) + units(e["cached_tokens"], price[3])
                        newsrc = "price_table@2"
                    if new != old or newsrc != src: out["repriced"] += 1
                m = out["models"].setdefault(e["provider"] + "/" + e["model"], {"events": 0, "old": 0, "new": 0})
                m["events"] += 1; m["old"] += old; m["new"] += new
                out["events"] += 1; out["old"] += old; out["new"] += new
            out["totals"][e["request_id"]] = new
        print(json.dumps(out))
        """#

    /// Events of 3 days before `now`: table-costed (most), client-costed, cached, unpriced models.
    static func events(_ n: Int, seed: UInt64) -> String {
        var rng = SeededRandom(seed: seed)
        let models = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022"), ("acme", "mystery-1")]
        var out = ""
        let start = parseTimestamp("2026-11-17T00:00:00Z")!
        for i in 0..<n {
            let (p, m) = models[i % models.count]
            let ts = formatTimestamp(start + Int64(rng.next() % (3 * 86_400_000)))
            let id = String(format: "%08x-0000-4000-8000-%012x", seed, i)
            var line = "{\"request_id\":\"\(id)\",\"timestamp\":\"\(ts)\",\"provider\":\"\(p)\",\"model\":\"\(m)\",\"input_tokens\":\(rng.next() % 9000),\"output_tokens\":\(rng.next() % 3000),\"cached_tokens\":\(i % 3 == 0 ? rng.next() % 2000 : 0),\"latency_ms\":\(rng.next() % 3000)"
            if i % 10 == 3 { line += ",\"input_cost\":0.0123456789,\"output_cost\":0.5" }
            if i % 13 == 5 { line += ",\"was_cached\":true" }
            out += line + "}\n"
        }
        return out
    }

    struct Reference {
        var events: Int, repriced: Int, old: Int128, new: Int128
        var models: [String: (events: Int, old: Int128, new: Int128)]
        var totals: [String: Int128]
    }

    static func reference(export: String, prices: String, from: String, to: String, include: Bool = false, dir: TemporaryDirectory) async throws -> Reference {
        let script = dir.file("reference.py"), file = dir.file("export-\(UUID().uuidString).ndjson")
        try Self.reference.write(toFile: script, atomically: true, encoding: .utf8)
        try export.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try await runProgram("/usr/bin/env", ["python3", script, file, prices, from, to, include ? "1" : "0"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try StrictJSON.parse(r.stdout)
        func int(_ v: StrictJSON?) -> Int128 { Int128(v?.numberText ?? "") ?? -1 }
        var models: [String: (Int, Int128, Int128)] = [:]
        for (k, v) in j["models"]?.objectValue ?? [] { models[k] = (v["events"]?.intValue ?? -1, int(v["old"]), int(v["new"])) }
        var totals: [String: Int128] = [:]
        for (k, v) in j["totals"]?.objectValue ?? [] { totals[k] = int(v) }
        return Reference(events: j["events"]?.intValue ?? -1, repriced: j["repriced"]?.intValue ?? -1, old: int(j["old"]),
                         new: int(j["new"]), models: models, totals: totals)
    }

    static func units(_ v: StrictJSON?) throws -> Int128 { Int128(try Money(parsing: v?.numberText ?? "x").units) }

    /// request_id → total cost units, from `tokentra export`.
    static func exportedTotals(_ export: String) throws -> [String: Int128] {
        var out: [String: Int128] = [:]
        for line in export.split(separator: "\n") {
            let j = try StrictJSON.parse(String(line))
            out[j["request_id"]?.stringValue ?? ""] = try units(j["total_cost"])
        }
        return out
    }

    static func rollups(_ data: String) async throws -> String {
        var out = ""
        for g in ["hour", "day"] {
            let r = try await CLI.run(["rollup", "export", "--data-dir", data, "--granularity", g])
            #expect(r.status == 0, "\(r.stderr)")
            out += r.stdout
        }
        return out
    }

    static func prepare(_ dir: TemporaryDirectory, events n: Int) async throws -> String {
        let data = dir.file("d")
        try events(n, seed: 7).write(toFile: dir.file("in.ndjson"), atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--data-dir", data, "--org", "acme", "--now", now, dir.file("in.ndjson")])
        #expect(ingest.status == 0 && ingest.json["processed"] as? Int == n, "\(ingest.stderr)")
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data]).status == 0)
        try v2.write(toFile: dir.file("v2.json"), atomically: true, encoding: .utf8)
        return data
    }

    @Test func pricesRepriceAndAudit() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = try await Self.prepare(dir, events: 3000)

        // prices: a malformed file is refused naming the entry and key; nothing is imported.
        try "{\"version\":3,\"prices\":[{\"provider\":\"openai\",\"model\":\"x\",\"input_per_1k\":\"0.1.2\",\"output_per_1k\":\"1\"}]}"
            .write(toFile: dir.file("bad.json"), atomically: true, encoding: .utf8)
        let bad = try await CLI.run(["prices", "import", "--data-dir", data, dir.file("bad.json")])
        #expect(bad.status == 2 && bad.stderr.contains("prices[0].input_per_1k"), "\(bad.stderr)")
        let imported = try await CLI.run(["prices", "import", "--data-dir", data, "--format", "json", dir.file("v2.json")])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try imported.strict["version"]?.intValue == 2 && imported.strict["entries"]?.intValue == 4)
        let list = try await CLI.run(["prices", "list", "--data-dir", data, "--format", "json"]).strict
        #expect(list["current_version"]?.intValue == 2)
        #expect(list["versions"]?.arrayValue?.map { $0["origin"]?.stringValue ?? "" } == ["built-in", "imported"])
        let show = try await CLI.run(["prices", "show", "--data-dir", data, "--price-version", "2"]).strict
        #expect(show["prices"]?.arrayValue?.count == 4)
        #expect(show["prices"]?.arrayValue?[1]["input_per_1k"]?.stringValue == "0.001")  // anthropic (after acme), 1 per 1M

        // Usage errors: exit 2, the option named.
        let from = "2026-11-17T12:00:00Z", to = "2026-11-19T06:00:00Z"
        let base = ["reprice", "--data-dir", data]
        for (args, option) in [(["--org", "acme", "--from", to, "--to", from], "--to"),
                               (["--org", "nobody", "--from", from, "--to", to], "--org"),
                               (["--org", "acme", "--from", from, "--to", to, "--price-version", "9"], "--price-version"),
                               (["--org", "acme", "--from", "yesterday", "--to", to], "--from")] {
            let r = try await CLI.run(base + args)
            #expect(r.status == 2 && r.stderr.contains(option), "\(args): \(r.stderr)")
        }

        // Dry run: exact old and new totals per model; nothing changes.
        let exportBefore = try await CLI.run(["export", "--data-dir", data]).stdout
        let rollupsBefore = try await Self.rollups(data)
        let ref = try await Self.reference(export: exportBefore, prices: dir.file("v2.json"), from: from, to: to, dir: dir)
        #expect(ref.repriced > 500 && ref.old != ref.new)
        let dry = try await CLI.run(base + ["--org", "acme", "--from", from, "--to", to, "--price-version", "2", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let d = try dry.strict
        #expect(d["dry_run"]?.boolValue == true && d["events"]?.intValue == ref.events && d["repriced_events"]?.intValue == ref.repriced)
        #expect(try Self.units(d["old_total_cost"]) == ref.old && Self.units(d["new_total_cost"]) == ref.new)
        let models = d["models"]?.arrayValue ?? []
        #expect(models.count == ref.models.count)
        for m in models {
            let key = (m["provider"]?.stringValue ?? "") + "/" + (m["model"]?.stringValue ?? "")
            let r = try #require(ref.models[key], "\(key)")
            let (old, new) = (try Self.units(m["old_cost"]), try Self.units(m["new_cost"]))
            #expect(m["events"]?.intValue == r.events && old == r.old && new == r.new, "\(key)")
        }
        #expect(try await CLI.run(["export", "--data-dir", data]).stdout == exportBefore)
        #expect(try await Self.rollups(data) == rollupsBefore)

        // The run: the same totals, the export has the reference's cost for every event.
        let run = try await CLI.run(base + ["--org", "acme", "--from", from, "--to", to, "--price-version", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let j = try run.strict
        #expect(j["dry_run"]?.boolValue == false && j["repriced_events"]?.intValue == ref.repriced && j["audit_id"]?.intValue == 1)
        #expect(try Self.units(j["old_total_cost"]) == ref.old && Self.units(j["new_total_cost"]) == ref.new)
        #expect(try Self.exportedTotals(try await CLI.run(["export", "--data-dir", data]).stdout) == ref.totals)
        #expect(try await CLI.run(["verify", "--data-dir", data]).json["ok"] as? Bool == true)

        // The rollups equal a full rebuild.
        let rollupsAfter = try await Self.rollups(data)
        #expect(rollupsAfter != rollupsBefore)
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--rebuild"]).status == 0)
        #expect(try await Self.rollups(data) == rollupsAfter)

        // The audit trail.
        let audit = try await CLI.run(["audit", "--data-dir", data, "--format", "json"])
        let rows = try audit.strict["data"]?.arrayValue ?? []
        #expect(rows.count == 1)
        #expect(rows.first?["actor"]?.stringValue == "cli" && rows.first?["org_id"]?.stringValue == "acme")
        #expect(rows.first?["price_version"]?.intValue == 2 && rows.first?["from"]?.stringValue == "2026-11-17T12:00:00.000Z")
        #expect(try Self.units(rows.first?["old_total_cost"]) == ref.old && Self.units(rows.first?["new_total_cost"]) == ref.new)
        #expect(rows.first?["models"]?.arrayValue?.count == ref.models.count)

        // Client costs too, only with the flag: the reference agrees again.
        let exportMid = try await CLI.run(["export", "--data-dir", data]).stdout
        let refAll = try await Self.reference(export: exportMid, prices: dir.file("v2.json"), from: from, to: to, include: true, dir: dir)
        let all = try await CLI.run(base + ["--org", "acme", "--from", from, "--to", to, "--include-client-costs"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try all.strict["repriced_events"]?.intValue == refAll.repriced && refAll.repriced > 50)
        #expect(try Self.exportedTotals(try await CLI.run(["export", "--data-dir", data]).stdout) == refAll.totals)
    }

    /// kill -9 of `tokentra reprice` at random moments: the old data (or, once committed, the new)
    /// stays whole; a re-run completes it and the rollups equal a rebuild.
    @Test func killDuringRepriceLeavesOldOrNewAndARerunCompletes() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let data = try await Self.prepare(dir, events: 20_000)
        #expect(try await CLI.run(["prices", "import", "--data-dir", data, dir.file("v2.json")]).status == 0)
        let from = "2026-11-17T00:00:00Z", to = "2026-11-20T00:00:00Z"
        let exportBefore = try await CLI.run(["export", "--data-dir", data]).stdout
        let ref = try await Self.reference(export: exportBefore, prices: dir.file("v2.json"), from: from, to: to, dir: dir)
        let oldTotals = try Self.exportedTotals(exportBefore)
        var rng = SeededRandom(seed: 99)
        var sawOld = 0
        for round in 0..<4 {
            let (p, _, _) = try CLI.start(["reprice", "--data-dir", data, "--org", "acme", "--from", from, "--to", to])
            usleep(UInt32(30_000 + rng.next() % 600_000))
            kill(p.processIdentifier, SIGKILL)
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async { p.waitUntilExit(); c.resume() }
            }
            // Read-only check: the only problems are files of the killed run that are not registered:
            // its replacement files (complete, before its commit, or a `.tmp` still being written)
            // or the inputs it replaced (killed after its commit, before unlinking them). `repair`
            // removes any of them.
            let verify = try await CLI.run(["verify", "--data-dir", data, "--format", "json"])
            let problems = try verify.strict["problems"]?.arrayValue ?? []
            for problem in problems {
                let message = problem["message"]?.stringValue ?? ""
                let file = problem["file"]?.stringValue ?? ""
                let unregistered = message.contains("not registered")
                let unfinished = file.hasSuffix(".tseg.tmp") && message.contains("unfinished segment file")
                #expect(file.hasPrefix("segments/acme/") && (unregistered || unfinished) && message.contains("repair"),
                        "round \(round): \(problem)")
            }
            let totals = try Self.exportedTotals(try await CLI.run(["export", "--data-dir", data]).stdout)
            #expect(totals == oldTotals || totals == ref.totals, "round \(round): a mix of old and new costs")
            if totals == oldTotals { sawOld += 1 }
        }
        let finish = try await CLI.run(["reprice", "--data-dir", data, "--org", "acme", "--from", from, "--to", to])
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(try Self.exportedTotals(try await CLI.run(["export", "--data-dir", data]).stdout) == ref.totals)
        #expect(try await CLI.run(["verify", "--data-dir", data]).json["ok"] as? Bool == true)
        let rollups = try await Self.rollups(data)
        #expect(try await CLI.run(["rollup", "run", "--data-dir", data, "--rebuild"]).status == 0)
        #expect(try await Self.rollups(data) == rollups)
        // Every completed run left one audit row (a killed one none).
        let audit = try await CLI.run(["audit", "--data-dir", data, "--format", "json"])
        let rows = try audit.strict["data"]?.arrayValue ?? []
        #expect(rows.count >= 1 && rows.count <= 5 - sawOld)
        #expect(try Self.units(rows.first?["old_total_cost"]) == ref.old && Self.units(rows.first?["new_total_cost"]) == ref.new)
    }
}
