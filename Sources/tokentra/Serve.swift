import ArgumentParser
import Foundation
import Logging
import SegmentStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon on a data directory (storage: WAL recovery and periodic sealing).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds between seals of fresh events into segments.") var sealInterval: Int = 60

    func run() async throws {
        let dir = global.resolvedDataDir
        var logger = Logger(label: "tokentra")
        logger.logLevel = .info
        let store = try await SegmentStore.open(
            configuration: storeConfiguration(dataDir: dir, prices: try loadPriceTable(dataDir: dir)), logger: logger)
        let unsealed = await store.unsealedCount
        logger.info("tokentra storage is open", metadata: ["data_dir": "\(dir)", "wal.replayed_events": "\(unsealed)"])
        print("tokentra \(TokentraVersion.string): storage open on \(dir) (\(unsealed) events recovered from the WAL); sealing every \(sealInterval) s. Ctrl-C to stop.")
        let signals = AsyncSignals()
        while !signals.received {
            try? await Task.sleep(for: .seconds(1))
            if Int(Date().timeIntervalSince1970) % max(1, sealInterval) == 0 {
                do { try await store.flush() } catch { logger.error("seal failed", metadata: ["error": "\(error)"]) }
            }
        }
        try await store.flush()
        await store.close()
        print("tokentra stopped cleanly")
    }
}

/// Notes SIGINT/SIGTERM so the loop can finish cleanly.
final class AsyncSignals: @unchecked Sendable {
    // @unchecked: `flag` is only written by the signal sources' serial queue and read as a plain Bool.
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()
    private var flag = false
    var received: Bool { lock.withLock { flag } }

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.lock.withLock { self?.flag = true } }
            source.resume()
            sources.append(source)
        }
    }
}
