import Alerts
import Hummingbird
import Repricing
import TokentraCore
import UsageIndex

/// `GET /v1/prices`, `GET /v1/prices/{version}` (keys with `usage:read` or `admin`: prices are the
/// same for every org), `POST /v1/reprice` and `GET /v1/audit` (`admin`: re-cost the key's org,
/// and its audit trail).
struct RepricingController: Sendable {
    let support: ManagementSupport
    let catalog: PriceCatalog
    let repricer: Repricer

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/v1/prices", method: .get) { r, _ in try await self.list(r) },
            RouteSpec(path: "/v1/prices/{version}", method: .get) { r, c in try await self.show(r, c) },
            RouteSpec(path: "/v1/reprice", method: .post) { r, c in try await self.reprice(r, c) },
            RouteSpec(path: "/v1/audit", method: .get) { r, _ in try await self.audit(r) },
        ]
    }

    func list(_ request: Request) async throws -> Response {
        let (_, limit) = try support.authorize(request, write: false)
        let versions = try await blocking { [catalog] in try catalog.versions() }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in o.field("data", object: { RepricingJSON.versions(versions, into: &$0) }) }
        }
    }

    func show(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (_, limit) = try support.authorize(request, write: false)
        let text = context.parameters.get("version") ?? ""
        guard text.utf8.count <= 9, let version = Int(text), version >= 0 else {
            throw APIError(.badRequest, code: "INVALID_PARAMETER", message: "version must be a non-negative integer",
                           extra: [("parameter", JSONWriter.quoted("version"))], headers: limit.headers)
        }
        guard let table = try await blocking({ [catalog] in try catalog.table(version: version) }) else {
            throw APIError(.notFound, code: "NOT_FOUND", message: "no price version \(version)", headers: limit.headers)
        }
        // The table in the prices.json format (written by JSONWriter), without its trailing newline.
        let body = String(table.jsonText.dropLast())
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", raw: body) } }
    }

    func audit(_ request: Request) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let rows = try await blocking { [catalog] in try catalog.index.repriceAudit(orgID: key.orgID) }
        return .json(.ok, headers: limit.headers) { w in
            w.object { o in o.field("data", array: { a in for r in rows { a.object { RepricingJSON.write(r, into: &$0) } } }) }
        }
    }

    /// `{"from":T,"to":T,"price_version":V,"dry_run":bool,"include_client_costs":bool}` for the key's
    /// org (the same run as `tokentra reprice`; the audit row names the key).
    func reprice(_ request: Request, _ context: TokentraRequestContext) async throws -> Response {
        let (key, limit) = try support.authorize(request, write: true)
        let body = try await support.json(request, context)
        var r = try ManagementSupport.validating(limit.headers) { try Self.parse(body, orgID: key.orgID) }
        r.actor = "key:" + key.id
        let report: RepriceReport
        do {
            report = try await repricer.run(r, now: support.wallClock())
        } catch let e as RepriceError {
            throw ManagementSupport.invalid(FieldError(e.field, e.message), headers: limit.headers)
        }
        let text = report.json
        return .json(.ok, headers: limit.headers) { w in w.object { o in o.field("data", raw: text) } }
    }

    static func parse(_ body: JSONValue, orgID: String) throws -> RepriceRequest {
        guard case .object(let fields) = body else { throw FieldError("body", "must be a JSON object") }
        var from: Int64?, to: Int64?, version: Int?, dryRun = false, includeClient = false
        func time(_ v: JSONValue, _ name: String) throws -> Int64 {
            guard case .string(let s) = v, s.utf8.count <= 64,
                  let ms = parseTimestamp(s) ?? (s.utf8.count == 10 ? parseTimestamp(s + "T00:00:00Z") : nil)
            else { throw FieldError(name, "must be an ISO-8601 timestamp or a date YYYY-MM-DD") }
            return ms
        }
        func flag(_ v: JSONValue, _ name: String) throws -> Bool {
            guard case .bool(let b) = v else { throw FieldError(name, "must be true or false") }
            return b
        }
        for (k, v) in fields {
            switch k {
            case "from": from = try time(v, k)
            case "to": to = try time(v, k)
            case "price_version":
                if case .null = v { continue }
                guard case .number(let t) = v, t.utf8.count <= 9, let n = Int(t), n >= 0 else {
                    throw FieldError(k, "must be a non-negative integer")
                }
                version = n
            case "dry_run": dryRun = try flag(v, k)
            case "include_client_costs": includeClient = try flag(v, k)
            default: throw FieldError(String(k.prefix(100)), "unknown field (expected from, to, price_version, dry_run, include_client_costs)")
            }
        }
        guard let from else { throw FieldError("from", "is required") }
        guard let to else { throw FieldError("to", "is required") }
        var r = RepriceRequest(orgID: orgID, fromMs: from, toMs: to, priceVersion: version)
        r.dryRun = dryRun
        r.includeClientCosts = includeClient
        return r
    }
}
