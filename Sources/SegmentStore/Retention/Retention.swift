import TokentraCore
import UsageIndex

/// Retention, in one place: which policy is in force for an org, where its horizons fall, what a
/// run deletes (``plan(now:orgID:)``), the run itself (``run(now:orgID:dryRun:)``), and the check
/// every way in applies to new events (``horizon``). `tokentra retention`, `tokentra ingest` and the
/// daemon (HTTP and OTLP ingest, the retention job) all go through it; UsageIndex only stores the
/// policies and runs the reads and the deleting transaction
/// (``IndexDatabase/retentionCandidates(orgID:rawBeforeMs:rawBeforeDay:hourlyBeforeMs:dailyBeforeDay:)``,
/// ``IndexDatabase/deleteRetained(_:)``).
///
/// Horizons are whole UTC days: with `rawDays = N`, raw events before the start of the UTC day N
/// days before today are past it (likewise hourly and daily rollup rows). Raw data goes by whole
/// (org, UTC day) segments, and a day that still has hours waiting for a rollup is kept back, so
/// deleting raw data never loses an event from the rollups.
///
/// ```swift
/// let retention = Retention(store: store)
/// let dry = try retention.plan(now: now)                            // nothing changes
/// let done = try await retention.run(now: now, dryRun: false)     // deletes, records a job run
/// ```
public struct Retention: Sendable {
    public let index: IndexDatabase
    /// The raw horizon ingestion applies (refused: `TIMESTAMP_TOO_OLD`, `RAW_DATA_RETIRED`); a run
    /// or a policy change through this value refreshes it at once.
    public let horizon: IngestHorizon
    let store: SegmentStore?

    /// Retention of `store`'s data (plans, policies and runs).
    /// - Parameter ingestOverrideDays: replaces every org's raw horizon in ``horizon`` (`0` accepts
    ///   any age; `tokentra ingest --max-age-days`, `ingest.max_event_age_days`).
    public init(store: SegmentStore, ingestOverrideDays: Int? = nil) {
        self.index = store.index
        self.store = store
        self.horizon = IngestHorizon(index: store.index, overrideDays: ingestOverrideDays)
    }

    /// Policies and plans from the index alone (no store open: `tokentra retention show|set` work
    /// while the daemon runs); ``run(now:orgID:dryRun:)`` needs ``init(store:ingestOverrideDays:)``.
    public init(index: IndexDatabase, ingestOverrideDays: Int? = nil) {
        self.index = index
        self.store = nil
        self.horizon = IngestHorizon(index: index, overrideDays: ingestOverrideDays)
    }

    // MARK: Policies

    /// The policy in force for `orgID` among stored `policies`: its own, else the `*` default,
    /// else ``RetentionPolicy/builtIn``.
    public static func policy(orgID: String, in policies: [String: RetentionPolicy]) -> RetentionPolicy {
        policies[orgID] ?? policies[IndexDatabase.defaultPolicyOrg] ?? .builtIn
    }

    /// The policy in force for `orgID`.
    public func policy(orgID: String) throws -> RetentionPolicy {
        Self.policy(orgID: orgID, in: try index.retentionPolicies())
    }

    /// The default (the `*` row, else the built-in one).
    public func defaultPolicy() throws -> RetentionPolicy {
        try policy(orgID: IndexDatabase.defaultPolicyOrg)
    }

    /// Whether `orgID` has a policy of its own.
    public func hasOwnPolicy(orgID: String) throws -> Bool { try index.retentionPolicies()[orgID] != nil }

    /// Sets `orgID`'s policy (``IndexDatabase/defaultPolicyOrg``: the default); a horizon left
    /// `nil` keeps the value currently in force. - Returns: the policy now in force.
    @discardableResult
    public func setPolicy(orgID: String, rawDays: Int? = nil, hourlyDays: Int? = nil, dailyDays: Int? = nil, now: Int64) throws
        -> RetentionPolicy
    {
        let current = try policy(orgID: orgID)
        let policy = RetentionPolicy(rawDays: rawDays ?? current.rawDays, hourlyDays: hourlyDays ?? current.hourlyDays,
                                     dailyDays: dailyDays ?? current.dailyDays)
        try index.setRetentionPolicy(policy, orgID: orgID, now: now)
        horizon.invalidate()
        return try self.policy(orgID: orgID)
    }

    /// Removes `orgID`'s own policy. - Returns: the policy now in force (the default).
    @discardableResult
    public func clearPolicy(orgID: String) throws -> RetentionPolicy {
        try index.clearRetentionPolicy(orgID: orgID)
        horizon.invalidate()
        return try policy(orgID: orgID)
    }

    // MARK: Horizons

    /// Where a policy's horizons fall at `nowMs`: everything before each start is past it.
    public struct Horizons: Sendable, Equatable {
        public var rawStartMs: Int64
        public var hourlyStartMs: Int64
        public var dailyStartMs: Int64

