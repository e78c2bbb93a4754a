import HeapModule
import Synchronization

/// A clock that moves only when a test says so: for deterministic tests of timeouts and backoff
/// without real sleeping.
///
/// ```swift
/// let clock = ManualClock()
/// // … start work that sleeps on `clock` …
/// await clock.waitForSleepers(count: 1)
/// clock.advance(by: .seconds(5))
/// ```
public final class ManualClock: Clock, Sendable {
    /// A point in time of a ``ManualClock``.
    public struct Instant: InstantProtocol, Sendable, Hashable, Comparable {
        /// Time since the clock's start.
        public var offset: Duration

        /// The instant `offset` after the clock's start.
        public init(offset: Duration) { self.offset = offset }

        /// The instant `duration` later.
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        /// The time from this instant to `other`.
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper: Comparable {
        var deadline: Instant
        var id: UInt64
        static func < (lhs: Sleeper, rhs: Sleeper) -> Bool { (lhs.deadline, lhs.id) < (rhs.deadline, rhs.id) }
    }

    private enum Registration {
        case sleeping(CheckedContinuation<Void, any Error>, Instant)
        case cancelledEarly
    }

    private struct State {
        var now = Instant(offset: .zero)
        var heap = Heap<Sleeper>()
        var registrations: [UInt64: Registration] = [:]
        var sleeping = 0
        var nextID: UInt64 = 0
        var sleepWaiters: [(predicate: @Sendable ([Duration]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var requestedDurations: [Duration] = []
    }

    private let state = Mutex(State())

    /// Creates a clock at offset zero with no sleepers.
    public init() {}

    /// The current instant: moves only with ``advance(by:)`` and ``advanceToNextDeadline()``.
    public var now: Instant { state.withLock { $0.now } }
    /// One nanosecond.
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are sleeping on this clock right now.
    public var sleeperCount: Int { state.withLock { $0.sleeping } }

    /// Every sleep duration requested so far (deadline − now at the time of the call), in order.
    public var requestedSleeps: [Duration] { state.withLock { $0.requestedDurations } }

    /// The earliest deadline any sleeper waits for.
    public var nextDeadline: Instant? {
        state.withLock { state in
            state.heap.unordered.filter { if case .sleeping = state.registrations[$0.id] { true } else { false } }
                .map(\.deadline).min()
        }
    }

    /// Suspends until the clock is advanced to `deadline` (or past it); returns at once for a deadline
    /// that has passed. Throws `CancellationError` when the sleeping task is cancelled.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id: UInt64 = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (immediate, waiters): (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                    if case .cancelledEarly = state.registrations.removeValue(forKey: id) {
                        return (.failure(CancellationError()), [])
                    }
                    state.requestedDurations.append(state.now.duration(to: deadline))
                    if deadline <= state.now { return (.success(()), []) }
                    state.heap.insert(Sleeper(deadline: deadline, id: id))
                    state.registrations[id] = .sleeping(continuation, deadline)
                    state.sleeping += 1
                    return (nil, Self.takeSatisfiedWaiters(&state))
                }
                if let immediate { continuation.resume(with: immediate) }
                for waiter in waiters { waiter.resume() }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                switch state.registrations[id] {
                case .sleeping(let continuation, _):
                    state.registrations[id] = nil
                    state.sleeping -= 1
                    return continuation
                case .cancelledEarly:
                    return nil
                case nil:
                    state.registrations[id] = .cancelledEarly
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
        state.withLock { state in
            if case .cancelledEarly = state.registrations[id] { state.registrations[id] = nil }
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by duration: Duration) {
        let due: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            var due: [CheckedContinuation<Void, any Error>] = []
            while let top = state.heap.min, top.deadline <= state.now {
                state.heap.removeMin()
                if case .sleeping(let continuation, _) = state.registrations.removeValue(forKey: top.id) {
                    state.sleeping -= 1
                    due.append(continuation)
                }
            }
            return due
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves time to the earliest sleeper's deadline (if any) and wakes it; returns whether one woke.
    @discardableResult
    public func advanceToNextDeadline() -> Bool {
        guard let next = nextDeadline else { return false }
        advance(by: now.duration(to: next))
        return true
    }

    /// Suspends until at least `count` tasks sleep on this clock.
    public func waitForSleepers(count: Int) async {
        await waitUntil { $0.count >= count }
    }

    /// Suspends until some task sleeps with exactly `remaining` time left (± `tolerance`): e.g. a
    /// backoff sleep whose delay an event announced.
    public func waitForSleeper(remaining: Duration, tolerance: Duration = .microseconds(1)) async {
        await waitUntil { remainders in remainders.contains { abs(($0 - remaining).seconds) <= tolerance.seconds } }
    }

    private func waitUntil(_ predicate: @escaping @Sendable ([Duration]) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state in
                if predicate(Self.remainders(state)) { return true }
                state.sleepWaiters.append((predicate, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func remainders(_ state: State) -> [Duration] {
        state.registrations.values.compactMap { registration in
            if case .sleeping(_, let deadline) = registration { return state.now.duration(to: deadline) }
            return nil
        }
    }

    private static func takeSatisfiedWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        let remainders = remainders(state)
        var ready: [CheckedContinuation<Void, Never>] = []
        state.sleepWaiters.removeAll { waiter in
            guard waiter.predicate(remainders) else { return false }
            ready.append(waiter.continuation)
            return true
        }
        return ready
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
