public import BackupExecutor
public import BackupModels
import ConfigArchive
public import DeviceTransport
import Foundation
import Logging
import TaskStore
import VendorProfiles

/// Everything `netbackup backup` needs, from its flags.
public struct BackupSettings: Sendable {
    public var inventoryPath: String
    public var filter: BackupFilter
    public var policy: BackupPolicy
    public var storeDirectory: String
    public var archiveDirectory: String
    public var idempotencyKey: String?
    public var hostKeyPolicy: HostKeyPolicy
    public var json: Bool
    public var scrubSecrets: Bool
    public var profilesFile: String?
    public var createdBy: String?

    public init(
        inventoryPath: String, filter: BackupFilter, policy: BackupPolicy, storeDirectory: String, archiveDirectory: String,
        idempotencyKey: String?, hostKeyPolicy: HostKeyPolicy, json: Bool, scrubSecrets: Bool, profilesFile: String?,
        createdBy: String?
    ) {
        self.inventoryPath = inventoryPath
        self.filter = filter
        self.policy = policy
        self.storeDirectory = storeDirectory
        self.archiveDirectory = archiveDirectory
        self.idempotencyKey = idempotencyKey
        self.hostKeyPolicy = hostKeyPolicy
        self.json = json
        self.scrubSecrets = scrubSecrets
        self.profilesFile = profilesFile
        self.createdBy = createdBy
    }
}

/// A failure that ends netbackup with a message and an exit status.
public struct CommandFailure: Error, CustomStringConvertible, Sendable {
    public var status: ExitStatus
    public var message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

/// Where netbackup keeps its files by default: `$NETBACKUP_HOME`, else `~/.netbackup`.
public enum NetBackupPaths {
    public static var home: String {
        let env = ProcessInfo.processInfo.environment
        if let home = env["NETBACKUP_HOME"], !home.isEmpty { return home }
        return (env["HOME"] ?? FileManager.default.currentDirectoryPath) + "/.netbackup"
    }
    public static var store: String { home + "/tasks" }
    public static var archive: String { home + "/configs" }
    public static var knownHosts: String { home + "/known_hosts" }
}

/// Builds the vendor profile registry (built-ins plus an optional user file).
public func makeRegistry(profilesFile: String?) throws -> VendorProfileRegistry {
    let registry = VendorProfileRegistry()
    if let profilesFile {
        do {
            _ = try registry.registerProfiles(fromFile: profilesFile)
        } catch {
            throw CommandFailure(.usage, "Cannot load vendor profiles from \(profilesFile): \(error)")
        }
    }
    return registry
}

/// Writes to standard error.
public func printError(_ text: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((text + terminator).utf8))
}

/// Runs one backup task with progress on stderr and returns the final task.
///
/// The first Ctrl-C cancels the task cleanly (running sessions closed, results saved, the task resumable);
/// a second one exits at once.
public func runBackup(
    executor: BackupExecutor, filter: BackupFilter, createdBy: String?, idempotencyKey: String?, resumeTaskID: String? = nil,
    interactive: Bool, quiet: Bool = false
) async throws -> BackupTask {
    try await executor.withRunning { executor in
        let task: BackupTask
        if let resumeTaskID {
            task = try await executor.resume(taskID: resumeTaskID)
        } else {
            task = try await executor.submit(filter, createdBy: createdBy, idempotencyKey: idempotencyKey)
        }
        let interrupts = InterruptHandler {
            printError("\nCancelling… (press Ctrl-C again to quit at once)")
            Task { _ = try? await executor.cancel(taskID: task.taskID) }
        }
        defer { interrupts.cancel() }
        if !quiet { printError("Task \(task.taskID): \(task.total) devices") }
        let renderer = ProgressRenderer(interactive: interactive)
        let start = ContinuousClock.now
        var decile = -1
        for await event in try await executor.events(for: task.taskID) {
            guard !quiet else { continue }
            let elapsed = (ContinuousClock.now - start)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let text = renderer.render(event, elapsed: seconds, lastReportedDecile: &decile)
            if !text.isEmpty { printError(text, terminator: "") }
        }
        return try await executor.waitForCompletion(of: task.taskID)
    }
}

/// A human-readable report of a finished task.
public func report(_ task: BackupTask, archive: String?) -> String {
    var lines = ["Task \(task.taskID): \(task.status.rawValue) — \(task.message)"]
    let failed = task.results.filter { !$0.success }
    if !failed.isEmpty {
        lines.append("Failed devices:")
        for result in failed.sorted(by: { $0.deviceID < $1.deviceID }) {
            lines.append("  \(result.deviceName) (id \(result.deviceID))  \(result.errorCode?.rawValue ?? "?")  \(result.errorMessage ?? "")")
        }
    }
    let changed = task.results.filter { $0.changed == true }.count
    if let archive {
        let commits = Set(task.results.compactMap(\.gitCommitID))
        lines.append("Configs: \(archive) — \(changed) changed" + (commits.isEmpty ? ", nothing committed" : ", commit \(commits.sorted().joined(separator: ", ").prefix(12))"))
    }
    return lines.joined(separator: "\n")
}
