/// A set of 16-byte request ids split into 64 shards by the id's top bits, so that growing it never
/// rehashes more than 1/64 of its entries at once (a single `Set` of millions of ids stalls its
/// owner for tens of milliseconds each time it doubles).
struct IDSet: Sendable {
    private var shards = [Set<SegmentStore.IDKey>](repeating: [], count: 64)
    private(set) var count = 0

    @inline(__always) private static func shard(_ id: SegmentStore.IDKey) -> Int {
        Int(truncatingIfNeeded: (id.high ^ id.low) >> 58)
    }

    @inline(__always)
    mutating func insert(_ id: SegmentStore.IDKey) -> Bool {
        let inserted = shards[Self.shard(id)].insert(id).inserted
        if inserted { count += 1 }
        return inserted
    }

    @discardableResult
    mutating func remove(_ id: SegmentStore.IDKey) -> Bool {
        let removed = shards[Self.shard(id)].remove(id) != nil
        if removed { count -= 1 }
        return removed
    }

    func contains(_ id: SegmentStore.IDKey) -> Bool { shards[Self.shard(id)].contains(id) }

    mutating func reserveCapacity(_ n: Int) {
        for i in 0..<shards.count { shards[i].reserveCapacity(n / 64 + 1) }
    }

    /// Bytes of hash-table storage (capacity × (key + 1 bit of metadata, rounded up to a byte)).
    var memoryBytes: Int { shards.reduce(0) { $0 + $1.capacity * (MemoryLayout<SegmentStore.IDKey>.stride + 1) } + 64 * 48 }
}
