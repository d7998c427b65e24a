/// Writes stored events as NDJSON or CSV for `tokentra export`: every field, org_id included, costs
/// as exact decimals from the fixed-point value, timestamps as ISO-8601 UTC with milliseconds.
public enum EventExport {
    /// Column names, in output order (CSV header and JSON key order).
    public static let fields: [String] = [
        "org_id", "request_id", "timestamp", "provider", "model", "input_tokens", "output_tokens", "cached_tokens",
        "total_tokens", "input_cost", "output_cost", "cached_cost", "total_cost", "cost_source", "latency_ms",
        "time_to_first_token_ms", "feature", "team", "project", "cost_center", "user_id", "environment", "metadata",
        "was_cached", "cache_hit_type", "original_model", "routed_by_rule", "is_error", "error_code", "error_type",
        "error_message", "prompt_hash", "sdk_version", "sdk_language", "hostname", "cloud_provider", "instance_id",
        "k8s_pod", "k8s_namespace", "k8s_node",
    ]

    enum Value {
        case string(String?)
        case raw(String?)  // numbers, booleans, and metadata JSON: written as-is
    }

    static func values(_ e: UsageEvent) -> [Value] {
        [
            .string(e.orgID), .string(e.requestID.description), .string(formatTimestamp(e.timestampMs)),
            .string(e.provider), .string(e.model), .raw(String(e.inputTokens)), .raw(String(e.outputTokens)),
            .raw(String(e.cachedTokens)), .raw(String(e.totalTokens)), .raw(e.inputCost.description),
            .raw(e.outputCost.description), .raw(e.cachedCost.description), .raw(e.totalCost.description),
            .string(e.costSource.description), .raw(e.latencyMs.map { String($0) }), .raw(e.timeToFirstTokenMs.map { String($0) }),
            .string(e.feature), .string(e.team), .string(e.project), .string(e.costCenter), .string(e.userID),
            .string(e.environment), .raw(e.metadata), .raw(e.wasCached ? "true" : "false"), .string(e.cacheHitType),
            .string(e.originalModel), .string(e.routedByRule), .raw(e.isError ? "true" : "false"), .string(e.errorCode),
            .string(e.errorType), .string(e.errorMessage), .string(e.promptHash), .string(e.sdkVersion),
            .string(e.sdkLanguage), .string(e.hostname), .string(e.cloudProvider), .string(e.instanceID),
            .string(e.k8sPod), .string(e.k8sNamespace), .string(e.k8sNode),
        ]
    }

    /// One JSON object line (no trailing newline).
    public static func ndjson(_ e: UsageEvent, into out: inout String) {
        var w = JSONWriter()
        w.object { o in
            for (name, value) in zip(fields, values(e)) {
                switch value {
                case .string(let s): o.field(name, s)
                case .raw(let r): if let r { o.field(name, raw: r) } else { o.field(name, nil as String?) }
                }
            }
        }
        out += w.text
    }

    /// The CSV header line (no trailing newline).
    public static var csvHeader: String { fields.joined(separator: ",") }

    /// One CSV record (RFC 4180 quoting; empty for null; no trailing newline).
    public static func csv(_ e: UsageEvent, into out: inout String) {
        for (i, value) in values(e).enumerated() {
            if i > 0 { out += "," }
            let text: String?
            switch value {
            case .string(let s): text = s
            case .raw(let r): text = r
            }
            guard let text else { continue }
            out += csvField(text)
        }
    }

    /// Quotes a CSV field when it contains a comma, quote, CR or LF.
    public static func csvField(_ text: String) -> String {
        if text.utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }) {
            return "\"" + text.replacingAll("\"", with: "\"\"") + "\""
        }
        return text
    }

    /// Appends `s` as a JSON string literal with the escapes JSON requires.
    public static func appendJSONString(_ s: String, to out: inout String) { JSONWriter.appendString(s, to: &out) }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
