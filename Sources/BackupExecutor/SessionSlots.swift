import HeapModule
import Synchronization

/// The executor-wide cap on simultaneous device sessions, shared by all tasks.
///
/// Waiters are served by priority (high → normal → low), then by task submission order, then by
/// arrival: a pure ordering over a heap, with slots handed over directly on release (no thundering herd).
/// Cancellation of a waiter resumes it exactly once, even when it arrives before the waiter registered.
final class SessionSlots: Sendable {
    struct Key: Comparable {
        var rank: Int
        var taskSequence: Int
        var waiterID: UInt64

        /// "Greater" is served first.
        static func < (lhs: Key, rhs: Key) -> Bool {
            if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
            if lhs.taskSequence != rhs.taskSequence { return lhs.taskSequence > rhs.taskSequence }
            return lhs.waiterID > rhs.waiterID
        }
    }

    private enum Registration {
        case waiting(CheckedContinuation<Void, any Error>)
        case cancelledEarly
    }

    private struct State {
        var available: Int
        var inUse = 0
        var peakInUse = 0
        var heap = Heap<Key>()
        var registrations: [UInt64: Registration] = [:]
        var waiting = 0
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        state = Mutex(State(available: capacity))
    }

    /// Slots taken right now, and the most ever taken at once.
    var usage: SessionUsage { state.withLock { SessionUsage(inUse: $0.inUse, peak: $0.peakInUse, waiting: $0.waiting) } }

    /// Waits for a slot. Throws `CancellationError` if the task is cancelled while waiting.
    func acquire(priority: Int, taskSequence: Int) async throws {
        try await wait(priority: priority, taskSequence: taskSequence, holding: false)
    }

    /// Called by a worker that holds a slot and has more work: keeps the slot unless work of a higher
    /// priority or an earlier task waits, in which case the slot goes to that work and this worker
    /// waits its turn. Throws `CancellationError` (holding no slot) if cancelled while waiting.
    func continueHolding(priority: Int, taskSequence: Int) async throws {
        try await wait(priority: priority, taskSequence: taskSequence, holding: true)
    }

    private func wait(priority: Int, taskSequence: Int, holding: Bool) async throws {
        let id: UInt64 = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let key = Key(rank: priority, taskSequence: taskSequence, waiterID: id)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, handOver): (Result<Void, any Error>?, CheckedContinuation<Void, any Error>?) = state.withLock { state in
                    if case .cancelledEarly = state.registrations[id] {
                        state.registrations[id] = nil
                        if holding { return (.failure(CancellationError()), Self.releaseLocked(&state)) }
                        return (.failure(CancellationError()), nil)
                    }
                    var handOver: CheckedContinuation<Void, any Error>?
                    if holding {
                        guard let best = Self.bestWaiter(&state), Self.servedBefore(best, key) else {
                            return (.success(()), nil)
                        }
                        handOver = Self.popWaiter(&state)
                    } else if state.available > 0 && state.waiting == 0 {
                        state.available -= 1
                        state.inUse += 1
                        state.peakInUse = max(state.peakInUse, state.inUse)
                        return (.success(()), nil)
                    }
                    state.heap.insert(key)
                    state.registrations[id] = .waiting(continuation)
                    state.waiting += 1
                    return (nil, handOver)
                }
                handOver?.resume()
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                switch state.registrations[id] {
                case .waiting(let continuation):
                    state.registrations[id] = nil
                    state.waiting -= 1
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
        // A cancellation that arrived after the slot was granted left a marker behind: drop it.
        state.withLock { state in
            if case .cancelledEarly = state.registrations[id] { state.registrations[id] = nil }
        }
    }

    /// Whether `waiting` work goes before `holder`'s next work: higher priority, or an earlier task.
    private static func servedBefore(_ waiting: Key, _ holder: Key) -> Bool {
        if waiting.rank != holder.rank { return waiting.rank > holder.rank }
        return waiting.taskSequence < holder.taskSequence
    }

    private static func bestWaiter(_ state: inout State) -> Key? {
        while let top = state.heap.max {
            if case .waiting = state.registrations[top.waiterID] { return top }
            state.heap.removeMax()
        }
        return nil
    }

    private static func popWaiter(_ state: inout State) -> CheckedContinuation<Void, any Error>? {
        while let key = state.heap.popMax() {
            if case .waiting(let continuation) = state.registrations.removeValue(forKey: key.waiterID) {
                state.waiting -= 1
                return continuation
            }
        }
        return nil
    }

    private static func releaseLocked(_ state: inout State) -> CheckedContinuation<Void, any Error>? {
        if let next = popWaiter(&state) { return next }
        state.available += 1
        state.inUse -= 1
        return nil
    }

    /// Returns a slot: hands it to the best waiter, or makes it available.
    func release() {
        let next = state.withLock { state in Self.releaseLocked(&state) }
        next?.resume()
    }
}
/// Device sessions across all tasks of an executor.
public struct SessionUsage: Sendable, Hashable {
    /// Slots taken right now.
    public var inUse: Int
    /// The most slots ever taken at once.
    public var peak: Int
    /// Workers waiting for a slot right now.
    public var waiting: Int
}
