/// A type-erased clock measured from the executor's start: lets the executor take any `Clock` (the
/// continuous clock in production, a manual clock in tests) without becoming generic.
struct ExecutorClock: Sendable {
    private let nowBody: @Sendable () -> Duration
    private let sleepBody: @Sendable (Duration) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        nowBody = { origin.duration(to: clock.now) }
        sleepBody = { deadline in try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil) }
    }

    /// Time since the clock's origin.
    var now: Duration { nowBody() }

    /// Sleeps until `deadline` (time since origin); throws `CancellationError` when cancelled.
    func sleep(until deadline: Duration) async throws { try await sleepBody(deadline) }

    /// Sleeps for `duration`.
    func sleep(for duration: Duration) async throws { try await sleepBody(now + duration) }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
