import BackupModels
import Synchronization

/// The executor's in-memory state of a task it is running (or about to run).
final class ActiveTask: Sendable {
    enum Phase { case queued, running, concluding, done }

    enum CancelRequest {
        /// The runner has not started: the caller concludes the task itself.
        case notStarted
        /// Lanes were cancelled; the runner concludes.
        case running
        /// The task is already concluding or done.
        case finished
    }

    private struct State {
        var phase: Phase = .queued
        var nextIndex = 0
        var userCancelled = false
        var stopTakingWork = false
        var failure: BackupError?
        var lanes: Task<Void, Never>?
    }

    let taskID: String
    let sequence: Int
    let filter: BackupFilter
    let devices: [DeviceRef]
    /// Devices known at submission (nil for resumed tasks: looked up in the inventory when they start).
    let knownDevices: [DeviceID: Device]?
    let resumed: Bool
    let hub: TaskEventHub
    let completion = CompletionSignal()
    private let state = Mutex(State())

    init(
        taskID: String, sequence: Int, filter: BackupFilter, devices: [DeviceRef], knownDevices: [DeviceID: Device]?,
        resumed: Bool, hub: TaskEventHub
    ) {
        self.taskID = taskID
        self.sequence = sequence
        self.filter = filter
        self.devices = devices
        self.knownDevices = knownDevices
        self.resumed = resumed
        self.hub = hub
    }

    /// Moves queued → running; `false` if the task was concluded (cancelled) before it started.
    func beginRunning() -> Bool {
        state.withLock { state in
            guard state.phase == .queued else { return false }
            state.phase = .running
            return true
        }
    }

    /// Moves to concluding; `false` if someone else already did.
    func beginConcluding() -> Bool {
        state.withLock { state in
            guard state.phase == .queued || state.phase == .running else { return false }
            state.phase = .concluding
            return true
        }
    }

    func markDone() { state.withLock { $0.phase = .done } }

    /// The next device to back up, or `nil` when none is left or no more work may start.
    func nextDevice() -> DeviceRef? {
        state.withLock { state in
            guard !state.stopTakingWork, state.nextIndex < devices.count else { return nil }
            defer { state.nextIndex += 1 }
            return devices[state.nextIndex]
        }
    }

    var canTakeWork: Bool { state.withLock { !$0.stopTakingWork } }
    /// Whether devices are left to take and work may still start.
    var hasWorkLeft: Bool { state.withLock { !$0.stopTakingWork && $0.nextIndex < devices.count } }
    var isUserCancelled: Bool { state.withLock { $0.userCancelled } }
    var failure: BackupError? { state.withLock { $0.failure } }

    func setLanes(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { state in
            state.lanes = task
            return state.stopTakingWork && (state.userCancelled || state.failure != nil)
        }
        if cancelNow { task.cancel() }
    }

    func requestCancel() -> CancelRequest {
        let (request, lanes): (CancelRequest, Task<Void, Never>?) = state.withLock { state in
            switch state.phase {
            case .concluding, .done: return (.finished, nil)
            case .queued:
                state.userCancelled = true
                state.stopTakingWork = true
                return (.notStarted, nil)
            case .running:
                state.userCancelled = true
                state.stopTakingWork = true
                return (.running, state.lanes)
            }
        }
        lanes?.cancel()
        return request
    }

    /// Stops the task because of an error of its own (e.g. the store failed).
    func fail(_ error: BackupError) {
        let lanes: Task<Void, Never>? = state.withLock { state in
            if state.failure == nil { state.failure = error }
            state.stopTakingWork = true
            return state.lanes
        }
        lanes?.cancel()
    }

    /// Graceful shutdown: finish running devices, start no new ones.
    func stopTakingWork() { state.withLock { $0.stopTakingWork = true } }

    /// Shutdown grace period over: cancel running devices (they get no result and run again on resume).
    func cancelLanes() { state.withLock { $0.lanes }?.cancel() }
}

/// A one-shot result that any number of tasks can wait for.
final class CompletionSignal: Sendable {
    private struct State {
        var result: Result<BackupTask, BackupError>?
        var waiters: [UInt64: CheckedContinuation<BackupTask, any Error>] = [:]
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    func resolve(_ result: Result<BackupTask, BackupError>) {
        let waiters: [CheckedContinuation<BackupTask, any Error>] = state.withLock { state in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Waits for the result, ignoring cancellation of the waiting task (for callers that made sure the
    /// result comes soon, e.g. by cancelling the backup task).
    func waitIgnoringCancellation() async throws -> BackupTask {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BackupTask, any Error>) in
            let ready: Result<BackupTask, any Error>? = state.withLock { state in
                if let result = state.result { return result.mapError { $0 as any Error } }
                state.nextID += 1
                state.waiters[state.nextID] = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Waits for the result; throws `CancellationError` if the waiting task is cancelled.
    func wait() async throws -> BackupTask {
        let id: UInt64 = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BackupTask, any Error>) in
                let ready: Result<BackupTask, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if let result = state.result { return result.mapError { $0 as any Error } }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<BackupTask, any Error>? = state.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if state.result == nil { state.cancelled.insert(id) }
                return nil
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// A flag set from one task and read from another.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A value set once, by whichever comes first, and awaited by one task (which may stop waiting for the
/// work that was to set it: the later `resolve` is ignored).
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var resolved = false
        var waiter: CheckedContinuation<Value, Never>?
    }

    private let state = Mutex(State())

    /// Sets the value unless it is set already; wakes the waiter.
    func resolve(_ value: Value) {
        let waiter: CheckedContinuation<Value, Never>? = state.withLock { state in
            guard !state.resolved else { return nil }
            state.resolved = true
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// Waits for the value (one waiter at a time).
    func wait() async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            let ready: Value? = state.withLock { state in
                if state.resolved { return state.value }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
