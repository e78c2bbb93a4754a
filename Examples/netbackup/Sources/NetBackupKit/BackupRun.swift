public import BackupExecutor
public import BackupModels
public import ConfigArchive
public import DeviceTransport
import Foundation
import Logging
import Synchronization
public import TaskStore
import VendorProfiles
#if canImport(Glibc)
import Glibc
#endif

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
///
/// - Throws: ``CommandFailure`` (usage) naming the file and what to do when it cannot be read or is not a valid
///   profile document.
public func makeRegistry(profilesFile: String?) throws -> VendorProfileRegistry {
    let registry = VendorProfileRegistry()
    if let profilesFile {
        guard let format = VendorProfile.DocumentFormat(path: profilesFile) else {
            throw CommandFailure(.usage, "--profiles \(profilesFile): the file name must end with .json, .yaml or .yml")
        }
        let data: Data
        do {
            data = try InventoryFile.readLimited(path: profilesFile, maxBytes: InventoryFile.defaultMaxBytes)
        } catch {
            throw CommandFailure(.usage, "--profiles \(profilesFile): \(error.message)")
        }
        do {
            _ = try registry.registerProfiles(from: data, format: format)
        } catch {
            throw CommandFailure(.usage, "--profiles \(profilesFile): not a valid vendor profile document: \(describeError(error))")
        }
    }
    return registry
}

/// A file-system or other error in words a user can act on: the POSIX reason (`No such file or directory`)
/// instead of `NSCocoaErrorDomain Code=260`, a `BackupError`'s message and hint.
public func describeError(_ error: any Error) -> String {
    if let error = error as? BackupError { return error.hint.map { "\(error.message) — \($0)" } ?? error.message }
    if let error = error as? CommandFailure { return error.message }
    if let error = error as? InventoryError { return error.description }
    if let error = error as? DecodingError { return "\(error)" }
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying !== ns {
        return describeError(underlying)
    }
    if ns.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "No such file or directory"
        case .fileWriteFileExists: return "A file with that name already exists"
        case .fileReadNoPermission, .fileWriteNoPermission: return "Permission denied"
        case .fileWriteOutOfSpace: return "No space left on device"
        case .fileWriteVolumeReadOnly: return "Read-only file system"
        case .fileReadCorruptFile: return "The file is damaged or not in the expected format"
        case .fileReadInapplicableStringEncoding: return "The file is not UTF-8 text"
        default: return "the file operation failed (file system error \(ns.code))"
        }
    }
    return ns.localizedDescription
}

/// Creates `path` (and its parents) as a directory for `what`, or fails naming the path, the reason and what to do.
public func createDirectory(_ path: String, for what: String, option: String) throws {
    if let problem = makeDirectories(path) {
        throw CommandFailure(.usage, "cannot create the directory \(path) (\(what)): \(problem) — pass \(option) with a directory you can write, or fix the path")
    }
}

/// `mkdir -p`, saying which path failed and why (`/a/file is a file, not a directory`); `nil` on success.
func makeDirectories(_ path: String) -> String? {
    var info = stat()
    if stat(path, &info) == 0 {
        return (info.st_mode & S_IFMT) == S_IFDIR ? nil : "\(path) is a file, not a directory"
    }
    let parent = (path as NSString).deletingLastPathComponent
    if errno == ENOENT, !parent.isEmpty, parent != path {
        if let problem = makeDirectories(parent) { return problem }
    } else if errno != ENOENT {
        return "\(path): \(String(cString: strerror(errno)))"
    }
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        let code = errno
        if code == ENOTDIR { return "\(parent) is a file, not a directory" }
        return "\(path): \(String(cString: strerror(code)))"
    }
    return nil
}

