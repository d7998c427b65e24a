import Foundation
import Testing
import TokentraCore
@testable import SegmentStore

/// The backup manifest's text format: round trip, its own checksum, versions and unsafe paths.
@Suite struct BackupManifestTests {
    static func sample() -> BackupManifest {
        var m = BackupManifest()
        m.createdAtMs = 1_764_614_400_123
        m.tokentraVersion = "0.1.0 (commit unknown)"
        m.source = "/var/lib/tokentra"
        m.mode = "online"
        m.walSealedThrough = 41
        m.walEnd = ("0000000000000042.wal", 18034)
        (m.segments, m.events, m.walEvents) = (2, 1200, 34)
        m.entries = [
            .init(path: "index.sqlite", sha256: String(repeating: "a", count: 64)),
            .init(path: "segments/acme corp/2026-11-30-0001.tseg", sha256: String(repeating: "0", count: 63) + "1"),
        ]
        return m
    }

    /// Re-signs an edited body the way the writer does.
    static func signed(_ body: String) -> String {
        body + "# manifest_sha256 \(BackupManifest.hex(SHA256.hash(Array(body.utf8))))\n"
    }

    @Test func roundTripAndExactText() throws {
        let m = Self.sample()
        let text = m.text
        #expect(text.hasPrefix("""
            # tokentra backup 1
            # created_at 2025-12-01T18:40:00.123Z
            # tokentra 0.1.0 (commit unknown)
            # source /var/lib/tokentra
            # mode online
            # wal_sealed_through 41
            # wal_end 0000000000000042.wal 18034
            # segments 2 events 1200 wal_events 34
            aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  index.sqlite
            0000000000000000000000000000000000000000000000000000000000000001  segments/acme corp/2026-11-30-0001.tseg
            # manifest_sha256 
            """))
        let parsed = try BackupManifest.parse(text)
        #expect(parsed == m)
        #expect(parsed.walEnd?.file == "0000000000000042.wal" && parsed.walEnd?.bytes == 18034)
        #expect(parsed.entries.map(\.path) == ["index.sqlite", "segments/acme corp/2026-11-30-0001.tseg"])
        // SHA-256("abc"), FIPS 180-4.
        #expect(BackupManifest.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func refusesWhatItCannotTrust() {
        let body = String(Self.sample().text.split(separator: "\n").dropLast().joined(separator: "\n")) + "\n"
        func message(_ text: String) -> String {
            do {
                _ = try BackupManifest.parse(text, name: "M")
                return "accepted"
            } catch let e as SegmentError {
                return e.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message(String(body.dropLast())) == "M does not end with a newline: it was cut short")
        #expect(message(body) == "M has no final '# manifest_sha256' line: it was cut short or edited")
        #expect(message(body.replacingOccurrences(of: "events 1200", with: "events 1201") + Self.sample().text.split(separator: "\n").last! + "\n").hasPrefix("M is damaged: its checksum is "))
        #expect(message(Self.signed(body.replacingOccurrences(of: "# tokentra backup 1", with: "# tokentra backup 2")))
            == "M: backup 2 is not supported by this tokentra (it reads backup 1); use a newer tokentra")
        let zero = String(repeating: "0", count: 64)
        #expect(message(Self.signed(body + "\(zero)  ../etc/passwd\n")) == "M line 11: unsafe path '../etc/passwd'")
        #expect(message(Self.signed(body + "\(zero)  /etc/passwd\n")) == "M line 11: unsafe path '/etc/passwd'")
        #expect(message(Self.signed(body + "\(zero)  index.sqlite\n")) == "M line 11: index.sqlite is listed twice")
        #expect(message(Self.signed(body + "XYZ  wal/1.wal\n")) == "M line 11: expected '<sha256>  <path>', got 'XYZ  wal/1.wal'")
        #expect(message(Self.signed("# something else\n")) == "M line 1: not a tokentra backup manifest")
    }
}
