import Logging
import TokentraCore

/// Keeps an org's screen chain (``DayTagChain``) short when it grew from small to large within one
/// process lifetime (a new org, a fresh data directory): its frozen filters are merged into one,
/// built off the store's actor from the org's exact id sets.
///
/// A screen built from the org's segments starts with room for 1.5× what the org stores, so in steady
/// state its chain stays at one to three filters. An org that starts empty instead doubles its way up
/// from a few thousand ids, and each out-of-cache filter costs a lookup about one more cache miss
/// (≈ 200 ns): 11 filters at 1.35M ids. Merging needs the ids themselves (a filter keeps only
/// fingerprints), so it is done only when every day that holds entries has its exact set in memory
/// (always true for the days being written): the sets are snapshotted (copy-on-write, so the actor
/// copies a shard only when it next writes to it), the merged filter is built on a background worker,
/// and back on the actor it replaces the filters that existed at the snapshot. Ids accepted
/// meanwhile went to the filter appended at the growth that started the merge, which is kept, so
/// none is lost. If the screen was dropped or rebuilt in the meantime, the result is discarded.
///
/// With the default ``Configuration/screenMergeAbove`` of 2, each growth of such an org starts a
/// merge: its chain is one merged filter plus the newest (about two cache misses per lookup). A
/// merge costs ≈ 80 ns per id on a background worker and, while it runs, the shards of the org's id
/// sets that the actor writes to are copied once (copy-on-write), so their memory briefly doubles.
extension SegmentStore {
    /// What a running merge replaces, and what the screen counted when it started.
    struct ScreenMerge: Sendable {
        var build: Int
        /// The number of leading filters the merged one replaces.
        var replaced: Int
        var daysAtStart: [Int64: Int]
        var staleAtStart: Int
        /// Ids per day in the snapshot (what the merged filter holds).
        var snapshotCounts: [Int64: Int]
    }

    /// Starts merging `slot`'s frozen filters when its chain is longer than
    /// ``Configuration/screenMergeAbove`` and all its days' id sets are in memory. Called right
    /// after a growth, so the newest filter is empty and every filter before it is frozen.
    func mergeScreenIfLong(_ orgID: String, slot: Int) {
        guard let screen = orgFilters[slot], screen.filter.filters.count > configuration.screenMergeAbove,
              !mergingScreens.contains(slot) else { return }
        var sources: [(tag: UInt8, ids: IDSet)] = []
        var counts: [Int64: Int] = [:]
        for (d, entries) in screen.days where entries > 0 {
            // A day only on disk: merging would mean reading its segments; the chain stays as it is.
            guard let set = dedup[DayKey(orgID: orgID, dayStart: d * UTC.msPerDay)] else { return }
            sources.append((UInt8(truncatingIfNeeded: d), set.ids))
            counts[d] = set.ids.count
        }
        let merge = ScreenMerge(build: screen.build, replaced: screen.filter.filters.count - 1, daysAtStart: screen.days,
                                staleAtStart: screen.staleEntries, snapshotCounts: counts)
        mergingScreens.insert(slot)
        let seed = filterSeed
        let snapshot = sources
        let total = counts.values.reduce(0, +)
        Task { [workers, logger] in
            let started = ContinuousClock.now
            let merged = try? await workers.run { () -> DayTagFilter in
                var filter = DayTagFilter(capacity: total + total / 16 + 64)
                for source in snapshot {
                    source.ids.forEach { filter.insert(DayTagFilter.hash(high: $0.high, low: $0.low, seed: seed), tag: source.tag) }
                }
                return filter
            }
            if installMergedScreen(slot, merge, merged), total >= 100_000 {
                let ms = (ContinuousClock.now - started) / .milliseconds(1)
                logger.info("dedup screen merged", metadata: [
                    "org": "\(orgID)", "dedup.ids": "\(total)", "dedup.filters_merged": "\(merge.replaced)",
                    "duration_ms": "\(Int(ms))",
                ])
            }
        }
    }

    /// Puts `merged` in place of the first `merge.replaced` filters of `slot`'s screen, if it is
    /// still the screen the merge started from. Returns whether it did.
    private func installMergedScreen(_ slot: Int, _ merge: ScreenMerge, _ merged: DayTagFilter?) -> Bool {
        mergingScreens.remove(slot)
        guard let merged, var screen = orgFilters[slot], screen.build == merge.build,
              screen.filter.filters.count > merge.replaced else { return false }
        screen.filter.replaceLeading(merge.replaced, with: merged)
        // The replaced filters' entries per day become the snapshot's; their stale ones are gone. A
        // day retired meanwhile counts its snapshot ids as stale instead.
        var stale = screen.staleEntries - merge.staleAtStart
        for (d, n) in merge.snapshotCounts {
            let delta = n - (merge.daysAtStart[d] ?? 0)
            if let held = screen.days[d] { screen.days[d] = max(0, held + delta) } else { stale += delta }
        }
        screen.staleEntries = max(0, min(stale, screen.filter.count))
        orgFilters[slot] = screen
        screenMerges += 1
        return true
    }
}
