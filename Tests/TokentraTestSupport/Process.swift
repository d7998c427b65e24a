import Foundation

/// Runs a program to completion on a Dispatch thread (never blocking the cooperative pool).
public func runProgram(_ path: String, _ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async {
            do {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: path)
                p.arguments = args
                var env = ProcessInfo.processInfo.environment
                for (k, v) in environment { env[k] = v }
                p.environment = env
                let out = Pipe(), err = Pipe()
                p.standardOutput = out
                p.standardError = err
                p.standardInput = FileHandle.nullDevice
                try p.run()
                let o = out.fileHandleForReading.readDataToEndOfFile()
                let e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                c.resume(returning: (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self)))
            } catch {
                c.resume(throwing: error)
            }
        }
    }
}
