import ArgumentParser
import Foundation
import Query
import UsageIndex

/// `tokentra query ...`: the HTTP query API (`/v1/usage...`) from the command line, reading the
/// SQLite index directly (no store lock, so it works while the daemon runs).
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Usage totals, time series and breakdowns (same answers as GET /v1/usage...).",
        discussion: """
            --to is EXCLUSIVE: --from 2026-11-01 --to 2026-11-02 is the single day 2026-11-01. Dates are \
            midnight in --tz; ISO-8601 timestamps are absolute. --format json prints exactly the HTTP body. \
            Filters combine freely (--team platform --model gpt-4o --metadata route=/chat); questions the \
            rollups do not hold are answered from the raw segments (meta.source says which). Events \
            still in the daemon's memtable (not sealed yet) are not seen by the CLI; HTTP sees them.
            """,
        subcommands: [Usage.self, Models.self, Teams.self, Features.self, Projects.self, Environments.self, CostCenters.self,
                      Breakdown.self],
        defaultSubcommand: Usage.self)

    struct Options: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @Option(help: "The org to query.") var org: String
        @Option(help: "Start (inclusive): YYYY-MM-DD (midnight in --tz) or ISO-8601.") var from: String
        @Option(help: "End (EXCLUSIVE): YYYY-MM-DD (midnight in --tz) or ISO-8601.") var to: String
        @Option(help: "hour, day, week (ISO, Monday) or month (usage only; default day).") var granularity: String?
        @Option(help: "IANA time zone of the buckets and dates (default UTC).") var tz: String?
        @Option(help: "Only this provider.") var provider: String?
        @Option(help: "Only this model.") var model: String?
        @Option(help: "Only this team.") var team: String?
        @Option(help: "Only this project.") var project: String?
        @Option(help: "Only this feature.") var feature: String?
        @Option(help: "Only this environment.") var environment: String?
        @Option(name: .customLong("cost-center"), help: "Only this cost center.") var costCenter: String?
        @Option(help: "Only this user id.") var user: String?
        @Option(help: "Only events whose metadata has KEY=VALUE (repeatable).") var metadata: [String] = []
        @Option(help: "Breakdowns: cost, requests or tokens (descending; default cost).") var sort: String?
        @Option(help: "Breakdowns: at most this many rows.") var limit: Int?
        @Option(name: .customLong("timing-runs"),
                help: "Also run the query this many times in-process and print p50/p95/max milliseconds to stderr.")
        var timingRuns: Int?

        /// The options under their HTTP parameter names.
        var parameters: [String: String] {
            var p: [String: String] = ["start_date": from, "end_date": to]
            p["granularity"] = granularity
            p["tz"] = tz
            p["provider"] = provider
            p["model"] = model
            p["team_id"] = team
            p["project_id"] = project
            p["feature"] = feature
            p["environment"] = environment
            p["cost_center"] = costCenter
            p["user_id"] = user
            for m in metadata {
                let parts = m.split(separator: "=", maxSplits: 1)
                p["metadata." + String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
            }
            p["sort"] = sort
            p["limit"] = limit.map(String.init)
            return p
        }

        static let cliNames: [String: String] = [
            "start_date": "--from", "end_date": "--to", "team_id": "--team", "project_id": "--project", "cost_center": "--cost-center",
            "user_id": "--user", "by": "--by",
        ]

        func run(_ breakdown: QueryBreakdown?, by: String? = nil) throws {
            let format = try global.outputFormat(default: "table", allowed: ["table", "json", "csv"])
            for m in metadata where !m.contains("=") {
                throw ValidationError("--metadata takes KEY=VALUE, got '\(m)'")
            }
            let query: UsageQuery
            do {
                if let by {
                    var p = parameters
                    p["by"] = by
                    query = try UsageQuery.parseBreakdown(orgID: org, parameters: p)
                } else {
                    query = try UsageQuery.parse(orgID: org, parameters: parameters, breakdown: breakdown)
                }
            } catch {
                var message = error.message
                for (http, cli) in Self.cliNames { message = message.replacingOccurrences(of: http, with: "\(http) (\(cli))") }
                throw ValidationError(message)
            }
            let dir = global.resolvedDataDir
            guard FileManager.default.fileExists(atPath: dir + "/index.sqlite") else {
                throw ToolError("no tokentra data in \(dir) (index.sqlite is missing)")
            }
            let engine = QueryEngine(index: try IndexDatabase(path: dir + "/index.sqlite"), dataDirectory: dir)
            if let runs = timingRuns, runs > 0 {
                var ms: [Double] = []
                let clock = ContinuousClock()
                for _ in 0..<runs {
                    let t = clock.now
                    let body = query.breakdown == nil ? QueryOutput.json(try engine.usage(query)) : QueryOutput.json(try engine.breakdown(query))
                    let d = clock.now - t
                    ms.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                    precondition(!body.isEmpty)
                }
                ms.sort()
                let p = { (q: Double) in String(format: "%.3f", ms[min(ms.count - 1, Int(q * Double(ms.count)))]) }
                printError("timing: \(runs) runs in-process (query + JSON): p50 \(p(0.5)) ms, p95 \(p(0.95)) ms, max \(p(1)) ms")
            }
            var out = OutputBuffer()
            if query.breakdown == nil {
                let r = try engine.usage(query)
                out.write(format == "json" ? QueryOutput.json(r) + "\n" : format == "csv" ? QueryOutput.csv(r) : QueryOutput.table(r))
            } else {
                let r = try engine.breakdown(query)
                out.write(format == "json" ? QueryOutput.json(r) + "\n" : format == "csv" ? QueryOutput.csv(r) : QueryOutput.table(r))
            }
            out.flush()
        }
    }

    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Totals and a time series (empty buckets included).")
        @OptionGroup var options: Options
        func run() async throws { try options.run(nil) }
    }

    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Usage by provider and model.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.models) }
    }

    struct Teams: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Usage by team.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.teams) }
    }

    struct Features: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Usage by feature.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.features) }
    }

    struct Projects: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Usage by project.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.projects) }
    }

    struct Environments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Usage by environment.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.environments) }
    }

    struct CostCenters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cost-centers", abstract: "Usage by cost center.")
        @OptionGroup var options: Options
        func run() async throws { try options.run(.costCenters) }
    }

    struct Breakdown: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Usage by any attribute: --by user_id, team_id, model, metadata.route, ... (GET /v1/usage/breakdown).")
        @OptionGroup var options: Options
        @Option(help: "provider, model, team_id, project_id, feature, environment, cost_center, user_id or metadata.KEY.")
        var by: String
        func run() async throws { try options.run(nil, by: by) }
    }
}
