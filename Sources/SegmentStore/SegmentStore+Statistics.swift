extension SegmentStore {
    /// The write-ahead log's counters (fsyncs, bytes, fsync time), for metrics.
    public nonisolated var walStatistics: WriteAheadLog.Stats { wal?.statistics ?? WriteAheadLog.Stats() }
}
