/// An error from the segment store: a code, a message naming the file/column, and the source location.
public struct SegmentError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case corrupt, io, storageFull, walCorrupt, locked, invalidArgument, fatal, unsupportedVersion
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }
        /// A file's bytes do not match its checksums or format.
        public static let corrupt = Code(base: .corrupt)
        /// A system call failed.
        public static let io = Code(base: .io)
        /// The disk is full (ENOSPC/EDQUOT): nothing was acknowledged.
        public static let storageFull = Code(base: .storageFull)
        /// The WAL is damaged before its tail.
        public static let walCorrupt = Code(base: .walCorrupt)
        /// Another process holds the data directory.
        public static let locked = Code(base: .locked)
        /// A caller passed something unusable.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A file was written by a newer tokentra in a format this one cannot read.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
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
