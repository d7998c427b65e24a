import Hummingbird
import Logging
import SegmentStore
import ServiceLifecycle

/// Keeps the segment store open while the daemon runs and, on shutdown (it is the first service
/// of the group, so it stops last: after the HTTP server drained and the scheduler stopped),
/// seals what is in the memtable and closes the WAL.
public struct SegmentStoreService: Service {
    let store: SegmentStore
    let state: DaemonState
    let logger: Logger

    public init(store: SegmentStore, state: DaemonState, logger: Logger) {
        self.store = store
        self.state = state
        self.logger = logger
    }

    public func run() async throws {
        state.setStoreOpen(true)
        // Returns on graceful shutdown; throws when the group is cancelled. Close either way.
        try? await gracefulShutdown()
        do {
            let sealed = try await store.flush()
            logger.info("store sealed for shutdown", metadata: ["seal.events": "\(sealed.events)"])
        } catch {
            // Not fatal: every acknowledged event is in the WAL and is replayed at the next start.
            logger.error("seal at shutdown failed; the WAL will be replayed at the next start", metadata: ["error": "\(error)"])
        }
        state.setStoreOpen(false)
        await store.close()
        logger.info("store closed")
    }
}

/// Runs the HTTP application and marks the daemon as stopping (readiness fails, systemd gets
/// `STOPPING=1`) the moment graceful shutdown begins, before connections are drained.
struct HTTPServerService<App: ApplicationProtocol>: Service {
    let app: App
    let state: DaemonState
    let notifier: SystemdNotifier?
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            state.setStopping()
            notifier?.notify("STOPPING=1")
            logger.info("shutting down: draining in-flight requests")
        }
    }
}
