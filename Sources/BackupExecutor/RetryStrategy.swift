public import BackupModels
import BackupSupport
import Synchronization

/// A source of uniformly distributed numbers in `0..<1`, injectable so that backoff jitter is testable.
public struct RandomSource: Sendable {
    private let body: @Sendable () -> Double

    /// Uses `body` for every draw; it must return values in `0..<1`.
    public init(_ body: @escaping @Sendable () -> Double) { self.body = body }

    /// The next number in `0..<1`.
    public func next() -> Double { body() }

    /// The system random number generator.
    public static let system = RandomSource { Double.random(in: 0..<1) }

    /// A reproducible sequence (SplitMix64) for tests and benchmarks.
    public static func seeded(_ seed: UInt64) -> RandomSource {
        let generator = Mutex(SplitMix64(seed: seed))
        return RandomSource {
            let value = generator.withLock { $0.next() }
            return Double(value >> 11) / Double(1 << 53)
        }
    }

    /// Always the same value (for tests).
    public static func constant(_ value: Double) -> RandomSource { RandomSource { value } }
}

/// When and how long to wait before retrying a device: exponential backoff with jitter and a cap.
///
/// After failed attempt *n* (1-based) the nominal delay is `baseDelay × multiplier^(n−1)`, capped at
/// `maxDelay`; the actual delay is the nominal one scaled by a random factor in
/// `1 − jitter ..< 1 + jitter`, and never more than `maxDelay`. Only retryable errors are retried
/// (`BackupError.Code.isRetryable`): a wrong password or a changed host key is never tried again.
public struct RetryStrategy: Sendable, Hashable {
    /// The nominal delay after the first failed attempt.
    public var baseDelay: Duration
    /// The factor by which the nominal delay grows per further attempt (at least 1).
    public var multiplier: Double
    /// The longest delay, jitter included.
    public var maxDelay: Duration
    /// Relative jitter, `0...1` (0.2 = ±20 %).
    public var jitter: Double

    /// Creates a strategy; the defaults give 2 s, 4 s, 8 s, … up to 2 min, ±20 %.
    public init(baseDelay: Duration = .seconds(2), multiplier: Double = 2, maxDelay: Duration = .seconds(120), jitter: Double = 0.2) {
        precondition(multiplier >= 1, "multiplier must be at least 1")
        precondition((0...1).contains(jitter), "jitter must be within 0...1")
        self.baseDelay = baseDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The default: 2 s, 4 s, 8 s, … up to 2 min, ±20 %.
    public static let exponential = RetryStrategy()

    /// Whether to try again after attempt `attempt` (1-based) failed with `error`, given `retryCount`
    /// retries allowed after the first attempt.
    public func shouldRetry(after error: BackupError, attempt: Int, retryCount: Int) -> Bool {
        error.isRetryable && attempt <= retryCount
    }

    /// The delay before the attempt after `attempt`, without jitter.
    public func nominalDelay(afterAttempt attempt: Int) -> Duration {
        let factor = pow(multiplier, Double(max(0, attempt - 1)))
        let seconds = min(baseDelay.seconds * factor, maxDelay.seconds)
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// The delay before the attempt after `attempt`, with jitter drawn from `random`.
    public func delay(afterAttempt attempt: Int, random: RandomSource) -> Duration {
        let nominal = nominalDelay(afterAttempt: attempt).seconds
        let factor = 1 - jitter + 2 * jitter * random.next()
        let seconds = min(nominal * factor, maxDelay.seconds)
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// The smallest and largest delay ``delay(afterAttempt:random:)`` can return.
    public func delayBounds(afterAttempt attempt: Int) -> ClosedRange<Duration> {
        let nominal = nominalDelay(afterAttempt: attempt).seconds
        let low = nominal * (1 - jitter)
        let high = min(nominal * (1 + jitter), maxDelay.seconds)
        return .nanoseconds(Int64((low * 1e9).rounded()))...Duration.nanoseconds(Int64((high * 1e9).rounded()))
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 {
        result *= base
        remaining -= 1
        if result > 1e12 { return result }
    }
    return result
}
