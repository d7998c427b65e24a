/// The price of one model from a given date: USD per 1,000 tokens of each bucket.
///
/// Token buckets are mutually exclusive (see ``UsageEvent``): ``inputPer1K`` prices uncached input,
/// ``cachedPer1K`` prices cache reads and ``outputPer1K`` prices output.
public struct ModelPrice: Sendable, Hashable {
    /// Normalized provider (see ``ProviderName``).
    public var provider: String
    /// Model name, matched exactly (case-sensitive) against the event's `model`.
    public var model: String
    public var inputPer1K: Money
    public var outputPer1K: Money
    /// Price of cache reads; when a price list has none, the input price is used (never 0), so
    /// cached tokens are never under-billed.
    public var cachedPer1K: Money
    /// First millisecond (UTC) at which this price applies.
    public var effectiveFromMs: Int64

    /// - Parameters:
    ///   - cachedPer1K: the cache-read price; `nil` means "same as the input price".
    ///   - effectiveFromMs: first millisecond the price applies; default 0 (1970-01-01).
    public init(
        provider: String, model: String, inputPer1K: Money, outputPer1K: Money, cachedPer1K: Money? = nil,
        effectiveFromMs: Int64 = 0
    ) {
        self.provider = provider
        self.model = model
        self.inputPer1K = inputPer1K
        self.outputPer1K = outputPer1K
        self.cachedPer1K = cachedPer1K ?? inputPer1K
        self.effectiveFromMs = effectiveFromMs
    }

    /// `tokens × pricePer1K / 1000`, exactly, rounded half-to-even to the 1e-10 USD unit.
    ///
    /// - Returns: the cost, or `nil` if it does not fit ``Money`` (or tokens are negative).
    public static func cost(tokens: Int64, pricePer1K: Money) -> Money? {
        guard tokens >= 0 else { return nil }
        let product = Int128(tokens) * Int128(pricePer1K.units)
        var q = product / 1000
        let r = product % 1000
        if r > 500 || (r == 500 && q & 1 == 1) { q += 1 }
        if r < -500 || (r == -500 && q & 1 != 0) { q -= 1 }
        guard q <= Int128(Int64.max), q >= Int128(Int64.min) else { return nil }
        return Money(units: Int64(q))
    }

    /// The costs of the three token buckets at this price.
    /// - Returns: `nil` when a cost does not fit ``Money``.
    public func costs(input: Int64, output: Int64, cached: Int64) -> (input: Money, output: Money, cached: Money)? {
        guard let i = Self.cost(tokens: input, pricePer1K: inputPer1K),
            let o = Self.cost(tokens: output, pricePer1K: outputPer1K),
            let c = Self.cost(tokens: cached, pricePer1K: cachedPer1K)
        else { return nil }
        return (i, o, c)
    }
}

/// Why a price table could not be loaded.
public struct PriceTableError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A versioned table of model prices with effective dates.
///
/// Lookups pick, for `(provider, model)`, the entry with the latest `effective_from` that is
/// ≤ the event's timestamp; an event earlier than every entry, or for an unknown model, is
/// unpriced. Every event costed from the table records ``version`` (`cost_source =
/// price_table@<version>`), so a price change is auditable and can be re-applied. The file format
/// is documented in `schema/price-table.md`.
///
/// ```swift
/// let table = PriceTable.builtIn
/// let c = table.predictedCosts(provider: "openai", model: "gpt-4o", timestampMs: 0,
///                              input: 1000, output: 100, cached: 0)
/// // c?.input == 0.005, c?.output == 0.0015
/// ```
public struct PriceTable: Sendable {
    struct Key: Hashable, Sendable {
        var provider: String
        var model: String
    }

    /// The table's version (recorded in events as `price_table@<version>`).
    public let version: Int
    /// All entries, sorted by provider, model and effective date.
    public let entries: [ModelPrice]
    private let index: [Key: [ModelPrice]]

    /// Builds a table. Provider names are normalized (aliases folded).
    /// - Throws: ``PriceTableError`` when two entries share provider, model and effective date,
    ///   a provider is not a valid slug, or a price is negative.
    public init(version: Int, entries: [ModelPrice]) throws {
        var index: [Key: [ModelPrice]] = [:]
        for var entry in entries {
            guard let provider = ProviderName.normalize(entry.provider) else {
                throw PriceTableError("invalid provider \"\(entry.provider)\"")
            }
            entry.provider = provider
            guard !entry.model.isEmpty else { throw PriceTableError("empty model for provider \(provider)") }
            guard entry.inputPer1K.units >= 0, entry.outputPer1K.units >= 0, entry.cachedPer1K.units >= 0 else {
                throw PriceTableError("negative price for \(provider)/\(entry.model)")
            }
            index[Key(provider: provider, model: entry.model), default: []].append(entry)
        }
        for (key, list) in index {
            let sorted = list.sorted { $0.effectiveFromMs < $1.effectiveFromMs }
            for i in sorted.indices.dropFirst() where sorted[i].effectiveFromMs == sorted[i - 1].effectiveFromMs {
                throw PriceTableError(
                    "two prices for \(key.provider)/\(key.model) from \(formatTimestamp(sorted[i].effectiveFromMs))")
            }
            index[key] = sorted
        }
        self.version = version
        self.index = index
        self.entries = index.values.flatMap { $0 }.sorted {
            ($0.provider, $0.model, $0.effectiveFromMs) < ($1.provider, $1.model, $1.effectiveFromMs)
        }
    }

    /// The price in effect for `(provider, model)` at `timestampMs`, or `nil` if unpriced.
    ///
    /// `provider` must already be normalized (as in a decoded ``UsageEvent``).
    public func price(provider: String, model: String, timestampMs: Int64) -> ModelPrice? {
        guard let list = index[Key(provider: provider, model: model)] else { return nil }
        var i = list.count - 1
        while i >= 0 {
            if list[i].effectiveFromMs <= timestampMs { return list[i] }
            i -= 1
        }
        return nil
    }

    /// The costs the table predicts for an event, or `nil` when the model is unpriced at that time.
    ///
    /// Each cost is `tokens × price_per_1k / 1000`, exact and rounded half-to-even to 1e-10 USD.
    /// The segment store stores an event's costs as the difference from this prediction.
    public func predictedCosts(
        provider: String, model: String, timestampMs: Int64, input: Int64, output: Int64, cached: Int64
    ) -> (input: Money, output: Money, cached: Money)? {
        price(provider: provider, model: model, timestampMs: timestampMs)?.costs(input: input, output: output, cached: cached)
    }
}

extension PriceTable: Equatable {
    public static func == (lhs: PriceTable, rhs: PriceTable) -> Bool {
        lhs.version == rhs.version && lhs.entries == rhs.entries
    }
}
