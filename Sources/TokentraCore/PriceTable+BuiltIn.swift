extension PriceTable {
    /// The version of ``builtIn``.
    public static let builtInVersion = 1

    /// The built-in price list (version 1, effective from 1970-01-01), in USD per 1K tokens:
    /// the seed's `PRICING_TABLES` (TokenTra SDK spec §16.2), CostTracker's Claude rates
    /// (`claude-opus-4`, `claude-haiku-4`), and the Azure OpenAI and AWS Bedrock models the
    /// benchmark generator uses. A missing cached price means "same as input" (see ``ModelPrice``).
    public static let builtIn: PriceTable = {
        // provider, model, input, output, cached (nil: same as input)
        let rows: [(String, String, String, String, String?)] = [
            ("openai", "gpt-4", "0.03", "0.06", nil),
            ("openai", "gpt-4-turbo", "0.01", "0.03", nil),
            ("openai", "gpt-4o", "0.005", "0.015", nil),
            ("openai", "gpt-4o-mini", "0.00015", "0.0006", nil),
            ("openai", "gpt-3.5-turbo", "0.0005", "0.0015", nil),
            ("openai", "o1", "0.015", "0.06", nil),
            ("openai", "o1-mini", "0.003", "0.012", nil),
            ("openai", "o1-pro", "0.15", "0.60", nil),
            ("anthropic", "claude-opus-4-20250514", "0.015", "0.075", "0.01875"),
            ("anthropic", "claude-sonnet-4-20250514", "0.003", "0.015", "0.00375"),
            ("anthropic", "claude-3-5-sonnet-20241022", "0.003", "0.015", "0.00375"),
            ("anthropic", "claude-3-5-haiku-20241022", "0.0008", "0.004", "0.001"),
            ("anthropic", "claude-3-opus-20240229", "0.015", "0.075", nil),
            ("anthropic", "claude-3-sonnet-20240229", "0.003", "0.015", nil),
            ("anthropic", "claude-3-haiku-20240307", "0.00025", "0.00125", nil),
            // CostTracker DEFAULT_MODEL_RATES (per 1M in the seed: 15/75 and 0.80/4.00).
            ("anthropic", "claude-opus-4", "0.015", "0.075", nil),
            ("anthropic", "claude-haiku-4", "0.0008", "0.004", nil),
            ("google", "gemini-2.0-flash", "0.0001", "0.0004", nil),
            ("google", "gemini-1.5-pro", "0.00125", "0.005", nil),
            ("google", "gemini-1.5-flash", "0.000075", "0.0003", nil),
            ("azure", "gpt-4o", "0.005", "0.015", nil),
            ("azure", "gpt-4o-mini", "0.00015", "0.0006", nil),
            ("aws", "anthropic.claude-3-sonnet-20240229-v1:0", "0.003", "0.015", nil),
            ("aws", "anthropic.claude-3-5-haiku-20241022-v1:0", "0.0008", "0.004", nil),
        ]
        let entries = rows.map { row in
            ModelPrice(
                provider: row.0, model: row.1, inputPer1K: try! Money(parsing: row.2),
                outputPer1K: try! Money(parsing: row.3), cachedPer1K: row.4.map { try! Money(parsing: $0) })
        }
        return try! PriceTable(version: builtInVersion, entries: entries)
    }()

    /// The table used when none is configured: ``builtIn``.
    public static var `default`: PriceTable { builtIn }
}
