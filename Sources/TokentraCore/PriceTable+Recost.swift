extension PriceTable {
    /// Re-costs a stored event with this table, by the rules ingest applies to an event without
    /// costs (schema/price-table.md, "Cost rules"), when this table prices its model at its timestamp:
    ///
    /// - an event costed from a price table (any version) or `unpriced` gets
    ///   `tokens × price / 1000` per bucket (rounded half-to-even to 1e-10 USD, 0 for a gateway cache
    ///   hit) and `cost_source = price_table@<version>`;
    /// - an event with client-supplied costs is left alone unless `includeClientCosts`;
    /// - an event whose model this table does not price (at its timestamp) is left as it is: a
    ///   table that omits a model never zeroes that model's stored costs.
    ///
    /// - Returns: whether any cost or the cost source changed.
    /// - Throws: ``PriceTableError`` when a computed cost does not fit ``Money``.
    public func recost(_ e: inout UsageEvent, includeClientCosts: Bool) throws -> Bool {
        guard let price = self.price(provider: e.provider, model: e.model, timestampMs: e.timestampMs) else { return false }
        if e.costSource == .client && !includeClientCosts { return false }
        var costs: (input: Money, output: Money, cached: Money, total: Money) = (.zero, .zero, .zero, .zero)
        let source = CostSource.priceTable(version: version)
        if !e.wasCached {
            guard let parts = price.costs(input: e.inputTokens, output: e.outputTokens, cached: e.cachedTokens),
                let sum = parts.input.adding(parts.output)?.adding(parts.cached)
            else {
                throw PriceTableError("the cost of request \(e.requestID.text) at price version \(version) is out of range")
            }
            costs = (parts.input, parts.output, parts.cached, sum)
        }
        let changed = e.inputCost != costs.input || e.outputCost != costs.output || e.cachedCost != costs.cached
            || e.totalCost != costs.total || e.costSource != source
        e.inputCost = costs.input
        e.outputCost = costs.output
        e.cachedCost = costs.cached
        e.totalCost = costs.total
        e.costSource = source
        return changed
    }
}