        public init(policy: RetentionPolicy, nowMs: Int64) {
            rawStartMs = Self.start(days: policy.rawDays, nowMs: nowMs)
            hourlyStartMs = Self.start(days: policy.hourlyDays, nowMs: nowMs)
            dailyStartMs = Self.start(days: policy.dailyDays, nowMs: nowMs)
        }

        /// The start of the UTC day `days` days before `nowMs`'s day.
        public static func start(days: Int, nowMs: Int64) -> Int64 { UTC.dayStart(nowMs) - Int64(days) * UTC.msPerDay }
    }

    // MARK: Plan and run

    /// What a run at `now` removes for one org or every org (nothing is changed).
    public func plan(now: Int64, orgID: String? = nil) throws -> [RetentionOutcome] {
        let policies = try index.retentionPolicies()
        return try (orgID.map { [$0] } ?? index.retentionOrgIDs()).map {
            try plan(orgID: $0, policy: Self.policy(orgID: $0, in: policies), now: now)
        }
    }

    func plan(orgID: String, policy: RetentionPolicy, now: Int64) throws -> RetentionOutcome {
        let horizons = Horizons(policy: policy, nowMs: now)
        var outcome = RetentionOutcome(
            orgID: orgID, policy: policy, rawCutoffDay: IndexDatabase.dayString(horizons.rawStartMs),
            hourlyCutoffMs: horizons.hourlyStartMs, dailyCutoffDay: IndexDatabase.dayString(horizons.dailyStartMs))
        let candidates = try index.retentionCandidates(
            orgID: orgID, rawBeforeMs: horizons.rawStartMs, rawBeforeDay: outcome.rawCutoffDay,
            hourlyBeforeMs: horizons.hourlyStartMs, dailyBeforeDay: outcome.dailyCutoffDay)
        let pendingDays = Set(candidates.pendingHourStarts.map { IndexDatabase.dayString($0) })
        outcome.pendingRollupDays = pendingDays.sorted()
        for s in candidates.segments where !pendingDays.contains(s.day) {
            outcome.segmentIDs.append(s.id)
            outcome.segmentFiles.append(s.file)
            if outcome.segmentDays.last != s.day { outcome.segmentDays.append(s.day) }
            outcome.bytes += s.bytes
            outcome.rawEvents += s.rows
        }
        outcome.hourlyRows = candidates.hourlyRows
        outcome.dailyRows = candidates.dailyRows
        return outcome
    }

    /// Enforces retention at `now` for one org or all: deletes whole raw segments past the org's
    /// raw horizon and rollup rows past its hourly/daily horizons, drops the dedup state of the
    /// deleted events, records the run in `job_runs` (job `retention`) and refreshes ``horizon``
    /// (days whose raw data just went are refused from now on: `RAW_DATA_RETIRED`).
    ///
    /// Every acknowledged event is sealed first (so its hours are marked for a rollup). The index
    /// is updated in one transaction before any file is unlinked, so a crash at any point leaves a
    /// store whose only leftovers are unregistered files (`verify` reports them; the next open or
    /// `tokentra repair` deletes them) and that the next run finishes. With `dryRun` nothing changes.
    public func run(now: Int64, orgID: String? = nil, dryRun: Bool) async throws -> [RetentionOutcome] {
        guard let store else { preconditionFailure("Retention.run needs the store: make it with Retention(store:)") }
        if !dryRun { try await store.flush() }
        let outcomes = try plan(now: now, orgID: orgID)
        if dryRun { return outcomes }
        try await store.deleteRetained(outcomes, startedAt: now)
        horizon.invalidate()
        return outcomes
    }
}

extension RetentionPolicy {
    /// The built-in defaults (raw 30, hourly 90, daily 365 days), used when neither the org nor
    /// the `*` default row is set.
    public static let builtIn = RetentionPolicy(rawDays: 30, hourlyDays: 90, dailyDays: 365)
}

/// What one org's retention run removed (or, dry, would remove).
public struct RetentionOutcome: Sendable, Equatable {
    public var orgID: String
    public var policy: RetentionPolicy
    public var segmentIDs: [Int64] = []
    public var segmentFiles: [String] = []
    /// The UTC days (`YYYY-MM-DD`) whose raw segments go.
    public var segmentDays: [String] = []
    public var bytes: Int = 0
    public var rawEvents: Int = 0
    public var hourlyRows: Int = 0
    public var dailyRows: Int = 0
    /// Days kept back because they still have hours waiting for a rollup.
    public var pendingRollupDays: [String] = []
    public var rawCutoffDay: String
    public var hourlyCutoffMs: Int64
    public var dailyCutoffDay: String

    /// The index rows this outcome removes (``IndexDatabase/deleteRetained(_:)``).
    public var deletion: RetentionDeletion {
        RetentionDeletion(orgID: orgID, segmentDays: segmentDays, hourlyBeforeMs: hourlyCutoffMs, dailyBeforeDay: dailyCutoffDay)
    }
}
