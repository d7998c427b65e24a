import Foundation
import Synchronization
import TokentraTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The real `tokentra` binary (built by `swift build --build-tests`) run as a child process.
final class DaemonProcess: Sendable {
    static let binary: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Tests/TokentraHTTPTests/Support/X.swift -> root
        let candidates = [".build/debug/tokentra", ".build/release/tokentra"].map { url.appendingPathComponent($0).path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let process: Process
    let port: Int
    let stderrPath: String
    var pid: Int32 { process.processIdentifier }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: Int, stderrPath: String) {
        self.process = process
        self.port = port
        self.stderrPath = stderrPath
    }

    /// Starts `tokentra serve --data-dir DIR --port 0` and waits until it listens.
    static func start(dataDir: String, environment: [String: String] = [:], arguments: [String] = []) async throws -> DaemonProcess {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--data-dir", dataDir, "--port", "0"] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env["TOKENTRA_LOG_LEVEL"] = env["TOKENTRA_LOG_LEVEL"] ?? "info"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        let stderrPath = dataDir + ".stderr-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: stderrPath)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let port = try await readPort(out.fileHandleForReading, process: p, stderrPath: stderrPath)
        return DaemonProcess(process: p, port: port, stderrPath: stderrPath)
    }

    /// Reads stdout on a Dispatch thread (never blocking the concurrency pool) until the
    /// "tokentra listening on http://127.0.0.1:PORT" line.
    static func readPort(_ handle: FileHandle, process: Process, stderrPath: String) async throws -> Int {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
            DispatchQueue.global().async {
                var text = ""
                while true {
                    let data = handle.availableData
                    if data.isEmpty {
                        let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                        c.resume(throwing: TestFailure("tokentra serve exited before listening: \(log.suffix(2000))"))
                        return
                    }
                    text += String(decoding: data, as: UTF8.self)
                    if let line = text.split(separator: "\n").first(where: { $0.contains("listening on http://") }),
                        let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
                    {
                        c.resume(returning: port)
                        // Keep draining stdout so the child never blocks on a full pipe.
                        while !handle.availableData.isEmpty {}
                        return
                    }
                }
            }
        }
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the process to exit (on a Dispatch thread) and returns its status.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> (status: Int32, reason: Process.TerminationReason) {
        let process = self.process
        return try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
                while process.isRunning && Date() < deadline { usleep(5000) }
                if process.isRunning {
                    c.resume(throwing: TestFailure("tokentra did not exit within \(timeout)"))
                } else {
                    c.resume(returning: (process.terminationStatus, process.terminationReason))
                }
            }
        }
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// Runs a CLI command of the binary to completion (on a Dispatch thread).
func runCLI(_ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProgram(DaemonProcess.binary, args, environment: environment)
}
