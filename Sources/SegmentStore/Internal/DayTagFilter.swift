/// The cross-day screen of one org: for every request id the org has stored (over all its retained
/// days), a 24-bit fingerprint and the low 8 bits of the id's UTC day number.
///
/// A cuckoo filter (Fan et al., 2014) with 4 slots per bucket and one `UInt32` per slot
/// (`fingerprint << 8 | day tag`, 0 = empty). An id is looked up in its two candidate buckets; a match
/// names the days that may hold the id, which the caller confirms against those days' exact id sets.
/// It never answers "absent" for an id it holds, so nothing is missed; a false match (about 8 in
/// 2^24 lookups) only costs a confirmation. Entries are never deleted: an id whose batch failed or
/// whose day was retired stays as a harmless false match until the screen is rebuilt.
///
/// The bucket count need not be a power of two: the alternate bucket is `(h(fp) − i) mod n`, an
/// involution, so capacity follows the org's id count instead of doubling. A filter cannot grow in
/// place (it does not keep the ids); when it is nearly full, ``DayTagChain`` freezes it and appends
/// a larger one. Ids that find no slot after the kick limit go to a small stash, which is also
/// searched, so an insert never loses an id.
struct DayTagFilter: Sendable {
    static let slotsPerBucket = 4
    static let maxKicks = 500
    /// The fill above which the filter is frozen and a larger one takes the new ids.
    static let maxLoad = 0.94

    private var slots: [UInt32]
    private var stash: [UInt32] = []
    let bucketCount: Int
    private(set) var count = 0
    private var kickState: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// A filter with room for at least `capacity` ids at ``maxLoad``.
    init(capacity: Int) {
        let buckets = max(64, Int((Double(capacity) / Self.maxLoad).rounded(.up)) / Self.slotsPerBucket + 1)
        bucketCount = buckets
        slots = [UInt32](repeating: 0, count: buckets * Self.slotsPerBucket)
    }

    /// True when inserting more ids would leave the filter slow or full: time for a larger one.
    var needsGrowth: Bool { Double(count) > Double(slots.count) * Self.maxLoad || stash.count > 16 }

    /// The ids the filter holds at ``maxLoad`` (at least the `capacity` it was made with).
    var capacity: Int { Int(Double(slots.count) * Self.maxLoad) }

    var memoryBytes: Int { slots.capacity * 4 + stash.capacity * 4 + 64 }

    /// The 64-bit hash the filter keys on, from a 128-bit id and a per-process seed.
    @inline(__always)
    static func hash(high: UInt64, low: UInt64, seed: UInt64) -> UInt64 {
        var x = high &+ seed
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x ^= low
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }

    @inline(__always) private static func fingerprint(_ h: UInt64) -> UInt32 {
        let f = UInt32(truncatingIfNeeded: h >> 40)
        return f == 0 ? 1 : f
    }

    @inline(__always) private func primary(_ h: UInt64) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: h)) &* UInt64(bucketCount)) >> 32)
    }

    @inline(__always) private func alternate(_ bucket: Int, _ fp: UInt32) -> Int {
        let offset = Int((UInt64(fp &* 0x5BD1_E995) &* UInt64(bucketCount)) >> 32)
        let a = offset - bucket
        return a < 0 ? a + bucketCount : a
    }

    /// Adds `h` with `tag` (the low 8 bits of its day number).
    mutating func insert(_ h: UInt64, tag: UInt8) {
        let fp = Self.fingerprint(h)
        var entry = fp << 8 | UInt32(tag)
        var bucket = primary(h)
        if place(entry, in: bucket) || place(entry, in: alternate(bucket, fp)) {
            count += 1
            return
        }
        kickState = kickState &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        if kickState >> 63 == 1 { bucket = alternate(bucket, fp) }
        for _ in 0..<Self.maxKicks {
            // Evict a random entry of `bucket` and carry it to its other bucket.
            kickState = kickState &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let slot = bucket * Self.slotsPerBucket + Int(kickState >> 40) % Self.slotsPerBucket
            swap(&entry, &slots[slot])
            bucket = alternate(bucket, entry >> 8)
            if place(entry, in: bucket) {
                count += 1
                return
            }
        }
        stash.append(entry)
        count += 1
    }

    @inline(__always) private mutating func place(_ entry: UInt32, in bucket: Int) -> Bool {
        let base = bucket * Self.slotsPerBucket
        for s in base..<(base + Self.slotsPerBucket) where slots[s] == 0 {
            slots[s] = entry
            return true
        }
        return false
    }

    /// Calls `body` with the day tag of every entry whose fingerprint matches `h` (usually none).
    @inline(__always)
    func forEachTag(_ h: UInt64, _ body: (UInt8) throws -> Void) rethrows {
        let fp = Self.fingerprint(h)
        let b1 = primary(h)
        let b2 = alternate(b1, fp)
        var base = b1 * Self.slotsPerBucket
        for s in base..<(base + Self.slotsPerBucket) where slots[s] >> 8 == fp {
            try body(UInt8(truncatingIfNeeded: slots[s]))
        }
        if b2 != b1 {
            base = b2 * Self.slotsPerBucket
            for s in base..<(base + Self.slotsPerBucket) where slots[s] >> 8 == fp {
                try body(UInt8(truncatingIfNeeded: slots[s]))
            }
        }
        for e in stash where e >> 8 == fp { try body(UInt8(truncatingIfNeeded: e)) }
    }
}
