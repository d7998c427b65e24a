import Alerts
import Foundation
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// The hostile inputs of issue 11 on `/v1/budgets`, `/v1/alerts` and `/v1/webhooks` (create and
/// change): each answer's status, error code and named field, read by the strict JSON parser;
/// nothing stored changes.
@Suite(.serialized) struct ManagementValidationTests {
    struct Case {
        var method: String
        var path: String
        var body: String
        var status: Int
        var code: String
        var field: String
    }

    @Test func badInputIsRefusedNamingTheField() async throws {
        let d = try await TestDaemon.start()
        let key = try d.createKey(org: "org_a", scopes: "admin").key
        let budget = try await API.call(d.baseURL, key, "POST", "/v1/budgets", body: #"{"name":"b","amount":"10","period":"monthly"}"#)
        let budgetID = budget.json["data"]!["id"]!.stringValue!
        let alert = try await API.call(d.baseURL, key, "POST", "/v1/alerts", body: #"{"name":"a","type":"spend_threshold","threshold":"5"}"#)
        let alertID = alert.json["data"]!["id"]!.stringValue!
        #expect(alert.json["data"]!["channels"]! == .array([.string("webhook")]))
        // Seed 001's `channels` with the one channel there is.
        let seedAlert = try await API.call(d.baseURL, key, "POST", "/v1/alerts", body: #"{"name":"s","type":"spend_threshold","threshold":500.00,"period":"daily","channels":["webhook"],"enabled":true}"#)
        #expect(seedAlert.status == 201)
        #expect(seedAlert.json["data"]!["channels"]! == .array([.string("webhook")]))
        let hook = try await API.call(d.baseURL, key, "POST", "/v1/webhooks", body: #"{"url":"https://hooks.example.com/t"}"#)
        let hookID = hook.json["data"]!["id"]!.stringValue!
        #expect(budget.status == 201 && alert.status == 201 && hook.status == 201)

        let long = String(repeating: "x", count: 60_000)  // a long field inside a body under the 64 KiB limit
        let tenMB = String(repeating: "x", count: 10 << 20)  // a body over the limit
        func body(_ fields: (inout JSONWriter) -> Void) -> String {
            var w = JSONWriter()
            w.object(fields)
            return w.text
        }
        let v = "VALIDATION_ERROR"
        let cases: [Case] = [
            // Budgets.
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":-5,"period":"monthly"}"#, status: 400, code: v, field: "amount"),
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":"-0.01","period":"monthly"}"#, status: 400, code: v, field: "amount"),
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":10,"period":"monthly","scope":{"region":"eu"}}"#, status: 400, code: v, field: "scope.region"),
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":10,"period":"monthly","region":"eu"}"#, status: 400, code: v, field: "region"),
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":10,"period":"monthly","alert_thresholds":[50,1001]}"#, status: 400, code: v, field: "alert_thresholds[1]"),
            Case(method: "POST", path: "/v1/budgets", body: #"{"name":"x","amount":10,"period":"monthly","alert_thresholds":[-50]}"#, status: 400, code: v, field: "alert_thresholds[0]"),
            Case(method: "POST", path: "/v1/budgets", body: body { $0.field("name", long); $0.field("amount", 1); $0.field("period", "daily") }, status: 400, code: v, field: "name"),
            Case(method: "POST", path: "/v1/budgets", body: body { $0.field("name", tenMB); $0.field("amount", 1); $0.field("period", "daily") }, status: 413, code: "PAYLOAD_TOO_LARGE", field: "body"),
            Case(method: "PATCH", path: "/v1/budgets/" + budgetID, body: #"{"amount":-1}"#, status: 400, code: v, field: "amount"),
            Case(method: "PATCH", path: "/v1/budgets/" + budgetID, body: #"{"alert_thresholds":[2000]}"#, status: 400, code: v, field: "alert_thresholds[0]"),
            Case(method: "PATCH", path: "/v1/budgets/" + budgetID, body: #"{"scope":{"tenant":"t"}}"#, status: 400, code: v, field: "scope.tenant"),
            Case(method: "PATCH", path: "/v1/budgets/" + budgetID, body: body { $0.field("name", tenMB) }, status: 413, code: "PAYLOAD_TOO_LARGE", field: "body"),
            // Alerts.
            Case(method: "POST", path: "/v1/alerts", body: #"{"name":"x","type":"spend_threshold","threshold":-5}"#, status: 400, code: v, field: "threshold"),
            Case(method: "POST", path: "/v1/alerts", body: #"{"name":"x","type":"budget_warning","budget_id":"\#(budgetID)","threshold":1001}"#, status: 400, code: v, field: "threshold"),
            Case(method: "POST", path: "/v1/alerts", body: #"{"name":"x","type":"spend_threshold","threshold":5,"scope":{"region":"eu"}}"#, status: 400, code: v, field: "scope.region"),
            Case(method: "POST", path: "/v1/alerts", body: #"{"name":"x","type":"spend_threshold","threshold":5,"region":"eu"}"#, status: 400, code: v, field: "region"),
            Case(method: "POST", path: "/v1/alerts", body: body { $0.field("name", long); $0.field("type", "spend_threshold"); $0.field("threshold", 5) }, status: 400, code: v, field: "name"),
            Case(method: "POST", path: "/v1/alerts", body: body { $0.field("name", tenMB); $0.field("type", "spend_threshold") }, status: 413, code: "PAYLOAD_TOO_LARGE", field: "body"),
            Case(method: "PATCH", path: "/v1/alerts/" + alertID, body: #"{"threshold":"-0.5"}"#, status: 400, code: v, field: "threshold"),
            Case(method: "PATCH", path: "/v1/alerts/" + alertID, body: #"{"team":"x"}"#, status: 400, code: v, field: "team"),
            Case(method: "POST", path: "/v1/alerts", body: #"{"name":"x","type":"spend_threshold","threshold":5,"channels":["webhook","email"]}"#, status: 400, code: v, field: "channels[1]"),
            Case(method: "PATCH", path: "/v1/alerts/" + alertID, body: #"{"channels":[]}"#, status: 400, code: v, field: "channels"),
            // Webhooks.
            Case(method: "POST", path: "/v1/webhooks", body: #"{"url":"https://user:secret@hooks.example.com/t"}"#, status: 400, code: v, field: "url"),
            Case(method: "POST", path: "/v1/webhooks", body: #"{"url":"ftp://hooks.example.com/t"}"#, status: 400, code: v, field: "url"),
            Case(method: "POST", path: "/v1/webhooks", body: #"{"url":"javascript:alert(1)"}"#, status: 400, code: v, field: "url"),
            Case(method: "POST", path: "/v1/webhooks", body: body { $0.field("url", "https://hooks.example.com/t"); $0.field("description", long) }, status: 400, code: v, field: "description"),
            Case(method: "POST", path: "/v1/webhooks", body: body { $0.field("url", "https://hooks.example.com/" + tenMB) }, status: 413, code: "PAYLOAD_TOO_LARGE", field: "body"),
            Case(method: "PATCH", path: "/v1/webhooks/" + hookID, body: #"{"url":"https://u:p@hooks.example.com/"}"#, status: 400, code: v, field: "url"),
            Case(method: "PATCH", path: "/v1/webhooks/" + hookID, body: #"{"url":"file:///etc/passwd"}"#, status: 400, code: v, field: "url"),
        ]
        for c in cases {
            let r = try await API.call(d.baseURL, key, c.method, c.path, body: c.body)
            let what = "\(c.method) \(c.path) \(c.body.prefix(80))"
            #expect(r.status == c.status, "\(what): \(r.text.prefix(300))")
            #expect(r.json["error"]?["code"]?.stringValue == c.code, "\(what)")
            #expect(r.json["error"]?["field"]?.stringValue == c.field, "\(what): \(r.text.prefix(300))")
            #expect(r.json["error"]?["message"]?.stringValue?.isEmpty == false, "\(what)")
            if c.status == 413 { #expect(r.json["error"]?["limit_bytes"]?.intValue == 65_536, "\(what)") }
        }
        // Nothing stored changed.
        #expect(try d.index.budgets(orgID: "org_a").map(\.amountUnits) == [10 * 10_000_000_000])
        #expect(try d.index.budgets(orgID: "org_a").map(\.alertThresholds) == ["50,80,100"])
        #expect(try d.index.alerts(orgID: "org_a").count == 2)
        #expect(try d.index.webhooks(orgID: "org_a").map(\.url) == ["https://hooks.example.com/t"])
        try await d.stop()
    }
}