/// Opens the task store in `directory`. Reading commands pass `create: false`: a missing store is then an error
/// and nothing is created on disk.
public func openTaskStore(directory: String, create: Bool) async throws -> FileTaskStore {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
    if exists && !isDirectory.boolValue {
        throw CommandFailure(.usage, "\(directory) is a file, not a task store directory: pass --store with a directory")
    }
    if !create {
        guard exists else {
            throw CommandFailure(
                .usage, "no task store at \(directory) (check --store or $NETBACKUP_HOME; 'netbackup backup' creates the store)")
        }
        guard FileManager.default.fileExists(atPath: directory + "/" + taskJournalFileName) else {
            throw CommandFailure(
                .usage, "no task store at \(directory): the directory has no task journal (\(taskJournalFileName)); check --store or $NETBACKUP_HOME")
        }
    } else if !exists {
        try createDirectory(directory, for: "the task store", option: "--store")
    }
    do {
        return try await FileTaskStore.open(directory: directory, createIfMissing: create)
    } catch {
        throw CommandFailure(.usage, "cannot open the task store at \(directory): \(describeError(error))")
    }
}

/// The file a ``FileTaskStore`` keeps its journal in (its presence tells a store directory from another one).
public let taskJournalFileName = "journal.jsonl"

/// Opens (creating if needed) the git archive at `path`, failing with the path and what to do.
public func openGitArchive(_ path: String) async throws -> GitArchive {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw CommandFailure(.usage, "the archive \(path) is a file, not a directory: pass --archive with a directory (it is created if missing)")
    }
    do {
        return try await GitArchive(repository: path)
    } catch {
        throw CommandFailure(.usage, "cannot use \(path) as the git archive: \(describeError(error)) — pass --archive with a directory you can write")
    }
}

/// Checks before any device is contacted that the archive can take `devices`' configs (writable, no two devices
/// sharing a file): ``ConfigArchive/prepare(for:)``.
public func preflightArchive(_ archive: any ConfigArchive, path: String, devices: [Device]) async throws {
    do {
        try await archive.prepare(for: devices.map(\.ref))
    } catch {
        throw CommandFailure(.usage, "the archive \(path) cannot take this backup: \(describeError(error))")
    }
}

/// Writes to standard error.
public func printError(_ text: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((text + terminator).utf8))
}

/// What ``runBackup(executor:filter:createdBy:idempotencyKey:resumeTaskID:interactive:quiet:)`` returns.
public struct BackupRunOutcome: Sendable {
    /// The task as it finished.
    public var task: BackupTask
    /// The first SIGINT, SIGTERM or SIGHUP that arrived during the run, if any (the task was then cancelled).
    public var signal: Int32?
    /// For a resumed task: the results it already had, by device (results recorded `CANCELLED` excluded, since
    /// those devices run again). Empty for a new task.
    public var earlierResults: [DeviceID: DeviceBackupResult]

    /// An outcome.
    public init(task: BackupTask, signal: Int32? = nil, earlierResults: [DeviceID: DeviceBackupResult] = [:]) {
        self.task = task
        self.signal = signal
        self.earlierResults = earlierResults
    }

    /// The exit status: the signal's, else 3 for a failed commit, else by the task's status.
    public var exitStatus: ExitStatus { ExitStatus.forRun(task, signal: signal) }
}

/// Runs one backup task with progress on stderr and returns the final task.
///
/// The first SIGINT (Ctrl-C), SIGTERM or SIGHUP cancels the task cleanly (running sessions closed, results saved,
/// what was stored committed, the task resumable); a second one exits at once.
public func runBackup(
    executor: BackupExecutor, filter: BackupFilter, createdBy: String?, idempotencyKey: String?, resumeTaskID: String? = nil,
    interactive: Bool, quiet: Bool = false
) async throws -> BackupRunOutcome {
    let target = CancelTarget(executor: executor)
    let interrupts = InterruptHandler { signal in
        printError("\n\(InterruptHandler.name(of: signal)) received: Cancelling… (send it again to quit at once)")
        target.cancel()
    }
    defer { interrupts.cancel() }
    return try await executor.withRunning { executor in
        let task: BackupTask
        var earlier: [DeviceID: DeviceBackupResult] = [:]
        if let resumeTaskID {
            task = try await executor.resume(taskID: resumeTaskID)
            for result in task.results where result.errorCode != .cancelled { earlier[result.deviceID] = result }
        } else {
            task = try await executor.submit(filter, createdBy: createdBy, idempotencyKey: idempotencyKey)
        }
        target.set(taskID: task.taskID)
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
        let final = try await executor.waitForCompletion(of: task.taskID)
        return BackupRunOutcome(task: final, signal: interrupts.signal, earlierResults: earlier)
    }
}

