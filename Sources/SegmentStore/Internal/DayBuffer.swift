import TokentraCore

/// The unsealed events of one (org, day): a list of column batches. Rows are appended to the last
/// batch until it holds ``partRows``; then a new one starts, so a large memtable never reallocates
/// and copies its columns as it grows.
struct DayBuffer: Sendable {
    static let partRows = 65_536

    private(set) var parts: [EventBatch] = []
    private(set) var count = 0

    mutating func append(rows: [Int], of batch: EventBatch) {
        guard !rows.isEmpty else { return }
        if rows.count >= Self.partRows / 2 {
            parts.append(batch.selecting(rows))
        } else {
            if parts.isEmpty || parts[parts.count - 1].count + rows.count > Self.partRows { parts.append(EventBatch()) }
            parts[parts.count - 1].append(rows: rows, of: batch)
        }
        count += rows.count
    }

    mutating func append(_ other: DayBuffer) {
        parts += other.parts
        count += other.count
    }

    /// Every row in one batch (for a seal: built by the encoding task, one day at a time).
    func merged() -> EventBatch {
        if parts.count == 1 { return parts[0] }
        var out = EventBatch()
        out.reserveCapacity(count)
        for p in parts { out.append(p) }
        return out
    }

    var memoryBytes: Int { parts.reduce(0) { $0 + $1.memoryBytes } }
}
