import Foundation
import Hummingbird
import Logging
import Query
import SegmentStore
import TokentraCore
import UsageIndex

/// The query API (seed 001 "API Reference"): `GET /v1/usage` and its breakdowns, answered from the
/// rollups by ``Query/QueryEngine`` (the same code as `tokentra query`).
///
/// The key needs `usage:read` (or `admin`); the org is always the key's org. Bad parameters are
/// 400 `INVALID_PARAMETER` with the parameter named in `error.parameter`.
struct QueryController: Sendable {
    let engine: QueryEngine
    let authorizer: Authorizer
    let logger: Logger
    let wallClock: @Sendable () -> Int64
    /// The acknowledged, not yet sealed events of an org in a range (the store's memtable).
    /// A consistent view of the raw tail (segments + unsealed events, pinned) for the query's range.
    var snapshot: (@Sendable (_ orgID: String, _ fromMs: Int64, _ toMs: Int64) async throws -> SegmentStore.ReadSnapshot)?
    var limits = QueryLimits()

    var routes: [RouteSpec] {
        var routes = [RouteSpec(path: "/v1/usage", method: .get) { request, _ in try await self.answer(request, .series) }]
        for b in QueryBreakdown.routes {
            routes.append(RouteSpec(path: "/v1/usage/" + b.rawValue, method: .get) { request, _ in try await self.answer(request, .fixed(b)) })
        }
        routes.append(RouteSpec(path: "/v1/usage/breakdown", method: .get) { request, _ in try await self.answer(request, .any) })
        return routes
    }

    /// What a route answers.
    enum Kind: Sendable {
        case series
        case fixed(QueryBreakdown)
        /// `/v1/usage/breakdown?by=...`
        case any
    }

    func answer(_ request: Request, _ kind: Kind) async throws -> Response {
        let (key, limit) = try authorizer.authorize(request, scope: .usageRead, nowMs: wallClock())
        var parameters: [String: String] = [:]
        for (k, v) in request.uri.queryParameters where parameters[String(k)] == nil { parameters[String(k)] = String(v) }
        func invalid(_ error: QueryError) -> APIError {
            APIError(.badRequest, code: error.code, message: error.message,
                     extra: [("parameter", JSONWriter.quoted(error.parameter))], headers: limit.headers)
        }
        let query: UsageQuery
        do {
            switch kind {
            case .series: query = try UsageQuery.parse(orgID: key.orgID, parameters: parameters, breakdown: nil, limits: limits)
            case .fixed(let b): query = try UsageQuery.parse(orgID: key.orgID, parameters: parameters, breakdown: b, limits: limits)
            case .any: query = try UsageQuery.parseBreakdown(orgID: key.orgID, parameters: parameters, limits: limits)
            }
        } catch {
            throw invalid(error)
        }
        let engine = self.engine
        let raw = try await snapshot?(query.orgID, query.startMs - 86_400_000, query.endMs)
        defer { raw?.release() }
        let fresh = raw?.unsealed.events ?? []
        let segments = raw?.segments
        // SQLite reads and segment scans block: keep them off the cooperative pool's few threads.
        let body: String
        do {
            body = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result {
                        query.breakdown == nil
                            ? QueryOutput.json(try engine.usage(query, unsealed: fresh, segments: segments))
                            : QueryOutput.json(try engine.breakdown(query, unsealed: fresh, segments: segments))
                    })
                }
            }
        } catch let error as QueryError {
            throw invalid(error)
        }
        return Response.json(.ok, body, headers: limit.headers)
    }
}
