import CZstd

/// zstd compression of whole column blocks. This is the only file that imports `CZstd`.
public enum Zstd {
    /// Compresses `input` at `level` (default 3).
    public static func compress(_ input: [UInt8], level: Int32 = 3) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, input.count, level)
            }
        }
        precondition(ZSTD_isError(written) == 0, "zstd compress failed: \(String(cString: ZSTD_getErrorName(written)))")
        out.removeSubrange(written...)
        return out
    }

    /// Decompresses a block whose decompressed size is known from the segment directory.
    /// - Throws: ``SegmentError`` when the block is corrupt or does not decompress to `size` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        if size == 0 && input.isEmpty { return out }
        let n = out.withUnsafeMutableBytes { dst in
            ZSTD_decompress(dst.baseAddress, size, input.baseAddress, input.count)
        }
        if ZSTD_isError(n) != 0 {
            throw SegmentError(.corrupt, "zstd: \(String(cString: ZSTD_getErrorName(n)))")
        }
        if n != size { throw SegmentError(.corrupt, "zstd block decompressed to \(n) bytes, expected \(size)") }
        return out
    }
}
