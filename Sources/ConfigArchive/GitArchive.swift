#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import BackupSupport
public import BackupModels
public import DeviceTransport
import Synchronization

/// Keeps one file per device in a git repository and commits, when a task finishes, every managed
/// file that differs from the last commit.
///
/// - **Files** are written as by ``DirectoryArchive`` (same naming, atomic writes, `0600` files and
///   `0700` directories by default); unchanged configs are not rewritten, so a backup that only differs
///   in volatile lines (stripped by the vendor profile) commits nothing. *Managed* files are the
///   `*.cfg` files directly in ``directory``.
/// - **One commit per task** (``taskDidFinish(taskID:)``), holding every managed file that is new,
///   modified or deleted compared with `HEAD` — the task's own changes and anything an earlier run left
///   uncommitted (a failed commit, a crash between write and commit). The commands, none of whose
///   argument lists grows with the fleet:
///   1. `git -c core.bigFileThreshold=1 add --all --force -- ':(glob)<dir>/*.cfg'` stages all managed
///      changes (a `.gitignore` does not apply to managed files), writing the new blobs into one pack
///      rather than one loose object file each;
///   2. `git diff --cached --name-only -z --no-renames -- <same pathspec>` lists what will be committed
///      (nothing → no commit, `nil`);
///   3. `git commit --only --no-verify -F - -- <same pathspec>` commits exactly those files, the message
///      read from stdin: the task, up to 50 of its devices then "… and N more", and up to 50 files of
///      other devices left by earlier runs (then counted), and a `DeviceBackup-Task:` trailer;
///   4. `git rev-parse HEAD`; then, after the task has its commit and without making it wait, a
///      best-effort `git gc --auto` on the same serial queue (housekeeping; its failure is ignored).
///
///   The returned ``ArchiveCommit`` names every device *of this task* whose file is in the commit,
///   whether or not it changed in this run, so a config stored by an earlier run gets its
///   `git_commit_id` now.
/// - **Other files in the repository** are never committed by the archive and never block it:
///   untracked or modified files elsewhere stay as they are, and a change someone *staged* in the index
///   stays staged and out of the archive's commit (`--only` commits the managed paths only). Failing
///   instead would stop every backup until a person cleaned up; committing it would put someone else's
///   work under the archive's name.
/// - **A failed commit is never silent**: any git failure (a `.git/index.lock` left by a crash, a full
///   disk, a broken repository) or a timeout throws `ARCHIVE_FAILED` with git's message and what to do;
///   the files stay on disk and the next task that commits takes them along.
/// - **git runs isolated**: a minimal environment (`PATH`, `HOME`, `TMPDIR`, `LC_ALL=C`, `LANG=C`,
///   `GIT_TERMINAL_PROMPT=0` — no `GIT_DIR`, `GIT_INDEX_FILE` or secrets such as `NET_PASSWORD` from the
///   caller), hooks off (`-c core.hooksPath=/dev/null`, `--no-verify`), no fsmonitor, no signing, the
///   archive's author identity; each call is killed (with the processes it started) after `gitTimeout`
///   (300 s by default) and the error names the command. git runs one command at a time per archive,
///   on a dedicated thread, never on Swift's cooperative pool.
/// - **Opening**: an existing repository (a `.git` in `repository`) is used as it is; a missing or
///   empty directory is created (`0700`) and `git init` runs there; an existing directory that holds
///   other files but is not a repository is refused, so no user file is ever overwritten. Temporary
///   files left by a crash (`*.cfg.tmp-<pid>-<n>`) are removed.
///
/// This uses the `git` executable rather than libgit2: no extra C library to install, the repository
/// format users get from their own `git`, and a handful of processes per task — never one per device.
public final class GitArchive: ConfigArchive {
    /// The repository's top directory.
    public let repository: String
    /// The directory (inside the repository) that holds the config files.
    public let directory: String
    /// The longest any single git command may run before it is killed.
    public let gitTimeout: Duration
    /// How many devices (and, separately, leftover files) a commit message lists by name.
    public static let messageListLimit = 50
    private let files: DirectoryArchive
    private let git: GitRunner
    /// `""` or `<subdirectory>/`: the managed files' path prefix, relative to the repository.
    private let prefix: String
    /// `:(glob)<prefix>*.cfg`: all managed files, and only them.
    private let pathspec: String
    private let pool = BlockingIOPool(label: "DeviceBackup.git", serial: true)
    private let pending = Mutex<[String: [String: DeviceRef]]>([:])  // taskID → relative path → device

