import Foundation
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import SegmentStore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing
import TokentraConfig
import TokentraCore
import TokentraHTTP
import TokentraTestSupport
import UsageIndex

/// A bound AF_UNIX datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let fd: Int32
    let name: String  // as it would appear in $NOTIFY_SOCKET

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let unique = "tokentra-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        var bytes: [UInt8]
        if abstract {
            name = "@" + unique
            bytes = [0] + Array(unique.utf8)
        } else {
            name = FileManager.default.temporaryDirectory.path + "/" + unique + ".sock"
            bytes = Array(name.utf8) + [0]
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw TestFailure("bind failed: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Receives one datagram (blocking, up to 5 s).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }
}

@Suite struct SystemdNotifierTests {
    @Test(arguments: [false, true])
    func sendsDatagrams(abstract: Bool) throws {
        let socket = try NotifySocket(abstract: abstract)
        let notifier = try #require(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": socket.name]))
        #expect(notifier.notify("READY=1\nSTATUS=listening"))
        #expect(socket.receive() == "READY=1\nSTATUS=listening")
        #expect(notifier.notify("STOPPING=1"))
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test func environment() {
        #expect(SystemdNotifier.fromEnvironment([:]) == nil)
        let n = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"])
        #expect(n?.watchdogInterval == .seconds(30))
        let other = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"])
        #expect(other?.watchdogInterval == nil)
        #expect(SystemdNotifier(socketPath: "/nonexistent/socket").notify("READY=1") == false)
    }

    @Test func watchdogPingsAtHalfTheInterval() async throws {
        let socket = try NotifySocket(abstract: true)
        let notifier = SystemdNotifier(socketPath: socket.name, watchdogInterval: .seconds(10))
        let clock = ManualClock(epochMs: 0)
        let service = SystemdWatchdogService(notifier: notifier, interval: .seconds(10), clock: clock)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await clock.waitForSleepers()
                #expect(socket.receive() == "WATCHDOG=1")
                clock.advance(by: .seconds(5))
                try await clock.waitForSleepers()
                #expect(socket.receive() == "WATCHDOG=1")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    /// The daemon sends STATUS=recovering before it opens the store, READY=1 once listening and
    /// STOPPING=1 when shutdown begins.
    @Test func daemonLifecycleNotifications() async throws {
        let socket = try NotifySocket(abstract: false)
        let d = try await TestDaemon.startWithNotifier(SystemdNotifier(socketPath: socket.name))
        let recovering = try #require(socket.receive())
        #expect(recovering == "STATUS=recovering \(d.daemon.configuration.dataDirectory)")
        let ready = try #require(socket.receive())
        #expect(ready.hasPrefix("READY=1"))
        try await d.stop()
        #expect(socket.receive() == "STOPPING=1")
    }
}

@Suite struct SystemdUnitTests {
    static var unitPath: String { OpenAPITests.packageRoot.appendingPathComponent("systemd/tokentra.service").path }

    @Test func unitHasTheContract() throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        for line in [
            "Type=notify", "WatchdogSec=", "StateDirectory=tokentra", "User=tokentra", "ProtectSystem=strict",
            "NoNewPrivileges=yes", "PrivateTmp=yes", "KillSignal=SIGTERM", "TimeoutStopSec=60",
        ] {
            #expect(unit.contains(line), "missing \(line)")
        }
        // The drain must finish before systemd escalates to SIGKILL.
        #expect(TokentraConfiguration().shutdownTimeoutSeconds < 60)
    }

    /// `systemd-analyze verify` is clean (with ExecStart pointing at the built binary).
    @Test func systemdAnalyzeVerify() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), DaemonProcess.available else {
            print("systemd-analyze verify skipped: systemd-analyze or the binary is not available")
            return
        }
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/tokentra", with: DaemonProcess.binary)
        let dir = TemporaryDirectory("tokentra-unit")
        defer { dir.remove() }
        let path = dir.file("tokentra.service")
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try await shell("systemd-analyze verify \(path) 2>&1")
        #expect(r.status == 0 && r.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(r.output)")
    }
}
