import Logging
import TokentraCore
import UsageIndex

/// Exactly once across days: a request id an org already stored on one UTC day is a duplicate on
/// every other day of its raw retention window too.
///
/// The per-day id sets (``SegmentStore/ensureDay(_:)``) are exact but only cover the event's own day.
/// In front of the other days sits one ``DayTagFilter`` per org: every id the org has accepted, with
/// the low 8 bits of its day number. A new id is looked up there once (one or two cache lines); on a
/// match, only the days whose number carries that tag are confirmed, each against its exact id set
/// (loaded from its segments if it is not in memory). Nothing is confirmed by the filter alone, so a
/// false match costs a lookup, never an event (schema/segment-format.md, "Exactly once").
extension SegmentStore {
    /// The screen of one org's stored days.
    struct OrgFilter {
        var filter: DayTagFilter
        /// UTC day numbers (epoch ms / ms per day) with stored or accepted ids.
        var days: Set<Int64>
    }

    @inline(__always)
    func filterHash(_ id: IDKey) -> UInt64 { DayTagFilter.hash(high: id.high, low: id.low, seed: filterSeed) }

    /// The slot of `orgID`'s screen in ``orgFilters`` (assigned once, kept while the store is open).
    func filterSlot(_ orgID: String) -> Int {
        if let slot = orgFilterSlots[orgID] { return slot }
        orgFilterSlots[orgID] = orgFilters.count
        orgFilters.append(nil)
        return orgFilters.count - 1
    }

    /// The other day of `key`'s org that already holds `id`, if any. `slot` is the org's
    /// ``filterSlot(_:)``.
    func crossDayHolder(_ key: DayKey, slot: Int, _ id: IDKey, hash: UInt64) throws -> DayKey? {
        try ensureOrgFilter(key.orgID, slot: slot)
        var tags: [UInt8] = []
        orgFilters[slot]!.filter.forEachTag(hash) { tags.append($0) }
        guard !tags.isEmpty else { return nil }
        let own = UTC.floorDiv(key.dayStart, UTC.msPerDay)
        let days = orgFilters[slot]!.days
        for tag in Set(tags) {
            for d in days where d != own && UInt8(truncatingIfNeeded: d) == tag {
                let candidate = DayKey(orgID: key.orgID, dayStart: d * UTC.msPerDay)
                try ensureDay(candidate)
                if dedup[candidate]?.ids.contains(id) == true { return candidate }
            }
        }
        return nil
    }

    /// Makes sure `key`'s org has a screen and that it lists `key`'s day (once per (org, day) and
    /// batch; a rebuilt screen lists every day with ids in memory, so it stays listed).
    func noteDay(_ key: DayKey, slot: Int) throws {
        try ensureOrgFilter(key.orgID, slot: slot)
        orgFilters[slot]!.days.insert(UTC.floorDiv(key.dayStart, UTC.msPerDay))
    }

    /// Adds an accepted id of `key`'s day to its org's screen, rebuilding the screen larger when full.
    func recordInFilter(_ key: DayKey, slot: Int, hash: UInt64) throws {
        try ensureOrgFilter(key.orgID, slot: slot)  // a quarantine while confirming drops the screen
        orgFilters[slot]!.filter.insert(hash, tag: UInt8(truncatingIfNeeded: UTC.floorDiv(key.dayStart, UTC.msPerDay)))
        if orgFilters[slot]!.filter.needsGrowth {
            orgFilters[slot] = nil
            try ensureOrgFilter(key.orgID, slot: slot)
        }
    }

    /// Builds `orgID`'s screen if it is not in memory: from the id sets of its days in memory (which
    /// hold every accepted, unsealed and pending id) and the `request_id` columns of its other days'
    /// segments, read under a pin. A segment that cannot be read is quarantined, never skipped.
    @inline(__always)
    func ensureOrgFilter(_ orgID: String, slot: Int) throws {
        if orgFilters[slot] == nil { try buildOrgFilter(orgID, slot: slot) }
    }

    private func buildOrgFilter(_ orgID: String, slot: Int) throws {
        let started = ContinuousClock.now
        let pin = pins.pin()
        defer { pin.release() }
        var cold: [Int64: [SegmentRecord]] = [:]
        for s in try index.segments(orgID: orgID) {
            if let start = UTC.parseDay(s.day) { cold[UTC.floorDiv(start, UTC.msPerDay), default: []].append(s) }
        }
        let warm = dedup.keys.filter { $0.orgID == orgID }
        var days = Set(cold.keys)
        for k in warm {
            let d = UTC.floorDiv(k.dayStart, UTC.msPerDay)
            days.insert(d)
            cold[d] = nil
        }
        let estimate = warm.reduce(0) { $0 + dedup[$1]!.ids.count } + cold.values.joined().reduce(0) { $0 + $1.rows }
        var filter = DayTagFilter(capacity: estimate + estimate / 2 + 1024)
        for k in warm {
            let tag = UInt8(truncatingIfNeeded: UTC.floorDiv(k.dayStart, UTC.msPerDay))
            dedup[k]!.ids.forEach { filter.insert(filterHash($0), tag: tag) }
        }
        for (d, segments) in cold {
            let tag = UInt8(truncatingIfNeeded: d)
            for s in segments {
                do {
                    for id in try SegmentReader(path: dataDirectory + "/" + s.file).requestIDs() {
                        filter.insert(DayTagFilter.hash(high: id.high, low: id.low, seed: filterSeed), tag: tag)
                    }
                } catch let error as SegmentError where error.code == .corrupt {
                    try quarantine(s, reason: error.message)
                }
            }
        }
        orgFilters[slot] = OrgFilter(filter: filter, days: days)
        if filter.count >= 100_000 {
            let ms = (ContinuousClock.now - started) / .milliseconds(1)
            logger.info("dedup screen built", metadata: [
                "org": "\(orgID)", "dedup.ids": "\(filter.count)", "dedup.days": "\(days.count)",
                "dedup.screen_bytes": "\(filter.memoryBytes)", "duration_ms": "\(Int(ms))",
            ])
        }
    }

    /// Bytes of memory the orgs' cross-day screens use.
    var filterMemoryBytes: Int {
        orgFilters.reduce(0) { $0 + ($1.map { $0.filter.memoryBytes + $0.days.capacity * 9 + 64 } ?? 8) }
    }

    /// Drops `orgID`'s screen; the org's next event rebuilds it from what is stored then.
    func dropOrgFilter(_ orgID: String) {
        if let slot = orgFilterSlots[orgID] { orgFilters[slot] = nil }
    }
}
