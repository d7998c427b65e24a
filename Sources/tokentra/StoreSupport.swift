import Foundation
import Repricing
import SegmentStore
import TokentraCore

/// Loads the price table: `<data-dir>/prices.json` when present, else the built-in table.
func loadPriceTable(dataDir: String) throws -> PriceTable {
    do {
        return try PriceCatalog.currentTable(dataDirectory: dataDir)
    } catch {
        throw ToolError("cannot load price table \(dataDir)/prices.json: \(error)")
    }
}

/// Segment store settings for a data directory, with cost prediction from the price table.
func storeConfiguration(dataDir: String, prices: PriceTable, wallClock: @escaping WallClock = SystemClock.wallClock)
    -> SegmentStore.Configuration
{
    var configuration = SegmentStore.Configuration(dataDirectory: dataDir)
    configuration.predictCosts(from: prices)
    configuration.wallClock = wallClock
    return configuration
}

func openStore(_ global: GlobalOptions, readOnly: Bool = false, wallClock: @escaping WallClock = SystemClock.wallClock)
    async throws -> SegmentStore
{
    let dir = global.resolvedDataDir
    let prices = try loadPriceTable(dataDir: dir)
    var configuration = storeConfiguration(dataDir: dir, prices: prices, wallClock: wallClock)
    configuration.readOnly = readOnly
    return try await SegmentStore.open(configuration: configuration, logger: makeLogger("tokentra"))
}

/// The wall clock of a command with a `--now` option: pinned to it when given, else the system
/// clock. What the command stamps and decides by the time (the store it opens included) reads it.
func wallClock(now: String?) throws -> WallClock {
    SystemClock.pinned(try now.map { try parseTimeOption($0, name: "--now") })
}

/// An error the CLI reports as one line on stderr with exit code 2.
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
