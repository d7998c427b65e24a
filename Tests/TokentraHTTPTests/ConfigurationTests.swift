import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let loaded = try ConfigurationLoader.load(file: nil, environment: [:], flags: [:])
        #expect(loaded.configuration == TokentraConfiguration())
        #expect(loaded.configuration.port == 8080)
        #expect(loaded.configuration.host == "127.0.0.1")
        #expect(loaded.configuration.maxBatchEvents == 100)
        #expect(loaded.configuration.maxBodyBytes == 1 << 20)
        #expect(loaded.sources.values.allSatisfy { $0 == .default })
    }

    @Test func precedenceIsFlagThenEnvironmentThenFileThenDefault() throws {
        let file = """
            data_dir = "/var/lib/tokentra"
            [server]
            host = "0.0.0.0"
            port = 9000
            body_timeout_seconds = 5
            [ingest]
            max_batch_events = 500
            [rollup]
            daily_time = "01:30"
            """
        let values = try ConfigurationLoader.parseTOML(file)
        #expect(values["server.port"] == "9000")
        let loaded = try ConfigurationLoader.load(
            fileValues: values,
            environment: ["TOKENTRA_SERVER_PORT": "9100", "TOKENTRA_INGEST_MAX_BATCH_EVENTS": "50", "TOKENTRA_API_KEY": "ignored"],
            flags: ["server.port": "9200"])
        let c = loaded.configuration
        #expect(c.port == 9200)
        #expect(loaded.sources["server.port"] == .flag)
        #expect(c.maxBatchEvents == 50)
        #expect(loaded.sources["ingest.max_batch_events"] == .environment)
        #expect(c.host == "0.0.0.0")
        #expect(c.dataDirectory == "/var/lib/tokentra")
        #expect(loaded.sources["server.host"] == .file)
        #expect(c.bodyTimeoutSeconds == 5)
        #expect(c.dailyRollupTime == TimeOfDay(hour: 1, minute: 30))
        #expect(c.idleTimeoutSeconds == TokentraConfiguration().idleTimeoutSeconds)
        #expect(loaded.sources["server.idle_timeout_seconds"] == .default)
        #expect(ConfigurationLoader.describe(loaded).contains(#""server.port":{"value":"9200","source":"flag""#))
    }

    @Test func otlpAttributeMappings() throws {
        let values = try ConfigurationLoader.parseTOML("[otlp]\nteam_attributes = \"app.team,tokentra.team\"\n")
        let loaded = try ConfigurationLoader.load(fileValues: values, environment: ["TOKENTRA_OTLP_SKIPPED_OPERATIONS": ""], flags: [:])
        #expect(loaded.configuration.otlpMapping.team == ["app.team", "tokentra.team"])
        #expect(loaded.configuration.otlpMapping.skippedOperations == [])
        #expect(loaded.configuration.otlpMapping.project == ["tokentra.project", "service.name"])
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(fileValues: ["otlp.team_attributes": "a, b"], environment: [:], flags: [:])
        }
    }

    @Test func errorsNameTheKeyAndSource() throws {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parseTOML("[server\nport = 1") }
        do {
            _ = try ConfigurationLoader.load(fileValues: ["server.prot": "1"], fileName: "t.toml", environment: [:], flags: [:])
            Issue.record("unknown key accepted")
        } catch let e as ConfigurationError {
            #expect(e.description.contains("unknown key 'server.prot'"))
        }
        do {
            _ = try ConfigurationLoader.load(fileValues: [:], environment: ["TOKENTRA_SERVER_PORT": "http"], flags: [:])
            Issue.record("bad port accepted")
        } catch let e as ConfigurationError {
            #expect(e.description.contains("TOKENTRA_SERVER_PORT"))
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(fileValues: ["rollup.daily_time": "25:00"], environment: [:], flags: [:])
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(fileValues: [:], environment: [:], flags: ["log.level": "loud"])
        }
    }

    @Test func fileOnDisk() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tokentra-\(UUID().uuidString).toml").path
        try "[rate_limit]\nper_minute = 0\nper_day = 123\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try ConfigurationLoader.load(file: path, environment: [:], flags: [:]).configuration
        #expect(c.rateLimitPerMinute == 0)
        #expect(c.rateLimitPerDay == 123)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: path + ".missing", environment: [:], flags: [:]) }
    }

    /// Every key is documented in the README with its environment variable and default.
    @Test func readmeDocumentsEveryKey() throws {
        let readme = try String(contentsOf: OpenAPITests.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for key in ConfigurationKey.all {
            let row = "| `\(key.key)` | `\(key.environmentVariable)` |"
            #expect(readme.contains(row), "README lacks \(row)")
            #expect(readme.contains("`\(key.defaultValue)`"), "README lacks the default of \(key.key)")
        }
    }
}
