import Logging
import ServiceLifecycle
import UsageIndex

/// One job of the ``JobScheduler``.
public struct ScheduledJob: Sendable {
    /// Name used in logs, metrics (`job` dimension) and the run ledger.
    public var name: String
    public var schedule: JobSchedule
    /// Jobs with the same group that are due together run once (for example the periodic and the
    /// hourly rollup, which do the same work).
    public var group: String?
    /// The work; receives the current wall-clock time (ms since the epoch). `nil`: the job is a
    /// hook that nothing implements yet; it is logged and counted as skipped.
    public var action: (@Sendable (_ nowMs: Int64) async throws -> Void)?

    public init(name: String, schedule: JobSchedule, group: String? = nil, action: (@Sendable (_ nowMs: Int64) async throws -> Void)?) {
        self.name = name
        self.schedule = schedule
        self.group = group
        self.action = action
    }
}

/// Remembers when each calendar job last ran, so a run missed while the daemon was down is made
/// up at start.
public protocol JobRunLedger: Sendable {
    func lastRun(of job: String) throws -> Int64?
    func recordRun(of job: String, at ms: Int64) throws
}

/// ``JobRunLedger`` in the index's `meta` table (`scheduler.last_run.<job>`).
public struct IndexJobRunLedger: JobRunLedger {
    let index: IndexDatabase
    public init(index: IndexDatabase) { self.index = index }
    public func lastRun(of job: String) throws -> Int64? { try index.meta("scheduler.last_run." + job).flatMap { Int64($0) } }
    public func recordRun(of job: String, at ms: Int64) throws { try index.setMeta("scheduler.last_run." + job, String(ms)) }
}

/// Runs jobs on a schedule, one at a time, as a `Service`.
///
/// Time comes from two injected sources: `clock` (for sleeping) and `wallClock` (UTC ms, for the
/// calendar), so a test drives the scheduler with a manual clock and never sleeps. Calendar jobs
/// (`hourly`, `daily`) whose last run (from the ``JobRunLedger``) is older than their latest
/// scheduled time run at start. A failing job is logged and counted; it runs again at its next
/// time. On graceful shutdown the scheduler stops between jobs (a running job finishes).
///
/// ```swift
/// let scheduler = JobScheduler(jobs: [
///     ScheduledJob(name: "seal", schedule: .every(seconds: 60)) { _ in try await store.flush() },
///     ScheduledJob(name: "rollup-daily", schedule: .daily(.init(hour: 0, minute: 15))) { now in try await rollup(now) },
/// ], clock: ContinuousClock(), wallClock: { nowMs() }, ledger: IndexJobRunLedger(index: store.index), logger: logger)
/// ```
public struct JobScheduler<C: Clock>: Service where C.Duration == Duration {
    let jobs: [ScheduledJob]
    let clock: C
    let wallClock: @Sendable () -> Int64
    let ledger: any JobRunLedger
    let metrics: TokentraMetrics?
    let logger: Logger

    public init(
        jobs: [ScheduledJob], clock: C, wallClock: @escaping @Sendable () -> Int64, ledger: any JobRunLedger,
        metrics: TokentraMetrics? = nil, logger: Logger
    ) {
        self.jobs = jobs
        self.clock = clock
        self.wallClock = wallClock
        self.ledger = ledger
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        let start = wallClock()
        var next: [Int64] = jobs.map { job in
            guard job.schedule.isCalendar else { return job.schedule.nextDue(after: start) }
            let previous = job.schedule.previousDue(atOrBefore: start)
            let last = (try? ledger.lastRun(of: job.name)) ?? nil
            if last == nil || last! < previous {
                logger.info("job missed its schedule; running it now", metadata: [
                    "job.name": "\(job.name)", "job.schedule": "\(job.schedule)",
                    "job.last_run": "\(last.map { String($0) } ?? "never")",
                ])
                return start
            }
            return job.schedule.nextDue(after: start)
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = wallClock()
            let due = jobs.indices.filter { next[$0] <= now }
            if due.isEmpty {
                let wait = max(1, (next.min() ?? now + 60_000) - now)
                do {
                    try await cancelWhenGracefulShutdown {
                        try await clock.sleep(until: clock.now.advanced(by: .milliseconds(wait)), tolerance: nil)
                    }
                } catch {
                    break
                }
                continue
            }
            var ranGroups: Set<String> = []
            for i in due {
                let job = jobs[i]
                let runAt = wallClock()
                if let group = job.group, ranGroups.contains(group) {
                    logger.debug("job coalesced with its group", metadata: ["job.name": "\(job.name)", "job.group": "\(group)"])
                } else {
                    await execute(job, nowMs: runAt)
                    if let group = job.group { ranGroups.insert(group) }
                }
                if job.schedule.isCalendar {
                    do { try ledger.recordRun(of: job.name, at: runAt) } catch {
                        logger.error("cannot record job run", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
                    }
                }
                next[i] = job.schedule.isCalendar ? job.schedule.nextDue(after: max(runAt, now)) : job.schedule.nextDue(after: runAt)
                if Task.isShuttingDownGracefully { break }
            }
        }
    }

    func execute(_ job: ScheduledJob, nowMs: Int64) async {
        guard let action = job.action else {
            logger.info("job has no implementation yet; skipped", metadata: ["job.name": "\(job.name)"])
            metrics?.recordJob(job.name, nanoseconds: 0, result: "skipped")
            return
        }
        let started = ContinuousClock.now
        do {
            try await action(nowMs)
            let elapsed = ContinuousClock.now - started
            metrics?.recordJob(job.name, nanoseconds: UInt64(max(0, elapsed.nanoseconds)), result: "ok")
            logger.debug("job finished", metadata: ["job.name": "\(job.name)", "job.seconds": "\(elapsed)"])
        } catch {
            let elapsed = ContinuousClock.now - started
            metrics?.recordJob(job.name, nanoseconds: UInt64(max(0, elapsed.nanoseconds)), result: "error")
            logger.error("job failed", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
        }
    }
}
