import Foundation
import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// Enforces retention at `now` for one org or all: deletes whole raw segments older than the
    /// org's raw horizon and rollup rows older than its hourly/daily horizons, drops the dedup
    /// state of the deleted events, and records the run in `job_runs` (job `retention`).
    ///
    /// The index is updated in one transaction before any file is unlinked, so a crash at any
    /// point leaves a store whose only leftovers are unregistered files (`verify` reports them; the next
    /// open or `tokentra repair` deletes them) and
    /// that the next run finishes. With `dryRun` nothing is changed.
    public func runRetention(now: Int64, orgID: String? = nil, dryRun: Bool) async throws -> [RetentionOutcome] {
        if !dryRun { try await flush() }  // every acknowledged event is in segments, with its dirty marks
        let orgs = try orgID.map { [$0] } ?? index.retentionOrgIDs()
        let outcomes = try orgs.map { try index.planRetention(orgID: $0, now: now) }
        if dryRun { return outcomes }
        let job = try index.startJobRun(job: "retention", startedAt: now)
        do {
            let files = try index.applyRetention(outcomes)
            // Unregistered: forget the days' ids and let the files go once no reader holds them.
            var days: [DayKey] = []
            for o in outcomes {
                for d in o.segmentDays { if let start = UTC.parseDay(d) { days.append(DayKey(orgID: o.orgID, dayStart: start)) } }
            }
            forgetDays(days)
            pins.retire(files.map { dataDirectory + "/" + $0 })
            let deleted = outcomes.reduce(0) { $0 + $1.segmentFiles.count }
            let events = outcomes.reduce(0) { $0 + $1.rawEvents }
            let bytes = outcomes.reduce(0) { $0 + $1.bytes }
            try index.finishJobRun(id: job, finishedAt: Int64(Date().timeIntervalSince1970 * 1000), buckets: deleted,
                                   events: events, details: { var w = JSONWriter(); w.object { $0.field("bytes_freed", bytes) }; return w.text }())
            if deleted > 0 {
                logger.info("retention removed segments", metadata: [
                    "retention.segments": "\(deleted)", "retention.events": "\(events)", "retention.bytes": "\(bytes)",
                ])
            }
        } catch {
            try? index.failJobRun(id: job, finishedAt: Int64(Date().timeIntervalSince1970 * 1000), error: "\(error)")
            throw error
        }
        return outcomes
    }
}
