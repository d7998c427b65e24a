import Logging
import TokentraCore
import UsageIndex

/// Exactly once across days: a request id an org already stored on one UTC day is a duplicate on
/// every other day of its raw retention window too.
///
/// The per-day id sets (``SegmentStore/ensureDay(_:)``) are exact but only cover the event's own day.
/// In front of the other days sits one screen per org (a ``DayTagChain`` of ``DayTagFilter``s):
/// every id the org has accepted, with the low 8 bits of its day number. A new id is looked up there
/// once (one or two cache lines per filter); on a match, only the days whose number carries that tag
/// are confirmed, each against its exact id set (loaded from its segments if it is not in memory).
/// Nothing is confirmed by the screen alone, so a false match costs a lookup, never an event
/// (schema/segment-format.md, "Exactly once").
///
/// The screen is built from the org's days on its first event after open; after that it grows by
/// appending filters and survives retention (a retired day's entries go stale), so ingest never
/// waits for it to be rebuilt in steady state.
extension SegmentStore {
    /// The screen of one org's stored days.
    struct OrgFilter {
        var filter: DayTagChain
        /// Which build of the org's screen this is (a merge started on an earlier one is discarded).
        var build: Int
        /// UTC day numbers (epoch ms / ms per day) with stored or accepted ids → entries the screen
        /// added for that day (never decreased while the day is held, so a day with entries in the
        /// screen never counts 0). Only these days are ever candidates of a match.
        var days: [Int64: Int]
        /// Entries of days retention deleted (or of quarantined segments): false matches only.
        var staleEntries = 0

        /// Entries that name a day the org still holds.
        var liveEntries: Int { filter.count - staleEntries }

        /// Counts up to `entries` of `day`'s entries as stale; with `retire`, `day` stops being a
        /// candidate. (A quarantined segment's entries, counted stale while their day is held, are
        /// counted again when the day retires: the count only decides when to rebuild.)
        mutating func markStale(day: Int64, entries: Int, retire: Bool) {
            staleEntries = min(filter.count, staleEntries + min(days[day] ?? 0, entries))
            if retire { days[day] = nil }
        }
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
        // A stale entry whose tag a live day shares (256 days later) names that day: confirming
        // there fails unless the id really is on it.
        let days = orgFilters[slot]!.days.keys
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
        let day = UTC.floorDiv(key.dayStart, UTC.msPerDay)
        if orgFilters[slot]!.days[day] == nil { orgFilters[slot]!.days[day] = 0 }
    }

