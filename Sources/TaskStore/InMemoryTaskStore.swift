public import BackupModels
public import Foundation
import Synchronization

/// Shared bookkeeping of a task's state, used by every store: applies journal changes and keeps
/// counters consistent with the results.
package struct TaskState: Sendable {
    package var summary: BackupTaskSummary
    package var devices: [DeviceRef]
    package var results: [DeviceBackupResult] = []
    package var resultIndex: [DeviceID: Int] = [:]
    /// Creation order, for stable newest-first listings.
    package var sequence: Int

    package init(task: BackupTask, sequence: Int) {
        summary = task.summary
        devices = task.devices
        self.sequence = sequence
        // Counters always follow the results.
        summary.completed = 0
        summary.successCount = 0
        summary.failedCount = 0
        for result in task.results { apply(result) }
    }

    package var task: BackupTask { BackupTask(summary: summary, devices: devices, results: results) }

    /// Applies a final device result; returns `true` when it replaced an earlier result of the device.
    @discardableResult
    package mutating func apply(_ result: DeviceBackupResult) -> Bool {
        if let index = resultIndex[result.deviceID] {
            let old = results[index]
            if old.success { summary.successCount -= 1 } else { summary.failedCount -= 1 }
            results[index] = result
            if result.success { summary.successCount += 1 } else { summary.failedCount += 1 }
            return true
        }
        resultIndex[result.deviceID] = results.count
        results.append(result)
        summary.completed += 1
        if result.success { summary.successCount += 1 } else { summary.failedCount += 1 }
        return false
    }

    package mutating func markRunning(at date: Date, resumed: Bool) {
        summary.status = .running
        if summary.startedAt == nil { summary.startedAt = date }
        if resumed {
            // Saturating: a replayed journal may carry any count.
            summary.resumeCount = summary.resumeCount == .max ? .max : summary.resumeCount + 1
            summary.completedAt = nil
            summary.error = nil
            dropCancelledResults()
        }
    }

    /// Resuming runs `CANCELLED` devices again: their results are removed (and counted out) so that each
    /// device still ends with exactly one final result.
    private mutating func dropCancelledResults() {
        let cancelled = results.filter { $0.errorCode == .cancelled }.count
        guard cancelled > 0 else { return }
        results.removeAll { $0.errorCode == .cancelled }
        summary.completed -= cancelled
        summary.failedCount -= cancelled
        resultIndex.removeAll(keepingCapacity: true)
        for (index, result) in results.enumerated() { resultIndex[result.deviceID] = index }
    }

    package mutating func finish(status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) {
        summary.status = status
        summary.message = message
        summary.error = error
        summary.completedAt = date
    }
}

