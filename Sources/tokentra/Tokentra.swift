import ArgumentParser
import Foundation
import Logging
import SegmentStore
import TokentraCore

@main
struct Tokentra: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokentra",
        abstract: "Self-hosted LLM usage event store: ingest, roll up, query and retain.",
        version: BuildInfo.description,
        subcommands: [Serve.self, Ingest.self, Rollup.self, QueryCommand.self, Export.self, Verify.self, Repair.self, Backup.self, Restore.self, Keys.self, RetentionCommand.self, Prices.self, Reprice.self, Audit.self,
                      Budgets.self, AlertsCommand.self, WebhooksCommand.self]
    )
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data directory (env TOKENTRA_DATA_DIR; default ./data).")
    var dataDir: String?

    @Option(help: "Output format: json or table (export: ndjson or csv).")
    var format: String?

    var resolvedDataDir: String {
        dataDir ?? ProcessInfo.processInfo.environment["TOKENTRA_DATA_DIR"] ?? "./data"
    }

    /// The data directory, which must already hold an index (commands that never create one).
    func existingDataDir() throws -> String {
        let dir = resolvedDataDir
        guard FileManager.default.fileExists(atPath: dir + "/index.sqlite") else {
            throw ValidationError("--data-dir: \(dir) is not a tokentra data directory (no index.sqlite)")
        }
        return dir
    }

    func outputFormat(default value: String, allowed: [String]) throws -> String {
        let f = (format ?? value).lowercased()
        guard allowed.contains(f) else {
            throw ValidationError("--format must be one of \(allowed.joined(separator: ", ")), got '\(f)'")
        }
        return f
    }
}

/// Exit codes: 0 ok, 2 usage or I/O error, 3 some events rejected / verification problems.
enum ExitCodes {
    static let rejected = ExitCode(3)
    static let usage = ExitCode(2)
}

/// Writes to stdout through a buffer (exports can be large).
struct OutputBuffer {
    var buffer = ""
    mutating func write(_ s: String) {
        buffer += s
        if buffer.utf8.count >= 1 << 20 { flush() }
    }
    mutating func flush() {
        if buffer.isEmpty { return }
        FileHandle.standardOutput.write(Data(buffer.utf8))
        buffer = ""
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("tokentra: \(message)\n".utf8))
}

func makeLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["TOKENTRA_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
    return logger
}

/// Parses `--now`/`--from`/`--to`: ISO-8601 timestamps or YYYY-MM-DD dates.
func parseTimeOption(_ text: String, name: String) throws -> Int64 {
    if let ms = parseTimestamp(text) { return ms }
    if let ms = UTC.parseDay(text) { return ms }
    throw ValidationError("\(name) must be an ISO-8601 timestamp (2026-11-01T00:00:00Z) or a date (2026-11-01), got '\(text)'")
}


