import Foundation
import Glibc

/// The system's OpenSSH client (`/usr/bin/ssh`), driven through pipes; the password comes from an
/// `SSH_ASKPASS` script (`SSH_ASKPASS_REQUIRE=force`), so no extra package is needed.
final class OpenSSHClient {
    static let path = "/usr/bin/ssh"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: path) }

    private let child: ChildProcess
    private let outputFile: URL
    private let errorFile: URL
    private let directory: URL

    /// Starts `ssh` to 127.0.0.1:`port` as `user`. `tty` forces a PTY (`-tt`) for shell sessions;
    /// `command` makes it an exec request.
    init(
        port: Int, user: String, password: String, tty: Bool = true, command: String? = nil,
        cipher: String = "aes128-ctr", mac: String = "hmac-sha2-256", connectTimeout: Int = 10
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("devsim-ssh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let askpass = directory.appendingPathComponent("askpass")
        let quoted = password.replacingOccurrences(of: "'", with: "'\\''")
        try "#!/bin/sh\necho '\(quoted)'\n".write(to: askpass, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: askpass.path)

        var arguments = [
            Self.path, "-F", "/dev/null", "-p", String(port), "-l", user,
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
            "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=\(connectTimeout)",
            // What libssh2 1.10 negotiates with the simulator (ENGINEERING.md §3).
            "-o", "Ciphers=\(cipher)", "-o", "MACs=\(mac)", "-o", "KexAlgorithms=curve25519-sha256",
            "-o", "HostKeyAlgorithms=ssh-ed25519",
        ]
        if tty { arguments.append("-tt") } else { arguments.append("-T") }
        arguments.append("127.0.0.1")
        if let command { arguments.append(command) }
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass.path
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        environment["DISPLAY"] = environment["DISPLAY"] ?? ":0"

        // stdout and stderr go to files (no pipe end-of-file races); stdin is a pipe.
        outputFile = directory.appendingPathComponent("stdout")
        errorFile = directory.appendingPathComponent("stderr")
        child = try ChildProcess(
            arguments: arguments, environment: environment, stdoutPath: outputFile.path, stderrPath: errorFile.path)
    }

    deinit {
        child.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Everything received on stdout so far.
    var bytes: [UInt8] { (try? [UInt8](Data(contentsOf: outputFile))) ?? [] }
    /// Stdout as text (`\r` kept).
    var text: String { String(decoding: bytes, as: UTF8.self) }
    /// Stderr as text.
    var errorText: String { String(decoding: (try? Data(contentsOf: errorFile)) ?? Data(), as: UTF8.self) }

    func send(_ text: String) {
        child.write(Array(text.utf8))
    }

    /// Waits until stdout satisfies `condition` (polling), or the deadline passes.
    @discardableResult
    func waitFor(timeout: Duration = .seconds(30), _ condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(text) { return true }
            if !child.isRunning {
                try? await Task.sleep(for: .milliseconds(50))
                return condition(text)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(text)
    }

    /// Waits until the text ends with `suffix`.
    @discardableResult
    func waitForSuffix(_ suffix: String, timeout: Duration = .seconds(30)) async -> Bool {
        await waitFor(timeout: timeout) { $0.hasSuffix(suffix) }
    }

    /// Waits for the process to end; returns its exit status (nil on timeout, the process is then killed).
    func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while child.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if child.isRunning {
            child.kill()
            return nil
        }
        return child.exitStatus
    }

    var isRunning: Bool { child.isRunning }

    func terminate() {
        child.kill()
    }
}

/// A child process started with `posix_spawn`, reaped by its own pid with `waitpid(WNOHANG)` (Foundation's
/// `Process` missed child exits in this test process). stdin is a pipe, stdout/stderr are files.
final class ChildProcess {
    private let pid: pid_t
    private var stdinFD: Int32
    private var status: Int32?

    init(arguments: [String], environment: [String: String], stdoutPath: String, stderrPath: String) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let out = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(fds[0])
            close(out)
            close(err)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_adddup2(&actions, out, 1)
        posix_spawn_file_actions_adddup2(&actions, err, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // The calling (Dispatch) thread blocks signals and NIO ignores SIGPIPE: give the child a clean
        // signal mask and default dispositions, or it cannot even be terminated.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGWINCH] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(fds[1])
            throw POSIXError(.init(rawValue: result) ?? .EIO)
        }
        self.pid = pid
        self.stdinFD = fds[1]
    }

    deinit {
        kill()
        if stdinFD >= 0 { close(stdinFD) }
    }

    func write(_ bytes: [UInt8]) {
        guard stdinFD >= 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }

    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
            status = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
            return false
        }
        return result == 0
    }

    var exitStatus: Int32? {
        _ = isRunning
        return status
    }

    func kill() {
        if isRunning {
            _ = Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            if waitpid(pid, &raw, 0) == pid { status = 128 + SIGKILL }
        }
    }
}
