import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    /// What start-up recovery found and (unless the store was opened read-only) repaired.
    public struct RecoveryReport: Sendable, Equatable {
        /// Unfinished `.tmp` segment files (an interrupted seal or compaction).
        public var temporaryFiles: [String] = []
        /// Segment files the index does not list (written but never registered, or left by retention).
        public var unregisteredFiles: [String] = []
        /// WAL files whose records are all sealed (a crash between the seal's commit and their deletion).
        public var sealedWALFiles: [String] = []
        /// Torn tails of the newest WAL file: records cut short by a crash, never acknowledged.
        public var tornTails: [TornTail] = []
        /// Events replayed from the WAL into the memtable.
        public var replayedEvents = 0
        /// True when the problems above were repaired (deleted/cut), false when only reported.
        public var repaired = false

        public struct TornTail: Sendable, Equatable {
            public var file: String
            public var offset: Int
            public var bytes: Int
        }

        /// Whether recovery had anything to report.
        public var isClean: Bool {
            temporaryFiles.isEmpty && unregisteredFiles.isEmpty && sealedWALFiles.isEmpty && tornTails.isEmpty
        }
    }

    struct Recovered {
        var replayed: [EventBatch]
        var report: RecoveryReport
    }

    /// Start-up recovery: finds unfinished and unregistered segment files, sealed WAL files and a torn
    /// WAL tail, and reads the WAL records to replay. With `repair` it deletes and cuts what it found;
    /// without, it only reports (read-only `verify`).
    static func recover(directory: String, index: IndexDatabase, repair: Bool, logger: Logger) throws -> Recovered {
        var report = RecoveryReport()
        report.repaired = repair
        let registered = Set(try index.segments().map(\.file))
        let segmentsRoot = directory + "/segments"
        for orgDir in FileIO.listDirectory(segmentsRoot) where FileIO.isDirectory(segmentsRoot + "/" + orgDir) {
            for name in FileIO.listDirectory(segmentsRoot + "/" + orgDir).sorted() {
                let relative = "segments/\(orgDir)/\(name)"
                if name.hasSuffix(".tmp") {
                    report.temporaryFiles.append(relative)
                } else if name.hasSuffix(".tseg") && !registered.contains(relative) {
                    report.unregisteredFiles.append(relative)
                } else {
                    continue
                }
                if repair {
                    logger.warning("removing unfinished segment file", metadata: ["segment.file": "\(relative)"])
                    try FileIO.remove(directory + "/" + relative)
                }
            }
        }
        let walDir = directory + "/wal"
        let checkpoint = try index.walSealedThrough()
        var replayed: [EventBatch] = []
        let sequences = WriteAheadLog.existingSequences(directory: walDir)
        for seq in sequences {
            let name = "wal/" + WriteAheadLog.fileName(seq)
            if seq <= checkpoint {
                report.sealedWALFiles.append(name)
                if repair { try FileIO.remove(WriteAheadLog.path(directory: walDir, sequence: seq)) }
                continue
            }
            let file = try WriteAheadLog.recover(directory: walDir, sequence: seq, repair: repair, isLast: seq == sequences.last)
            if file.truncatedBytes > 0 {
                report.tornTails.append(.init(file: name, offset: file.tornAt ?? 0, bytes: file.truncatedBytes))
                logger.warning(repair ? "cut a torn WAL tail" : "found a torn WAL tail", metadata: [
                    "wal.sequence": "\(seq)", "wal.truncated_bytes": "\(file.truncatedBytes)",
                ])
            }
            if file.records == 0 {
                if repair && FileIO.exists(WriteAheadLog.path(directory: walDir, sequence: seq)) {
                    try FileIO.remove(WriteAheadLog.path(directory: walDir, sequence: seq))
                }
                continue
            }
            replayed.append(contentsOf: file.batches)
        }
        return Recovered(replayed: replayed, report: report)
    }
}
