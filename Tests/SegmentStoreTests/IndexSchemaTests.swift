import Foundation
import Testing
import UsageIndex

/// schema/index.sql is a snapshot of the SQLite schema that all migrations produce.
/// Regenerate it with `UPDATE_SNAPSHOTS=1 swift test --filter IndexSchemaTests`.
@Suite struct IndexSchemaTests {
    static var snapshotPath: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("schema/index.sql").path
    }

    static let header = """
        -- tokentra SQLite index schema: the result of running every migration in
        -- Sources/UsageIndex (append-only, never edited). Generated; checked by IndexSchemaTests.

        """

    @Test func snapshotMatchesMigrations() throws {
        let sql = Self.header + (try IndexDatabase().schemaSQL())
        if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] != nil {
            try sql.write(toFile: Self.snapshotPath, atomically: true, encoding: .utf8)
        }
        let snapshot = try String(contentsOfFile: Self.snapshotPath, encoding: .utf8)
        #expect(snapshot == sql, "schema/index.sql is stale: run UPDATE_SNAPSHOTS=1 swift test --filter IndexSchemaTests")
    }

    @Test func migrationsAreIdempotentOnReopen() throws {
        let path = NSTemporaryDirectory() + "tokentra-index-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try IndexDatabase(path: path).schemaSQL()
        let second = try IndexDatabase(path: path).schemaSQL()
        #expect(first == second)
    }
}
