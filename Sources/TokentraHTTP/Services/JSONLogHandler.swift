import Foundation
import Logging
import Synchronization
import TokentraCore

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one JSON object per line (for journald, Loki and other log
/// shippers), selected with `log.format = "json"`; the default `text` format stays swift-log's
/// `StreamLogHandler`.
///
/// ```json
/// {"timestamp":"2026-12-01T19:30:00.123Z","level":"info","label":"tokentra","message":"storage open","metadata":{"data_dir":"./data"}}
/// ```
///
/// Every line is produced by ``JSONWriter``; metadata values keep their structure (strings,
/// nested dictionaries and arrays), `stringConvertible` values are written as their description.
public struct JSONLogHandler: LogHandler {
    /// Where finished lines go (each includes its trailing newline).
    public typealias Sink = @Sendable (String) -> Void

    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let sink: Sink
    let clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - sink: receives every line; by default standard error, one `write(2)` per line.
    ///   - clock: Unix milliseconds for the `timestamp` field.
    public init(
        label: String, metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping Sink = JSONLogHandler.standardError,
        clock: @escaping WallClock = SystemClock.wallClock
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.sink = sink
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        sink(Self.line(
            timestampMs: clock(), level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    /// One log line: a JSON object and `\n`. Metadata keys are sorted so equal events give equal lines.
    public static func line(timestampMs: Int64, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var w = JSONWriter()
        w.object { o in
            o.field("timestamp", UTCTimestamp.format(timestampMs))
            o.field("level", level.rawValue)
            o.field("label", label)
            o.field("message", message)
            if !metadata.isEmpty {
                o.field("metadata", object: { write(metadata, to: &$0) })
            }
        }
        return w.text + "\n"
    }

    static func write(_ metadata: Logger.Metadata, to w: inout JSONWriter) {
        for key in metadata.keys.sorted() {
            w.key(key)
            write(metadata[key]!, to: &w)
        }
    }

    static func write(_ value: Logger.Metadata.Value, to w: inout JSONWriter) {
        switch value {
        case .string(let s): w.string(s)
        case .stringConvertible(let c): w.string(c.description)
        case .dictionary(let d): w.object { write(d, to: &$0) }
        case .array(let a): w.array { for v in a { write(v, to: &$0) } }
        }
    }

    private static let stderrLock = Mutex(())

    /// Writes a line to standard error in one call, under a lock so lines never interleave.
    public static let standardError: Sink = { line in
        stderrLock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}
