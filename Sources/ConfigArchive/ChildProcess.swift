#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Runs a program to completion, blocking the calling thread: writes `input` to its stdin while
/// draining its stdout and stderr (no deadlock whatever the sizes), and kills it when it runs past a
/// deadline. Call only from a `BlockingIOPool`.
///
/// The child gets exactly `environment`, its own process group (a timeout kills the group, so helpers
/// it started die too), default signal dispositions and an empty signal mask. Its stdin, stdout and
/// stderr are socket pairs; stdin is written with `MSG_NOSIGNAL`, so a child that exits without
/// reading cannot raise `SIGPIPE` in this process.
enum ChildProcess {
    struct Output {
        /// The exit status, or `128 + signal` when a signal ended the child.
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    enum Failure: Error {
        /// The program could not be started (`posix_spawn`'s error).
        case spawn(Int32)
        /// Pipes or sockets could not be set up (operation, `errno`).
        case io(String, Int32)
        /// It ran past the deadline and was killed; whether it was reaped.
        case timedOut(reaped: Bool)
    }

    /// How much of stderr is kept (its end): enough for any error message.
    static let stderrLimit = 64 * 1024

    static func run(
        executable: String, arguments: [String], environment: [String], input: [UInt8] = [], timeout: Duration
    ) throws(Failure) -> Output {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var stdinPair: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        defer { for fd in stdinPair + outPipe + errPipe where fd >= 0 { close(fd) } }
        // Socket pairs rather than pipes: created close-on-exec atomically (no other thread's child can
        // inherit them), and writable with MSG_NOSIGNAL.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &stdinPair) == 0 else { throw .io("socketpair", errno) }
        guard socketpair(AF_UNIX, type, 0, &outPipe) == 0 else { throw .io("socketpair", errno) }
        guard socketpair(AF_UNIX, type, 0, &errPipe) == 0 else { throw .io("socketpair", errno) }

        let pid = try spawn(
            executable: executable, arguments: arguments, environment: environment,
            stdin: stdinPair[1], stdout: outPipe[1], stderr: errPipe[1])
        // The child's ends are the child's now.
        close(stdinPair[1]); stdinPair[1] = -1
        close(outPipe[1]); outPipe[1] = -1
        close(errPipe[1]); errPipe[1] = -1

        var output = Output(status: -1, stdout: [], stderr: [])
        do throws(Failure) {
            try pump(
                input: input, stdin: &stdinPair[0], stdout: &outPipe[0], stderr: &errPipe[0], output: &output,
                deadline: deadline)
            output.status = try reap(pid, deadline: deadline)
        } catch {
            if case .timedOut = error { throw .timedOut(reaped: kill(processGroup: pid)) }
            _ = kill(processGroup: pid)
            throw error
        }
        return output
    }

    private static func spawn(
        executable: String, arguments: [String], environment: [String], stdin: Int32, stdout: Int32, stderr: Int32
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        var attempt = 0
        while true {
            let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            if result == 0 { return pid }
            // ETXTBSY: another thread's child briefly inherited a descriptor that had the executable
            // open for writing (a script written just now); it goes away when that child execs.
            guard result == ETXTBSY, attempt < 20 else { throw .spawn(result) }
            attempt += 1
            usleep(UInt32(5_000 * attempt))
        }
    }

    /// Writes `input` and reads both outputs until both reach end-of-file.
    private static func pump(
        input: [UInt8], stdin: inout Int32, stdout: inout Int32, stderr: inout Int32, output: inout Output,
        deadline: ContinuousClock.Instant
    ) throws(Failure) {
        for fd in [stdin, stdout, stderr] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var written = 0
        if input.isEmpty { close(stdin); stdin = -1 }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while stdout >= 0 || stderr >= 0 {
            let wait = milliseconds(until: deadline)
            if wait <= 0 { throw .timedOut(reaped: false) }
            var fds: [pollfd] = []
            if stdin >= 0 { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
            if stdout >= 0 { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
            if stderr >= 0 { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(wait, 1_000)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw .io("poll", errno)
            }
            for entry in fds where entry.revents != 0 {
                if entry.fd == stdin {
                    if entry.revents & Int16(POLLOUT) != 0 {
                        let n = input.withUnsafeBytes { bytes in
                            send(stdin, bytes.baseAddress! + written, bytes.count - written, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                        }
                        if n > 0 { written += n }
                        if n < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                            written = input.count  // the child stopped reading (EPIPE): it will say why
                        }
                    } else {
                        written = input.count
                    }
                    if written >= input.count { close(stdin); stdin = -1 }
                } else {
                    let isOut = entry.fd == stdout
                    while true {
                        let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                        if n > 0 {
                            if isOut {
                                output.stdout.append(contentsOf: buffer[0..<n])
                            } else {
                                output.stderr.append(contentsOf: buffer[0..<n])
                                if output.stderr.count > stderrLimit { output.stderr.removeFirst(output.stderr.count - stderrLimit) }
                            }
                            continue
                        }
                        if n < 0, errno == EINTR { continue }
                        if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { break }
                        // End of file (or an error: treated as the end).
                        close(entry.fd)
                        if isOut { stdout = -1 } else { stderr = -1 }
                        break
                    }
                }
            }
        }
        if stdin >= 0 { close(stdin); stdin = -1 }
    }

    /// Waits for the child to exit (it closed its outputs, so it normally has or is about to).
    private static func reap(_ pid: pid_t, deadline: ContinuousClock.Instant) throws(Failure) -> Int32 {
        var delay: UInt32 = 100
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return decode(status) }
            if result < 0 {
                if errno == EINTR { continue }
                throw .io("waitpid", errno)
            }
            if milliseconds(until: deadline) <= 0 { throw .timedOut(reaped: false) }
            usleep(delay)
            delay = min(delay * 2, 20_000)
        }
    }

    /// Kills the child's process group and reaps the child; `false` if it did not die within 5 s (then
    /// it is reaped in the background whenever it does).
    private static func kill(processGroup pid: pid_t) -> Bool {
        _ = Glibc.kill(-pid, SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
        let limit = ContinuousClock.now.advanced(by: .seconds(5))
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno != EINTR) { return true }
            if ContinuousClock.now >= limit { break }
            usleep(2_000)
        }
        DispatchQueue.global(qos: .utility).async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        return false
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int64 {
        let remaining = ContinuousClock.now.duration(to: deadline).components
        return remaining.seconds * 1_000 + remaining.attoseconds / 1_000_000_000_000_000
    }
}
