import HeapModule
import Synchronization

/// Fires handlers when their deadlines pass, with one sleeping task for all of them.
///
/// Per-device timeouts use it instead of one timer task per attempt: registering and cancelling a
/// deadline is a heap insert and a dictionary removal, and only the earliest deadline is ever slept on.
final class DeadlineWatchdog: Sendable {
    private struct Entry: Comparable {
        var deadline: Duration
        var id: UInt64
        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.deadline, lhs.id) < (rhs.deadline, rhs.id) }
    }

    private struct State {
        var heap = Heap<Entry>()
        var handlers: [UInt64: (deadline: Duration, fire: @Sendable () -> Void)] = [:]
        var nextID: UInt64 = 0
        var wake: CheckedContinuation<Void, Never>?
        var wakePending = false
    }

    private let state = Mutex(State())
    private let clock: ExecutorClock

    init(clock: ExecutorClock) { self.clock = clock }

    /// Calls `handler` once `deadline` (executor clock time) has passed, unless cancelled first; returns
    /// the id to cancel it with.
    func register(at deadline: Duration, _ handler: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, wake): (UInt64, CheckedContinuation<Void, Never>?) = state.withLock { state in
            state.nextID += 1
            let id = state.nextID
            let earliest = Self.earliestLive(&state)
            state.heap.insert(Entry(deadline: deadline, id: id))
            state.handlers[id] = (deadline, handler)
            if let earliest, earliest <= deadline { return (id, nil) }
            return (id, Self.takeWake(&state))
        }
        wake?.resume()
        return id
    }

    /// Cancels a deadline; its handler will not run (unless it already has).
    func cancel(_ id: UInt64) {
        state.withLock { state in
            state.handlers[id] = nil
            // Keep the heap from filling with dead entries when deadlines are long.
            if state.heap.count > 1024 && state.heap.count > 4 * state.handlers.count {
                state.heap = Heap(state.handlers.map { Entry(deadline: $0.value.deadline, id: $0.key) })
            }
        }
    }

    /// Fires due handlers until the surrounding task is cancelled.
    func run() async {
        while !Task.isCancelled {
            let now = clock.now
            let (due, next): ([@Sendable () -> Void], Duration?) = state.withLock { state in
                var due: [@Sendable () -> Void] = []
                while let top = state.heap.min, top.deadline <= now {
                    state.heap.removeMin()
                    if let handler = state.handlers.removeValue(forKey: top.id) { due.append(handler.fire) }
                }
                return (due, Self.earliestLive(&state))
            }
            for handler in due { handler() }
            if !due.isEmpty { continue }
            if let next {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { [clock] in try? await clock.sleep(until: next) }
                    group.addTask { await self.waitForWake() }
                    await group.next()
                    group.cancelAll()
                }
            } else {
                await waitForWake()
            }
        }
    }

    private static func earliestLive(_ state: inout State) -> Duration? {
        while let top = state.heap.min {
            if state.handlers[top.id] != nil { return top.deadline }
            state.heap.removeMin()
        }
        return nil
    }

    private static func takeWake(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        if let wake = state.wake {
            state.wake = nil
            return wake
        }
        state.wakePending = true
        return nil
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.wakePending || Task.isCancelled {
                        state.wakePending = false
                        return true
                    }
                    state.wake = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let wake = state.withLock { state in Self.takeWake(&state) }
            wake?.resume()
        }
    }
}
