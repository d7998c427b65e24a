import Foundation
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import Metrics
import Prometheus
import Testing

@testable import TokentraHTTP

struct UnexpectedFailure: Error {}

/// The HTTP edge maps every error to the JSON error body once; unexpected errors become a logged 500.
@Suite struct EdgeMiddlewareTests {
    @Test func unexpectedErrorsAreLogged500s() async throws {
        let logs = InMemoryLogHandler()
        let logger = Logger(label: "edge") { _ in logs }
        let registry = PrometheusCollectorRegistry()
        let metrics = TokentraMetrics(factory: TokentraMetrics.makePrometheusFactory(registry: registry))
        let routes = [
            RouteSpec(path: "/boom", method: .get) { _, _ in throw UnexpectedFailure() },
            RouteSpec(path: "/teapot", method: .get) { _, _ in throw HTTPError(.init(code: 418, reasonPhrase: "I'm a teapot")) },
            RouteSpec(path: "/api", method: .get) { _, _ in throw APIError(.conflict, code: "CUSTOM", message: "m", extra: [("x", "1")]) },
        ]
        let router = Router(context: TokentraRequestContext.self)
        router.add(middleware: EdgeMiddleware(routes: routes, metrics: metrics, logger: logger))
        for r in routes { router.on(RouterPath(r.path), method: r.method) { request, context in try await r.handler(request, context) } }
        let app = Application(router: router, logger: logger)
        try await app.test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(String(buffer: response.body) == #"{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#)
            }
            try await client.execute(uri: "/teapot", method: .get) { response in
                #expect(response.status.code == 418)
                #expect(String(buffer: response.body).contains(#""code":"I_M_A_TEAPOT""#))
            }
            try await client.execute(uri: "/api", method: .get) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body) == #"{"error":{"code":"CUSTOM","message":"m","x":1}}"#)
            }
            try await client.execute(uri: "/boom", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("NOT_FOUND"))
            }
        }
        let failure = try #require(logs.entries.first { $0.level == .error })
        #expect(failure.message.description == "request failed")
        #expect(failure.metadata["error.type"]?.description.contains("UnexpectedFailure") == true)
        #expect(failure.metadata["http.path"]?.description == "/boom")
        var text = ""
        text = registry.emitToString()
        #expect(text.contains(#"tokentra_http_requests_total{route="/boom",method="GET",status="500"} 1"#))
        #expect(text.contains(#"tokentra_http_requests_total{route="unmatched",method="GET",status="404"} 1"#))
    }
}
