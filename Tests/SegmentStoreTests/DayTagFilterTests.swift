import Testing
import TokentraTestSupport
@testable import SegmentStore

/// The org screen of the cross-day dedup: no id it holds is ever missed (with its day tag), false
/// matches stay rare, and it says when it must be rebuilt larger instead of losing ids.
@Suite struct DayTagFilterTests {
    /// Filled to its load limit with sequential (structured) ids: every id is found with its own
    /// tag; of 2M ids never inserted, the false matches are counted exactly and stay below 1 in 10^4.
    @Test func filledFilterFindsEveryIDAndRarelyAnOther() {
        let n = 200_000
        var filter = DayTagFilter(capacity: n)
        let seed: UInt64 = 0x1234_5678
        for i in 0..<n {
            filter.insert(DayTagFilter.hash(high: 0xABCD, low: UInt64(i), seed: seed), tag: UInt8(i % 31))
        }
        #expect(filter.count == n)
        #expect(!filter.needsGrowth)  // sized for n
        var missing = 0
        for i in 0..<n {
            var tags: [UInt8] = []
            filter.forEachTag(DayTagFilter.hash(high: 0xABCD, low: UInt64(i), seed: seed)) { tags.append($0) }
            if !tags.contains(UInt8(i % 31)) { missing += 1 }
        }
        #expect(missing == 0)
        var falseMatches = 0
        for i in 0..<2_000_000 {
            filter.forEachTag(DayTagFilter.hash(high: 0xABCE, low: UInt64(i), seed: seed)) { _ in falseMatches += 1 }
        }
        #expect(falseMatches < 200, "\(falseMatches) false matches in 2M lookups")
        // ~4.3 bytes per id at the load limit.
        #expect(filter.memoryBytes < n * 9 / 2)
    }

    /// Past its load limit it keeps every id (kicks, then the stash) and reports that it needs to be
    /// rebuilt; the store rebuilds it before the next insert.
    @Test func overfilledFilterLosesNothingAndAsksToGrow() {
        var filter = DayTagFilter(capacity: 1000)
        var rng = SeededRandom(seed: 7)
        var hashes: [UInt64] = []
        while !filter.needsGrowth {
            let h = rng.next()
            hashes.append(h)
            filter.insert(h, tag: 3)
        }
        for _ in 0..<200 {
            let h = rng.next()
            hashes.append(h)
            filter.insert(h, tag: 4)
        }
        #expect(filter.count == hashes.count)
        #expect(hashes.count > 1000)
        for (i, h) in hashes.enumerated() {
            var found = false
            filter.forEachTag(h) { if $0 == (i < hashes.count - 200 ? 3 : 4) { found = true } }
            #expect(found, "hash \(i) lost")
        }
    }
}
