import TokentraCore

/// The unsealed events of one (org, day): references to the column batches they arrived in, with
/// the rows of each that belong to this day. Nothing is copied when events are committed; a seal
/// gathers a day's rows into one batch once (``merged()``), on a worker thread.
struct DayBuffer: Sendable {
    struct Part: Sendable {
        var batch: EventBatch
        /// Rows of `batch` in this day; `nil` = every row.
        var rows: [Int]?
        var rowIndices: [Int] { rows ?? Array(0..<batch.count) }
    }

    private(set) var parts: [Part] = []
    private(set) var count = 0

    /// Small parts (HTTP requests) are merged in runs of this many, so the memtable does not keep a
    /// set of dictionaries per request.
    static let smallPart = 4096
    static let smallRun = 32
    private var smallTail = 0

    mutating func append(rows: [Int], of batch: EventBatch) {
        guard !rows.isEmpty else { return }
        parts.append(Part(batch: batch, rows: rows.count == batch.count ? nil : rows))
        count += rows.count
        guard rows.count < Self.smallPart else { smallTail = 0; return }
        smallTail += 1
        if smallTail == Self.smallRun {
            var merged = EventBatch()
            for p in parts.suffix(Self.smallRun) { merged.append(rows: p.rowIndices, of: p.batch) }
            parts.removeLast(Self.smallRun)
            parts.append(Part(batch: merged, rows: nil))
            smallTail = 0
        }
    }

    mutating func append(_ other: DayBuffer) {
        parts += other.parts
        count += other.count
        smallTail = 0
    }

    /// Every row in one batch, in arrival order.
    func merged() -> EventBatch {
        if parts.count == 1 && parts[0].rows == nil { return parts[0].batch }
        var out = EventBatch()
        out.reserveCapacity(count)
        for p in parts { out.append(rows: p.rowIndices, of: p.batch) }
        return out
    }

    /// Approximate bytes: each part's share of its batch.
    var memoryBytes: Int {
        parts.reduce(0) { $0 + $1.batch.memoryBytes * ($1.rows?.count ?? $1.batch.count) / max(1, $1.batch.count) }
    }
}
