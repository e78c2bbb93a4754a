#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import BackupModels

/// Runs git commands in one repository, blocking the calling thread (callers use a serial
/// `BlockingIOPool`), each with a clean environment, hooks off and a deadline.
struct GitRunner: Sendable {
    let executable: String
    let repository: String
    let timeout: Duration
    /// `-C <repository>` and the `-c` settings every command gets.
    let baseArguments: [String]
    /// `NAME=value` entries: the child's whole environment.
    let environment: [String]

    init(executable: String, repository: String, authorName: String, authorEmail: String, timeout: Duration) {
        self.executable = executable
        self.repository = repository
        self.timeout = timeout
        baseArguments = [
            "-C", repository,
            // No hooks from the repository or the user's configuration ever run.
            "-c", "core.hooksPath=/dev/null",
            // No file-system monitor daemon or program either.
            "-c", "core.fsmonitor=false",
            "-c", "user.name=\(authorName)",
            "-c", "user.email=\(authorEmail)",
            "-c", "commit.gpgSign=false",
        ]
        environment = Self.minimalEnvironment(Self.currentEnvironment())
    }

    /// The variables git gets: `PATH`, `HOME` (for the user's git configuration) and `TMPDIR` when set,
    /// plus `LC_ALL=C`, `LANG=C` (stable messages) and `GIT_TERMINAL_PROMPT=0` (never wait for a
    /// password). Nothing else is passed on: no secrets such as `NET_PASSWORD`, no `GIT_DIR`,
    /// `GIT_INDEX_FILE`, `GIT_WORK_TREE` or `GIT_CONFIG_*` of the caller.
    static func minimalEnvironment(_ inherited: [String: String]) -> [String] {
        var result = ["PATH=\(inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")"]
        for name in ["HOME", "TMPDIR"] {
            if let value = inherited[name] { result.append("\(name)=\(value)") }
        }
        result += ["LC_ALL=C", "LANG=C", "GIT_TERMINAL_PROMPT=0"]
        return result
    }

    static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for name in ["PATH", "HOME", "TMPDIR"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }

    static func findOnPath() -> String? {
        let path = currentEnvironment()["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/git", X_OK) == 0 {
            return "\(dir)/git"
        }
        return nil
    }

    /// Runs `git [-c config]… <arguments>` with `input` on its stdin and returns its stdout; a non-zero
    /// exit or the timeout is `ARCHIVE_FAILED` with git's stderr and what to do.
    @discardableResult
    func run(_ arguments: [String], config: [String] = [], input: [UInt8] = []) throws(BackupError) -> [UInt8] {
        let subcommand = "git " + (arguments.first ?? "")
        let output: ChildProcess.Output
        do throws(ChildProcess.Failure) {
            output = try ChildProcess.run(
                executable: executable, arguments: baseArguments + config.flatMap { ["-c", $0] } + arguments,
                environment: environment, input: input, timeout: timeout)
        } catch {
            switch error {
            case .timedOut(let reaped):
                throw BackupError(
                    .archiveFailed,
                    "\(subcommand) did not finish within \(Self.describe(timeout)) in \(repository) and was killed\(reaped ? "" : " (it has not exited yet)").",
                    hint: "Check the disk and the repository (a hung file system, a huge repository); raise the archive's gitTimeout if it is only slow.")
            case .spawn(let code):
                throw BackupError(
                    .archiveFailed, "Cannot run \(executable) (\(subcommand)): \(String(cString: strerror(code))).",
                    hint: "Install git or pass the path of a working git executable as gitExecutable.")
            case .io(let operation, let code):
                throw BackupError(
                    .archiveFailed, "Cannot run \(subcommand): \(operation) failed: \(String(cString: strerror(code))).",
                    hint: "The process may be out of file descriptors or memory.")
            }
        }
        guard output.status == 0 else {
            let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingWhitespace()
            let locked = stderr.contains("index.lock") || stderr.contains(".lock': File exists")
            throw BackupError(
                .archiveFailed,
                "\(subcommand) failed in \(repository) (exit \(output.status)): \(stderr.isEmpty ? "no message" : stderr)",
                hint: locked
                    ? "Another git process is working in \(repository), or one crashed: if none runs, remove the .lock file git names (usually .git/index.lock)."
                    : "Check the repository with 'git -C \(repository) status' and 'git -C \(repository) fsck'.")
        }
        return output.stdout
    }

    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18) s"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
