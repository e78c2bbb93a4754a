public import BackupModels
public import Foundation

/// The result of ``TaskStore/create(_:)``.
public enum TaskCreation: Sendable, Hashable {
    /// The task was stored.
    case created(BackupTask)
    /// A task with the same idempotency key already exists; nothing was stored.
    case existing(BackupTask)

    /// The stored task, new or existing.
    public var task: BackupTask {
        switch self {
        case .created(let task), .existing(let task): task
        }
    }
}

/// Which tasks to list: status filter and paging (newest first).
public struct TaskQuery: Sendable, Hashable {
    /// Only tasks with this status; `nil` for all.
    public var status: BackupTaskStatus?
    /// 1-based page number.
    public var page: Int
    /// Tasks per page, 1–``maxPageSize``.
    public var pageSize: Int

    /// The largest allowed ``pageSize``.
    public static let maxPageSize = 100

    /// Creates a query; `page` < 1 or `pageSize` outside 1–100 is a `ValidationError`.
    public init(status: BackupTaskStatus? = nil, page: Int = 1, pageSize: Int = 20) throws(ValidationError) {
        var violations: [FieldViolation] = []
        if page < 1 { violations.append(FieldViolation(field: "page", value: String(page), allowed: "1 or more")) }
        if !(1...Self.maxPageSize).contains(pageSize) {
            violations.append(FieldViolation(field: "page_size", value: String(pageSize), allowed: "1...\(Self.maxPageSize)"))
        }
        if !violations.isEmpty { throw ValidationError(violations: violations) }
        self.status = status
        self.page = page
        self.pageSize = pageSize
    }
}

/// One page of a task listing.
public struct TaskPage: Sendable, Hashable, Codable {
    /// The tasks of this page, newest first.
    public var items: [BackupTaskSummary]
    /// Tasks matching the query on all pages.
    public var total: Int
    /// The 1-based page number.
    public var page: Int
    /// Tasks per page, as requested.
    public var pageSize: Int

    /// Creates a page.
    public init(items: [BackupTaskSummary], total: Int, page: Int, pageSize: Int) {
        self.items = items
        self.total = total
        self.page = page
        self.pageSize = pageSize
    }

    enum CodingKeys: String, CodingKey {
        case items, total, page
        case pageSize = "page_size"
    }
}

/// Which finished tasks ``TaskStore/prune(_:now:)`` removes. Unfinished tasks are never pruned.
public struct RetentionPolicy: Sendable, Hashable {
    /// Remove finished tasks that completed longer ago than this.
    public var maxAge: Duration?
    /// Keep at most this many finished tasks (the newest).
    public var maxFinishedTasks: Int?

    /// Creates a policy; `nil` limits nothing.
    public init(maxAge: Duration? = nil, maxFinishedTasks: Int? = nil) {
        self.maxAge = maxAge
        self.maxFinishedTasks = maxFinishedTasks
    }
}

/// Persists backup tasks, their per-device results and the devices' backup history.
///
/// The protocol is a journal of state changes — create, mark running, record results, finish — so that
/// an append-only store fits it naturally: recording a device result must not rewrite the whole task.
/// Guarantees every store gives (and the shared conformance suite checks):
/// - ``create(_:)`` is atomic with respect to idempotency keys: two creates with one key store one task;
/// - a device has at most one final result per task: recording it again replaces the earlier one;
/// - counters (`completed`, `success_count`, `failed_count`) always match the results;
/// - when a method returns, the change is as durable as the store promises (the file store: on disk);
/// - no secret is ever stored (the models carry none).
///
/// Errors are `BackupError`s: `STORE_FAILED` for I/O problems, `TASK_NOT_FOUND` for unknown ids.
public protocol TaskStore: Sendable {
    /// Stores a new task — or, when a task with the same idempotency key exists, returns that one.
    func create(_ task: BackupTask) async throws -> TaskCreation
    /// Marks a task running (first start, or resumed after an interruption when `resumed`).
    func markRunning(taskID: String, at date: Date, resumed: Bool) async throws
    /// Records final results of devices of a task.
    func record(_ results: [DeviceBackupResult], taskID: String) async throws
    /// Ends a task with a final status.
    func finish(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) async throws
    /// A task with its devices and results.
    func task(id: String) async throws -> BackupTask?
    /// A task's summary (cheaper than ``task(id:)`` for large tasks).
    func summary(id: String) async throws -> BackupTaskSummary?
    /// The task created with an idempotency key, if any.
    func task(idempotencyKey: String) async throws -> BackupTask?
    /// Tasks, newest first, filtered and paged.
    func tasks(_ query: TaskQuery) async throws -> TaskPage
    /// A device's results across tasks, newest first.
    func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry]
    /// Tasks that are `pending` or `running`: after a restart, the ones a dead process left behind.
    func unfinishedTasks() async throws -> [BackupTask]
    /// Removes finished tasks by `policy`; returns how many were removed.
    func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int
}

extension BackupError {
    /// A `TASK_NOT_FOUND` error for `taskID`.
    public static func taskNotFound(_ taskID: String) -> BackupError {
        BackupError(.taskNotFound, "No backup task has the id \(taskID).", hint: "List tasks to find the right id.")
    }
}
