import ArgumentParser
import Foundation
import SegmentStore
import TokentraCore

struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Do what start-up recovery does, and say what it did.",
        discussion: """
            Removes unfinished (.tmp) and unregistered segment files, deletes WAL files whose records are \
            all sealed, cuts a torn tail off the newest WAL file, replays the rest of the WAL and seals it \
            into segments. Damage that recovery must not drop silently (a bad record followed by valid data, \
            a torn record in an older WAL file) stops it with the file and offset named. Quarantined \
            segments stay where they are. Exit 0 when it finished.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let format = try global.outputFormat(default: "json", allowed: ["json", "table"])
        let store = try await openStore(global)
        let report = await store.recoveryReport
        let sealed: SegmentStore.FlushResult
        do {
            sealed = try await store.flush()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if format == "json" {
            var w = JSONWriter()
            w.object { o in
                o.field("removed_temporary_files", strings: report.temporaryFiles)
                o.field("removed_unregistered_files", strings: report.unregisteredFiles)
                o.field("removed_sealed_wal_files", strings: report.sealedWALFiles)
                o.field("torn_wal_tails", array: { a in
                    for t in report.tornTails {
                        a.object { $0.field("file", t.file); $0.field("offset", t.offset); $0.field("bytes_cut", t.bytes) }
                    }
                })
                o.field("replayed_events", report.replayedEvents)
                o.field("sealed_events", sealed.events)
                o.field("sealed_segments", sealed.segments)
            }
            print(w.text)
        } else {
            for f in report.temporaryFiles { print("removed unfinished file   \(f)") }
            for f in report.unregisteredFiles { print("removed unregistered file \(f)") }
            for f in report.sealedWALFiles { print("removed sealed WAL file   \(f)") }
            for t in report.tornTails { print("cut torn WAL tail         \(t.file) at byte \(t.offset) (\(t.bytes) bytes)") }
            print("replayed \(report.replayedEvents) events from the WAL; sealed \(sealed.events) events into \(sealed.segments) segments")
        }
    }
}
