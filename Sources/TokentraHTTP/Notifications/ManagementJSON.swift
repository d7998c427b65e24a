import Alerts
import TokentraCore
import UsageIndex

/// The JSON objects of the management API, for the CLI (`tokentra budgets|alerts|webhooks`), which
/// prints exactly what the HTTP API's `data` holds.
public enum ManagementJSON {
    public static func budget(_ b: BudgetRecord, _ status: BudgetStatus?) -> String {
        var w = JSONWriter()
        w.object { BudgetController.write(b, status, &$0) }
        return w.text
    }

    public static func alert(_ a: AlertRecord) -> String {
        var w = JSONWriter()
        w.object { AlertController.write(a, &$0) }
        return w.text
    }

    public static func webhook(_ h: WebhookRecord, secret: Bool) -> String {
        var w = JSONWriter()
        w.object { WebhookController.write(h, secret: secret, &$0) }
        return w.text
    }

    public static func history(_ e: AlertHistoryEntry) -> String {
        var w = JSONWriter()
        w.object { AlertController.writeHistory(e, &$0) }
        return w.text
    }

    public static func delivery(_ d: WebhookDelivery, _ attempts: [WebhookAttempt]) -> String {
        var w = JSONWriter()
        w.object { WebhookController.writeDelivery(d, attempts, &$0) }
        return w.text
    }
}
