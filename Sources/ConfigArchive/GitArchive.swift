import BackupSupport
public import BackupModels
public import DeviceTransport
import Foundation
import Synchronization

/// Keeps one file per device in a git repository and commits the configs that a task changed.
///
/// - Files are written atomically as by ``DirectoryArchive`` (same naming); unchanged configs are not
///   rewritten, so a backup that only differs in volatile lines (stripped by the vendor profile) commits
///   nothing.
/// - One commit per task that changed something, made when the task finishes
///   (``taskDidFinish(taskID:)``), with a message naming the task and each changed device; the executor
///   then records the commit id as `git_commit_id` in those devices' results.
/// - Works on an existing repository (or creates one). Before each commit it refuses — with
///   `ARCHIVE_FAILED` and what to do — a repository that is locked by another git process, or that has
///   uncommitted changes in files the archive does not manage; it never resets, stashes or rewrites
///   anything. Uncommitted managed `.cfg` files (e.g. after a crash between write and commit) are
///   committed with the next commit.
///
/// This uses the `git` executable rather than libgit2: no extra C library to install, exactly the
/// behaviour (hooks, config, attributes) users get from their own `git`, and one process per task — not
/// per device — keeps the cost negligible. Commands run on a dedicated thread, never on Swift's
/// cooperative pool.
public final class GitArchive: ConfigArchive {
    /// The repository's top directory.
    public let repository: String
    /// The directory (inside the repository) that holds the config files.
    public let directory: String
    private let files: DirectoryArchive
    private let git: GitRunner
    private let pending = Mutex<[String: [String: DeviceRef]]>([:])  // taskID → file path → device

    /// Opens (or, with `create`, initialises) a repository.
    ///
    /// - Parameters:
    ///   - repository: the repository's top directory.
    ///   - subdirectory: where config files go inside it (default: the top directory).
    ///   - naming: file names (by device id or name).
    ///   - create: create the directory and run `git init` when there is no repository yet.
    ///   - authorName: the commits' author and committer name (so commits work on machines without a
    ///     git identity).
    ///   - authorEmail: the commits' author and committer e-mail.
    ///   - gitExecutable: path of `git` (found on `PATH` by default).
    public init(
        repository: String, subdirectory: String? = nil, naming: ArchiveFileNaming = .deviceName, create: Bool = true,
        authorName: String = "DeviceBackup", authorEmail: String = "devicebackup@localhost", gitExecutable: String? = nil
    ) async throws {
        self.repository = repository
        directory = subdirectory.map { repository + "/" + $0 } ?? repository
        guard let executable = gitExecutable ?? GitRunner.findOnPath() else {
            throw BackupError(.archiveFailed, "The git executable was not found on PATH.", hint: "Install git (apt-get install git) or pass gitExecutable.")
        }
        git = GitRunner(executable: executable, repository: repository, authorName: authorName, authorEmail: authorEmail)
        let isRepository = FileManager.default.fileExists(atPath: repository + "/.git")
        if !isRepository {
            guard create else {
                throw BackupError(.archiveFailed, "\(repository) is not a git repository.", hint: "Run 'git init' there or let the archive create it.")
            }
            try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
            try await git.run(["init", "--quiet"])
        }
        files = try DirectoryArchive(directory: directory, naming: naming)
    }

