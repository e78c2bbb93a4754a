public import Foundation

/// The lifecycle of a backup task.
///
/// `pending` → `running` → one of the final states: `completed` (every device succeeded), `partial`
/// (some failed), `failed` (all failed, or the task itself failed), `cancelled`.
public enum BackupTaskStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Submitted, not started yet (waiting for the executor or for session slots).
    case pending
    /// Devices are being backed up.
    case running
    /// Every device succeeded, or no device matched the filter.
    case completed
    /// Some devices succeeded, some failed.
    case partial
    /// Every device failed, or the task itself failed (see ``BackupTaskSummary/error``).
    case failed
    /// Cancelled; finished devices keep their results, the others are `CANCELLED`.
    case cancelled

    /// Whether the task has ended.
    public var isFinal: Bool {
        switch self {
        case .pending, .running: false
        case .completed, .partial, .failed, .cancelled: true
        }
    }

    /// The final status for a task whose devices all have results.
    public static func final(successCount: Int, failedCount: Int) -> BackupTaskStatus {
        if failedCount == 0 { return .completed }
        if successCount == 0 { return .failed }
        return .partial
    }
}

/// Everything about a task except its per-device lists: what task listings return.
public struct BackupTaskSummary: Sendable, Codable, Hashable, Identifiable {
    /// The task's id (a lower-case UUID), `task_id` on the wire.
    public var taskID: String
    /// Where the task is in its lifecycle.
    public var status: BackupTaskStatus
    /// Devices selected.
    public var total: Int
    /// Devices with a final result.
    public var completed: Int
    /// Devices backed up successfully.
    public var successCount: Int
    /// Devices that failed, cancelled ones included.
    public var failedCount: Int
    /// A human-readable status line.
    public var message: String
    /// When the task was submitted.
    public var createdAt: Date
    /// When it started running (first start; a resumed task keeps it).
    public var startedAt: Date?
    /// When it reached its final status.
    public var completedAt: Date?
    /// Who submitted it (free text from the submitter).
    public var createdBy: String?
    /// The scheduling priority, from the filter.
    public var priority: BackupPriority
    /// The filter it was submitted with.
    public var filter: BackupFilter
    /// The idempotency key it was submitted with, if any.
    public var idempotencyKey: String?
    /// Why the task itself failed (as opposed to single devices), e.g. `STORE_FAILED` or "interrupted".
    public var error: BackupError?
    /// How many times the task was resumed after an interruption.
    public var resumeCount: Int

    public var id: String { taskID }

    /// `completed / total` in percent, two decimals; 100 for an empty task.
    public var progressPercentage: Double {
        guard total > 0 else { return 100 }
        return (Double(completed) / Double(total) * 10_000).rounded() / 100
    }

    /// Creates a summary (stores and tests; the executor creates tasks).
    public init(
        taskID: String, status: BackupTaskStatus, total: Int, completed: Int = 0, successCount: Int = 0,
        failedCount: Int = 0, message: String, createdAt: Date, startedAt: Date? = nil, completedAt: Date? = nil,
        createdBy: String? = nil, priority: BackupPriority, filter: BackupFilter, idempotencyKey: String? = nil,
        error: BackupError? = nil, resumeCount: Int = 0
    ) {
        self.taskID = taskID
        self.status = status
        self.total = total
        self.completed = completed
        self.successCount = successCount
        self.failedCount = failedCount
        self.message = message
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.createdBy = createdBy
        self.priority = priority
        self.filter = filter
        self.idempotencyKey = idempotencyKey
        self.error = error
        self.resumeCount = resumeCount
    }

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case status, total, completed
        case successCount = "success_count"
        case failedCount = "failed_count"
        case progressPercentage = "progress_percentage"
        case message
        case createdAt = "created_at"
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case createdBy = "created_by"
        case priority, filter
        case idempotencyKey = "idempotency_key"
        case error = "error_details"
        case resumeCount = "resume_count"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taskID = try c.decode(String.self, forKey: .taskID)
        status = try c.decode(BackupTaskStatus.self, forKey: .status)
        total = try c.decode(Int.self, forKey: .total)
        completed = try c.decodeIfPresent(Int.self, forKey: .completed) ?? 0
        successCount = try c.decodeIfPresent(Int.self, forKey: .successCount) ?? 0
        failedCount = try c.decodeIfPresent(Int.self, forKey: .failedCount) ?? 0
        message = try c.decodeIfPresent(String.self, forKey: .message) ?? ""
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        completedAt = try c.decodeIfPresent(Date.self, forKey: .completedAt)
        createdBy = try c.decodeIfPresent(String.self, forKey: .createdBy)
        priority = try c.decodeIfPresent(BackupPriority.self, forKey: .priority) ?? .normal
        filter = try c.decodeIfPresent(BackupFilter.self, forKey: .filter) ?? .default
        idempotencyKey = try c.decodeIfPresent(String.self, forKey: .idempotencyKey)
        error = try c.decodeIfPresent(BackupError.self, forKey: .error)
        resumeCount = try c.decodeIfPresent(Int.self, forKey: .resumeCount) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(taskID, forKey: .taskID)
        try c.encode(status, forKey: .status)
        try c.encode(total, forKey: .total)
        try c.encode(completed, forKey: .completed)
        try c.encode(successCount, forKey: .successCount)
        try c.encode(failedCount, forKey: .failedCount)
        try c.encode(progressPercentage, forKey: .progressPercentage)
        try c.encode(message, forKey: .message)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(completedAt, forKey: .completedAt)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(priority, forKey: .priority)
        try c.encode(filter, forKey: .filter)
        try c.encode(idempotencyKey, forKey: .idempotencyKey)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encode(resumeCount, forKey: .resumeCount)
    }
}

