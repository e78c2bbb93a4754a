import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Counts of this process's resources, read from /proc.
enum ProcessProbes {
    /// Open file descriptors (entries of /proc/self/fd, not counting the one used to list them).
    static func openFDCount() -> Int {
        fdTargets().count
    }

    /// Targets of every open fd ("socket:[123]", "/dev/null", "anon_inode:[eventfd]", …).
    static func fdTargets() -> [Int32: String] {
        guard let dir = opendir("/proc/self/fd") else { return [:] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var result: [Int32: String] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard let fd = Int32(name), fd != own else { continue }
            var buffer = [CChar](repeating: 0, count: 512)
            let n = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
            result[fd] = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        return result
    }

    /// OS threads of this process.
    static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
    }

    /// Reads a /proc file (their size is reported as 0, so read until EOF).
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Resident set size in bytes.
    static func residentBytes() -> Int {
        guard let text = readProcFile("/proc/self/statm") else { return -1 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return -1 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// This process's TCP sockets whose remote port is `port` (connections to the test server), matched
    /// through /proc/net/tcp{,6} inodes: exact even while other tests open files.
    static func socketsConnected(toPort port: Int) -> Int {
        var inodes = Set<String>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readProcFile(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9 else { continue }
                let remote = fields[2]
                guard let colon = remote.lastIndex(of: ":"), let remotePort = Int(remote[remote.index(after: colon)...], radix: 16)
                else { continue }
                if remotePort == port { inodes.insert(String(fields[9])) }
            }
        }
        return fdTargets().values.filter { target in
            target.hasPrefix("socket:[") && inodes.contains(String(target.dropFirst(8).dropLast()))
        }.count
    }
}

/// A log handler that keeps every message with its metadata, for assertions.
struct CapturingLogHandler: LogHandler {
    final class Store: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        store.lines.withLock { $0.append(text) }
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        var logger = Logger(label: "test.ssh") { _ in CapturingLogHandler(store: store) }
        logger.logLevel = .trace
        return (logger, store)
    }
}

/// A logger that drops everything (for load tests).
let quietLogger = Logger(label: "test.quiet") { _ in SwiftLogNoOpLogHandler() }