    public func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        let receipt = try await files.store(config, for: device, context: context)
        if receipt.changed {
            let path = files.path(for: device)
            pending.withLock { $0[context.taskID, default: [:]][path] = device }
        }
        return receipt
    }

    public func currentConfig(for device: DeviceRef) async throws -> String? { try await files.currentConfig(for: device) }

    /// Commits the configs `taskID` changed; `nil` when it changed none.
    public func taskDidFinish(taskID: String) async throws -> ArchiveCommit? {
        let changed = pending.withLock { $0.removeValue(forKey: taskID) ?? [:] }
        guard !changed.isEmpty else { return nil }
        try await checkRepository()
        let relative = changed.keys.sorted().map { relativePath($0) }
        try await git.run(["add", "--"] + relative)
        // Managed files left uncommitted earlier (a crash between write and commit) go into this commit too.
        let added = Set(relative)
        let leftovers = try await uncommittedManagedFiles().filter { !added.contains($0) }
        if !leftovers.isEmpty { try await git.run(["add", "--"] + leftovers) }
        let staged = try await git.run(["diff", "--cached", "--name-only", "-z"]).split(separator: "\0")
        guard !staged.isEmpty else { return nil }  // identical to what is committed already
        let devices = changed.sorted { $0.key < $1.key }.map(\.value)
        var message = "Backup task \(taskID): \(devices.count) config\(devices.count == 1 ? "" : "s") changed\n\n"
        for device in devices { message += "- \(device.name) (id \(device.id), \(device.vendor))\n" }
        if !leftovers.isEmpty { message += "\nAlso committed, left uncommitted by an earlier run: \(leftovers.joined(separator: ", "))\n" }
        message += "\nDeviceBackup-Task: \(taskID)\n"
        try await git.run(["commit", "--quiet", "--no-verify", "-m", message])
        let commit = try await git.run(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
        return ArchiveCommit(commitID: commit, devices: devices.map(\.id))
    }

    /// Fails with `ARCHIVE_FAILED` when the repository is locked or has foreign uncommitted changes.
    private func checkRepository() async throws {
        if FileManager.default.fileExists(atPath: repository + "/.git/index.lock") {
            throw BackupError(
                .archiveFailed, "The git repository \(repository) is locked (.git/index.lock exists).",
                hint: "Another git process is running there, or one crashed: if none runs, remove .git/index.lock.")
        }
        let status = try await git.run(["status", "--porcelain=v1", "-z", "--untracked-files=all"])
        let foreign = status.split(separator: "\0").compactMap { entry -> String? in
            guard entry.count > 3 else { return nil }
            let path = String(entry.dropFirst(3))
            return isManaged(path) ? nil : path
        }
        if !foreign.isEmpty {
            throw BackupError(
                .archiveFailed,
                "The git repository \(repository) has uncommitted changes the archive does not manage: \(foreign.prefix(5).joined(separator: ", "))\(foreign.count > 5 ? ", …" : "").",
                hint: "Commit, stash or remove them; the archive never touches files it did not write.")
        }
    }

    private func uncommittedManagedFiles() async throws -> [String] {
        let status = try await git.run(["status", "--porcelain=v1", "-z", "--untracked-files=all"])
        return status.split(separator: "\0").compactMap { entry in
            guard entry.count > 3 else { return nil }
            let path = String(entry.dropFirst(3))
            return isManaged(path) ? path : nil
        }
    }

    private func relativePath(_ absolute: String) -> String {
        absolute.hasPrefix(repository + "/") ? String(absolute.dropFirst(repository.count + 1)) : absolute
    }

    private func isManaged(_ relative: String) -> Bool {
        let prefix = directory == repository ? "" : relativePath(directory) + "/"
        guard relative.hasPrefix(prefix), relative.hasSuffix(".cfg") else { return false }
        return !relative.dropFirst(prefix.count).contains("/")
    }
}

/// Runs git commands in one repository, one at a time, off the cooperative pool.
struct GitRunner: Sendable {
    let executable: String
    let repository: String
    let authorName: String
    let authorEmail: String
    private let pool = BlockingIOPool(label: "DeviceBackup.git", serial: true)

    init(executable: String, repository: String, authorName: String, authorEmail: String) {
        self.executable = executable
        self.repository = repository
        self.authorName = authorName
        self.authorEmail = authorEmail
    }

    static func findOnPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/git") {
            return "\(dir)/git"
        }
        return nil
    }

    /// Runs `git <arguments>` and returns its stdout; a non-zero exit is `ARCHIVE_FAILED` with stderr.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let executable = executable
        let full = ["-C", repository, "-c", "user.name=\(authorName)", "-c", "user.email=\(authorEmail)", "-c", "commit.gpgsign=false"] + arguments
        let (status, stdout, stderr) = try await pool.run { () throws -> (Int32, String, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = full
            var environment = ProcessInfo.processInfo.environment
            environment["GIT_TERMINAL_PROMPT"] = "0"
            environment["LC_ALL"] = "C"
            process.environment = environment
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // Read both pipes fully before waiting, so a large output cannot block the child.
            let errData = Mutex<Data>(Data())
            let group = DispatchGroup()
            group.enter()
            DispatchQueue.global().async {
                let data = err.fileHandleForReading.readDataToEndOfFile()
                errData.withLock { $0 = data }
                group.leave()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self))
        }
        guard status == 0 else {
            let subcommand = arguments.first ?? "git"
            throw BackupError(
                .archiveFailed, "git \(subcommand) failed in \(repository) (exit \(status)): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                hint: "Check the repository's state with 'git status'.")
        }
        return stdout
    }
}
