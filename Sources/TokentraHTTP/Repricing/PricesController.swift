import Hummingbird
import Repricing
import TokentraCore
import UsageIndex

/// `GET /v1/prices`, `GET /v1/prices/{version}` (keys with `usage:read` or `admin`: prices are the
/// same for every org) and `GET /v1/audit` (`admin`: the reprice audit trail of the key's org).
struct PricesController: Sendable {
    let support: ManagementSupport
    let catalog: PriceCatalog

    var routes: [RouteSpec] {
        [
            RouteSpec(path: "/v1/prices", method: .get) { r, _ in try await self.list(r) },
            RouteSpec(path: "/v1/prices/{version}", method: .get) { r, c in try await self.show(r, c) },
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
}
