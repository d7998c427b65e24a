import SegmentStore
import TokentraCore
import UsageIndex

extension RollupEngine {
    /// Folds the events of a day's unrolled segments into its stored rows: each hour with new
    /// events becomes its stored row merged with them (sums added, digests merged), and the day
    /// its stored row merged with all of them. Only the new events are read, never the hours'
    /// other events, so a few late events cost what they hold, not what their hours hold.
    ///
    /// - Returns: `nil` when the day must be recomputed instead: it has no stored daily row yet,
    ///   or an hour with new events has events already rolled up but no stored row (rollup
    ///   retention removed it).
    static func fold(
        _ w: DayWork, rollups: RollupStore, directory: String, compression: Double, computedAt: Int64
    ) throws -> (RollupDayUpdate, Int)? {
        let unrolled = w.segments.filter { $0.unrolledHours & $0.eventHours & w.hoursMask != 0 }
        var newHours: UInt32 = 0, rolledHours: UInt32 = 0
        for s in unrolled { newHours |= s.unrolledHours & s.eventHours }
        for s in w.segments { rolledHours |= s.eventHours & ~s.unrolledHours }
        newHours &= w.hoursMask
        guard newHours != 0 else {
            // Marked, but nothing new (its events were folded by a run that committed meanwhile).
            return (RollupDayUpdate(orgID: w.orgID, day: w.day, hours: [], hourly: [], replacesDay: false, daily: nil), 0)
        }
        let dayEnd = w.dayStart + UTC.msPerDay
        guard let storedDay = try rollups.rows(.day, orgID: w.orgID, fromMs: w.dayStart, toMs: dayEnd).first else { return nil }
        var storedHours: [Int64: RollupRow] = [:]
        for row in try rollups.rows(.hour, orgID: w.orgID, fromMs: w.dayStart, toMs: dayEnd) { storedHours[row.bucketStart] = row }
        for h in 0..<24 where newHours & (1 << UInt32(h)) != 0 && rolledHours & (1 << UInt32(h)) != 0 {
            if storedHours[w.dayStart + Int64(h) * UTC.msPerHour] == nil { return nil }
        }

        func decoded(_ row: RollupRow) throws -> DayRollup.StoredBucket {
            do {
                return try DayRollup.stored(row)
            } catch {
                throw RollupError(.corrupt, "rollup row of \(w.orgID) at \(UTCTimestamp.format(row.bucketStart)): \(error)")
            }
        }
        // Each new segment is read once; each hour is folded from its share of the events.
        var day = DayRollup(orgID: w.orgID, dayStart: w.dayStart, hoursMask: newHours, compression: compression)
        for s in unrolled { try day.add(segment: SegmentReader(path: directory + "/" + s.file)) }
        var hours: [Int64] = [], hourly: [RollupRow] = []
        for h in 0..<24 where newHours & (1 << UInt32(h)) != 0 {
            let start = w.dayStart + Int64(h) * UTC.msPerHour
            var hour = day.restricted(toHour: h)
            let stored = try storedHours[start].map { [try decoded($0)] } ?? []
            let p = hour.prepare(stored: stored)
            hours.append(start)
            if let row = hour.mergedRow(p, stored: stored, bucketStart: start, computedAt: computedAt, keepUntouched: true) { hourly.append(row) }
        }
        let stored = [try decoded(storedDay)]
        let p = day.prepare(stored: stored)
        let daily = day.mergedRow(p, stored: stored, bucketStart: w.dayStart, computedAt: computedAt, keepUntouched: true)
        let update = RollupDayUpdate(orgID: w.orgID, day: w.day, hours: hours, hourly: hourly, replacesDay: true, daily: daily,
                                     settled: unrolled.compactMap(\.id), settledHours: newHours)
        return (update, day.events)
    }
}