    /// Opens (or, with `create`, initialises) a repository.
    ///
    /// - Parameters:
    ///   - repository: the repository's top directory.
    ///   - subdirectory: where config files go inside it (default: the top directory).
    ///   - naming: file names (by device id or name; see ``ArchiveFileNaming``).
    ///   - create: create the directory and run `git init` when there is no repository yet (only in a
    ///     missing or empty directory).
    ///   - authorName: the commits' author and committer name (so commits work on machines without a
    ///     git identity).
    ///   - authorEmail: the commits' author and committer e-mail.
    ///   - gitExecutable: path of `git` (found on `PATH` by default).
    ///   - durable: fsync each config file (on by default; off only for tests and benchmarks).
    ///   - fileMode: permission bits of created config files (default `0o600`).
    ///   - directoryMode: permission bits of created directories (default `0o700`).
    ///   - gitTimeout: the longest one git command may run (default 300 s); past it the command is
    ///     killed and the operation fails with `ARCHIVE_FAILED`.
    public init(
        repository: String, subdirectory: String? = nil, naming: ArchiveFileNaming = .deviceName, create: Bool = true,
        authorName: String = "DeviceBackup", authorEmail: String = "devicebackup@localhost", gitExecutable: String? = nil,
        durable: Bool = true, fileMode: UInt32 = 0o600, directoryMode: UInt32 = 0o700, gitTimeout: Duration = .seconds(300)
    ) async throws {
        let parts = (subdirectory ?? "").split(separator: "/").filter { $0 != "." }.map(String.init)
        self.repository = repository
        self.gitTimeout = gitTimeout
        directory = parts.isEmpty ? repository : repository + "/" + parts.joined(separator: "/")
        prefix = parts.isEmpty ? "" : parts.joined(separator: "/") + "/"
        pathspec = ":(glob)" + Self.escapeGlob(prefix) + "*.cfg"
        guard let executable = gitExecutable ?? GitRunner.findOnPath() else {
            throw BackupError(.archiveFailed, "The git executable was not found on PATH.", hint: "Install git (apt-get install git) or pass gitExecutable.")
        }
        let git = GitRunner(executable: executable, repository: repository, authorName: authorName, authorEmail: authorEmail, timeout: gitTimeout)
        self.git = git
        let directory = directory
        files = try await pool.run {
            try Self.openRepository(repository, create: create, directoryMode: directoryMode, git: git)
            return try DirectoryArchive(directory: directory, naming: naming, durable: durable, fileMode: fileMode, directoryMode: directoryMode)
        }
    }

    /// Uses an existing repository, or creates one in a missing or empty directory. Blocking.
    private static func openRepository(_ repository: String, create: Bool, directoryMode: UInt32, git: GitRunner) throws {
        var info = stat()
        if lstat(repository + "/.git", &info) == 0 { return }
        guard create else {
            throw BackupError(.archiveFailed, "\(repository) is not a git repository.", hint: "Run 'git init' there or let the archive create it.")
        }
        let entries: [String]
        do {
            entries = try FileIO.listDirectory(repository)
        } catch {
            throw BackupError(
                .archiveFailed, "Cannot use \(repository) as the archive: \(error)",
                hint: "Give the path of a directory (or of one to create) that this user may write.")
        }
        if !entries.isEmpty {
            let shown = entries.sorted().prefix(5).joined(separator: ", ")
            throw BackupError(
                .archiveFailed,
                "\(repository) exists, is not a git repository and holds \(entries.count) file\(entries.count == 1 ? "" : "s") (\(shown)\(entries.count > 5 ? ", …" : "")): the archive does not take over a directory with other files.",
                hint: "Choose a new or empty directory for the archive, or run 'git init' there yourself if these files belong in the archive's repository.")
        }
        do {
            try FileIO.createDirectory(repository, mode: directoryMode)
        } catch {
            throw BackupError(
                .archiveFailed, "Cannot create the archive directory \(repository): \(error)",
                hint: "Check the path and that this user may write its parent.")
        }
        try git.run(["init", "--quiet"])
    }

    /// Checks the task's devices as ``DirectoryArchive/prepare(for:)`` does (usable, distinct file
    /// names; a writable directory).
    public func prepare(for devices: [DeviceRef]) async throws {
        try await files.prepare(for: devices)
    }

