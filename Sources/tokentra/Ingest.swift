import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore
import UsageIndex

#if canImport(Glibc)
import Glibc
#endif

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk-load events from NDJSON, {\"events\":[...]} lines, JSON arrays or Token Trackr fallback files.",
        discussion: """
            Durable when it returns: every event reported as processed is fsync'd. Exit 0 when nothing \
            failed, 3 when some events were rejected, 2 on usage or I/O errors.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Org for events without org_id/tenant_id.") var org: String = "default"
    @Option(help: "Reference time for TIMESTAMP_IN_FUTURE / TIMESTAMP_TOO_OLD (ISO-8601; default: now).") var now: String?
    @Option(help: "Reject events older than this many days before --now (0 disables; default: each org's raw retention, 30 days unless set).")
    var maxAgeDays: Int?
    @Option(help: "At most this many errors are listed (all are counted).") var maxErrors: Int = 100
    @Option(help: "Seal into segments every this many events (more: fewer, larger segments; more memory).")
    var sealEvery: Int = 500_000
    @Argument(help: "Files to read, or - for stdin.") var files: [String]

    struct Failure {
        var line: Int
        var index: Int
        var requestID: String?
        var error: EventError
    }

    struct ChunkResult {
        /// One batch per decoded part, in input order.
        var parts: [EventBatch] = []
        var events = EventBatch()
        var failures: [Failure] = []
        var lines = 0
    }

    /// Elapsed seconds (for the events/s rate; the monotonic clock, not the wall clock `--now` pins).
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let c = (ContinuousClock.now - start).components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    func run() async throws {
        guard OrgID.isValid(org) else { throw ValidationError("--org '\(org)' is not a valid org id") }
        let clock = try wallClock(now: now)
        let nowMs = clock()
        let dir = global.resolvedDataDir
        let prices = try loadPriceTable(dataDir: dir)
        var decoderConfig = EventDecoderConfiguration()
        decoderConfig.maxAgeMs = nil  // the horizon is checked per org below (IngestHorizon), like HTTP does
        let decoder = EventDecoder(configuration: decoderConfig, priceTable: prices)
        // Open every input before touching the store, so a typo fails fast.
        var inputs: [(String, Int32)] = []
        for file in files {
            if file == "-" { inputs.append(("-", 0)); continue }
            let fd = Glibc.open(file, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw ToolError("cannot open \(file): \(String(cString: strerror(errno)))") }
            inputs.append((file, fd))
        }
        var storeConfig = storeConfiguration(dataDir: dir, prices: prices, wallClock: clock)
        storeConfig.memtableEventLimit = Int.max  // sealed below, in step with the input
        storeConfig.backgroundThreads = ProcessInfo.processInfo.activeProcessorCount  // nothing else to serve
        storeConfig.sealZstdLevel = 6  // a bulk seal is usually a day's final file (9 costs ~15% more CPU for 0.2% fewer bytes)
        storeConfig.compactAfterSeal = false
        let store = try await SegmentStore.open(configuration: storeConfig, logger: makeLogger("tokentra"))
        let horizon = Retention(store: store, ingestOverrideDays: maxAgeDays).horizon
        let sealEvery = max(1000, self.sealEvery)
        let progress = isatty(2) != 0
        let started = ContinuousClock.now
        var processed = 0, duplicates = 0, failed = 0, lines = 0
        var failures: [Failure] = []
        var errorsByCode: [String: Int] = [:]
        do {
            for (name, fd) in inputs {
                defer { if fd > 0 { Glibc.close(fd) } }
                let reader = ChunkReader(fd: fd, name: name)
                let org = self.org
                // Decoding chunk k+1 overlaps with storing chunk k (dedup, memtable, seals). Events
                // are not logged in the WAL: they are durable when the final seal returns, and only
                // then is anything reported.
                var pending: Task<(SegmentStore.IngestResult, ChunkResult), any Error>?
                func account(_ stored: SegmentStore.IngestResult, _ result: ChunkResult) {
                    processed += stored.stored
                    duplicates += stored.duplicateIndices.count
                    failed += result.failures.count
                    lines += result.lines
                    for f in result.failures {
                        errorsByCode[f.error.code.rawValue, default: 0] += 1
                        if failures.count < maxErrors { failures.append(f) }
                    }
                    if progress {
                        let rate = Double(processed + duplicates + failed) / max(0.001, Self.seconds(since: started))
                        FileHandle.standardError.write(Data("\r\(name): \(lines) lines, \(processed) new, \(duplicates) duplicates, \(failed) failed, \(Int(rate)) events/s   ".utf8))
                    }
                }
                try await reader.forEachChunk { chunk, firstLine, format in
                    let result = await Self.decodeParallel(chunk, firstLine: firstLine, format: format,
                                                           decoder: decoder, org: org, nowMs: nowMs, horizon: horizon)
                    if let previous = pending {
                        let (stored, decoded) = try await previous.value
                        account(stored, decoded)
                    }
                    pending = Task {
                        var stored = SegmentStore.IngestResult(stored: 0, duplicateIndices: [])
                        for part in result.parts {
                            let r = try await store.ingestUnlogged(part)
                            stored.stored += r.stored
                            stored.duplicateIndices += r.duplicateIndices
                        }
                        if await store.unsealedCount >= sealEvery {
                            // Complete days first (a time-ordered file then seals each day once); all
                            // of it when that frees too little (one day, or an unordered file).
                            // (Only the day being read stays: a memtable of two large days would split
                            // the second one anyway.) Events a few hours late then make a small file of
                            // their own in the day before, which compaction leaves alone.
                            try await store.flush(keepingNewestDays: 0)
                            if await store.unsealedCount >= sealEvery { try await store.flush() }
                        }
                        return (stored, result)
                    }
                }
                if let previous = pending {
                    let (stored, decoded) = try await previous.value
                    account(stored, decoded)
                }
            }
            try await store.flush()
            // A day sealed in several similar parts becomes one file (fewer, larger segments: smaller and
            // faster to read); a few late events stay a small file of their own instead of rewriting the day.
            try await store.compact(concurrency: storeConfig.backgroundThreads)
        } catch {
            await store.close()
            if progress { FileHandle.standardError.write(Data("\n".utf8)) }
            throw error
        }
        await store.close()
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Self.seconds(since: started)
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        if format == "json" {
            var w = JSONWriter()
            w.object { o in
                o.field("processed", processed)
                o.field("duplicates", duplicates)
                o.field("failed", failed)
                o.field("errors", array: { a in
                    for f in failures {
                        a.object {
                            $0.field("line", f.line)
                            $0.field("index", f.index)
                            $0.field("request_id", f.requestID)
                            $0.field("code", f.error.code.rawValue)
                            $0.field("message", f.error.message)
                        }
                    }
                })
                o.field("errors_listed", failures.count)
                o.field("errors_by_code", object: { c in
                    for (code, n) in errorsByCode.sorted(by: { $0.key < $1.key }) { c.field(code, n) }
                })
                o.field("seconds", seconds)
            }
            print(w.text)
        } else {
            print("processed   \(processed)\nduplicates  \(duplicates)\nfailed      \(failed)\nseconds     \(String(format: "%.3f", seconds))")
            for f in failures {
                print("line \(f.line) [\(f.index)] \(f.requestID ?? "-"): \(f.error.code) \(f.error.message)")
            }
        }
        if failed > 0 { throw ExitCodes.rejected }
    }

    /// Decodes a chunk on every core: NDJSON chunks are split at line boundaries; the parts' batches
    /// are concatenated in input order (so the first copy of a duplicate is the one stored).
    static func decodeParallel(
        _ chunk: [UInt8], firstLine: Int, format: EventInputFormat, decoder: EventDecoder, org: String, nowMs: Int64,
        horizon: IngestHorizon
    ) async -> ChunkResult {
        let parts = format == .ndjson ? splitAtLines(chunk, parts: ProcessInfo.processInfo.activeProcessorCount * 2) : [0..<chunk.count]
        // Line number of each part's start.
        var firstLines: [Int] = []
        var line = firstLine
        for p in parts {
            firstLines.append(line)
            line += countNewlines(chunk, p)
        }
        let totalLines = line - firstLine + (chunk.last == 0x0A || chunk.isEmpty ? 0 : 1)
        let starts = firstLines
        var results = [ChunkResult](repeating: ChunkResult(), count: parts.count)
        await withTaskGroup(of: (Int, ChunkResult).self) { group in
            for (i, range) in parts.enumerated() {
                group.addTask {
                    (i, decode(chunk, range: range, firstLine: starts[i], format: format, decoder: decoder, org: org, nowMs: nowMs, horizon: horizon))
                }
            }
            for await (i, r) in group { results[i] = r }
        }
        var merged = ChunkResult()
        for r in results {
            merged.parts.append(r.events)
            merged.failures.append(contentsOf: r.failures)
        }
        merged.lines = totalLines
        return merged
    }

    static func decode(
        _ chunk: [UInt8], range: Range<Int>, firstLine: Int, format: EventInputFormat, decoder: EventDecoder, org: String,
        nowMs: Int64, horizon: IngestHorizon
    ) -> ChunkResult {
        var result = ChunkResult()
        result.events.reserveCapacity(range.count / 400 + 16)  // generator events are ~630 bytes of NDJSON
        chunk.withUnsafeBufferPointer { all in
            let buffer = UnsafeBufferPointer(rebasing: all[range])
            let policy = OrgPolicy.fromEvent(default: org)
            let rules = horizon.rules(nowMs: nowMs)
            for item in EventInput(buffer, format: format, firstLine: firstLine) {
                switch item.kind {
                case .object(let bytes):
                    if let f = decoder.decode(bytes, org: policy, nowMs: nowMs, into: &result.events) {
                        result.failures.append(Failure(line: item.line, index: item.index, requestID: f.requestID, error: f.error))
                    } else if let error = result.events.checkLast(rules, nowMs: nowMs) {
                        result.failures.append(Failure(line: item.line, index: item.index, requestID: error.requestID, error: error.error))
                    }
                case .malformed(let error):
                    result.failures.append(Failure(line: item.line, index: item.index, requestID: nil, error: error))
                }
            }
        }
        return result
    }

    static func splitAtLines(_ chunk: [UInt8], parts: Int) -> [Range<Int>] {
        guard parts > 1, chunk.count > 1 << 16 else { return [0..<chunk.count] }
        var ranges: [Range<Int>] = []
        var start = 0
        for p in 1..<parts {
            var cut = chunk.count * p / parts
            while cut < chunk.count && chunk[cut - 1] != 0x0A { cut += 1 }
            if cut > start && cut < chunk.count {
                ranges.append(start..<cut)
                start = cut
            }
        }
        ranges.append(start..<chunk.count)
        return ranges
    }
}

/// Reads a file in large chunks that end at a line boundary (NDJSON), or whole (documents).
struct ChunkReader {
    let fd: Int32
    let name: String
    static let chunkSize = 32 << 20

    func readAll() throws -> [UInt8] {
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ToolError("cannot read \(name): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// Appends up to `count` bytes read from the file to `out` (into fresh, uninitialized capacity:
    /// zero-filling 32 MB first cost as much as the read).
    func readUpTo(_ count: Int, into out: inout [UInt8]) throws -> Bool {
        let old = out.count
        var failure: Int32 = 0
        var filled = 0
        let grown = [UInt8](unsafeUninitializedCapacity: old + count) { buffer, initialized in
            if old > 0 {
                out.withUnsafeBufferPointer { buffer.baseAddress!.initialize(from: $0.baseAddress!, count: old) }
            }
            while filled < count {
                let n = Glibc.read(fd, buffer.baseAddress! + old + filled, count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                filled += n
            }
            initialized = old + filled
        }
        out = grown
        if failure != 0 { throw ToolError("cannot read \(name): \(String(cString: strerror(failure)))") }
        return filled > 0
    }

    func forEachChunk(_ body: ([UInt8], Int, EventInputFormat) async throws -> Void) async throws {
        var pending = [UInt8]()
        var more = try readUpTo(Self.chunkSize, into: &pending)
        let format = pending.withUnsafeBufferPointer { EventInput.detectFormat($0) }
        if format == .document {
            if more { pending.append(contentsOf: try readAll()) }
            try await body(pending, 1, .document)
            return
        }
        var line = 1
        while true {
            if more && pending.count < Self.chunkSize { more = try readUpTo(Self.chunkSize - pending.count, into: &pending) }
            if pending.isEmpty { return }
            var cut = pending.count
            if more {
                guard let lastNewline = pending.lastIndex(of: 0x0A) else {
                    // One line longer than a chunk: keep reading until it ends.
                    more = try readUpTo(Self.chunkSize, into: &pending)
                    continue
                }
                cut = lastNewline + 1
            }
            var chunk = pending
            if cut < pending.count {
                pending = Array(pending[cut...])
                chunk.removeLast(chunk.count - cut)
            } else {
                pending = []
            }
            try await body(chunk, line, .ndjson)
            line += countNewlines(chunk, 0..<chunk.count)
            if !more && pending.isEmpty { return }
        }
    }
}

/// Newlines in `bytes[range]` (memchr: the byte loop is the slow part of splitting a 32 MB chunk).
func countNewlines(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
    bytes.withUnsafeBufferPointer { b in
        guard var p = b.baseAddress.map({ UnsafeRawPointer($0 + range.lowerBound) }) else { return 0 }
        let end = p + range.count
        var n = 0
        while p < end, let hit = memchr(p, 0x0A, end - p) {
            n += 1
            p = UnsafeRawPointer(hit) + 1
        }
        return n
    }
}