/// The task a signal cancels: known once submitted; a signal that arrives before that cancels it as soon as it is.
final class CancelTarget: Sendable {
    private struct State {
        var taskID: String?
        var requested = false
    }

    private let executor: BackupExecutor
    private let state = Mutex(State())

    init(executor: BackupExecutor) { self.executor = executor }

    func set(taskID: String) {
        let cancelNow = state.withLock { state in
            state.taskID = taskID
            return state.requested
        }
        if cancelNow { start(taskID) }
    }

    func cancel() {
        let taskID = state.withLock { state in
            state.requested = true
            return state.taskID
        }
        if let taskID { start(taskID) }
    }

    private func start(_ taskID: String) {
        let executor = executor
        Task { _ = try? await executor.cancel(taskID: taskID) }
    }
}

/// What a finished (or resumed) run did, for people (``text``) and scripts (``summary``, in `--json` as `report`).
public struct BackupReport: Sendable {
    /// Counts of this run, as `--json` prints them under `report`.
    public struct Summary: Sendable, Codable, Hashable {
        /// netbackup's exit status for this run.
        public var exitStatus: Int32
        /// Devices backed up successfully by this run.
        public var succeeded: Int
        /// Devices that failed in this run (cancelled ones not included).
        public var failed: Int
        /// Devices cancelled (not backed up; a resume runs them).
        public var cancelled: Int
        /// Devices of a resumed task that an earlier run had finished: not counted above.
        public var earlierResults: Int
        /// Configs this run found changed.
        public var changed: Int
        /// Configs that this run's commit holds (including ones an earlier run left uncommitted).
        public var committed: Int
        /// The commits made by this run.
        public var commits: [String]
        /// The archive commit's failure (`ARCHIVE_COMMIT_FAILED`), when the configs could not be committed.
        public var commitError: BackupError?
        /// The signal that interrupted the run (`SIGTERM`), if any.
        public var interruptedBy: String?

        enum CodingKeys: String, CodingKey {
            case exitStatus = "exit_status"
            case succeeded, failed, cancelled
            case earlierResults = "earlier_results"
            case changed, committed, commits
            case commitError = "commit_error"
            case interruptedBy = "interrupted_by"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(exitStatus, forKey: .exitStatus)
            try c.encode(succeeded, forKey: .succeeded)
            try c.encode(failed, forKey: .failed)
            try c.encode(cancelled, forKey: .cancelled)
            try c.encode(earlierResults, forKey: .earlierResults)
            try c.encode(changed, forKey: .changed)
            try c.encode(committed, forKey: .committed)
            try c.encode(commits, forKey: .commits)
            try c.encode(commitError, forKey: .commitError)
            try c.encode(interruptedBy, forKey: .interruptedBy)
        }
    }

    /// The task.
    public var task: BackupTask
    /// This run's counts.
    public var summary: Summary
    /// The archive's path, when the report should name it.
    public var archive: String?
    /// How many failed devices the text lists before summarising the rest.
    public var failureListLimit: Int

    /// The report of `outcome`; `archive` is named in the text.
    public init(_ outcome: BackupRunOutcome, archive: String?, failureListLimit: Int = 100) {
        task = outcome.task
        self.archive = archive
        self.failureListLimit = failureListLimit
        let earlier = outcome.earlierResults
        let thisRun = task.results.filter { earlier[$0.deviceID] == nil }
        let committedNow = task.results.filter { result in
            guard let commit = result.gitCommitID else { return false }
            return earlier[result.deviceID]?.gitCommitID != commit
        }
        let commitError = task.error?.code == .archiveCommitFailed ? task.error : nil
        summary = Summary(
            exitStatus: outcome.exitStatus.rawValue,
            succeeded: thisRun.filter(\.success).count,
            failed: thisRun.filter { !$0.success && $0.errorCode != .cancelled }.count,
            cancelled: thisRun.filter { $0.errorCode == .cancelled }.count,
            earlierResults: task.results.count - thisRun.count,
            changed: thisRun.filter { $0.changed == true }.count,
            committed: committedNow.count,
            commits: Array(Set(committedNow.compactMap(\.gitCommitID))).sorted(),
            commitError: commitError,
            interruptedBy: outcome.signal.map(InterruptHandler.name(of:)))
    }

