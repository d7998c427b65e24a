import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex
import Rollups
final class MemoryLedger: JobRunLedger {
    let runs: Mutex<[String: Int64]>
    init(_ runs: [String: Int64] = [:]) { self.runs = Mutex(runs) }
    func lastRun(of job: String) throws -> Int64? { runs.withLock { $0[job] } }
    func recordRun(of job: String, at ms: Int64) throws { runs.withLock { $0[job] = ms } }
}

@Suite struct SchedulerTests {
    static func ms(_ text: String) -> Int64 { parseTimestamp(text)! }

    final class Recorder: Sendable {
        let entries = Mutex<[(String, Int64)]>([])
        var names: [String] { entries.withLock { $0.map(\.0) } }
        func job(_ name: String, _ schedule: JobSchedule, group: String? = nil) -> ScheduledJob {
            ScheduledJob(name: name, schedule: schedule, group: group) { now in self.entries.withLock { $0.append((name, now)) } }
        }
    }

    @Test func calendarJobsRunOnTimeAndMissedRunsRunAtStart() async throws {
        let clock = ManualClock(epochMs: Self.ms("2026-11-20T10:03:00Z"))
        let ledger = MemoryLedger([
            "hourly": Self.ms("2026-11-20T09:05:00Z"),  // up to date
            "daily": Self.ms("2026-11-18T00:15:00Z"),  // missed yesterday's and today's
        ])
        let rec = Recorder()
        let scheduler = JobScheduler(
            jobs: [
                rec.job("tick", .every(seconds: 60)),
                rec.job("hourly", .hourly(minute: 5)),
                rec.job("daily", .daily(TimeOfDay(hour: 0, minute: 15))),
                ScheduledJob(name: "retention", schedule: .daily(TimeOfDay(hour: 2, minute: 0)), action: nil),
            ],
            clock: clock, wallClock: { clock.wallMs }, ledger: ledger, logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers()
                // At start: the missed daily run is made up; retention (no implementation) is recorded as run.
                #expect(rec.names == ["daily"])
                #expect(try ledger.lastRun(of: "daily") == Self.ms("2026-11-20T10:03:00Z"))
                #expect(try ledger.lastRun(of: "retention") == Self.ms("2026-11-20T10:03:00Z"))

                clock.advance(by: .seconds(60))  // 10:04
                try await clock.waitForSleepers()
                #expect(rec.names == ["daily", "tick"])

                clock.advance(by: .seconds(60))  // 10:05
                try await clock.waitForSleepers()
                #expect(rec.names == ["daily", "tick", "tick", "hourly"])
                #expect(rec.entries.withLock { $0.last!.1 } == Self.ms("2026-11-20T10:05:00Z"))

                // Jump to the next day 00:14: one tick and one hourly (not one per missed slot), no daily yet.
                clock.advance(by: .seconds(14 * 3600 + 9 * 60))
                try await clock.waitForSleepers()
                #expect(rec.names.suffix(2) == ["tick", "hourly"])
                #expect(!rec.names.suffix(2).contains("daily"))
                clock.advance(by: .seconds(60))  // 00:15
                try await clock.waitForSleepers()
                #expect(rec.names.last == "daily")
                #expect(rec.entries.withLock { $0.last!.1 } == Self.ms("2026-11-21T00:15:00Z"))

                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func jobsOfOneGroupDueTogetherRunOnce() async throws {
        let clock = ManualClock(epochMs: Self.ms("2026-11-20T10:04:00Z"))
        let rec = Recorder()
        let scheduler = JobScheduler(
            jobs: [rec.job("rollup", .every(seconds: 60), group: "r"), rec.job("rollup-hourly", .hourly(minute: 5), group: "r")],
            clock: clock, wallClock: { clock.wallMs }, ledger: MemoryLedger(["rollup-hourly": Self.ms("2026-11-20T09:05:00Z")]),
            logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers()
                #expect(rec.names.isEmpty)
                clock.advance(by: .seconds(60))  // 10:05: both due
                try await clock.waitForSleepers()
                #expect(rec.names == ["rollup"])
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func failingJobsAreRetriedAtTheirNextTime() async throws {
        let clock = ManualClock(epochMs: Self.ms("2026-11-20T10:00:30Z"))
        let attempts = Mutex(0)
        let scheduler = JobScheduler(
            jobs: [ScheduledJob(name: "flaky", schedule: .every(seconds: 10)) { _ in
                attempts.withLock { $0 += 1 }
                throw TestFailure("boom")
            }],
            clock: clock, wallClock: { clock.wallMs }, ledger: MemoryLedger(), logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                for _ in 0..<3 {
                    try await clock.waitForSleepers()
                    clock.advance(by: .seconds(10))
                }
                try await clock.waitForSleepers()
                #expect(attempts.withLock { $0 } == 3)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func schedules() {
        let t = Self.ms("2026-11-20T10:03:00Z")
        #expect(JobSchedule.hourly(minute: 5).previousDue(atOrBefore: t) == Self.ms("2026-11-20T09:05:00Z"))
        #expect(JobSchedule.hourly(minute: 5).nextDue(after: t) == Self.ms("2026-11-20T10:05:00Z"))
        #expect(JobSchedule.hourly(minute: 5).nextDue(after: Self.ms("2026-11-20T10:05:00Z")) == Self.ms("2026-11-20T11:05:00Z"))
        #expect(JobSchedule.daily(TimeOfDay(hour: 0, minute: 15)).nextDue(after: t) == Self.ms("2026-11-21T00:15:00Z"))
        #expect(JobSchedule.daily(TimeOfDay(hour: 2, minute: 0)).previousDue(atOrBefore: t) == Self.ms("2026-11-20T02:00:00Z"))
        #expect(JobSchedule.every(seconds: 60).nextDue(after: t) == t + 60_000)
    }

    /// The daemon's job list: seal and rollups every minute, hourly at :05, daily at 00:15, retention at 02:00.
    @Test func daemonJobsFollowTheConfiguration() async throws {
        let d = try await TestDaemon.start {
            $0.hourlyRollupMinute = 7
            $0.retentionTime = TimeOfDay(hour: 3, minute: 30)
        }
        let jobs = Dictionary(uniqueKeysWithValues: d.daemon.makeJobs().map { ($0.name, $0) })
        #expect(jobs["seal"]?.schedule == .every(seconds: 60))
        #expect(jobs["rollup"]?.schedule == .every(seconds: 60))
        #expect(jobs["rollup-hourly"]?.schedule == .hourly(minute: 7))
        #expect(jobs["rollup-daily"]?.schedule == .daily(TimeOfDay(hour: 0, minute: 15)))
        #expect(jobs["retention"]?.schedule == .daily(TimeOfDay(hour: 3, minute: 30)))
        #expect(jobs["retention"]?.action != nil)
        try await d.stop()
    }

    /// The real rollup runs from the daemon's scheduler (missed at first start) and clears dirty hours.
    @Test func daemonRunsRealRollups() async throws {
        let d = try await TestDaemon.start({ $0.rollupIntervalSeconds = 1 }, hooks: .init())
        let (key, _) = try d.createKey()
        _ = try await HTTP.ingest(d, key: key, body: Payload.batch([Payload.event(), Payload.event()]))
        let deadline = ContinuousClock.now + .seconds(10)
        var rows = 0
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            rows = try RollupStore(d.index).rows(.hour, orgID: "org_a").count
            if rows > 0 { break }
        }
        #expect(rows == 1)
        // The run is counted when the job returns (just after its rows are committed).
        var metrics = try await HTTP.request(d.baseURL + "/metrics")
        while !metrics.body.contains(#"tokentra_job_runs_total{job="rollup",result="ok"}"#) && ContinuousClock.now < deadline + .seconds(10) {
            try await Task.sleep(for: .milliseconds(200))
            metrics = try await HTTP.request(d.baseURL + "/metrics")
        }
        #expect(metrics.body.contains(#"tokentra_job_runs_total{job="rollup",result="ok"}"#))
        #expect(metrics.body.contains(#"tokentra_job_duration_seconds_count{job="rollup"}"#))
        try await d.stop()
    }
}
