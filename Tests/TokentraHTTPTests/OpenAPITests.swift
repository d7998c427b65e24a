import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Testing
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
@Suite struct OpenAPITests {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// `paths:` of schema/openapi.yaml as "METHOD /path" (a minimal reader of the two indentation levels).
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("schema/openapi.yaml"), encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty {
                inPaths = line.hasPrefix("paths:")
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   ") {
                currentPath = String(line.dropFirst(2).dropLast())  // "/x:" -> "/x"
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch", "head", "options"].contains(String(key)) {
                    operations.insert("\(key.uppercased()) \(path)")
                }
            }
        }
        return operations
    }

    @Test func documentedRoutesAreExactlyTheRegisteredRoutes() async throws {
        let d = try await TestDaemon.start()
        let router = d.daemon.makeRouter()
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
        let fromSpecs = Set(d.daemon.routes.map { "\($0.method.rawValue) \($0.path)" })
        let documented = try Self.documentedOperations()
        #expect(!documented.isEmpty)
        #expect(registered == fromSpecs)
        #expect(documented == registered, "documented only: \(documented.subtracting(registered)); registered only: \(registered.subtracting(documented))")
        try await d.stop()
    }
}