/// Listing, paging, history and retention over a set of task states: shared by the stores.
package struct TaskIndex: Sendable {
    package var tasks: [String: TaskState] = [:]
    package var byIdempotencyKey: [String: String] = [:]
    /// Task ids that have a result for each device, oldest first (may name pruned tasks).
    package var historyIndex: [DeviceID: [String]] = [:]
    package var nextSequence = 0

    package init() {}

    package func existing(for task: BackupTask) -> BackupTask? {
        if tasks[task.taskID] != nil { return tasks[task.taskID]!.task }
        if let key = task.idempotencyKey, let id = byIdempotencyKey[key] { return tasks[id]?.task }
        return nil
    }

    package mutating func insert(_ task: BackupTask) {
        var state = TaskState(task: task, sequence: nextSequence)
        nextSequence += 1
        state.summary.completed = state.results.count
        tasks[task.taskID] = state
        if let key = task.idempotencyKey { byIdempotencyKey[key] = task.taskID }
        for result in task.results { historyIndex[result.deviceID, default: []].append(task.taskID) }
    }

    package mutating func record(_ results: [DeviceBackupResult], taskID: String) throws(BackupError) {
        guard tasks[taskID] != nil else { throw BackupError.taskNotFound(taskID) }
        for result in results {
            let replaced = tasks[taskID]!.apply(result)
            if !replaced { historyIndex[result.deviceID, default: []].append(taskID) }
        }
    }

    package mutating func update(_ taskID: String, _ body: (inout TaskState) -> Void) throws(BackupError) {
        guard tasks[taskID] != nil else { throw BackupError.taskNotFound(taskID) }
        body(&tasks[taskID]!)
    }

    package func page(_ query: TaskQuery) -> TaskPage {
        let matching = tasks.values
            .filter { query.status == nil || $0.summary.status == query.status }
            .sorted { ($0.summary.createdAt, $0.sequence) > ($1.summary.createdAt, $1.sequence) }
        // Overflow-safe for any page and size, also ones set past TaskQuery's bounds after validation.
        let items = matching[query.window(total: matching.count)].map(\.summary)
        return TaskPage(items: items, total: matching.count, page: query.page, pageSize: query.pageSize)
    }

    /// The device's results, newest `finishedAt` first (ties: the later recorded first), at most `limit`.
    /// The limit applies after sorting: a result recorded late but finished early is not mistaken for a new one.
    package func history(deviceID: DeviceID, limit: Int) -> [DeviceHistoryEntry] {
        let limit = TaskStoreLimits.historyLimit(limit)
        guard limit > 0, let ids = historyIndex[deviceID] else { return [] }
        var entries: [(position: Int, entry: DeviceHistoryEntry)] = []
        var seen: Set<String> = []
        // A task appears twice when a resumed task ran a cancelled device again: keep its latest position.
        for (position, taskID) in ids.enumerated().reversed() where seen.insert(taskID).inserted {
            guard let state = tasks[taskID], let index = state.resultIndex[deviceID] else { continue }
            entries.append((position, DeviceHistoryEntry(taskID: taskID, result: state.results[index])))
        }
        entries.sort { ($0.entry.result.finishedAt, $0.position) > ($1.entry.result.finishedAt, $1.position) }
        return entries.prefix(limit).map(\.entry)
    }

    package var unfinished: [BackupTask] {
        tasks.values.filter { !$0.summary.status.isFinal }.sorted { $0.sequence < $1.sequence }.map(\.task)
    }

    /// The ids `policy` removes.
    package func idsToPrune(_ policy: RetentionPolicy, now: Date) -> [String] {
        let finished = tasks.values.filter { $0.summary.status.isFinal }
            .sorted { ($0.summary.completedAt ?? $0.summary.createdAt, $0.sequence) > ($1.summary.completedAt ?? $1.summary.createdAt, $1.sequence) }
        var remove: Set<String> = []
        if let maxAge = policy.maxAge {
            let seconds = Double(maxAge.components.seconds) + Double(maxAge.components.attoseconds) / 1e18
            let cutoff = now.addingTimeInterval(-seconds)
            for state in finished where (state.summary.completedAt ?? state.summary.createdAt) < cutoff {
                remove.insert(state.summary.taskID)
            }
        }
        if let keep = policy.maxFinishedTasks, finished.count > keep {
            for state in finished[max(0, keep)...] { remove.insert(state.summary.taskID) }
        }
        return Array(remove)
    }

    package mutating func remove(_ ids: [String]) {
        for id in ids {
            guard let state = tasks.removeValue(forKey: id) else { continue }
            if let key = state.summary.idempotencyKey, byIdempotencyKey[key] == id { byIdempotencyKey[key] = nil }
        }
        let removed = Set(ids)
        for (device, taskIDs) in historyIndex {
            let kept = taskIDs.filter { !removed.contains($0) }
            historyIndex[device] = kept.isEmpty ? nil : kept
        }
    }
}

/// Keeps tasks in memory: fast, and gone when the process ends. For tests, demos and embedders that
/// persist elsewhere. For durability use `FileTaskStore`.
public final class InMemoryTaskStore: TaskStore {
    private let index = Mutex(TaskIndex())

    /// Creates an empty store.
    public init() {}

    public func create(_ task: BackupTask) async throws -> TaskCreation {
        index.withLock { index in
            if let existing = index.existing(for: task) { return .existing(existing) }
            index.insert(task)
            return .created(index.tasks[task.taskID]!.task)
        }
    }

    public func markRunning(taskID: String, at date: Date, resumed: Bool) async throws {
        try index.withLock { index throws(BackupError) in
            try index.update(taskID) { $0.markRunning(at: date, resumed: resumed) }
        }
    }

    public func record(_ results: [DeviceBackupResult], taskID: String) async throws {
        try index.withLock { index throws(BackupError) in try index.record(results, taskID: taskID) }
    }

    public func finish(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) async throws {
        try index.withLock { index throws(BackupError) in
            try index.update(taskID) { $0.finish(status: status, message: message, error: error, at: date) }
        }
    }

    public func task(id: String) async throws -> BackupTask? { index.withLock { $0.tasks[id]?.task } }

    public func summary(id: String) async throws -> BackupTaskSummary? { index.withLock { $0.tasks[id]?.summary } }

    public func task(idempotencyKey: String) async throws -> BackupTask? {
        index.withLock { index in index.byIdempotencyKey[idempotencyKey].flatMap { index.tasks[$0]?.task } }
    }

    public func tasks(_ query: TaskQuery) async throws -> TaskPage { index.withLock { $0.page(query) } }

    public func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry] {
        index.withLock { $0.history(deviceID: deviceID, limit: limit) }
    }

    public func unfinishedTasks() async throws -> [BackupTask] { index.withLock { $0.unfinished } }

    public func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int {
        try policy.validate()
        return index.withLock { index in
            let ids = index.idsToPrune(policy, now: now)
            index.remove(ids)
            return ids.count
        }
    }
}
