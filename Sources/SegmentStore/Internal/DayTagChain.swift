/// An org's cross-day screen that grows without being rebuilt: a short chain of ``DayTagFilter``s,
/// like a scalable Bloom filter (Almeida et al., 2007).
///
/// Inserts go to the newest filter. When it is nearly full (``DayTagFilter/needsGrowth``) it is
/// frozen as it is and a new, empty filter of twice its capacity is appended: no id is read again,
/// no segment is opened, and the pause is one zeroed allocation. Lookups search every filter, so an
/// id is found with its day tag whichever filter took it.
///
/// The chain stays short: capacities double, so holding `n` ids takes about
/// `log2(n / first capacity)` filters (≈ 15 for 30 M ids from an empty org's first filter of about
/// 1 000), and the older filters are the small ones, whose buckets stay in cache; the cost of a
/// lookup is dominated by the largest ones (about one cache miss each). Filters cannot be merged by
/// themselves: an entry keeps only a 24-bit fingerprint of its id, not enough to find its buckets
/// in a filter of another size; the store merges a long chain's frozen filters from the org's id
/// sets, off its actor (``SegmentStore/mergeScreenIfLong(_:slot:)``). The chain is replaced as a
/// whole when the store rebuilds the screen (at open, and when retention has left more stale
/// entries than live ones).
struct DayTagChain: Sendable {
    private(set) var filters: [DayTagFilter]

    /// A chain of one filter with room for at least `capacity` ids.
    init(capacity: Int) { filters = [DayTagFilter(capacity: capacity)] }

    /// A chain whose first filter is `first` (a screen built from the org's stored ids).
    init(_ first: DayTagFilter) { filters = [first] }

    /// Entries in all filters (stale ones included).
    var count: Int { filters.reduce(0) { $0 + $1.count } }

    var memoryBytes: Int { filters.reduce(filters.capacity * MemoryLayout<DayTagFilter>.stride + 32) { $0 + $1.memoryBytes } }

    /// Adds `h` with `tag` to the newest filter.
    /// - Returns: true when this insert filled the newest filter and a new one was appended.
    @discardableResult
    mutating func insert(_ h: UInt64, tag: UInt8) -> Bool {
        let last = filters.count - 1
        filters[last].insert(h, tag: tag)
        guard filters[last].needsGrowth else { return false }
        grow()
        return true
    }

    /// Replaces the first `n` filters (all frozen) with `merged`, which holds their ids.
    mutating func replaceLeading(_ n: Int, with merged: DayTagFilter) {
        precondition(n < filters.count, "the newest filter is never replaced")
        filters.replaceSubrange(0..<n, with: [merged])
    }

    /// Freezes the newest filter and appends an empty one of twice its capacity.
    mutating func grow() {
        filters.append(DayTagFilter(capacity: 2 * filters[filters.count - 1].capacity))
    }

    /// Calls `body` with the day tag of every entry, in any filter, whose fingerprint matches `h`.
    @inline(__always)
    func forEachTag(_ h: UInt64, _ body: (UInt8) throws -> Void) rethrows {
        for f in filters { try f.forEachTag(h, body) }
    }
}
