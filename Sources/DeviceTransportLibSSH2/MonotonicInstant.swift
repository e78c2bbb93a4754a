#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A point on `CLOCK_MONOTONIC` in nanoseconds: what the reactor's timers and every deadline use.
package struct MonotonicInstant: Comparable, Hashable, Sendable {
    package var nanoseconds: UInt64

    package init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current time.
    package static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// This instant moved by `duration` (saturating; negative durations count as zero).
    package func advanced(by duration: Duration) -> MonotonicInstant {
        let nanos = duration.nanosecondsSaturated
        let (sum, overflow) = nanoseconds.addingReportingOverflow(nanos)
        return MonotonicInstant(nanoseconds: overflow ? .max : sum)
    }

    /// Time from `self` to `other`; zero if `other` is earlier.
    package func duration(to other: MonotonicInstant) -> Duration {
        other.nanoseconds > nanoseconds ? .nanoseconds(Int64(clamping: other.nanoseconds - nanoseconds)) : .zero
    }

    package static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The earlier of two optional deadlines (`nil` = no deadline).
    package static func earliest(_ a: MonotonicInstant?, _ b: MonotonicInstant?) -> MonotonicInstant? {
        switch (a, b) {
        case (nil, let b): b
        case (let a, nil): a
        case (let a?, let b?): min(a, b)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `UInt64.max`; negative durations give 0.
    package var nanosecondsSaturated: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (secNanos, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, overflow2) = secNanos.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow2 ? .max : total
    }

    /// A short human form for messages: "1.5s", "250ms".
    package var shortDescription: String {
        let nanos = nanosecondsSaturated
        if nanos % 1_000_000_000 == 0 { return "\(nanos / 1_000_000_000)s" }
        if nanos >= 1_000_000_000 {
            let tenths = (nanos + 50_000_000) / 100_000_000
            return "\(tenths / 10).\(tenths % 10)s"
        }
        return "\((nanos + 500_000) / 1_000_000)ms"
    }
}
