import TokentraCore
import UsageIndex

/// The JSON shapes of price versions and audit rows, shared by the CLI and the HTTP API.
public enum RepricingJSON {
    /// One price version (without its entries): `tokentra prices list` and `GET /v1/prices`.
    public static func write(_ v: PriceCatalog.Version, into o: inout JSONWriter) {
        o.field("version", v.version)
        o.field("origin", v.origin)
        o.field("current", v.current)
        o.field("entries", v.table.entries.count)
        o.field("imported_at", v.importedAt.map(formatTimestamp))
        o.field("imported_by", v.importedBy)
        o.field("source", v.importSource)
    }

    /// The list of versions: `{"current_version":V,"versions":[...]}`.
    public static func versions(_ versions: [PriceCatalog.Version], into o: inout JSONWriter) {
        o.field("current_version", versions.first { $0.current }?.version)
        o.field("versions", array: { a in for v in versions { a.object { write(v, into: &$0) } } })
    }

    /// One audit row: `tokentra audit` and `GET /v1/audit`.
    public static func write(_ a: RepriceAuditRow, into o: inout JSONWriter) {
        o.field("id", a.id)
        o.field("at", formatTimestamp(a.at))
        o.field("actor", a.actor)
        o.field("org_id", a.orgID)
        o.field("from", formatTimestamp(a.fromMs))
        o.field("to", formatTimestamp(a.toMs))
        o.field("price_version", a.priceVersion)
        o.field("include_client_costs", a.includeClientCosts)
        o.field("events", a.events)
        o.field("repriced_events", a.changedEvents)
        o.field("old_total_cost", money: a.oldTotal)
        o.field("new_total_cost", money: a.newTotal)
        o.field("models", raw: a.modelsJSON)
    }
}
