import Foundation
import TokentraCore
import TokentraTestSupport

/// Calls of the management API with a key, answers parsed by the strict parser.
enum API {
    static func call(_ base: String, _ key: String, _ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, json: StrictJSON, text: String) {
        var headers = [("Authorization", "Bearer \(key)")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let r = try await HTTP.request(base + path, method: method, headers: headers, body: body.map { Array($0.utf8) })
        let json = r.body.isEmpty ? StrictJSON.null : try StrictJSON.parse(r.body)
        return (r.status, json, r.body)
    }

    static func object(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        w.object(body)
        return w.text
    }

    /// One event with an exact cost (as JSON text) at `timestamp`.
    static func event(_ id: String, _ timestamp: String, cost: String, team: String? = nil, model: String = "gpt-4o",
                      isError: Bool = false, latency: Int = 400) -> String {
        object { o in
            o.field("request_id", id)
            o.field("timestamp", timestamp)
            o.field("provider", "openai")
            o.field("model", model)
            o.field("input_tokens", 10)
            o.field("output_tokens", 5)
            o.field("total_cost", raw: cost)
            o.field("latency_ms", latency)
            if isError { o.field("is_error", true) }
            if let team { o.field("team", team) }
        }
    }

    static func ingest(_ base: String, _ key: String, _ events: [String]) async throws -> StrictJSON {
        let r = try await call(base, key, "POST", "/api/v1/sdk/ingest", body: "{\"events\":[" + events.joined(separator: ",") + "]}")
        guard r.status == 200 else { throw TestFailure("ingest failed: \(r.status) \(r.text)") }
        return r.json
    }
}
