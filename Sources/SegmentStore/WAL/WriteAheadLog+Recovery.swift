import TokentraCore

#if canImport(Glibc)
import Glibc
#endif

/// What recovery found in one WAL file.
public struct WALFileRecovery: Sendable {
    public var sequence: UInt64
    public var records: Int
    /// The events of each record, in file order.
    public var batches: [EventBatch]
    /// Bytes of a torn tail (0 when the file ended cleanly); cut off when recovering with `repair`.
    public var truncatedBytes: Int
    /// Byte offset where the torn tail starts, when there is one.
    public var tornAt: Int?

    /// Every event of the file, in order.
    public var events: [UsageEvent] { batches.flatMap(\.events) }
    /// Number of events in the file.
    public var eventCount: Int { batches.reduce(0) { $0 + $1.count } }
}

extension WriteAheadLog {
    /// Reads every record of one log file. A torn tail (a record cut short, or a bad checksum on the
    /// last record, or zero fill after the last record) is cut off when `repair` is true. Damage
    /// followed by valid data is not a torn tail: it throws ``SegmentError/Code-swift.struct/walCorrupt``
    /// naming the file and offset. A torn tail is only possible in the newest file (`isLast`): the
    /// writer finishes and fsyncs a file before it creates the next one, so a torn record in an
    /// older file is damage and throws too.
    public static func recover(directory: String, sequence: UInt64, repair: Bool, isLast: Bool = true) throws -> WALFileRecovery {
        let path = path(directory: directory, sequence: sequence)
        let bytes = try FileIO.readFile(path)
        var result = WALFileRecovery(sequence: sequence, records: 0, batches: [], truncatedBytes: 0)
        if bytes.count >= headerSize, Array(bytes[0..<7]) == Array(magic[0..<7]), !readableMagics.contains(Array(bytes[0..<headerSize])) {
            throw SegmentError(.unsupportedVersion, "\(path): WAL format version \(bytes[7]) is not supported by this tokentra (it reads versions 1 and 2); upgrade tokentra to replay it")
        }
        if bytes.count < headerSize || !readableMagics.contains(Array(bytes[0..<headerSize])) {
            // A file cut before its header was fsync'd holds no acknowledged record.
            if bytes.count < headerSize && magic.starts(with: bytes) || bytes.allSatisfy({ $0 == 0 }) {
                result.truncatedBytes = bytes.count
                if repair { try FileIO.remove(path) }
                return result
            }
            throw SegmentError(.walCorrupt, "\(path): not a tokentra WAL file (bad magic)")
        }
        var offset = headerSize
        var tornAt: Int?
        while offset < bytes.count {
            let remaining = bytes.count - offset
            if remaining < recordHeaderSize {
                tornAt = offset
                break
            }
            var r = ByteReader(bytes, offset: offset)
            let length = Int(try r.u32())
            let crc = try r.u32()
            if length == 0 && crc == 0 && bytes[(offset + 8)...].allSatisfy({ $0 == 0 }) {
                tornAt = offset
                break
            }
            let bodyStart = offset + 8
            let bodyEnd = bodyStart + 1 + length
            if bodyEnd > bytes.count {
                tornAt = offset
                break
            }
            let actual = CRC32C.checksum(bytes[bodyStart..<bodyEnd])
            if actual != crc {
                if bodyEnd == bytes.count || bytes[bodyEnd...].allSatisfy({ $0 == 0 }) {
                    tornAt = offset
                    break
                }
                throw SegmentError(
                    .walCorrupt,
                    "\(path): record at byte \(offset) has checksum \(hex(actual)), expected \(hex(crc)), and valid-looking data follows; refusing to drop it silently")
            }
            let type = bytes[bodyStart]
            var pr = ByteReader(bytes, offset: bodyStart + 1)
            do {
                switch type {
                case typeEvents:
                    // Version 1 rows (written by tokentra before column batches); still replayed.
                    let count = try pr.u32()
                    var batch = EventBatch()
                    for _ in 0..<count { batch.append(try EventRecordCodec.decode(&pr)) }
                    result.batches.append(batch)
                case typeBatch:
                    result.batches.append(try EventBatchCodec.decode(&pr))
                default:
                    throw SegmentError(.walCorrupt, "unknown record type \(type)")
                }
            } catch {
                throw SegmentError(.walCorrupt, "\(path): record at byte \(offset) passed its checksum but does not decode: \(error)")
            }
            result.records += 1
            offset = bodyEnd
        }
        if let tornAt {
            guard isLast else {
                throw SegmentError(
                    .walCorrupt,
                    "\(path): damaged record at byte \(tornAt) in a WAL file that is not the newest; refusing to drop acknowledged data (run `tokentra verify`, then restore or repair by hand)")
            }
            result.tornAt = tornAt
            result.truncatedBytes = bytes.count - tornAt
            if repair {
                let fd = try FileIO.open(path, O_WRONLY)
                defer { Glibc.close(fd) }
                if ftruncate(fd, off_t(tornAt)) != 0 { throw FileIO.errnoError("truncate", path) }
                try FileIO.fsync(fd, path: path)
            }
        }
        return result
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - s.count) + s
    }

    /// Encodes a column batch as one framed WAL record of type 2 (header patched in place, no copies).
    static func record(for batch: EventBatch) -> [UInt8] {
        framedRecord(type: typeBatch, capacity: batch.count * 200 + 1024) { EventBatchCodec.encode(batch, into: &$0) }
    }

    /// Writes a record header with placeholders, the payload, then patches length and CRC32C.
    private static func framedRecord(type: UInt8, capacity: Int, _ payload: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter(capacity: capacity)
        w.u32(0)  // length, patched below
        w.u32(0)  // CRC32C, patched below
        w.u8(type)
        payload(&w)
        var bytes = w.bytes
        let length = UInt32(bytes.count - recordHeaderSize)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        for i in 0..<4 {
            bytes[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i)))
            bytes[4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))
        }
        return bytes
    }

    /// Encodes a batch of events as one WAL record payload (the record without its header).
    static func payload(for events: [UsageEvent]) -> [UInt8] {
        Array(record(for: EventBatch(events))[recordHeaderSize...])
    }
}
