import Synchronization
import TokentraCore
import UsageIndex

/// The one retention rule every way in applies (HTTP, bulk import, OTLP), part of ``Retention``
/// (which hands it out as ``Retention/horizon``): an event is refused when
///
/// - its timestamp is before its org's raw retention horizon (the UTC day `raw_days` before now;
///   `TIMESTAMP_TOO_OLD`), unless an operator override says otherwise (`tokentra ingest
///   --max-age-days N`, `0` = any age); or
/// - its (org, UTC day) was already rolled up and its raw events were then deleted by retention
///   (`RAW_DATA_RETIRED`), even with `--max-age-days 0`: re-rolling that hour from the new event
///   alone would replace the retained rollup row with a smaller one.
///
/// Policies are read from the index and refreshed every `refreshMs`, so `tokentra retention set`
/// takes effect in a running daemon without a restart.
public final class IngestHorizon: Sendable {
    /// The rules in force at one moment: a value, checked without locks.
    public struct Rules: Sendable {
        var policies: [String: RetentionPolicy]
        var retired: Set<RetiredDay>
        var overrideDays: Int?
        public var loadedAtMs: Int64

        /// The error for an event of `orgID` at `timestampMs`, or `nil` when it may be stored.
        public func check(orgID: String, timestampMs: Int64, nowMs: Int64) -> EventError? {
            let days: Int?
            if let overrideDays {
                days = overrideDays > 0 ? overrideDays : nil
            } else {
                days = Retention.policy(orgID: orgID, in: policies).rawDays
            }
            if let days {
                let cutoff = Retention.Horizons.start(days: days, nowMs: nowMs)
                if timestampMs < cutoff {
                    return EventError(.timestampTooOld,
                                      "timestamp \(formatTimestamp(timestampMs)) is before org \(orgID)'s raw retention horizon (\(days) days: earliest accepted \(formatTimestamp(cutoff)))",
                                      field: "timestamp")
                }
            }
            if !retired.isEmpty, retired.contains(RetiredDay(orgID: orgID, dayStartMs: UTC.dayStart(timestampMs))) {
                return EventError(.rawDataRetired,
                                  "the raw events of org \(orgID) on \(UTC.dayString(timestampMs)) were deleted by retention after they were rolled up; an event for that day would replace the retained rollup, so it is refused",
                                  field: "timestamp")
            }
            return nil
        }
    }

    private let index: IndexDatabase
    private let overrideDays: Int?
    private let refreshMs: Int64
    private let cached = Mutex<Rules?>(nil)

    /// - Parameters:
    ///   - overrideDays: replaces every org's raw horizon (`0` accepts any age).
    ///   - refreshMs: how long the policies read from the index are used before they are read again.
    public init(index: IndexDatabase, overrideDays: Int? = nil, refreshMs: Int64 = 10_000) {
        self.index = index
        self.overrideDays = overrideDays
        self.refreshMs = refreshMs
    }

    /// The rules at `nowMs` (read from the index at most every `refreshMs`).
    public func rules(nowMs: Int64) -> Rules {
        if let r = cached.withLock({ $0 }), nowMs >= r.loadedAtMs, nowMs - r.loadedAtMs < refreshMs { return r }
        let r = Rules(policies: (try? index.retentionPolicies()) ?? [:], retired: (try? index.rawRetiredDays()) ?? [],
                      overrideDays: overrideDays, loadedAtMs: nowMs)
        cached.withLock { $0 = r }
        return r
    }

    /// Forgets the cached rules (after `retention set` or a retention run in this process).
    public func invalidate() { cached.withLock { $0 = nil } }

    /// The error for an event of `orgID` at `timestampMs`, or `nil` when it may be stored.
    public func check(orgID: String, timestampMs: Int64, nowMs: Int64) -> EventError? {
        rules(nowMs: nowMs).check(orgID: orgID, timestampMs: timestampMs, nowMs: nowMs)
    }
}

extension EventBatch {
    /// Applies `rules` to the row just decoded: when it may not be stored, removes it and returns why.
    public mutating func checkLast(_ rules: IngestHorizon.Rules, nowMs: Int64) -> DecodeFailure? {
        let i = count - 1
        guard let error = rules.check(orgID: orgID(at: i), timestampMs: timestamps[i], nowMs: nowMs) else { return nil }
        let id = requestID(at: i).description
        removeLast()
        return DecodeFailure(error: error, requestID: id)
    }
}
