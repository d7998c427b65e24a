import ArgumentParser
import Foundation

extension Tokentra {
    /// Runs the command and maps errors to the documented exit codes: 0 ok, 3 rejected events or
    /// verification problems, 2 usage and I/O errors (one line on stderr).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success || code == ExitCodes.rejected { exit(withError: error) }
            let message = fullMessage(for: error)
            if !message.isEmpty { printError(message) }
            Foundation.exit(2)
        }
    }
}
