public import Foundation

/// The final outcome of backing up one device within a task.
///
/// A task holds exactly one final result per device. Wire names follow the seed (`device_id`,
/// `config_id`, `git_commit_id`, `error_code`, `execution_time`, …).
public struct DeviceBackupResult: Sendable, Codable, Hashable {
    /// The device's inventory id.
    public var deviceID: DeviceID
    /// The device's name at the time of the backup.
    public var deviceName: String
    /// Whether the configuration was fetched and archived.
    public var success: Bool
    /// Content hash (SHA-256, hex) of the stored configuration.
    public var configID: String?
    /// Size of the stored configuration in bytes.
    public var configSize: Int?
    /// The commit that stored this configuration, when the archive is a git repository.
    public var gitCommitID: String?
    /// Whether the configuration differs from the previous backup of this device.
    public var changed: Bool?
    /// Why the device failed; `nil` on success.
    public var errorCode: BackupError.Code?
    /// The error in words (with its hint); never contains secrets.
    public var errorMessage: String?
    /// For `MAX_RETRIES_EXCEEDED`: the code of the last attempt's error.
    public var causeCode: BackupError.Code?
    /// Seconds from the first attempt's start to the end, backoff included.
    public var executionTime: Double
    /// Attempts made (1 + retries).
    public var attempts: Int
    /// When the first attempt started; `nil` for a device that never started (cancelled while waiting).
    public var startedAt: Date?
    /// When the result became final.
    public var finishedAt: Date

    /// Creates a result (stores and tests; the executor creates results).
    public init(
        deviceID: DeviceID, deviceName: String, success: Bool, configID: String? = nil, configSize: Int? = nil,
        gitCommitID: String? = nil, changed: Bool? = nil, errorCode: BackupError.Code? = nil,
        errorMessage: String? = nil, causeCode: BackupError.Code? = nil, executionTime: Double = 0,
        attempts: Int = 0, startedAt: Date? = nil, finishedAt: Date
    ) {
        self.deviceID = deviceID
        self.deviceName = deviceName
        self.success = success
        self.configID = configID
        self.configSize = configSize
        self.gitCommitID = gitCommitID
        self.changed = changed
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.causeCode = causeCode
        self.executionTime = executionTime
        self.attempts = attempts
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// A failed result for `device` carrying `error`.
    public static func failure(
        _ device: DeviceRef, _ error: BackupError, attempts: Int, startedAt: Date?, finishedAt: Date, executionTime: Double = 0
    ) -> DeviceBackupResult {
        DeviceBackupResult(
            deviceID: device.id, deviceName: device.name, success: false, errorCode: error.code,
            errorMessage: error.hint.map { "\(error.message) — \($0)" } ?? error.message, causeCode: error.cause,
            executionTime: executionTime, attempts: attempts, startedAt: startedAt, finishedAt: finishedAt)
    }

    /// The error of a failed result.
    public var error: BackupError? {
        guard !success, let errorCode else { return nil }
        return BackupError(errorCode, errorMessage ?? "", cause: causeCode)
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case deviceName = "device_name"
        case success
        case configID = "config_id"
        case configSize = "config_size"
        case gitCommitID = "git_commit_id"
        case changed
        case errorCode = "error_code"
        case errorMessage = "error_message"
        case causeCode = "cause_code"
        case executionTime = "execution_time"
        case attempts
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// One entry of a device's backup history: a result and the task it belongs to.
public struct DeviceHistoryEntry: Sendable, Codable, Hashable {
    /// The task the result belongs to.
    public var taskID: String
    /// The device's result in that task.
    public var result: DeviceBackupResult

    /// Creates an entry.
    public init(taskID: String, result: DeviceBackupResult) {
        self.taskID = taskID
        self.result = result
    }

    enum CodingKeys: String, CodingKey { case taskID = "task_id" }

    public init(from decoder: any Decoder) throws {
        taskID = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .taskID)
        result = try DeviceBackupResult(from: decoder)
    }

    /// Encodes flat: the result's fields plus `task_id`.
    public func encode(to encoder: any Encoder) throws {
        try result.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(taskID, forKey: .taskID)
    }
}
