import ArgumentParser
import Foundation
import TokentraCore
import TokentraConfig  // ConfigurationLoader: the data directory, resolved as `serve` does
import UsageIndex

/// `tokentra keys create|list|revoke`: API keys in the SQLite index.
///
/// These commands open only the index (SQLite in WAL mode, its own connection), never the segment
/// store, so they work while the daemon runs; the daemon picks up changes within
/// `auth.key_refresh_seconds` (a new key works at once).
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys (works while the daemon runs).",
        subcommands: [Create.self, List.self, Revoke.self])

    /// Resolves the data directory like `serve`: --data-dir, TOKENTRA_DATA_DIR, the config file's `data_dir`, ./data.
    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "Data directory (env TOKENTRA_DATA_DIR; default ./data).")
        var dataDir: String?
        @Option(help: "TOML configuration file to read data_dir from (env TOKENTRA_CONFIG).") var config: String?
        @Option(help: "Output format: json or table (keys create: also key, the bare key).") var format: String?

        func openIndex() throws -> IndexDatabase {
            let env = ProcessInfo.processInfo.environment
            var flags: [String: String] = [:]
            flags["data_dir"] = dataDir
            let dir: String
            do {
                dir = try ConfigurationLoader.load(file: config ?? env["TOKENTRA_CONFIG"], environment: env, flags: flags)
                    .configuration.dataDirectory
            } catch let error as ConfigurationError {
                throw ToolError(error.description)
            }
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                return try IndexDatabase(path: dir + "/index.sqlite")
            } catch {
                throw ToolError("cannot open the index in \(dir): \(error)")
            }
        }

        func outputFormat(_ defaultValue: String, allowed: [String] = ["json", "table"]) throws -> String {
            let f = (format ?? defaultValue).lowercased()
            guard allowed.contains(f) else {
                throw ValidationError("--format must be \(allowed.joined(separator: ", ")), got '\(f)'")
            }
            return f
        }
    }

    static func json(_ r: APIKeyRecord, key: String? = nil) -> String {
        var w = JSONWriter()
        w.object { o in
            o.field("id", r.id)
            if let key { o.field("key", key) }
            o.field("prefix", r.prefix)
            o.field("org_id", r.orgID)
            o.field("name", r.name)
            o.field("scopes", strings: r.scopes.split(separator: ",").map(String.init))
            o.field("created_at", UTCTimestamp.format(r.createdAt))
            o.field("expires_at", r.expiresAt.map(UTCTimestamp.format))
            o.field("revoked_at", r.revokedAt.map(UTCTimestamp.format))
            o.field("rate_limit_minute", r.rateLimitMinute)
            o.field("rate_limit_day", r.rateLimitDay)
        }
        return w.text
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it once (only its SHA-256 and a short prefix are stored).",
            discussion: """
                Prints {"id":...,"key":"tt_live_...","org_id":...,"scopes":[...],...} with --format json, \
                only the key with --format key (KEY=$(tokentra keys create ... --format key)). \
                The key is shown only now: store it in your secret manager. It is stored in the index of \
                --data-dir, and works only with a daemon serving that same directory.
                """)

        @OptionGroup var location: Location
        @Option(help: "Organization the key writes to and reads from.") var org: String
        @Option(help: "A name for people (e.g. the service using it).") var name: String
        @Option(help: "Comma-separated scopes: sdk:write, usage:read, admin.") var scopes: String = "sdk:write"
        @Option(help: "Expiry: ISO-8601 timestamp or YYYY-MM-DD (default: never).") var expires: String?
        @Option(help: "Requests per minute for this key (0: unlimited; default: rate_limit.per_minute).") var rateMinute: Int64?
        @Option(help: "Requests per UTC day for this key (0: unlimited; default: rate_limit.per_day).") var rateDay: Int64?
        @Flag(help: "Create a tt_test_ key instead of tt_live_.") var test = false

        func run() async throws {
            guard OrgID.isValid(org) else { throw ValidationError("--org '\(org)' is not a valid org id") }
            guard !name.isEmpty, name.utf8.count <= 256 else { throw ValidationError("--name must be 1 to 256 bytes") }
            let scopeList: [APIKeyScope]
            do { scopeList = try APIKeyScope.parseList(scopes) } catch { throw ValidationError("--scopes: \(error)") }
            let now = SystemClock.nowMs()
            let expiresAt = try expires.map { try parseTimeOption($0, name: "--expires") }
            if let expiresAt, expiresAt <= now { throw ValidationError("--expires is in the past") }
            if let r = rateMinute, r < 0 { throw ValidationError("--rate-minute must be >= 0") }
            if let r = rateDay, r < 0 { throw ValidationError("--rate-day must be >= 0") }
            let format = try location.outputFormat("json", allowed: ["json", "table", "key"])
            let index = try location.openIndex()
            let (key, record) = APIKeyRecord.issue(
                orgID: org, name: name, scopes: scopeList, environment: test ? .test : .live, expiresAt: expiresAt,
                rateLimitMinute: rateMinute, rateLimitDay: rateDay, now: now)
            try index.insertAPIKey(record)
            if format == "json" {
                print(Keys.json(record, key: key))
            } else if format == "key" {
                print(key)
            } else {
                print("id       \(record.id)\nkey      \(key)\norg_id   \(org)\nname     \(name)\nscopes   \(record.scopes)")
                print("\nThis is the only time the key is shown.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (prefix, org, scopes, status; never the key).")

        @OptionGroup var location: Location
        @Option(help: "Only keys of this org.") var org: String?

        func run() async throws {
            let format = try location.outputFormat("table")
            let keys = try location.openIndex().apiKeys(orgID: org)
            if format == "json" {
                print("[" + keys.map { Keys.json($0) }.joined(separator: ",") + "]")
                return
            }
            let now = SystemClock.nowMs()
            print("ID                           PREFIX        ORG                  STATUS   SCOPES                 NAME")
            for k in keys {
                let status = k.revokedAt != nil ? "revoked" : (k.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
                func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
                print(pad(k.id, 29) + pad(k.prefix + "…", 14) + pad(k.orgID, 21) + pad(status, 9) + pad(k.scopes, 23) + k.name)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by id (requests with it get 401 KEY_REVOKED within auth.key_refresh_seconds).")

        @OptionGroup var location: Location
        @Argument(help: "The key id (key_...).") var id: String

        func run() async throws {
            let format = try location.outputFormat("json")
            let now = SystemClock.nowMs()
            guard let record = try location.openIndex().revokeAPIKey(id: id, at: now) else {
                throw ToolError("no API key with id \(id)")
            }
            print(format == "json" ? Keys.json(record) : "revoked \(record.id) (\(record.prefix)…, org \(record.orgID))")
        }
    }
}
