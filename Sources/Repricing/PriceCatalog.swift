import Foundation
import SegmentStore
import TokentraCore
import UsageIndex

/// The versioned price tables of a data directory, in one place: the built-in table (version 1),
/// the tables imported with `tokentra prices import` (kept in the index's `price_versions`), and the
/// **current** table, `DATA_DIR/prices.json` (else the built-in one), which prices new events.
///
/// ```swift
/// let catalog = PriceCatalog(dataDirectory: dir, index: index)
/// let v2 = try catalog.table(version: 2)        // nil when unknown
/// try catalog.importTable(path: "prices-v3.json", actor: "cli", now: nowMs)
/// ```
public struct PriceCatalog: Sendable {
    public let dataDirectory: String
    public let index: IndexDatabase

    public init(dataDirectory: String, index: IndexDatabase) {
        self.dataDirectory = dataDirectory
        self.index = index
    }

    /// One known version.
    public struct Version: Sendable {
        public var table: PriceTable
        /// `built-in`, `prices.json` (the current file, never imported) or `imported`.
        public var origin: String
        public var importedAt: Int64?
        public var importedBy: String?
        /// The file it was imported from.
        public var importSource: String?
        /// Whether it prices new events (it is the current `prices.json`, or the built-in table without one).
        public var current: Bool
        public var version: Int { table.version }
    }

    /// The path of the current table.
    public var currentPath: String { dataDirectory + "/prices.json" }

    /// The table that prices new events: `prices.json` when present, else the built-in table.
    /// - Throws: ``PriceTableError`` naming the file and the entry at fault.
    public static func currentTable(dataDirectory: String) throws -> PriceTable {
        let path = dataDirectory + "/prices.json"
        guard FileManager.default.fileExists(atPath: path) else { return .builtIn }
        return try PriceTable(contentsOfFile: path)
    }

    public func currentTable() throws -> PriceTable { try Self.currentTable(dataDirectory: dataDirectory) }

    /// Every known version, ascending; an imported version shadows the built-in table of the same number.
    public func versions() throws -> [Version] {
        let current = try currentTable()
        var out: [Int: Version] = [:]
        out[PriceTable.builtIn.version] = Version(table: .builtIn, origin: "built-in", current: false)
        for stored in try index.priceVersions() {
            let table = try PriceTable(json: stored.json)
            out[stored.version] = Version(table: table, origin: "imported", importedAt: stored.importedAt,
                                          importedBy: stored.importedBy, importSource: stored.source, current: false)
        }
        if out[current.version]?.table != current {
            // A prices.json written by hand (not imported) is a version of its own.
            out[current.version] = Version(table: current, origin: "prices.json", current: true)
        }
        out[current.version]?.current = true
        return out.keys.sorted().map { out[$0]! }
    }

    /// The table of `version`, or `nil` when no such version is known.
    public func table(version: Int) throws -> PriceTable? {
        try versions().first { $0.version == version }?.table
    }

    /// What ``importTable(path:actor:now:)`` did.
    public struct ImportResult: Sendable {
        public var version: Int
        public var entries: Int
        /// `false` when this exact table was imported before (nothing changed but `prices.json`).
        public var newVersion: Bool
    }

    /// Validates a price file, records it as a version in the index and makes it the current table
    /// (`prices.json`, written atomically; a running daemon uses it from its next start).
    /// - Throws: ``PriceTableError`` (malformed file, naming the entry and key) or
    ///   ``PriceVersionConflict`` (the version exists with other prices).
    @discardableResult
    public func importTable(path: String, actor: String, now: Int64) throws -> ImportResult {
        let table = try PriceTable(contentsOfFile: path)
        if table.version == PriceTable.builtIn.version, table != PriceTable.builtIn {
            throw PriceVersionConflict(description: "version \(table.version) is the built-in table; give the imported table another version")
        }
        let text = table.jsonText
        let stored = StoredPriceVersion(version: table.version, importedAt: now, importedBy: actor,
                                        source: (path as NSString).lastPathComponent, entries: table.entries.count, json: text)
        let isNew = try index.importPriceVersion(stored) { existing in (try? PriceTable(json: existing)) == table }
        try SegmentStore.writeDataFile(currentPath, text)
        return ImportResult(version: table.version, entries: table.entries.count, newVersion: isNew)
    }
}