    /// Adds an accepted id of `key`'s day to its org's screen; when the screen's newest filter is
    /// full, a larger one is appended (nothing is rebuilt or read).
    func recordInFilter(_ key: DayKey, slot: Int, hash: UInt64) throws {
        try ensureOrgFilter(key.orgID, slot: slot)  // already there: noteDay built it
        let day = UTC.floorDiv(key.dayStart, UTC.msPerDay)
        orgFilters[slot]!.days[day, default: 0] += 1
        if orgFilters[slot]!.filter.insert(hash, tag: UInt8(truncatingIfNeeded: day)) {
            screenGrowths += 1
            mergeScreenIfLong(key.orgID, slot: slot)
            let screen = orgFilters[slot]!
            if screen.filter.count >= 100_000 {
                logger.info("dedup screen grown", metadata: [
                    "org": "\(key.orgID)", "dedup.ids": "\(screen.filter.count)",
                    "dedup.stale_ids": "\(screen.staleEntries)", "dedup.filters": "\(screen.filter.filters.count)",
                    "dedup.screen_bytes": "\(screen.filter.memoryBytes)",
                ])
            }
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
        screenBuilds += 1
        let started = ContinuousClock.now
        let pin = pins.pin()
        defer { pin.release() }
        var cold: [Int64: [SegmentRecord]] = [:]
        for s in try index.segments(orgID: orgID) {
            if let start = UTC.parseDay(s.day) { cold[UTC.floorDiv(start, UTC.msPerDay), default: []].append(s) }
        }
        let warm = dedup.keys.filter { $0.orgID == orgID }
        var days: [Int64: Int] = [:]
        for d in cold.keys { days[d] = 0 }
        for k in warm {
            let d = UTC.floorDiv(k.dayStart, UTC.msPerDay)
            days[d] = 0
            cold[d] = nil
        }
        let estimate = warm.reduce(0) { $0 + dedup[$1]!.ids.count } + cold.values.joined().reduce(0) { $0 + $1.rows }
        // One filter sized with room to spare; growth beyond it appends filters (``DayTagChain``).
        var filter = DayTagFilter(capacity: estimate + estimate / 2 + configuration.screenMinimumCapacity)
        for k in warm {
            let d = UTC.floorDiv(k.dayStart, UTC.msPerDay)
            let tag = UInt8(truncatingIfNeeded: d)
            dedup[k]!.ids.forEach { filter.insert(filterHash($0), tag: tag) }
            days[d, default: 0] += dedup[k]!.ids.count
        }
        for (d, segments) in cold {
            let tag = UInt8(truncatingIfNeeded: d)
            for s in segments {
                do {
                    let ids = try SegmentReader(path: dataDirectory + "/" + s.file).requestIDs()
                    for id in ids {
                        filter.insert(DayTagFilter.hash(high: id.high, low: id.low, seed: filterSeed), tag: tag)
                    }
                    days[d, default: 0] += ids.count
                } catch let error as SegmentError where error.code == .corrupt {
                    try quarantine(s, reason: error.message)
                }
            }
        }
        var chain = DayTagChain(filter)
        if filter.needsGrowth { chain.grow() }  // an estimate short of the ids read
        orgFilters[slot] = OrgFilter(filter: chain, build: screenBuilds, days: days)
        if filter.count >= 100_000 {
            let ms = (ContinuousClock.now - started) / .milliseconds(1)
            logger.info("dedup screen built", metadata: [
                "org": "\(orgID)", "dedup.ids": "\(filter.count)", "dedup.days": "\(days.count)",
                "dedup.screen_bytes": "\(chain.memoryBytes)", "duration_ms": "\(Int(ms))",
            ])
        }
    }

    /// Bytes of memory the orgs' cross-day screens use (every filter of every chain).
    var filterMemoryBytes: Int {
        orgFilters.reduce(0) { $0 + ($1.map { $0.filter.memoryBytes + $0.days.capacity * 17 + 64 } ?? 8) }
    }

    /// Retention deleted `key`'s day: its entries in the org's screen go stale and the day stops
    /// being a candidate. Once stale entries outnumber live ones the screen is dropped, and the
    /// org's next event rebuilds it from what is stored then (about once per raw retention window).
    func retireDayInScreen(_ key: DayKey) {
        guard let slot = orgFilterSlots[key.orgID], orgFilters[slot] != nil else { return }
        let day = UTC.floorDiv(key.dayStart, UTC.msPerDay)
        orgFilters[slot]!.markStale(day: day, entries: .max, retire: true)
        if orgFilters[slot]!.staleEntries > orgFilters[slot]!.liveEntries { orgFilters[slot] = nil }
    }

    /// A quarantined segment's `rows` ids of `key`'s day left the store: their entries go stale (the
    /// day stays a candidate for the ids of its other segments). The screen is kept as it is.
    func staleInScreen(_ key: DayKey, rows: Int) {
        guard let slot = orgFilterSlots[key.orgID], orgFilters[slot] != nil else { return }
        orgFilters[slot]!.markStale(day: UTC.floorDiv(key.dayStart, UTC.msPerDay), entries: rows, retire: false)
    }

    /// The filters, entries and stale entries of `orgID`'s screen (nil while it is not built).
    func screenCounts(_ orgID: String) -> (filters: Int, entries: Int, stale: Int)? {
        guard let slot = orgFilterSlots[orgID], let screen = orgFilters[slot] else { return nil }
        return (screen.filter.filters.count, screen.filter.count, screen.staleEntries)
    }
}
