import TokentraCore

/// 2026-11-20T00:00:00Z, the end of the benchmark generator's window.
let testNow: Int64 = 1_795_132_800_000

func decode(
    _ json: String, org: OrgPolicy = .fromEvent(default: "org_default"), now: Int64 = testNow,
    configuration: EventDecoderConfiguration = .init(), priceTable: PriceTable = .builtIn
) -> Result<UsageEvent, DecodeFailure> {
    EventDecoder(configuration: configuration, priceTable: priceTable).decode(json, org: org, nowMs: now)
}

/// The decoded event, or nil (use with `try #require`).
func event(_ json: String, org: OrgPolicy = .fromEvent(default: "org_default"), now: Int64 = testNow,
    configuration: EventDecoderConfiguration = .init(), priceTable: PriceTable = .builtIn) -> UsageEvent?
{
    try? decode(json, org: org, now: now, configuration: configuration, priceTable: priceTable).get()
}

/// The failure, or nil when the event decoded.
func failure(_ json: String, org: OrgPolicy = .fromEvent(default: "org_default"), now: Int64 = testNow,
    configuration: EventDecoderConfiguration = .init()) -> DecodeFailure?
{
    if case .failure(let f) = decode(json, org: org, now: now, configuration: configuration) { return f }
    return nil
}

func money(_ text: String) -> Money { try! Money(parsing: text) }

/// A minimal valid event with `extra` members appended (`extra` starts with a comma or is empty).
func minimal(_ extra: String = "", requestID: String = "\"8c1a8a37-5b0c-4e0c-9d3e-0f6f1e2a3b4c\"") -> String {
    #"{"request_id":\#(requestID),"timestamp":"2026-11-19T12:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":1000,"output_tokens":100\#(extra)}"#
}
