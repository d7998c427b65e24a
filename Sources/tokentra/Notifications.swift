import Alerts
import ArgumentParser
import Foundation
import Query
import TokentraConfig
import TokentraCore
import TokentraHTTP
import UsageIndex

// `tokentra budgets|alerts|webhooks`: the management API on the command line. The commands open
// only the SQLite index (like `keys`), so they work while the daemon runs; flags are turned into
// the API's JSON body and validated by the same code as the HTTP API, and `--format json` prints
// exactly the HTTP answer's `data`. Budget spend here includes sealed events only (as `tokentra
// query`); the daemon's `/v1/budgets` also counts events not sealed yet.

/// Builds a JSON request body from flags.
struct BodyBuilder {
    var w = JSONWriter()
    var members = 0
    init() { w.beginObject() }
    mutating func string(_ k: String, _ v: String?) { if let v { w.field(k, v); members += 1 } }
    mutating func number(_ k: String, _ v: String?) throws {
        guard let v else { return }
        // Exact decimals are passed as strings (the API accepts both).
        w.field(k, v)
        members += 1
    }
    mutating func int(_ k: String, _ v: Int?) { if let v { w.field(k, v); members += 1 } }
    mutating func bool(_ k: String, _ v: Bool?) { if let v { w.field(k, v); members += 1 } }
    mutating func raw(_ k: String, _ json: String) { w.field(k, raw: json); members += 1 }
    /// `--scope team_id=web` (or `--scope none` for the whole org).
    mutating func scope(_ text: String?) throws {
        guard let text else { return }
        if text == "none" { raw("scope", "null"); return }
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--scope must be KEY=VALUE (team_id, project_id, feature, environment, cost_center, model) or none") }
        var s = JSONWriter()
        s.object { $0.field(parts[0], parts[1]) }
        raw("scope", s.text)
    }
    mutating func list(_ k: String, _ text: String?, numbers: Bool) {
        guard let text else { return }
        var a = JSONWriter()
        a.array { l in
            for p in text.split(separator: ",") {
                let item = p.trimmingCharacters(in: .whitespaces)
                if numbers, Int(item) != nil { l.raw(item) } else { l.string(item) }
            }
        }
        raw(k, a.text)
    }
    mutating func value() throws -> JSONValue {
        w.endObject()
        return try JSONValue.parse(w.text)
    }
}

/// Runs a validation, mapping field errors to a usage error naming the field.
func validated<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as FieldError {
        throw ValidationError("\(e.field): \(e.message)")
    }
}

struct ManagementLocation: ParsableArguments {
    @OptionGroup var location: Keys.Location
    @Option(help: "Organization.") var org: String

    func open() throws -> (IndexDatabase, String) {
        guard OrgID.isValid(org) else { throw ValidationError("--org '\(org)' is not a valid org id") }
        let index = try location.openIndex()
        let env = ProcessInfo.processInfo.environment
        let dir = location.dataDir ?? (try? ConfigurationLoader.load(file: location.config ?? env["TOKENTRA_CONFIG"], environment: env, flags: [:]))?.configuration.dataDirectory ?? "./data"
        return (index, dir)
    }
}

/// The CLI's "now" for the commands without a `--now` option.
var nowMs: Int64 { SystemClock.nowMs() }

