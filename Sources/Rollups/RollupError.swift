/// An error from a rollup run: a code, a message, and the source location.
public struct RollupError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case alreadyRunning, corrupt
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }
        /// Another rollup run on the same data directory is in progress in this process.
        public static let alreadyRunning = Code(base: .alreadyRunning)
        /// A stored rollup row could not be decoded.
        public static let corrupt = Code(base: .corrupt)
    }

    public var code: Code
    public var message: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message)" }
}
