extension TDigest {
    /// Checks the digest's internal invariants and stops the program if one is broken.
    ///
    /// Compiled in debug builds (or with `-D TDIGEST_INVARIANTS`); a no-op otherwise. Meant
    /// for tests: see ``_invariantViolations(checkSizeBound:)`` for the list of checks.
    ///
    /// - Parameter checkSizeBound: Whether to check the k2 size bound of every centroid.
    public func _checkInvariants(checkSizeBound: Bool = true) {
        #if DEBUG || TDIGEST_INVARIANTS
        let violations = _invariantViolations(checkSizeBound: checkSizeBound)
        precondition(violations.isEmpty, "TDigest invariants violated: \(violations.joined(separator: "; "))")
        #endif
    }

    /// The broken invariants of the digest, as human-readable messages (empty when sound).
    ///
    /// Checked:
    /// - the count equals the sum of centroid and buffer weights, and all weights are ≥ 1;
    /// - min/max are ±infinity exactly when empty, otherwise finite with min ≤ max;
    /// - centroid means are finite, never -0.0, sorted, and within `[min, max]`;
    /// - in exact mode: the centroids are the distinct values, from min to max;
    /// - the buffer holds fewer entries than its capacity, all finite and within `[min, max]`;
    /// - the size-budget level is at most its maximum, and 0 in exact mode; a flushed digest
    ///   serializes within ``maximumSerializedSize``;
    /// - with `checkSizeBound`: every centroid of two or more values satisfies the size bound
    ///   of the scale function (`weight ≤ n · f(q)` at both of its edges, see `K2Scale`, at the
    ///   digest's effective compression), except inside runs of centroids of one identical
    ///   value, where ranks are arbitrary and the quantile function is flat.
    ///   Every centroid satisfies the bound when the merge pass forms it, and keeps satisfying
    ///   it while the data are a stationary stream of unit weights or a merge of similar
    ///   digests. A centroid of several distinct values cannot be split exactly, so it is
    ///   carried over whole; when later data move it to a rank where the bound is lower
    ///   (merging digests of very different distributions, or values whose weights are large
    ///   fractions of the total) it can exceed the bound. Skip this check there.
    ///
    /// - Parameter checkSizeBound: Whether to check the k2 size bound.
    /// - Returns: One message per broken invariant.
    public func _invariantViolations(checkSizeBound: Bool = true) -> [String] {
        var problems: [String] = []
        let centroidWeight = storage.reduce(0) { $0 + $1.weight }
        let buffered = buffer.count + weightedBuffer.reduce(0) { $0 + $1.weight }
        if storage.contains(where: { $0.weight < 1 }) { problems.append("centroid weight < 1") }
        if weightedBuffer.contains(where: { $0.weight < 2 }) { problems.append("weighted buffer entry with weight < 2") }
        if buffered != bufferedWeight { problems.append("buffered weight \(buffered) != \(bufferedWeight)") }
        if centroidWeight + buffered != totalWeight {
            problems.append("weights \(centroidWeight) + \(buffered) != count \(totalWeight)")
        }
        if totalWeight > Self.maximumCount { problems.append("count above 2^53") }
        if level > Packer.maximumLevel { problems.append("size-budget level \(level) too high") }
        if centroidWeight <= Self.exactCapacity && level != 0 {
            problems.append("exact-mode digest with a size-budget level")
        }
        if centroidWeight > 0 && !hasBuffered && level < Packer.maximumLevel
            && Self.encodedSize(centroids: storage, count: centroidWeight, minimum: minimum) > Self.maximumSerializedSize
        {
            problems.append("serialized size above the budget")
        }
        let bufferedValues = buffer + weightedBuffer.map(\.mean)
        if bufferedValues.count >= bufferCapacity { problems.append("buffer not flushed at capacity") }
        if bufferedValues.contains(where: { !$0.isFinite || $0.bitPattern == (-0.0 as Double).bitPattern }) {
            problems.append("non-finite or -0.0 buffered value")
        }

        if totalWeight == 0 {
            if minimum != .infinity || maximum != -.infinity { problems.append("empty digest with min/max") }
            if !storage.isEmpty { problems.append("empty digest with centroids") }
            return problems
        }
        if !minimum.isFinite || !maximum.isFinite || minimum > maximum {
            problems.append("bad min/max \(minimum) \(maximum)")
        }
        if let lowest = bufferedValues.min(), lowest < minimum { problems.append("buffered value below min") }
        if let highest = bufferedValues.max(), highest > maximum { problems.append("buffered value above max") }

        let negativeZero = (-0.0 as Double).bitPattern
        for (i, c) in storage.enumerated() {
            if !c.mean.isFinite || c.mean.bitPattern == negativeZero {
                problems.append("centroid \(i): bad mean \(c.mean)")
            }
            if c.mean < minimum || c.mean > maximum { problems.append("centroid \(i): mean outside [min, max]") }
            if i > 0 && c.mean < storage[i - 1].mean { problems.append("centroid \(i): means not sorted") }
        }

        if centroidWeight > 0 && centroidWeight <= Self.exactCapacity {
            for i in storage.indices.dropFirst() where storage[i].mean == storage[i - 1].mean {
                problems.append("exact mode: centroid \(i) repeats a value")
            }
            if !hasBuffered {
                if storage.first?.mean != minimum { problems.append("exact mode: first value != min") }
                if storage.last?.mean != maximum { problems.append("exact mode: last value != max") }
            }
        } else if centroidWeight > Self.exactCapacity && checkSizeBound {
            let scale = K2Scale(
                compression: Packer.effectiveCompression(compression, level: level), count: centroidWeight)
            var left = 0
            for (i, c) in storage.enumerated() {
                // Within a run of centroids of one value the order (and so the rank) of each is
                // arbitrary and the quantile function is flat: the bound does not apply.
                let inRun = (i > 0 && storage[i - 1].mean == c.mean)
                    || (i + 1 < storage.count && storage[i + 1].mean == c.mean)
                if !inRun && !scale.accepts(weight: c.weight, left: left) {
                    problems.append("centroid \(i): weight \(c.weight) at rank \(left) exceeds the k2 size bound")
                }
                left += c.weight
            }
        }
        return problems
    }
}
