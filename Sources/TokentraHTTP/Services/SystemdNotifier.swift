import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (`sd_notify(3)`), implemented directly: one datagram per
/// message to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or an abstract socket name
/// when it starts with `@`).
///
/// ```swift
/// let notifier = SystemdNotifier.fromEnvironment()   // nil when not started by systemd
/// notifier?.notify("READY=1")
/// ```
public struct SystemdNotifier: Sendable {
    /// The socket address as given (`/run/systemd/notify` or `@name`).
    public let socketPath: String
    /// The watchdog interval (`$WATCHDOG_USEC`), when the unit has `WatchdogSec=` and the
    /// watchdog is meant for this process (`$WATCHDOG_PID` absent or equal to our pid).
    public let watchdogInterval: Duration?

    public init(socketPath: String, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// The notifier systemd set up for this process, or `nil`.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let path = env["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        var watchdog: Duration?
        if let usec = env["WATCHDOG_USEC"].flatMap({ Int64($0) }), usec > 0 {
            if let pid = env["WATCHDOG_PID"].flatMap({ Int32($0) }), pid != getpid() {
                watchdog = nil
            } else {
                watchdog = .microseconds(usec)
            }
        }
        return SystemdNotifier(socketPath: path, watchdogInterval: watchdog)
    }

    /// Sends one notification (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, `STATUS=...`; several may be
    /// joined with newlines).
    /// - Returns: whether the datagram was sent.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        let isAbstract = pathBytes.first == UInt8(ascii: "@")
        if isAbstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
        }
        // Abstract names are not NUL-terminated: the address length delimits them.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (isAbstract ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let payload = Array(message.utf8)
        let sent = payload.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent == payload.count
    }
}

/// Pings the systemd watchdog (`WATCHDOG=1`) at half the configured interval while the daemon
/// runs. Stops on graceful shutdown; systemd then waits for the process to exit (TimeoutStopSec).
public struct SystemdWatchdogService<C: Clock>: Service where C.Duration == Duration {
    let notifier: SystemdNotifier
    let interval: Duration
    let clock: C
    /// Extra check before each ping: the ping is skipped (so systemd eventually restarts a stuck
    /// daemon) when this returns false.
    let healthy: @Sendable () async -> Bool

    public init(notifier: SystemdNotifier, interval: Duration, clock: C, healthy: @escaping @Sendable () async -> Bool = { true }) {
        self.notifier = notifier
        self.interval = interval
        self.clock = clock
        self.healthy = healthy
    }

    public func run() async throws {
        let period = interval / 2
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if await healthy() { notifier.notify("WATCHDOG=1") }
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(until: clock.now.advanced(by: period), tolerance: nil) }
            } catch {
                return
            }
        }
    }
}