struct Budgets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, change and delete budgets (works while the daemon runs).",
        subcommands: [List.self, Create.self, Show.self, Update.self, Delete.self])

    struct Fields: ParsableArguments {
        @Option(help: "Name.") var name: String?
        @Option(help: "Amount in USD, exact decimal (e.g. 5000.00).") var amount: String?
        @Option(help: "daily, weekly, monthly or quarterly.") var period: String?
        @Option(help: "IANA time zone of the period (default UTC).") var tz: String?
        @Option(help: "KEY=VALUE: team_id, project_id, feature, environment, cost_center or model; none for the whole org.") var scope: String?
        @Option(help: "Alert thresholds in percent (default 50,80,100).") var thresholds: String?
        @Option(help: "true: SDKs are told to stop calls over the budget (GET /api/v1/sdk/config).") var hardLimit: Bool?
        @Option(help: "active or paused.") var status: String?

        func body() throws -> (JSONValue, Int) {
            var b = BodyBuilder()
            b.string("name", name)
            try b.number("amount", amount)
            b.string("period", period)
            b.string("time_zone", tz)
            try b.scope(scope)
            b.list("alert_thresholds", thresholds, numbers: true)
            b.bool("hard_limit", hardLimit)
            b.string("status", status)
            let n = b.members
            return (try b.value(), n)
        }
    }

    static func status(_ b: BudgetRecord, dir: String, index: IndexDatabase) async throws -> BudgetStatus {
        let calculator = BudgetCalculator(engine: QueryEngine(index: index, dataDirectory: dir), rawTail: nil)
        return try await calculator.status(b, nowMs: nowMs)
    }

    static func print(_ b: BudgetRecord, dir: String, index: IndexDatabase) async throws {
        Swift.print(ManagementJSON.budget(b, try await status(b, dir: dir, index: index)))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's budgets with their current spend.")
        @OptionGroup var at: ManagementLocation
        func run() async throws {
            let (index, dir) = try at.open()
            let format = try at.location.outputFormat("table")
            let budgets = try index.budgets(orgID: at.org)
            if format == "json" {
                var parts: [String] = []
                for b in budgets { parts.append(ManagementJSON.budget(b, try await Budgets.status(b, dir: dir, index: index))) }
                Swift.print("[" + parts.joined(separator: ",") + "]")
                return
            }
            Swift.print("id                              name                 period     amount          spend           used")
            for b in budgets {
                let s = try await Budgets.status(b, dir: dir, index: index)
                func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t + " " : t + String(repeating: " ", count: n - t.count) }
                Swift.print(pad(b.id, 32) + pad(String(b.name.prefix(20)), 21) + pad(b.period, 11) + pad(MoneySum(s.amount).description, 16)
                            + pad(MoneySum(s.spend).description, 16) + (JSONNumber.format(s.percentageUsed, fractionDigits: 2) ?? "0") + "%")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a budget (prints it as JSON).")
        @OptionGroup var at: ManagementLocation
        @OptionGroup var fields: Fields
        func run() async throws {
            let (index, dir) = try at.open()
            let (body, _) = try fields.body()
            let d = try validated { () throws -> BudgetDefinition in
                let d = try BudgetDefinition.parse(create: body)
                _ = try BudgetCalculator.query(orgID: at.org, startMs: 0, endMs: 86_400_000 * 31, timeZone: d.timeZone, scope: d.scope)
                return d
            }
            let now = nowMs
            let record = d.record(id: Identifier.make("budget_"), orgID: at.org, createdAt: now, updatedAt: now)
            try index.insertBudget(record)
            try await Budgets.print(record, dir: dir, index: index)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a budget with its spend, use and forecast.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Budget id.") var id: String
        func run() async throws {
            let (index, dir) = try at.open()
            guard let b = try index.budget(id: id, orgID: at.org) else { throw ToolError("no budget \(id) in org \(at.org)") }
            try await Budgets.print(b, dir: dir, index: index)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the given fields of a budget.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Budget id.") var id: String
        @OptionGroup var fields: Fields
        func run() async throws {
            let (index, dir) = try at.open()
            guard let current = try index.budget(id: id, orgID: at.org) else { throw ToolError("no budget \(id) in org \(at.org)") }
            let (body, n) = try fields.body()
            guard n > 0 else { throw ValidationError("nothing to change: give at least one of --name, --amount, --period, --tz, --scope, --thresholds, --hard-limit, --status") }
            var d = BudgetDefinition(current)
            try validated {
                try d.apply(patch: body)
                _ = try BudgetCalculator.query(orgID: at.org, startMs: 0, endMs: 86_400_000 * 31, timeZone: d.timeZone, scope: d.scope)
            }
            let record = d.record(id: id, orgID: at.org, createdAt: current.createdAt, updatedAt: nowMs)
            guard try index.updateBudget(record) else { throw ToolError("no budget \(id) in org \(at.org)") }
            try await Budgets.print(record, dir: dir, index: index)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a budget.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Budget id.") var id: String
        func run() async throws {
            let (index, _) = try at.open()
            guard try index.deleteBudget(id: id, orgID: at.org) else { throw ToolError("no budget \(id) in org \(at.org)") }
            Swift.print(API.deleted(id))
        }
    }
}

enum API {
    static func deleted(_ id: String) -> String {
        var w = JSONWriter()
        w.object { $0.field("id", id); $0.field("deleted", true) }
        return w.text
    }
}
