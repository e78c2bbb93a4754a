public import Foundation

/// A task's counters at the moment of an event.
public struct BackupProgress: Sendable, Codable, Hashable {
    /// Devices selected for the task.
    public var total: Int
    /// Devices with a final result.
    public var completed: Int
    /// Devices backed up successfully.
    public var successCount: Int
    /// Devices that failed (including cancelled ones).
    public var failedCount: Int

    /// Creates counters.
    public init(total: Int, completed: Int = 0, successCount: Int = 0, failedCount: Int = 0) {
        self.total = total
        self.completed = completed
        self.successCount = successCount
        self.failedCount = failedCount
    }

    /// `completed / total` in percent, two decimals; 100 for an empty task.
    public var percentage: Double {
        guard total > 0 else { return 100 }
        return (Double(completed) / Double(total) * 10_000).rounded() / 100
    }

    enum CodingKeys: String, CodingKey {
        case total, completed
        case successCount = "success_count"
        case failedCount = "failed_count"
        case percentage = "progress_percentage"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        total = try c.decode(Int.self, forKey: .total)
        completed = try c.decode(Int.self, forKey: .completed)
        successCount = try c.decode(Int.self, forKey: .successCount)
        failedCount = try c.decode(Int.self, forKey: .failedCount)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(total, forKey: .total)
        try c.encode(completed, forKey: .completed)
        try c.encode(successCount, forKey: .successCount)
        try c.encode(failedCount, forKey: .failedCount)
        try c.encode(percentage, forKey: .percentage)
    }
}

/// A live progress event of a task, as delivered by the executor's event streams.
///
/// Every event carries the task's counters, so a subscriber that missed events (see
/// ``Kind/eventsDropped(count:)``) still shows correct totals. JSON: `{"type": "device_finished",
/// "task_id": …, "sequence": …, "timestamp": …, "progress": {…}, …}`.
public struct BackupEvent: Sendable, Codable, Hashable {
    /// What happened.
    public enum Kind: Sendable, Hashable {
        /// The task as it is now: the first event a subscriber receives.
        case snapshot(BackupTask)
        /// The task started running.
        case taskStarted
        /// The task was resumed after an interruption; `remaining` devices will run.
        case taskResumed(remaining: Int)
        /// An attempt on a device started.
        case deviceStarted(DeviceRef, attempt: Int)
        /// An attempt failed and another follows after `retryDelay` seconds.
        case attemptFailed(DeviceRef, attempt: Int, error: BackupError, retryDelay: Double)
        /// A device has its final result.
        case deviceFinished(DeviceBackupResult)
        /// This subscriber was too slow and `count` events were dropped before this one.
        case eventsDropped(count: Int)
        /// The task ended; the summary has its final status.
        case taskFinished(BackupTaskSummary)

        /// The wire name of the event type.
        public var name: String {
            switch self {
            case .snapshot: "snapshot"
            case .taskStarted: "task_started"
            case .taskResumed: "task_resumed"
            case .deviceStarted: "device_started"
            case .attemptFailed: "attempt_failed"
            case .deviceFinished: "device_finished"
            case .eventsDropped: "events_dropped"
            case .taskFinished: "task_finished"
            }
        }
    }

    /// The task the event belongs to.
    public var taskID: String
    /// Increases by one per event of the task (snapshots and drop markers repeat the last number).
    public var sequence: UInt64
    /// When the event happened.
    public var timestamp: Date
    /// The task's counters right after the event.
    public var progress: BackupProgress
    /// What happened.
    public var kind: Kind

    /// Creates an event.
    public init(taskID: String, sequence: UInt64, timestamp: Date, progress: BackupProgress, kind: Kind) {
        self.taskID = taskID
        self.sequence = sequence
        self.timestamp = timestamp
        self.progress = progress
        self.kind = kind
    }

    /// Whether this is the last event of its task.
    public var isTerminal: Bool {
        if case .taskFinished = kind { return true }
        return false
    }

    enum CodingKeys: String, CodingKey {
        case type
        case taskID = "task_id"
        case sequence, timestamp, progress
        case task, device, attempt, error, result, remaining, count, summary
        case retryDelay = "retry_delay"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.name, forKey: .type)
        try c.encode(taskID, forKey: .taskID)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encode(progress, forKey: .progress)
        switch kind {
        case .snapshot(let task): try c.encode(task, forKey: .task)
        case .taskStarted: break
        case .taskResumed(let remaining): try c.encode(remaining, forKey: .remaining)
        case .deviceStarted(let device, let attempt):
            try c.encode(device, forKey: .device)
            try c.encode(attempt, forKey: .attempt)
        case .attemptFailed(let device, let attempt, let error, let delay):
            try c.encode(device, forKey: .device)
            try c.encode(attempt, forKey: .attempt)
            try c.encode(error, forKey: .error)
            try c.encode(delay, forKey: .retryDelay)
        case .deviceFinished(let result): try c.encode(result, forKey: .result)
        case .eventsDropped(let count): try c.encode(count, forKey: .count)
        case .taskFinished(let summary): try c.encode(summary, forKey: .summary)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taskID = try c.decode(String.self, forKey: .taskID)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        timestamp = try c.decode(Date.self, forKey: .timestamp)
        progress = try c.decode(BackupProgress.self, forKey: .progress)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "snapshot": kind = .snapshot(try c.decode(BackupTask.self, forKey: .task))
        case "task_started": kind = .taskStarted
        case "task_resumed": kind = .taskResumed(remaining: try c.decode(Int.self, forKey: .remaining))
        case "device_started":
            kind = .deviceStarted(try c.decode(DeviceRef.self, forKey: .device), attempt: try c.decode(Int.self, forKey: .attempt))
        case "attempt_failed":
            kind = .attemptFailed(
                try c.decode(DeviceRef.self, forKey: .device), attempt: try c.decode(Int.self, forKey: .attempt),
                error: try c.decode(BackupError.self, forKey: .error), retryDelay: try c.decode(Double.self, forKey: .retryDelay))
        case "device_finished": kind = .deviceFinished(try c.decode(DeviceBackupResult.self, forKey: .result))
        case "events_dropped": kind = .eventsDropped(count: try c.decode(Int.self, forKey: .count))
        case "task_finished": kind = .taskFinished(try c.decode(BackupTaskSummary.self, forKey: .summary))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "Unknown event type \(type)")
        }
    }
}
