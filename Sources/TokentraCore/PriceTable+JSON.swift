import Foundation  // only for reading the file in init(contentsOfFile:)

extension PriceTable {
    /// Loads a price table from `prices.json` bytes (format: `schema/price-table.md`).
    ///
    /// Prices may be JSON numbers or strings; either way they are parsed exactly from their text
    /// (never through `Double`) and must have at most 10 decimal places per 1K tokens.
    /// - Throws: ``PriceTableError`` naming the entry and field at fault.
    public init(json bytes: UnsafeBufferPointer<UInt8>) throws {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            throw PriceTableError(error.message)
        }
        guard case .object(let members) = root else { throw PriceTableError("the price table must be a JSON object") }
        var version: Int?
        var prices: [JSONValue]?
        for (key, value) in members {
            switch key {
            case "version":
                guard case .number(let text) = value, let v = Int(text), v >= 0 else {
                    throw PriceTableError("version must be a non-negative integer")
                }
                version = v
            case "prices":
                guard case .array(let list) = value else { throw PriceTableError("prices must be an array") }
                prices = list
            case "$schema", "description", "updated":
                continue
            default:
                throw PriceTableError("unknown key \"\(key)\" (expected version, prices)")
            }
        }
        guard let version else { throw PriceTableError("missing version") }
        guard let prices else { throw PriceTableError("missing prices") }
        var entries: [ModelPrice] = []
        for (i, item) in prices.enumerated() {
            entries.append(try Self.entry(item, index: i))
        }
        try self.init(version: version, entries: entries)
    }

    /// Loads a price table from `prices.json` text.
    public init(json text: String) throws {
        var bytes = Array(text.utf8)
        let count = bytes.count
        self = try bytes.withUnsafeMutableBufferPointer { buffer in
            guard count > 0 else { throw PriceTableError("empty price table") }
            return try PriceTable(json: UnsafeBufferPointer(buffer))
        }
    }

    /// Loads a price table from a `prices.json` file.
    public init(contentsOfFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PriceTableError("cannot read price table \(path)")
        }
        let bytes = [UInt8](data)
        do {
            self = try bytes.withUnsafeBufferPointer { buffer in
                guard buffer.count > 0 else { throw PriceTableError("empty price table") }
                return try PriceTable(json: buffer)
            }
        } catch let error as PriceTableError {
            throw PriceTableError("\(path): \(error.message)")
        }
    }

    private static func entry(_ item: JSONValue, index i: Int) throws -> ModelPrice {
        guard case .object(let fields) = item else { throw PriceTableError("prices[\(i)] must be an object") }
        var provider: String?
        var model: String?
        var perK: [String: Money] = [:]
        var effectiveFrom: Int64 = 0
        for (key, value) in fields {
            switch key {
            case "provider", "model":
                guard case .string(let s) = value, !s.isEmpty else {
                    throw PriceTableError("prices[\(i)].\(key) must be a non-empty string")
                }
                if key == "provider" { provider = s } else { model = s }
            case "input_per_1k", "output_per_1k", "cached_per_1k", "input_per_1m", "output_per_1m", "cached_per_1m":
                let text: String
                switch value {
                case .number(let t), .string(let t): text = t
                default: throw PriceTableError("prices[\(i)].\(key) must be a decimal number or string")
                }
                let bucket = String(key.prefix(while: { $0 != "_" }))
                guard perK[bucket] == nil else {
                    throw PriceTableError("prices[\(i)]: give \(bucket) price per 1k or per 1m, not both")
                }
                perK[bucket] = try price(text, perMillion: key.hasSuffix("_1m"), at: "prices[\(i)].\(key)")
            case "effective_from":
                guard case .string(let s) = value, let ms = parseEffectiveFrom(s) else {
                    throw PriceTableError(
                        "prices[\(i)].effective_from must be a date YYYY-MM-DD or an ISO-8601 timestamp")
                }
                effectiveFrom = ms
            case "note":
                continue
            default:
                throw PriceTableError("prices[\(i)]: unknown key \"\(key)\"")
            }
        }
        guard let provider else { throw PriceTableError("prices[\(i)]: missing provider") }
        guard let model else { throw PriceTableError("prices[\(i)]: missing model") }
        guard let input = perK["input"] else { throw PriceTableError("prices[\(i)]: missing input_per_1k") }
        guard let output = perK["output"] else { throw PriceTableError("prices[\(i)]: missing output_per_1k") }
        return ModelPrice(
            provider: provider, model: model, inputPer1K: input, outputPer1K: output, cachedPer1K: perK["cached"],
            effectiveFromMs: effectiveFrom)
    }

    private static func price(_ text: String, perMillion: Bool, at path: String) throws -> Money {
        let m: Money
        do {
            m = try Money(parsing: text)
        } catch {
            throw PriceTableError("\(path): \"\(text)\" is not an exact decimal with at most 10 places")
        }
        guard m.units >= 0 else { throw PriceTableError("\(path) must not be negative") }
        guard perMillion else { return m }
        guard m.units % 1000 == 0 else {
            throw PriceTableError("\(path): \(text) per 1M is not exact per 1K with 10 decimal places")
        }
        return Money(units: m.units / 1000)
    }

    /// `YYYY-MM-DD` (UTC midnight) or a full timestamp with a time zone.
    static func parseEffectiveFrom(_ s: String) -> Int64? {
        if s.utf8.count == 10 { return parseTimestamp(s + "T00:00:00Z") }
        return parseTimestamp(s)
    }

    /// The table in the `prices.json` format (prices as exact decimal strings, per 1K tokens).
    public var jsonText: String {
        var w = JSONWriter()
        w.object { o in
            o.field("version", version)
            o.field("prices", array: { a in
                for e in entries {
                    a.object {
                        $0.field("provider", e.provider)
                        $0.field("model", e.model)
                        $0.field("input_per_1k", e.inputPer1K.description)
                        $0.field("output_per_1k", e.outputPer1K.description)
                        $0.field("cached_per_1k", e.cachedPer1K.description)
                        $0.field("effective_from", formatTimestamp(e.effectiveFromMs))
                    }
                }
            })
        }
        return w.text + "\n"
    }
}
