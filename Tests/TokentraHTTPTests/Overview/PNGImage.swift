import CZlib
import Foundation

/// A minimal PNG reader for screenshot checks: the IHDR, and the pixels of 8-bit RGB/RGBA
/// non-interlaced images (what Chromium writes), IDAT inflated with zlib and un-filtered.
struct PNGImage {
    var width: Int
    var height: Int
    /// Bytes per pixel (3 for RGB, 4 for RGBA).
    var channels: Int
    /// Rows of `width × channels` bytes.
    var pixels: [UInt8]

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Width and height from the IHDR (after checking the signature).
    static func header(_ bytes: [UInt8]) throws -> (width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, interlace: UInt8) {
        guard bytes.count > 33, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw Failure(description: "not a PNG (bad signature)")
        }
        guard Array(bytes[12..<16]) == Array("IHDR".utf8) else { throw Failure(description: "first chunk is not IHDR") }
        func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        return (be32(16), be32(20), bytes[24], bytes[25], bytes[28])
    }

    init(_ bytes: [UInt8]) throws {
        let h = try Self.header(bytes)
        guard h.bitDepth == 8, h.colorType == 2 || h.colorType == 6, h.interlace == 0 else {
            throw Failure(description: "unsupported PNG: depth \(h.bitDepth), color type \(h.colorType), interlace \(h.interlace)")
        }
        width = h.width
        height = h.height
        channels = h.colorType == 6 ? 4 : 3
        var idat: [UInt8] = []
        var i = 8
        while i + 8 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + length <= bytes.count else { throw Failure(description: "truncated chunk \(type)") }
            if type == "IDAT" { idat += bytes[(i + 8)..<(i + 8 + length)] }
            if type == "IEND" { break }
            i += 12 + length
        }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            idat.withUnsafeBufferPointer { input in uncompress(out.baseAddress, &rawLength, input.baseAddress, uLong(input.count)) }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Failure(description: "IDAT does not inflate to \(raw.count) bytes (zlib \(status))") }
        // Undo the per-row filters (PNG spec, section 9).
        var px = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1, dst = y * stride
            for x in 0..<stride {
                let a = x >= channels ? Int(px[dst + x - channels]) : 0
                let b = y > 0 ? Int(px[dst - stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(px[dst - stride + x - channels]) : 0
                let v = Int(raw[src + x])
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw Failure(description: "bad filter \(filter) in row \(y)")
                }
                px[dst + x] = UInt8((v + predicted) & 0xFF)
            }
        }
        pixels = px
    }

    /// Pixels whose RGB is within `tolerance` of `rgb` in every channel.
    func count(near rgb: (UInt8, UInt8, UInt8), tolerance: Int = 8) -> Int {
        var n = 0
        for p in Swift.stride(from: 0, to: pixels.count, by: channels)
        where abs(Int(pixels[p]) - Int(rgb.0)) <= tolerance && abs(Int(pixels[p + 1]) - Int(rgb.1)) <= tolerance
            && abs(Int(pixels[p + 2]) - Int(rgb.2)) <= tolerance { n += 1 }
        return n
    }

    /// Distinct RGB colors (a blank image has one).
    var distinctColors: Int {
        var seen = Set<UInt32>()
        for p in Swift.stride(from: 0, to: pixels.count, by: channels) {
            seen.insert(UInt32(pixels[p]) << 16 | UInt32(pixels[p + 1]) << 8 | UInt32(pixels[p + 2]))
        }
        return seen.count
    }
}
