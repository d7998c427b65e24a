import Logging
import TokentraCore
import UsageIndex

/// The exactly-once state: one exact set of request ids per (org, UTC day).
///
/// Days with unsealed events are always in memory. Sealed days stay cached while the cache holds
/// fewer than ``SegmentStore/Configuration/dedupCachedIDs`` ids; beyond that the least recently
/// used sealed days are dropped and, when an event for such a day arrives, read back from that
/// day's segments (their `request_id` columns) before the event is checked. The state therefore
/// costs memory for the days being written to, not for the history stored (schema/segment-format.md,
/// "Exactly once").
extension SegmentStore {
    /// Makes sure the ids of `key`'s day are in memory, reading its segments when needed.
    func ensureDay(_ key: DayKey) throws {
        useClock += 1
        if dedup[key] != nil {
            dedup[key]!.lastUse = useClock
            return
        }
        var ids = IDSet()
        let pin = pins.pin()
        defer { pin.release() }
        let segments = try index.segments(orgID: key.orgID, fromDay: key.day, toDay: key.day)
        for s in segments {
            do {
                let read = try SegmentReader(path: dataDirectory + "/" + s.file).requestIDs()
                ids.reserveCapacity(ids.count + read.count)
                for id in read { _ = ids.insert(IDKey(id)) }
            } catch let error as SegmentError where error.code == .corrupt {
                // Never skipped silently: the segment leaves the store (its events are no longer
                // counted anywhere, so storing them again is right) and is reported everywhere.
                try quarantine(s, reason: error.message)
            }
        }
        dedup[key] = DaySet(ids: ids, lastUse: useClock)
        dedupIDs += ids.count
    }

    /// Loads the ids of every (org, day) with segments among the last `days` UTC days before `nowMs`
    /// (a restarted daemon's first events then find their day in memory instead of waiting for it).
    func preloadDedup(days: Int, nowMs: Int64) throws {
        let today = UTC.dayStart(nowMs)
        let from = UTC.dayString(today - Int64(days - 1) * UTC.msPerDay)
        var rows: [DayKey: Int] = [:]
        for s in try index.segments(fromDay: from) {
            if let d = UTC.parseDay(s.day), d <= today { rows[DayKey(orgID: s.orgID, dayStart: d), default: 0] += s.rows }
        }
        // Only what fits the budget, by the rows the index lists (a day is never loaded to be
        // evicted at once: loading 5M ids to keep 2M cost ~450 MB of RSS at start). Newest days
        // first, and within a day the smaller (org, day)s, so more of them fit; the rest are read
        // on their first event.
        var budget = configuration.dedupCachedIDs - dedupIDs
        var keys: [DayKey] = []
        for (key, n) in rows.sorted(by: { ($1.key.dayStart, $0.value, $0.key.orgID) < ($0.key.dayStart, $1.value, $1.key.orgID) })
        where n <= budget {
            keys.append(key)
            budget -= n
        }
        for key in keys { try ensureDay(key) }
        evictColdDays()
        if !keys.isEmpty {
            logger.info("dedup state preloaded", metadata: ["dedup.days": "\(keys.count)", "dedup.ids": "\(dedupIDs)"])
        }
    }

    /// Drops the least recently used sealed days while the cache is over its budget. Called only at
    /// points where every day with accepted rows is protected (rows in flight are pending, committed
    /// rows are counted as unsealed): never between a reservation and its commit.
    func evictColdDays() {
        guard dedupIDs > configuration.dedupCachedIDs else { return }
        let candidates = dedup.filter { $0.value.unsealed == 0 && $0.value.pending.isEmpty }
            .sorted { $0.value.lastUse < $1.value.lastUse }
        for (key, set) in candidates {
            guard dedupIDs > configuration.dedupCachedIDs else { break }
            dedup[key] = nil
            dedupIDs -= set.ids.count
        }
    }

    /// Forgets the dedup state of whole days (their segments were deleted by retention): their id
    /// sets, and their entries in the orgs' screens, which go stale (``retireDayInScreen(_:)``).
    func forgetDays(_ keys: [DayKey]) {
        for k in keys {
            forgetDaySet(k)
            retireDayInScreen(k)
        }
    }

    /// Drops `key`'s id set from memory (read back from its segments when next needed).
    func forgetDaySet(_ key: DayKey) {
        if let s = dedup.removeValue(forKey: key) { dedupIDs -= s.ids.count }
    }

    /// Number of (org, day)s whose ids are in memory.
    public var dedupCachedDays: Int { dedup.count }
}
