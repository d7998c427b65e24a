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
func storeConfiguration(dataDir: String, prices: PriceTable) -> SegmentStore.Configuration {
    var configuration = SegmentStore.Configuration(dataDirectory: dataDir)
    configuration.rates = { provider, model in
        guard let p = prices.price(provider: provider, model: model, timestampMs: Int64.max) else { return nil }
        return SegmentFormat.Rates(inputPer1K: p.inputPer1K.units, outputPer1K: p.outputPer1K.units,
                                   cachedPer1K: p.cachedPer1K.units)
    }
    return configuration
}

func openStore(_ global: GlobalOptions, readOnly: Bool = false) async throws -> SegmentStore {
    let dir = global.resolvedDataDir
    let prices = try loadPriceTable(dataDir: dir)
    var configuration = storeConfiguration(dataDir: dir, prices: prices)
    configuration.readOnly = readOnly
    return try await SegmentStore.open(configuration: configuration, logger: makeLogger("tokentra"))
}

/// An error the CLI reports as one line on stderr with exit code 2.
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
