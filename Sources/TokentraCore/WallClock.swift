import Foundation

/// "Now" on the wall clock: milliseconds since the Unix epoch (UTC).
///
/// Everything that stamps or compares a wall-clock time is given one of these instead of reading
/// `Date()`: the segment store (``SystemClock`` by default, through its configuration), retention,
/// the daemon and its jobs, the CLI (whose `--now` options pin it with ``SystemClock/pinned(_:)``).
/// Tests pass a closure over a time they move.
///
/// ```swift
/// var configuration = SegmentStore.Configuration(dataDirectory: dir)
/// configuration.wallClock = SystemClock.pinned(nowFromFlag)   // or a test's { clock.now }
/// ```
public typealias WallClock = @Sendable () -> Int64

/// The system's wall clock.
public enum SystemClock {
    /// The current time in whole milliseconds (rounded down).
    public static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// The system's wall clock as a ``WallClock``.
    public static let wallClock: WallClock = { nowMs() }

    /// A clock that always reads `ms` (a CLI `--now`), or the system clock when `ms` is `nil`.
    public static func pinned(_ ms: Int64?) -> WallClock {
        guard let ms else { return wallClock }
        return { ms }
    }
}