    public func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        let receipt = try await files.store(config, for: device, context: context)
        let path = prefix + files.naming.fileName(for: device)
        pending.withLock { $0[context.taskID, default: [:]][path] = device }
        return receipt
    }

    public func currentConfig(for device: DeviceRef) async throws -> String? { try await files.currentConfig(for: device) }

    /// Commits every managed file that differs from `HEAD` (see the type's description); `nil` when none
    /// does. Throws `ARCHIVE_FAILED` when anything should have been committed but was not.
    public func taskDidFinish(taskID: String) async throws -> ArchiveCommit? {
        let stored = pending.withLock { $0.removeValue(forKey: taskID) ?? [:] }
        let commit = try await pool.run { try self.commit(taskID: taskID, stored: stored) }
        if commit != nil {
            // Packs loose objects now and then (git decides; a large history can take a while). Housekeeping
            // only, after the task has its commit: queued on the same serial pool, so it never runs beside
            // a commit, and the task does not wait for it. A failure changes nothing for any task.
            let git = git
            pool.submit { _ = try? git.run(["gc", "--auto", "--quiet"], config: ["gc.autoDetach=false"]) }
        }
        return commit
    }

    /// The commit itself. Blocking; runs on the archive's serial pool, so commits never interleave.
    private func commit(taskID: String, stored: [String: DeviceRef]) throws -> ArchiveCommit? {
        // git refuses a pathspec that matches nothing (no config stored yet and none ever committed, e.g.
        // when every device of the first backup failed): then there is nothing to commit.
        if stored.isEmpty, try !hasManagedFiles() { return nil }
        // core.bigFileThreshold=1 makes `git add` stream the new blobs into one pack file instead of one
        // loose object file each: 10,000 new configs take about 1 s instead of 5 (and no 4 s repack by
        // the next `gc --auto`). Only for this command: diffs still see the files as text.
        try git.run(["add", "--all", "--force", "--", pathspec], config: ["core.bigFileThreshold=1"])
        let staged = try git.run(["diff", "--cached", "--name-only", "-z", "--no-renames", "--", pathspec])
            .split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard !staged.isEmpty else { return nil }
        var ours: [DeviceRef] = []
        var others: [String] = []
        for path in staged {
            if let device = stored[path] { ours.append(device) } else { others.append(path) }
        }
        let message = Self.message(taskID: taskID, devices: ours, others: others)
        try git.run(
            ["commit", "--quiet", "--no-verify", "--only", "--cleanup=verbatim", "-F", "-", "--", pathspec],
            config: ["gc.auto=0", "maintenance.auto=false"], input: Array(message.utf8))
        let head = String(decoding: try git.run(["rev-parse", "HEAD"]), as: UTF8.self).trimmingWhitespace()
        return ArchiveCommit(commitID: head, devices: ours.map(\.id))
    }

    /// Whether any managed file exists in the working tree or in the index. Blocking.
    private func hasManagedFiles() throws -> Bool {
        let entries = (try? FileIO.listDirectory(directory)) ?? []
        if entries.contains(where: { $0.hasSuffix(".cfg") }) { return true }
        return !(try git.run(["ls-files", "-z", "--", pathspec])).isEmpty
    }

    static func message(taskID: String, devices: [DeviceRef], others: [String]) -> String {
        let limit = messageListLimit
        let total = devices.count + others.count
        var message = "Backup task \(oneLine(taskID)): \(total) config\(total == 1 ? "" : "s")\n"
        if !devices.isEmpty {
            message += "\nDevices of this task (\(devices.count)):\n"
            for device in devices.prefix(limit) {
                message += "- \(oneLine(device.name)) (id \(oneLine(device.id.rawValue)), \(oneLine(device.vendor)))\n"
            }
            if devices.count > limit { message += "… and \(devices.count - limit) more\n" }
        }
        if !others.isEmpty {
            message += "\nAlso committed, left uncommitted by an earlier run (\(others.count) file\(others.count == 1 ? "" : "s")):\n"
            for path in others.prefix(limit) { message += "- \(oneLine(path))\n" }
            if others.count > limit { message += "… and \(others.count - limit) more\n" }
        }
        message += "\nDeviceBackup-Task: \(oneLine(taskID))\n"
        return message
    }

    /// Inventory text as one line of a commit message: control characters (newlines) become `?`, so a
    /// device name cannot add lines or trailers.
    private static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }

    private static func escapeGlob(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\*?[".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