/// A failed device as listed in a task's `errors` (the seed's shape).
public struct TaskErrorEntry: Sendable, Codable, Hashable {
    /// The failed device; `nil` for the task's own error.
    public var deviceID: DeviceID?
    /// The failed device's name; `nil` for the task's own error.
    public var deviceName: String?
    /// Why it failed.
    public var errorCode: BackupError.Code
    /// The error in words.
    public var errorMessage: String

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case deviceName = "device_name"
        case errorCode = "error_code"
        case errorMessage = "error_message"
    }
}

/// A backup task: its summary, the devices it covers and their results.
///
/// Summary fields are reachable directly (`task.status`, `task.successCount`). The JSON is flat, in the
/// seed's wire format, plus `devices`, `results` and `errors` (failed devices, and the task's own error).
@dynamicMemberLookup
public struct BackupTask: Sendable, Codable, Hashable, Identifiable {
    /// Status, counters, timestamps and the filter.
    public var summary: BackupTaskSummary
    /// The devices selected for this task, in the order they were scheduled.
    public var devices: [DeviceRef]
    /// One final result per finished device, in the order they finished.
    public var results: [DeviceBackupResult]

    /// Creates a task (stores and tests; the executor creates tasks).
    public init(summary: BackupTaskSummary, devices: [DeviceRef], results: [DeviceBackupResult] = []) {
        self.summary = summary
        self.devices = devices
        self.results = results
    }

    public var id: String { summary.taskID }

    /// Reads a summary field directly: `task.status`, `task.successCount`.
    public subscript<T>(dynamicMember keyPath: KeyPath<BackupTaskSummary, T>) -> T { summary[keyPath: keyPath] }
    /// Reads or writes a summary field directly.
    public subscript<T>(dynamicMember keyPath: WritableKeyPath<BackupTaskSummary, T>) -> T {
        get { summary[keyPath: keyPath] }
        set { summary[keyPath: keyPath] = newValue }
    }

    /// Failed devices, then the task's own error if any.
    public var errors: [TaskErrorEntry] {
        var entries: [TaskErrorEntry] = results.filter { !$0.success }.map {
            TaskErrorEntry(
                deviceID: $0.deviceID, deviceName: $0.deviceName, errorCode: $0.errorCode ?? .internal,
                errorMessage: $0.errorMessage ?? "")
        }
        if let error = summary.error {
            entries.append(TaskErrorEntry(deviceID: nil, deviceName: nil, errorCode: error.code, errorMessage: error.message))
        }
        return entries
    }

    /// Devices of this task that have no final result yet.
    public var remainingDevices: [DeviceRef] {
        let done = Set(results.map(\.deviceID))
        return devices.filter { !done.contains($0.id) }
    }

    enum CodingKeys: String, CodingKey { case devices, results, errors }

    public init(from decoder: any Decoder) throws {
        summary = try BackupTaskSummary(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        devices = try c.decodeIfPresent([DeviceRef].self, forKey: .devices) ?? []
        results = try c.decodeIfPresent([DeviceBackupResult].self, forKey: .results) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(devices, forKey: .devices)
        try c.encode(results, forKey: .results)
        try c.encode(errors, forKey: .errors)
    }
}
