import Logging
import TokentraCore
import UsageIndex

extension SegmentStore {
    struct Recovered {
        var seen: [String: Set<IDKey>]?
        var replayed: [UsageEvent]
    }

    /// The (org, request_id) of every event in the registered segments.
    static func loadDedupState(directory: String, segments: [SegmentRecord], logger: Logger) -> [String: Set<IDKey>] {
        var seen: [String: Set<IDKey>] = [:]
        for s in segments {
            do {
                let ids = try SegmentReader(path: directory + "/" + s.file).requestIDs()
                seen[s.orgID, default: []].formUnion(ids.map(IDKey.init))
            } catch {
                logger.error("cannot read segment request ids; run verify", metadata: ["segment.file": "\(s.file)", "error": "\(error)"])
            }
        }
        return seen
    }

    /// Start-up recovery: drop unfinished and unregistered segment files, rebuild the dedup state from
    /// the registered segments, delete sealed WAL files and replay the rest (cutting a torn tail).
    static func recover(directory: String, index: IndexDatabase, logger: Logger) throws -> Recovered {
        let segments = try index.segments()
        let registered = Set(segments.map(\.file))
        let segmentsRoot = directory + "/segments"
        for orgDir in FileIO.listDirectory(segmentsRoot) where FileIO.isDirectory(segmentsRoot + "/" + orgDir) {
            for name in FileIO.listDirectory(segmentsRoot + "/" + orgDir) {
                let relative = "segments/\(orgDir)/\(name)"
                if name.hasSuffix(".tmp") || (name.hasSuffix(".tseg") && !registered.contains(relative)) {
                    logger.warning("removing unfinished segment file", metadata: ["segment.file": "\(relative)"])
                    try FileIO.remove(directory + "/" + relative)
                }
            }
        }
        let walDir = directory + "/wal"
        let checkpoint = try index.walSealedThrough()
        var replayed: [UsageEvent] = []
        // The dedup state is loaded only when the WAL has events to replay (they must be checked
        // against what is sealed); otherwise it is loaded lazily by the first ingest, so read-only
        // and rollup commands open fast.
        var seen: [String: Set<IDKey>]?
        for seq in WriteAheadLog.existingSequences(directory: walDir) {
            if seq <= checkpoint {
                try FileIO.remove(WriteAheadLog.path(directory: walDir, sequence: seq))
                continue
            }
            let file = try WriteAheadLog.recover(directory: walDir, sequence: seq, repair: true)
            if file.truncatedBytes > 0 {
                logger.warning("cut a torn WAL tail", metadata: ["wal.sequence": "\(seq)", "wal.truncated_bytes": "\(file.truncatedBytes)"])
            }
            if file.records == 0 {
                try FileIO.remove(WriteAheadLog.path(directory: walDir, sequence: seq))
                continue
            }
            if seen == nil { seen = loadDedupState(directory: directory, segments: segments, logger: logger) }
            for e in file.events where seen![e.orgID, default: []].insert(IDKey(e.requestID)).inserted {
                replayed.append(e)
            }
        }
        if !replayed.isEmpty {
            logger.info("replayed WAL", metadata: ["wal.events": "\(replayed.count)"])
        }
        return Recovered(seen: seen, replayed: replayed)
    }
}