    /// The report for people (stderr after a backup, stdout for `tasks show`).
    public var text: String {
        var lines = ["Task \(task.taskID): \(task.status.rawValue) — \(task.message)"]
        let failed = task.results.filter { !$0.success && $0.errorCode != .cancelled }
        if !failed.isEmpty {
            lines.append("Failed devices:")
            for result in failed.sorted(by: { $0.deviceID < $1.deviceID }).prefix(failureListLimit) {
                lines.append("  \(result.deviceName) (id \(result.deviceID))  \(result.errorCode?.rawValue ?? "?")  \(result.errorMessage ?? "")")
            }
            if failed.count > failureListLimit {
                lines.append("  … and \(failed.count - failureListLimit) more (netbackup tasks show \(task.taskID) --json lists them all)")
            }
        }
        var counts = "Devices: \(summary.succeeded) ok, \(summary.failed) failed, \(summary.cancelled) cancelled"
        let notRun = task.total - task.results.count
        if notRun > 0 { counts += ", \(notRun) not run" }
        counts += summary.earlierResults > 0 ? " in this run (\(summary.earlierResults) more done by an earlier run)" : " (of \(task.total))"
        lines.append(counts)
        if let archive {
            var configs = "Configs: \(archive) — \(summary.changed) changed"
            if summary.commits.isEmpty {
                configs += ", nothing committed"
            } else {
                configs += ", \(summary.committed) committed in " + summary.commits.map { String($0.prefix(12)) }.joined(separator: ", ")
            }
            lines.append(configs)
        }
        if let error = summary.commitError {
            lines.append("")
            lines.append("ARCHIVE COMMIT FAILED [\(error.code.rawValue)]: \(error.message)")
            if let hint = error.hint { lines.append("  What to do: \(hint)") }
            lines.append("  The configs were fetched and written to \(archive ?? "the archive"), but they are NOT in its git history yet;")
            lines.append("  no result has a git_commit_id. The next backup commits them. (exit status \(ExitStatus.commitFailed.rawValue))")
        }
        if let signal = summary.interruptedBy {
            lines.append("Interrupted by \(signal): the task was cancelled; finished devices are saved. Resume it with:")
            lines.append("  netbackup tasks resume \(task.taskID) --inventory FILE")
        } else if task.status == .cancelled {
            lines.append("The task was cancelled; resume it with: netbackup tasks resume \(task.taskID) --inventory FILE")
        }
        return lines.joined(separator: "\n")
    }

    /// The task in its wire format (as `tasks show --json` prints it) with this report added as `report`.
    public func json() throws -> String {
        let taskJSON = String(decoding: try JSONEncoder.deviceBackup(pretty: true).encode(task), as: UTF8.self)
        let encoder = JSONEncoder.deviceBackup(pretty: true)
        let reportJSON = String(decoding: try encoder.encode(summary), as: UTF8.self)
        var body = taskJSON.trimmingCharacters(in: .whitespacesAndNewlines)
        guard body.hasSuffix("}") else { return taskJSON }
        body.removeLast()
        body = body.trimmingCharacters(in: .whitespacesAndNewlines)
        let indented = reportJSON.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")
        return body + (body.hasSuffix("{") ? "\n" : ",\n") + "  \"report\" : " + indented + "\n}"
    }
}

/// A human-readable report of a finished task (as stored: counts over all its results).
public func report(_ task: BackupTask, archive: String?) -> String {
    BackupReport(BackupRunOutcome(task: task), archive: archive).text
}
