import Testing
@testable import TDigest

@Suite struct MergeRunsTests {
    /// The k-way merge of sorted runs equals sorting everything (the order is total on contents).
    @Test func kWayMergeEqualsSort() {
        var rng = SystemRandomNumberGenerator()
        for k in [0, 1, 2, 3, 24, 31, 100] {
            var runs: [[PackItem]] = []
            for _ in 0..<k {
                var run = (0..<Int.random(in: 0...80, using: &rng)).map { _ in
                    PackItem(mean: Double(Int.random(in: 0...40, using: &rng)), weight: Int.random(in: 1...3, using: &rng),
                             splittable: Bool.random(using: &rng))
                }
                run.sort(by: PackItem.precedes)
                runs.append(run)
            }
            let merged = TDigest.mergeRuns(runs)
            let sorted = runs.flatMap { $0 }.sorted(by: PackItem.precedes)
            #expect(merged.count == sorted.count, "k=\(k)")
            #expect(zip(merged, sorted).allSatisfy { $0.mean == $1.mean && $0.weight == $1.weight && $0.splittable == $1.splittable },
                    "k=\(k)")
        }
    }

    /// Merging digests gives the same digest whatever their order (and with or without buffers).
    @Test func mergedIsOrderIndependent() {
        var rng = SystemRandomNumberGenerator()
        var digests: [TDigest] = []
        for _ in 0..<24 {
            var d = TDigest()
            for _ in 0..<Int.random(in: 1...900, using: &rng) { d.add(Double(Int.random(in: 0...3000, using: &rng))) }
            if Bool.random(using: &rng) { d.flush() }
            digests.append(d)
        }
        #expect(TDigest.merged(digests) == TDigest.merged(digests.reversed()))
        #expect(TDigest.merged(digests).count == digests.reduce(0) { $0 + $1.count })
    }
}
