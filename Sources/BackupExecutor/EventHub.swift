public import BackupModels
import DequeModule
import Foundation
import Synchronization

/// Broadcasts one task's events to any number of subscribers and owns the task's live counters.
///
/// Publishing is O(subscribers) and never waits: each subscriber has a bounded buffer. When a buffer is
/// full the oldest event is dropped and counted; the subscriber then receives an
/// ``BackupEvent/Kind/eventsDropped(count:)`` marker before the next event. The terminal
/// `task_finished` event is never dropped. Every event carries the counters, so a subscriber that lost
/// events still shows correct totals.
final class TaskEventHub: Sendable {
    private struct State {
        var sequence: UInt64 = 0
        var progress: BackupProgress
        var subscribers: [UInt64: EventSubscriber] = [:]
        var nextSubscriberID: UInt64 = 0
        var terminal: BackupEvent?
        var closed = false
    }

    let taskID: String
    private let bufferLimit: Int
    private let state: Mutex<State>
    private let wallClock: @Sendable () -> Date

    init(taskID: String, progress: BackupProgress, bufferLimit: Int, wallClock: @escaping @Sendable () -> Date) {
        self.taskID = taskID
        self.bufferLimit = max(2, bufferLimit)
        self.wallClock = wallClock
        state = Mutex(State(progress: progress))
    }

    var progress: BackupProgress { state.withLock { $0.progress } }

    /// Updates the counters with `update` and publishes `kind` atomically.
    @discardableResult
    func publish(_ kind: BackupEvent.Kind, update: ((inout BackupProgress) -> Void)? = nil) -> BackupEvent {
        let date = wallClock()
        return state.withLock { state in
            update?(&state.progress)
            state.sequence += 1
            let event = BackupEvent(taskID: taskID, sequence: state.sequence, timestamp: date, progress: state.progress, kind: kind)
            for subscriber in state.subscribers.values { subscriber.push(event) }
            if event.isTerminal {
                state.terminal = event
                state.subscribers.removeAll()
            }
            return event
        }
    }

    /// Adds a subscriber; `nil` if the task already published its final event.
    func subscribe() -> EventSubscriber? {
        state.withLock { state in
            if state.terminal != nil || state.closed { return nil }
            state.nextSubscriberID += 1
            let id = state.nextSubscriberID
            let subscriber = EventSubscriber(limit: bufferLimit) { [weak self] in self?.remove(id) }
            state.subscribers[id] = subscriber
            return subscriber
        }
    }

    var terminalEvent: BackupEvent? { state.withLock { $0.terminal } }

    /// Ends every subscriber's stream without a final event (the task was interrupted, not finished).
    func end() {
        let subscribers: [EventSubscriber] = state.withLock { state in
            state.closed = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish(with: []) }
    }

    private func remove(_ id: UInt64) { _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }
}

/// One subscriber's bounded buffer and waiting consumer.
final class EventSubscriber: Sendable {
    private struct State {
        var buffer = Deque<BackupEvent>()
        var dropped = 0
        var finished = false
        var waiter: CheckedContinuation<BackupEvent?, Never>?
        var cancelledEarly = false
    }

    private let limit: Int
    private let state = Mutex(State())
    private let onTerminate: @Sendable () -> Void

    init(limit: Int, onTerminate: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.onTerminate = onTerminate
    }

    func push(_ event: BackupEvent) {
        let waiter: CheckedContinuation<BackupEvent?, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            if event.isTerminal { state.finished = true }
            if let waiter = state.waiter, state.buffer.isEmpty, state.dropped == 0 {
                state.waiter = nil
                return waiter
            }
            if state.buffer.count >= limit {
                state.buffer.removeFirst()
                state.dropped += 1
            }
            state.buffer.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// Puts events at the front (the snapshot), after filtering stale buffered ones.
    func prepend(_ events: [BackupEvent], dropBufferedWhere isStale: (BackupEvent) -> Bool) {
        state.withLock { state in
            state.buffer.removeAll(where: isStale)
            state.buffer.insert(contentsOf: events, at: 0)
        }
    }

    /// Ends the stream after what is buffered (e.g. the task had already finished).
    func finish(with events: [BackupEvent]) {
        let (waiter, first): (CheckedContinuation<BackupEvent?, Never>?, BackupEvent?) = state.withLock { state in
            state.buffer.append(contentsOf: events)
            state.finished = true
            guard let waiter = state.waiter else { return (nil, nil) }
            state.waiter = nil
            return (waiter, Self.take(&state))
        }
        waiter?.resume(returning: first)
    }

    func next() async -> BackupEvent? {
        if let ready = takeReady() { return ready.event }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<BackupEvent?, Never>) in
                let immediate: (BackupEvent?, Bool) = state.withLock { state in
                    if state.cancelledEarly { return (nil, true) }
                    if let ready = Self.take(&state) { return (ready, true) }
                    if state.finished { return (nil, true) }
                    state.waiter = continuation
                    return (nil, false)
                }
                if immediate.1 { continuation.resume(returning: immediate.0) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<BackupEvent?, Never>? in
                state.cancelledEarly = true
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
            onTerminate()
        }
    }

    private func takeReady() -> (event: BackupEvent?, ready: Bool)? {
        state.withLock { state in
            if let event = Self.take(&state) { return (event, true) }
            if state.finished { return (nil, true) }
            return nil
        }
    }

    private static func take(_ state: inout State) -> BackupEvent? {
        guard let first = state.buffer.first else { return nil }
        if state.dropped > 0 {
            let count = state.dropped
            state.dropped = 0
            return BackupEvent(taskID: first.taskID, sequence: first.sequence, timestamp: first.timestamp, progress: first.progress, kind: .eventsDropped(count: count))
        }
        return state.buffer.popFirst()
    }

    func cancel() { onTerminate() }
}

/// A live stream of one task's events: first a `BackupEvent.Kind.snapshot(_:)` of the task as it is,
/// then every event until `BackupEvent.Kind.taskFinished(_:)`, after which the stream ends.
///
/// Each stream has its own bounded buffer (``BackupExecutorConfiguration/eventBufferLimit``): a slow
/// consumer loses the oldest events (and is told how many with
/// `BackupEvent.Kind.eventsDropped(count:)`) but never slows the backup. Cancelling the consuming
/// task or dropping the iterator unsubscribes.
public struct BackupEventStream: AsyncSequence, Sendable {
    public typealias Element = BackupEvent

    private let subscriber: EventSubscriber

    init(subscriber: EventSubscriber) { self.subscriber = subscriber }

    public struct AsyncIterator: AsyncIteratorProtocol {
        private final class Handle: Sendable {
            let subscriber: EventSubscriber
            init(_ subscriber: EventSubscriber) { self.subscriber = subscriber }
            deinit { subscriber.cancel() }
        }

        private let handle: Handle

        init(subscriber: EventSubscriber) { handle = Handle(subscriber) }

        public mutating func next() async -> BackupEvent? { await handle.subscriber.next() }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> BackupEvent? {
            await handle.subscriber.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscriber: subscriber) }
}
