import TokentraCore

extension SegmentStore.Configuration {
    /// Predicts costs inside segments from `prices` (the current rates of each model; a predictor
    /// only, so costs stay exact whatever the table says). `tokentra serve` and the CLI set this
    /// from the data directory's current price table.
    public mutating func predictCosts(from prices: PriceTable) {
        rates = { provider, model in
            guard let p = prices.price(provider: provider, model: model, timestampMs: Int64.max) else { return nil }
            return SegmentFormat.Rates(inputPer1K: p.inputPer1K.units, outputPer1K: p.outputPer1K.units,
                                       cachedPer1K: p.cachedPer1K.units)
        }
    }
}
