import Synchronization

/// Per-key request limits over fixed UTC windows: the current minute and the current UTC day.
///
/// A request is counted when it is admitted; a refused request is not counted. Counters live in
/// memory (a restart starts new windows). A limit of 0 means unlimited.
///
/// ```swift
/// let decision = limiter.admit(keyID: key.id, limits: .init(perMinute: 600, perDay: 100_000), nowMs: now)
/// if !decision.allowed { /* 429 with decision.retryAfterSeconds */ }
/// ```
public final class RateLimiter: Sendable {
    /// Requests allowed per window; 0 is unlimited.
    public struct Limits: Sendable, Hashable {
        public var perMinute: Int64
        public var perDay: Int64
        public init(perMinute: Int64, perDay: Int64) {
            self.perMinute = perMinute
            self.perDay = perDay
        }
    }

    /// The outcome of ``admit(keyID:limits:nowMs:)``.
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// Requests left in the window after this one; `nil` when the window is unlimited.
        public var remainingMinute: Int64?
        public var remainingDay: Int64?
        /// Start of the next minute / UTC day, ms since the epoch.
        public var resetMinuteMs: Int64
        public var resetDayMs: Int64
        /// When refused: seconds until the exhausted window resets (at least 1).
        public var retryAfterSeconds: Int64
        /// When refused: which window is exhausted (`minute` or `day`).
        public var exhausted: String?
    }

    struct Window {
        var minuteStart: Int64 = .min
        var minuteCount: Int64 = 0
        var dayStart: Int64 = .min
        var dayCount: Int64 = 0
    }

    private let windows = Mutex<[String: Window]>([:])

    public init() {}

    /// Counts one request of `keyID` if both windows have room.
    public func admit(keyID: String, limits: Limits, nowMs: Int64) -> Decision {
        let minuteStart = Self.floor(nowMs, 60_000)
        let dayStart = Self.floor(nowMs, 86_400_000)
        let resetMinute = minuteStart + 60_000
        let resetDay = dayStart + 86_400_000
        return windows.withLock { all in
            var w = all[keyID] ?? Window()
            if w.minuteStart != minuteStart {
                w.minuteStart = minuteStart
                w.minuteCount = 0
            }
            if w.dayStart != dayStart {
                w.dayStart = dayStart
                w.dayCount = 0
            }
            var exhausted: String?
            var retry: Int64 = 0
            if limits.perDay > 0 && w.dayCount >= limits.perDay {
                exhausted = "day"
                retry = resetDay - nowMs
            } else if limits.perMinute > 0 && w.minuteCount >= limits.perMinute {
                exhausted = "minute"
                retry = resetMinute - nowMs
            }
            if exhausted == nil {
                w.minuteCount += 1
                w.dayCount += 1
            }
            all[keyID] = w
            if all.count > 100_000 { all = all.filter { $0.value.dayStart == dayStart } }
            return Decision(
                allowed: exhausted == nil,
                remainingMinute: limits.perMinute > 0 ? max(0, limits.perMinute - w.minuteCount) : nil,
                remainingDay: limits.perDay > 0 ? max(0, limits.perDay - w.dayCount) : nil,
                resetMinuteMs: resetMinute, resetDayMs: resetDay,
                retryAfterSeconds: exhausted == nil ? 0 : max(1, (retry + 999) / 1000),
                exhausted: exhausted)
        }
    }

    static func floor(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a - a % b : a - ((a % b) + b) % b
    }
}
