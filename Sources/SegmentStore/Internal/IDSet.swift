/// A set of 16-byte request ids split into 64 shards of deliberately unequal sizes.
///
/// A single `Set` of millions of ids stalls its owner for tens of milliseconds each time it
/// doubles. Splitting it helps only if the shards do not all double at the same moment, which
/// equal shards of uniformly random ids would do. So shard *i* receives a share of the ids
/// proportional to 2^(i/64): the shards' sizes are spread evenly over a factor of two, each
/// doubling of the whole set is 64 small rehashes spread over time, and none of them holds up an
/// ingest acknowledgement for more than a few milliseconds.
struct IDSet: Sendable {
    static let shardCount = 64
    /// Maps the top 12 bits of an id's mix to a shard, in proportion to the shard weights.
    static let shardOf: [UInt8] = {
        let weights = (0..<shardCount).map { Double(1 << 20) * pow2($0) }
        let total = weights.reduce(0, +)
        var table = [UInt8](repeating: 0, count: 4096)
        var bound = 0.0
        var slot = 0
        for (i, w) in weights.enumerated() {
            bound += w / total * 4096
            while slot < 4096 && (Double(slot) < bound.rounded() || i == shardCount - 1) {
                table[slot] = UInt8(i)
                slot += 1
            }
        }
        return table
    }()

    /// 2^(i/64) without Foundation.
    static func pow2(_ i: Int) -> Double {
        var x = 1.0
        let step = 1.0108892860517005  // 2^(1/64)
        for _ in 0..<i { x *= step }
        return x
    }

    private var shards = [Set<SegmentStore.IDKey>](repeating: [], count: shardCount)
    private(set) var count = 0

    @inline(__always) private static func shard(_ id: SegmentStore.IDKey) -> Int {
        let mix = (id.high ^ (id.low &* 0x9E37_79B9_7F4A_7C15))
        return Int(shardOf[Int(truncatingIfNeeded: mix >> 52)])
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

    func forEach(_ body: (SegmentStore.IDKey) -> Void) {
        for shard in shards { for id in shard { body(id) } }
    }

    /// Reserves room for `n` ids in total (a cold load of a day's segments).
    mutating func reserveCapacity(_ n: Int) {
        for i in 0..<shards.count { shards[i].reserveCapacity(n / 40 + 16) }
    }

    /// Bytes of hash-table storage (capacity × (key + 1 bit of metadata, rounded up to a byte)).
    var memoryBytes: Int {
        shards.reduce(0) { $0 + $1.capacity * (MemoryLayout<SegmentStore.IDKey>.stride + 1) } + Self.shardCount * 48
    }
}
