import Foundation
import Testing
import TokentraTestSupport
@testable import SegmentStore

/// The org screen of the cross-day dedup: no id it holds is ever missed (with its day tag), false
/// matches stay rare, and it says when it is full (the screen then appends a larger filter)
/// instead of losing ids.
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

    /// Past its load limit it keeps every id (kicks, then the stash) and reports that it needs to
    /// grow; the screen's chain appends a larger filter before the next insert.
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

/// The chain that lets a screen grow without a rebuild: filled far past its first filter, it finds
/// every id with its tag, holds one filter per doubling, and counts all of them in its memory.
@Suite struct DayTagChainTests {
    @Test func chainGrowsByDoublingAndLosesNothing() {
        var chain = DayTagChain(capacity: 1000)
        let first = chain.filters[0].capacity
        #expect(first >= 1000)
        var rng = SeededRandom(seed: 11)
        let n = 300_000
        var hashes: [UInt64] = []
        hashes.reserveCapacity(n)
        var growths = 0
        for i in 0..<n {
            let h = rng.next()
            hashes.append(h)
            if chain.insert(h, tag: UInt8(i % 251)) { growths += 1 }
        }
        #expect(chain.count == n)
        #expect(chain.filters.reduce(0) { $0 + $1.count } == n)
        #expect(growths == chain.filters.count - 1)
        // Capacities double, so the chain has about log2(n / first) filters: ids of all frozen
        // filters plus the newest's room cover n, and one filter fewer would not.
        for k in 1..<chain.filters.count { #expect(chain.filters[k].capacity >= 2 * chain.filters[k - 1].capacity) }
        let doublings = Int(log2(Double(n) / Double(first)).rounded(.up))
        #expect(chain.filters.count <= doublings + 1, "\(chain.filters.count) filters for \(n) ids from \(first)")
        #expect(chain.filters.count >= 5)
        // Every frozen filter is full, the newest is not.
        for f in chain.filters.dropLast() { #expect(f.needsGrowth) }
        #expect(!chain.filters.last!.needsGrowth)
        var missing = 0
        for (i, h) in hashes.enumerated() {
            var found = false
            chain.forEachTag(h) { if $0 == UInt8(i % 251) { found = true } }
            if !found { missing += 1 }
        }
        #expect(missing == 0)
        // Memory is every filter's slots: between 4 B per id (all slots full) and ~4× that (the
        // newest filter just appended, empty).
        let slots = chain.filters.reduce(0) { $0 + $1.memoryBytes }
        #expect(chain.memoryBytes >= slots)
        #expect(chain.memoryBytes >= n * 4)
        #expect(chain.memoryBytes < n * 4 * 4)
        // False matches grow with the number of filters but stay rare.
        var falseMatches = 0
        for _ in 0..<1_000_000 { chain.forEachTag(rng.next()) { _ in falseMatches += 1 } }
        #expect(falseMatches < 100 * chain.filters.count, "\(falseMatches) false matches in 1M lookups")
    }
}
