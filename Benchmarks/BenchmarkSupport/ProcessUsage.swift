// What the benchmarks measure about processes: CPU time, peak resident memory, child processes.
// Linux only (reads /proc).

import Foundation

#if canImport(Glibc)
public import Glibc
#endif

/// CPU time and memory of this process, its reaped children, or another process.
public enum ProcessUsage {
    /// User + system CPU seconds of this process (every thread) so far.
    public static func selfCPUSeconds() -> Double { rusageCPU(RUSAGE_SELF) }

    /// User + system CPU seconds of this process's reaped child processes (e.g. `git`) so far.
    public static func childrenCPUSeconds() -> Double { rusageCPU(RUSAGE_CHILDREN) }

    /// User + system CPU seconds of a running process, from `/proc/<pid>/stat` (0 when it is gone).
    public static func cpuSeconds(of pid: pid_t) -> Double {
        let stat = readProcFile("/proc/\(pid)/stat")
        // Fields after the command name, which is in parentheses and may contain spaces.
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident set size (`VmHWM`) in KiB of this process or of `pid`.
    public static func peakRSSKiB(of pid: pid_t? = nil) -> Int { statusValue("VmHWM", pid: pid) }

    /// Current resident set size (`VmRSS`) in KiB of this process or of `pid`.
    public static func rssKiB(of pid: pid_t? = nil) -> Int { statusValue("VmRSS", pid: pid) }

    /// Resets this process's peak RSS (`VmHWM`) to its current RSS.
    public static func resetPeakRSS() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        if fd >= 0 {
            _ = write(fd, "5", 1)
            close(fd)
        }
    }

    /// Open file descriptors of this process.
    public static func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// A line of `/proc/<pid>/status` (`VmHWM`, `VmRSS`, …) as a number (KiB for the memory lines).
    public static func statusValue(_ key: String, pid: pid_t? = nil) -> Int {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        for line in readProcFile(path).split(separator: "\n") where line.hasPrefix(key + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    /// Reads a /proc file (their sizes are unknown to stat, so read to the end).
    public static func readProcFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func rusageCPU(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(who.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// Starts `arguments[0]` (an absolute path) with stdin from `stdin` and stdout+stderr into `output`.
public func spawnProcess(_ arguments: [String], stdin: String = "/dev/null", output: String) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    precondition(rc == 0, "posix_spawn \(arguments[0]) failed: \(rc)")
    return pid
}

/// Formats a number with `digits` decimals.
public func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
