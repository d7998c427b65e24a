import TokentraConfig

/// When a scheduled job runs. All times are UTC.
public enum JobSchedule: Sendable, Hashable, CustomStringConvertible {
    /// Every `seconds` seconds after the previous run started.
    case every(seconds: Int)
    /// Every hour at `minute` past the hour.
    case hourly(minute: Int)
    /// Every UTC day at `time`.
    case daily(TimeOfDay)

    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000

    public var description: String {
        switch self {
        case .every(let s): return "every \(s) s"
        case .hourly(let m): return "hourly at :\(m < 10 ? "0" : "")\(m)"
        case .daily(let t): return "daily at \(t) UTC"
        }
    }

    /// Whether missed runs are caught up at start (calendar schedules).
    var isCalendar: Bool {
        if case .every = self { return false }
        return true
    }

    /// The latest scheduled time at or before `t` (calendar schedules).
    public func previousDue(atOrBefore t: Int64) -> Int64 {
        switch self {
        case .every:
            return t
        case .hourly(let minute):
            let slot = Self.floor(t, Self.hourMs) + Int64(minute) * 60_000
            return slot <= t ? slot : slot - Self.hourMs
        case .daily(let time):
            let slot = Self.floor(t, Self.dayMs) + Int64(time.hour) * Self.hourMs + Int64(time.minute) * 60_000
            return slot <= t ? slot : slot - Self.dayMs
        }
    }

    /// The first scheduled time strictly after `t`.
    public func nextDue(after t: Int64) -> Int64 {
        switch self {
        case .every(let seconds):
            return t + Int64(max(1, seconds)) * 1000
        case .hourly:
            return previousDue(atOrBefore: t) + Self.hourMs
        case .daily:
            return previousDue(atOrBefore: t) + Self.dayMs
        }
    }

    static func floor(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a - a % b : a - ((a % b) + b) % b
    }
}
