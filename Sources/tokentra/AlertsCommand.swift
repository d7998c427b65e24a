import Alerts
import ArgumentParser
import Foundation
import TokentraConfig
import TokentraCore
import TokentraHTTP
import UsageIndex

/// `tokentra alerts ...`: alert rules (evaluated by the daemon after every rollup cycle).
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Create, list, change and delete alert rules, and read their history (works while the daemon runs).",
        subcommands: [List.self, Create.self, Show.self, Update.self, Delete.self, History.self])

    struct Fields: ParsableArguments {
        @Option(help: "Name.") var name: String?
        @Option(help: "spend_threshold, budget_warning, forecast, anomaly, rate_spike, error_rate or latency (create only).") var type: String?
        @Option(help: "Threshold (USD, percent, z-score, multiplier, ratio or ms by type).") var threshold: String?
        @Option(help: "spend_threshold: daily, weekly, monthly or quarterly.") var period: String?
        @Option(help: "budget_warning/forecast: the budget id.") var budget: String?
        @Option(help: "error_rate/latency: window in minutes (whole hours).") var windowMinutes: Int?
        @Option(help: "latency: 95 or 99.") var percentile: Int?
        @Option(help: "KEY=VALUE scope (team_id, project_id, feature, environment, cost_center, model) or none.") var scope: String?
        @Option(help: "IANA time zone of periods and days (default UTC).") var tz: String?
        @Option(help: "Minutes after a trigger during which the alert does not fire again (default 60).") var cooldownMinutes: Int?
        @Option(help: "true or false.") var enabled: Bool?

        func body() throws -> (JSONValue, Int) {
            var b = BodyBuilder()
            b.string("name", name)
            b.string("type", type)
            try b.number("threshold", threshold)
            b.string("period", period)
            b.string("budget_id", budget)
            b.int("window_minutes", windowMinutes)
            b.int("percentile", percentile)
            try b.scope(scope)
            b.string("time_zone", tz)
            b.int("cooldown_minutes", cooldownMinutes)
            b.bool("enabled", enabled)
            let n = b.members
            return (try b.value(), n)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's alert rules.")
        @OptionGroup var at: ManagementLocation
        func run() async throws {
            let (index, _) = try at.open()
            let format = try at.location.outputFormat("table")
            let alerts = try index.alerts(orgID: at.org)
            if format == "json" {
                print("[" + alerts.map(ManagementJSON.alert).joined(separator: ",") + "]")
                return
            }
            for a in alerts { print("\(a.id)  \(a.type)  threshold=\(a.threshold)  state=\(a.state)  \(a.enabled ? "enabled" : "disabled")  \(a.name)") }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an alert rule (prints it as JSON).")
        @OptionGroup var at: ManagementLocation
        @OptionGroup var fields: Fields
        func run() async throws {
            let (index, _) = try at.open()
            let (body, _) = try fields.body()
            let org = at.org
            let d = try validated { try AlertDefinition.parse(create: body, budgetExists: { try index.budget(id: $0, orgID: org) != nil }) }
            let now = nowMs
            let record = d.record(id: Identifier.make("alert_"), orgID: org, createdAt: now, updatedAt: now)
            try index.insertAlert(record)
            print(ManagementJSON.alert(record))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an alert rule and its state.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Alert id.") var id: String
        func run() async throws {
            let (index, _) = try at.open()
            guard let a = try index.alert(id: id, orgID: at.org) else { throw ToolError("no alert \(id) in org \(at.org)") }
            print(ManagementJSON.alert(a))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the given fields of an alert rule.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Alert id.") var id: String
        @OptionGroup var fields: Fields
        func run() async throws {
            let (index, _) = try at.open()
            let org = at.org
            guard let current = try index.alert(id: id, orgID: org) else { throw ToolError("no alert \(id) in org \(org)") }
            let (body, n) = try fields.body()
            guard n > 0 else { throw ValidationError("nothing to change") }
            var d = AlertDefinition(current)
            try validated { try d.apply(patch: body, budgetExists: { try index.budget(id: $0, orgID: org) != nil }) }
            let record = d.record(id: id, orgID: org, createdAt: current.createdAt, updatedAt: nowMs)
            guard try index.updateAlert(record), let stored = try index.alert(id: id, orgID: org) else { throw ToolError("no alert \(id) in org \(org)") }
            print(ManagementJSON.alert(stored))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alert rule and its history.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Alert id.") var id: String
        func run() async throws {
            let (index, _) = try at.open()
            guard try index.deleteAlert(id: id, orgID: at.org) else { throw ToolError("no alert \(id) in org \(at.org)") }
            print(API.deleted(id))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The alert's transitions (triggered, resolved), newest first, as JSON.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Alert id.") var id: String
        @Option(help: "At most this many entries.") var limit: Int = 100
        func run() async throws {
            let (index, _) = try at.open()
            guard try index.alert(id: id, orgID: at.org) != nil else { throw ToolError("no alert \(id) in org \(at.org)") }
            print("[" + (try index.alertHistory(alertID: id, orgID: at.org, limit: max(1, min(limit, 1000)))).map(ManagementJSON.history).joined(separator: ",") + "]")
        }
    }
}

/// `tokentra webhooks ...`: webhook endpoints and their delivery log.
struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks", abstract: "Create, list and delete webhook endpoints; read the delivery log; redeliver (works while the daemon runs).",
        subcommands: [List.self, Create.self, Update.self, Delete.self, Deliveries.self, Redeliver.self])

    /// `webhooks.allow_private_targets` from the configuration (as the daemon reads it).
    static func allowPrivate(_ at: ManagementLocation) throws -> Bool {
        let env = ProcessInfo.processInfo.environment
        do {
            return try ConfigurationLoader.load(file: at.location.config ?? env["TOKENTRA_CONFIG"], environment: env, flags: [:])
                .configuration.webhookAllowPrivateTargets
        } catch let e as ConfigurationError {
            throw ToolError(e.description)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's endpoints (never their secrets).")
        @OptionGroup var at: ManagementLocation
        func run() async throws {
            let (index, _) = try at.open()
            print("[" + (try index.webhooks(orgID: at.org)).map { ManagementJSON.webhook($0, secret: false) }.joined(separator: ",") + "]")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an endpoint; prints its signing secret once.")
        @OptionGroup var at: ManagementLocation
        @Option(help: "http(s) URL of the receiver.") var url: String
        @Option(help: "Comma-separated event types (default: all).") var events: String?
        @Option(help: "A description.") var description: String?
        func run() async throws {
            let (index, _) = try at.open()
            var b = BodyBuilder()
            b.string("url", url)
            b.list("events", events, numbers: false)
            b.string("description", description)
            let body = try b.value()
            let allow = try WebhooksCommand.allowPrivate(at)
            let d = try validated { try WebhookDefinition.parse(create: body, allowPrivate: allow) }
            let now = nowMs
            let record = d.record(id: Identifier.make("wh_"), orgID: at.org, secret: WebhookDefinition.newSecret(), createdAt: now, updatedAt: now)
            try index.insertWebhook(record)
            print(ManagementJSON.webhook(record, secret: true))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an endpoint; --rotate-secret prints the new secret once.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Webhook id.") var id: String
        @Option(help: "http(s) URL of the receiver.") var url: String?
        @Option(help: "Comma-separated event types (* for all).") var events: String?
        @Option(help: "true or false.") var enabled: Bool?
        @Flag(help: "Replace the signing secret.") var rotateSecret = false
        func run() async throws {
            let (index, _) = try at.open()
            guard let current = try index.webhook(id: id, orgID: at.org) else { throw ToolError("no webhook \(id) in org \(at.org)") }
            var b = BodyBuilder()
            b.string("url", url)
            b.list("events", events, numbers: false)
            b.bool("enabled", enabled)
            let body = try b.value()
            var d = WebhookDefinition(current)
            let allow = try WebhooksCommand.allowPrivate(at)
            try validated { try d.apply(patch: body, allowPrivate: allow, extra: []) }
            let record = d.record(id: id, orgID: at.org, secret: rotateSecret ? WebhookDefinition.newSecret() : current.secret,
                                  createdAt: current.createdAt, updatedAt: nowMs)
            guard try index.updateWebhook(record) else { throw ToolError("no webhook \(id) in org \(at.org)") }
            print(ManagementJSON.webhook(record, secret: rotateSecret))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an endpoint and its pending deliveries.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Webhook id.") var id: String
        func run() async throws {
            let (index, _) = try at.open()
            guard try index.deleteWebhook(id: id, orgID: at.org) else { throw ToolError("no webhook \(id) in org \(at.org)") }
            print(API.deleted(id))
        }
    }

    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The endpoint's delivery log with every attempt, newest first, as JSON.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Webhook id.") var id: String
        @Option(help: "At most this many deliveries.") var limit: Int = 100
        func run() async throws {
            let (index, _) = try at.open()
            guard try index.webhook(id: id, orgID: at.org) != nil else { throw ToolError("no webhook \(id) in org \(at.org)") }
            let rows = try index.deliveries(webhookID: id, orgID: at.org, limit: max(1, min(limit, 1000)))
            print("[" + rows.map { ManagementJSON.delivery($0.0, $0.1) }.joined(separator: ",") + "]")
        }
    }

    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a dead (or pending) delivery again now; an acknowledged one is never resent.")
        @OptionGroup var at: ManagementLocation
        @Argument(help: "Webhook id.") var id: String
        @Argument(help: "Delivery id.") var delivery: Int64
        func run() async throws {
            let (index, _) = try at.open()
            let env = ProcessInfo.processInfo.environment
            let attempts = (try? ConfigurationLoader.load(file: at.location.config ?? env["TOKENTRA_CONFIG"], environment: env, flags: [:]))?
                .configuration.webhookMaxAttempts ?? 14
            switch try index.redeliver(deliveryID: delivery, webhookID: id, orgID: at.org, now: nowMs, extraAttempts: attempts) {
            case .notFound: throw ToolError("no delivery \(delivery) of webhook \(id) in org \(at.org)")
            case .alreadyDelivered: throw ToolError("delivery \(delivery) was acknowledged by the receiver and is never sent again")
            case .scheduled:
                var w = JSONWriter()
                w.object { $0.field("id", delivery); $0.field("status", "pending") }
                print(w.text)
            }
        }
    }
}
