import BackupSupport
public import BackupModels
public import DeviceTransport
public import Foundation

/// What the executor tells an archive about a config it stores.
public struct ArchiveContext: Sendable, Hashable {
    /// The task that fetched the config (for commit messages).
    public var taskID: String
    /// When the config was fetched.
    public var fetchedAt: Date

    /// Creates a context.
    public init(taskID: String, fetchedAt: Date) {
        self.taskID = taskID
        self.fetchedAt = fetchedAt
    }
}

/// What an archive reports back for a stored config.
public struct ArchiveReceipt: Sendable, Hashable {
    /// Content hash (SHA-256 hex) of the stored config: equal configs have equal ids.
    public var configID: String
    /// Size in bytes.
    public var size: Int
    /// Whether the config differs from the one stored before for this device.
    public var changed: Bool
    /// The commit that stored it, for version-controlled archives.
    public var commitID: String?

    /// Creates a receipt.
    public init(configID: String, size: Int, changed: Bool, commitID: String? = nil) {
        self.configID = configID
        self.size = size
        self.changed = changed
        self.commitID = commitID
    }
}

/// Where backed-up configurations go.
///
/// Errors are `BackupError`s with code `ARCHIVE_FAILED` (not retried: the device is fine, the disk is
/// not).
public protocol ConfigArchive: Sendable {
    /// Called once when a task starts (or resumes), before any device is contacted: checks that the
    /// archive can take the task's configs — it is writable, and no two of `devices` would share a file.
    /// A thrown error (`ARCHIVE_FAILED`, saying what to do) fails the task without contacting a device.
    /// The default does nothing.
    func prepare(for devices: [DeviceRef]) async throws
    /// Stores `config` as the current configuration of `device`.
    func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt
    /// The current stored configuration of a device, if any.
    func currentConfig(for device: DeviceRef) async throws -> String?
    /// Called once when a task has finished storing configs: version-controlled archives commit here.
    /// Returns the commit and the devices whose configs it holds (the executor records its id as their
    /// `git_commit_id`), or `nil`. The default does nothing.
    func taskDidFinish(taskID: String) async throws -> ArchiveCommit?
}

extension ConfigArchive {
    public func prepare(for devices: [DeviceRef]) async throws {}
    public func taskDidFinish(taskID: String) async throws -> ArchiveCommit? { nil }
}

/// A commit that stored the configs a task changed.
public struct ArchiveCommit: Sendable, Hashable {
    /// The commit id (full hash).
    public var commitID: String
    /// The devices whose configs the commit holds.
    public var devices: [DeviceID]

    /// Creates a commit record.
    public init(commitID: String, devices: [DeviceID]) {
        self.commitID = commitID
        self.devices = devices
    }
}

/// The content hash used as `config_id`: SHA-256 of the UTF-8 text, lower-case hex.
public func configContentID(_ text: String) -> String {
    SHA256Digest.hexHash(text.utf8)
}

