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
///
/// Bounds: `page` is 1–``maxPage``, `pageSize` 1–``maxPageSize``; the initializer rejects anything else with a
/// `ValidationError` naming `page` or `page_size`. A page past the last one is an empty page that still carries
/// the `total`. The properties stay settable; every store treats values set out of bounds safely (see
/// ``offset`` and ``limit``) instead of trusting them.
public struct TaskQuery: Sendable, Hashable {
    /// Only tasks with this status; `nil` for all.
    public var status: BackupTaskStatus?
    /// 1-based page number, 1–``maxPage``.
    public var page: Int
    /// Tasks per page, 1–``maxPageSize``.
    public var pageSize: Int

    /// The largest allowed ``pageSize``.
    public static let maxPageSize = 100

    /// The largest allowed ``page``: 1,000,000 (with the largest page size, 100 million tasks — far more than a
    /// store keeps). Larger page numbers are a `ValidationError`, never an overflow.
    public static let maxPage = 1_000_000

    /// Creates a query; `page` outside 1–``maxPage`` or `pageSize` outside 1–``maxPageSize`` is a
    /// `ValidationError` naming the field (`page`, `page_size`).
    public init(status: BackupTaskStatus? = nil, page: Int = 1, pageSize: Int = 20) throws(ValidationError) {
        var violations: [FieldViolation] = []
        if !(1...Self.maxPage).contains(page) {
            violations.append(FieldViolation(field: "page", value: String(page), allowed: "1...\(Self.maxPage)"))
        }
        if !(1...Self.maxPageSize).contains(pageSize) {
            violations.append(FieldViolation(field: "page_size", value: String(pageSize), allowed: "1...\(Self.maxPageSize)"))
        }
        if !violations.isEmpty { throw ValidationError(violations: violations) }
        self.status = status
        self.page = page
        self.pageSize = pageSize
    }

    /// How many tasks a page holds, for a store to use: ``pageSize`` clamped to 0–``maxPageSize`` (0 when it was
    /// set below 1, so such a page is empty).
    public var limit: Int { min(max(pageSize, 0), Self.maxPageSize) }

    /// How many matching tasks come before this page, for a store to skip: `(page - 1) * limit`, computed without
    /// overflow for any value the properties were set to — a ``page`` below 1 counts as 1, and a product past
    /// `Int.max` saturates to `Int.max` (an empty page past the end).
    public var offset: Int {
        let (product, overflow) = (max(page, 1) - 1).multipliedReportingOverflow(by: limit)
        return overflow ? Int.max : product
    }

    /// The positions of this page's tasks among `total` matching ones: empty when the page is past the end.
    public func window(total: Int) -> Range<Int> {
        let total = max(total, 0)
        let start = min(offset, total)
        return start..<(start + min(limit, total - start))
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
    /// Damaged journal records the store knows of, `nil` when there are none: tasks whose records were damaged
    /// are not in ``items`` (nor in ``total``) — they are named here, with where the damage is and where its copy
    /// was kept, so that nothing vanishes silently. Show it to the user (a listing warning, stderr). Stores
    /// without a journal (in memory) never set it. Encoded as `damage` only when present.
    public var damage: StoreDamage?

    /// Creates a page.
    public init(items: [BackupTaskSummary], total: Int, page: Int, pageSize: Int, damage: StoreDamage? = nil) {
        self.items = items
        self.total = total
        self.page = page
        self.pageSize = pageSize
        self.damage = damage
    }

    enum CodingKeys: String, CodingKey {
        case items, total, page, damage
        case pageSize = "page_size"
    }
}

/// Which finished tasks ``TaskStore/prune(_:now:)`` removes. Unfinished tasks are never pruned.
///
/// Bounds: ``maxFinishedTasks`` and ``maxAge`` must not be negative — ``validate()`` says so with a
/// `ValidationError` naming `max_finished_tasks` or `max_age`, and every store's `prune` calls it first and
/// removes nothing when it fails (a negative count must not read as "remove every finished task").
public struct RetentionPolicy: Sendable, Hashable {
    /// Remove finished tasks that completed longer ago than this; not negative.
    public var maxAge: Duration?
    /// Keep at most this many finished tasks (the newest); not negative.
    public var maxFinishedTasks: Int?

    /// Creates a policy; `nil` limits nothing.
    public init(maxAge: Duration? = nil, maxFinishedTasks: Int? = nil) {
        self.maxAge = maxAge
        self.maxFinishedTasks = maxFinishedTasks
    }

    /// Throws a `ValidationError` naming every negative limit (`max_age`, `max_finished_tasks`).
    public func validate() throws(ValidationError) {
        var violations: [FieldViolation] = []
        if let maxAge, maxAge < .zero {
            violations.append(FieldViolation(field: "max_age", value: "\(maxAge)", allowed: "0 or more"))
        }
        if let maxFinishedTasks, maxFinishedTasks < 0 {
            violations.append(FieldViolation(field: "max_finished_tasks", value: String(maxFinishedTasks), allowed: "0 or more"))
        }
        if !violations.isEmpty { throw ValidationError(violations: violations) }
    }
}

/// Bounds on the count parameters of ``TaskStore`` methods that every store applies (paging bounds are on
/// ``TaskQuery``).
public enum TaskStoreLimits {
    /// The most entries ``TaskStore/history(deviceID:limit:)`` returns: 1,000. A larger `limit` is clamped to it
    /// (not an error); a `limit` of 0 or less returns no entries.
    public static let maxHistoryLimit = 1000

    /// `limit` clamped to 0–``maxHistoryLimit``, as the stores apply it.
    public static func historyLimit(_ limit: Int) -> Int { min(max(limit, 0), maxHistoryLimit) }
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
    /// Tasks, newest first, filtered and paged. A page past the end is empty and carries the `total`; paging
    /// values set out of bounds never trap (see ``TaskQuery/offset``).
    func tasks(_ query: TaskQuery) async throws -> TaskPage
    /// A device's results across tasks, newest first: at most `limit` clamped to
    /// ``TaskStoreLimits/maxHistoryLimit`` entries; none for a `limit` of 0 or less.
    func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry]
    /// Tasks that are `pending` or `running`: after a restart, the ones a dead process left behind.
    func unfinishedTasks() async throws -> [BackupTask]
    /// Removes finished tasks by `policy`; returns how many were removed. A policy that fails
    /// ``RetentionPolicy/validate()`` throws its `ValidationError` and removes nothing.
    func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int
}

extension BackupError {
    /// A `TASK_NOT_FOUND` error for `taskID`.
    public static func taskNotFound(_ taskID: String) -> BackupError {
        BackupError(.taskNotFound, "No backup task has the id \(taskID).", hint: "List tasks to find the right id.")
    }
}
