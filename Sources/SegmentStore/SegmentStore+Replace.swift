import Foundation
import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// The rewritten events of one (org, UTC day), to take the place of the segments they were read from.
    public struct DayReplacement: Sendable {
        public var orgID: String
        /// `YYYY-MM-DD`.
        public var day: String
        /// Every registered segment of the day that was read (taken from a pinned ``ReadSnapshot``).
        public var inputs: [SegmentRecord]
        /// All rows of `inputs`, changed as the caller wants (same (org, day) and request ids).
        public var events: EventBatch
        /// Start of every UTC hour whose events changed: marked dirty for the rollups.
        public var changedHours: Set<Int64>

        public init(orgID: String, day: String, inputs: [SegmentRecord], events: EventBatch, changedHours: Set<Int64>) {
            self.orgID = orgID
            self.day = day
            self.inputs = inputs
            self.events = events
            self.changedHours = changedHours
        }
    }

    /// A replacement segment written and fsynced but not registered yet (see ``stageReplacement(_:now:)``).
    public struct StagedReplacement: Sendable {
        public var output: SegmentRecord
        public var inputs: [SegmentRecord]
        public var dirty: Set<DirtyHour>
    }

    /// What ``commitReplacements(_:audit:now:)`` did.
    public struct ReplacementResult: Sendable, Equatable {
        public var written = 0
        public var replaced = 0
        public var rows = 0
        public var auditID: Int64?
    }

    /// Writes the replacement segment of one day with the machinery of compaction, on the
    /// background workers: `<name>.tmp` → fsync → rename → directory fsync (names start with `r`).
    /// Nothing is registered: until ``commitReplacements(_:audit:now:)`` the file is not part of
    /// the store (a crash leaves it unregistered and the next open deletes it).
    public func stageReplacement(_ d: DayReplacement, now: Int64) async throws -> StagedReplacement {
        guard !configuration.readOnly, !closed else { throw SegmentError(.io, "store is open read-only") }
        guard !d.events.isEmpty, let start = UTC.parseDay(d.day) else {
            throw SegmentError(.io, "a replacement of \(d.orgID) \(d.day) has no events")
        }
        let key = DayKey(orgID: d.orgID, dayStart: start)
        let relative = "segments/\(Self.directoryName(for: d.orgID))/\(d.day)-r\(uniqueTag()).tseg"
        let directory = dataDirectory, rates = configuration.rates, level = configuration.compactionZstdLevel
        let batch = d.events
        let record: SegmentRecord = try await workers.run {
            do {
                let r = try Self.writeSegment(batch, key: key, relative: relative, dataDirectory: directory, now: now,
                                              rates: rates, level: level)
                try Self.publish([r.file], dataDirectory: directory)
                return r
            } catch {
                try? FileIO.remove(directory + "/" + relative + ".tmp")
                try? FileIO.remove(directory + "/" + relative)
                throw error
            }
        }
        return StagedReplacement(output: record, inputs: d.inputs,
                                 dirty: Set(d.changedHours.map { DirtyHour(orgID: d.orgID, hourStart: $0) }))
    }

    /// Swaps staged replacements in: **one** transaction unregisters every input of every day,
    /// registers the outputs, marks the changed hours dirty and records `audit` (which may come
    /// alone, with nothing staged; the changed hours are recomputed, not folded, by the next rollup
    /// run, and each output keeps its inputs' not-yet-rolled-up hours); then the inputs are retired through the reader pins, like a
    /// compaction's (unlinked once no reader that could see them remains). Readers see all the old
    /// segments or all the new ones, never a mix.
    /// - Throws: ``SegmentReplacementConflict`` when an input is no longer registered (a compaction
    ///   or retention run changed a day meanwhile): nothing changed and the staged files are deleted.
    @discardableResult
    public func commitReplacements(_ staged: [StagedReplacement], audit: RepriceAuditRow?, now: Int64) throws -> ReplacementResult {
        guard !configuration.readOnly, !closed else { throw SegmentError(.io, "store is open read-only") }
        let inputs = staged.flatMap(\.inputs)
        let committed: (segments: [SegmentRecord], auditID: Int64?)
        do {
            committed = try index.commitReplacement(
                staged.map { ($0.output, $0.inputs.compactMap(\.id)) },
                dirty: staged.reduce(into: Set<DirtyHour>()) { $0.formUnion($1.dirty) }, audit: audit, now: now)
        } catch {
            discard(staged)
            throw error
        }
        pins.retire(inputs.map { dataDirectory + "/" + $0.file })
        let rows = staged.reduce(0) { $0 + $1.output.rows }
        if !staged.isEmpty {
            logger.info("replaced segments", metadata: [
                "replace.written": "\(staged.count)", "replace.replaced": "\(inputs.count)", "replace.rows": "\(rows)",
            ])
        }
        return ReplacementResult(written: committed.segments.count, replaced: inputs.count, rows: rows,
                                 auditID: committed.auditID)
    }

    /// Deletes staged files that will not be committed.
    public nonisolated func discard(_ staged: [StagedReplacement]) {
        for s in staged { try? FileIO.remove(dataDirectory + "/" + s.output.file) }
    }

    /// Writes a small file of the data directory (such as `prices.json`) atomically and durably:
    /// temp file, fsync, rename, directory fsync.
    public nonisolated static func writeDataFile(_ path: String, _ text: String) throws {
        try FileIO.writeFileAtomically(path, Array(text.utf8))
    }
}
