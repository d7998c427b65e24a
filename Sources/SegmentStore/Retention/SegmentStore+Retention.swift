import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// The store's part of a retention run (``Retention/run(now:orgID:dryRun:)``): removes what
    /// `outcomes` planned from the index in one transaction, forgets the deleted days' ids, lets
    /// the files go once no reader holds them, and records the run in `job_runs`.
    func deleteRetained(_ outcomes: [RetentionOutcome], startedAt now: Int64) throws {
        let job = try index.startJobRun(job: "retention", startedAt: now)
        do {
            let files = try index.deleteRetained(outcomes.map(\.deletion))
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
            try index.finishJobRun(id: job, finishedAt: nowMs, buckets: deleted,
                                   events: events, details: { var w = JSONWriter(); w.object { $0.field("bytes_freed", bytes) }; return w.text }())
            if deleted > 0 {
                logger.info("retention removed segments", metadata: [
                    "retention.segments": "\(deleted)", "retention.events": "\(events)", "retention.bytes": "\(bytes)",
                ])
            }
        } catch {
            try? index.failJobRun(id: job, finishedAt: nowMs, error: "\(error)")
            throw error
        }
    }
}
