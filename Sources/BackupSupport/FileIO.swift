#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An `errno`-carrying failure of a file operation.
package struct FileIOError: Error, Sendable, CustomStringConvertible {
    /// The failed call, such as `open` or `fsync`.
    package var operation: String
    /// The file it was called on.
    package var path: String
    /// The `errno` it failed with.
    package var errnoCode: Int32

    /// Creates an error for `operation` on `path` that failed with `errno`.
    package init(_ operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errnoCode = errno
    }

    package var description: String {
        "\(operation) \(path) failed: \(String(cString: strerror(errnoCode))) (errno \(errnoCode))"
    }
}

/// Small blocking POSIX file helpers. Call them only from a ``BlockingIOPool``.
package enum FileIO {
    /// Reads a whole file; `nil` if it does not exist.
    package static func read(_ path: String) throws(FileIOError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileIOError("open", path: path, errno: errno)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("read", path: path, errno: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// Writes all of `bytes` to `fd`.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileIOError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("write", path: path, errno: errno)
            }
            offset += n
        }
    }

    /// The marker in the names of the temporary files ``writeAtomically(_:_:durable:mode:)`` writes
    /// (`<path>.tmp-<pid>-<random>`); a crash between create and rename can leave one behind.
    package static let temporaryMarker = ".tmp-"

    /// Replaces `path` atomically: write a temporary file beside it, fsync it, rename it over `path`,
    /// fsync the directory. A crash leaves either the old or the new content, never a mix.
    ///
    /// The temporary file is created with `mode` (0600 by default: owner only; the process umask can only
    /// remove bits) and renamed as it is, so the file never exists with wider permissions, not even for a
    /// moment; nothing is chmod'ed afterwards. `O_EXCL` makes sure the temporary file is a new one.
    package static func writeAtomically(_ path: String, _ bytes: [UInt8], durable: Bool = true, mode: UInt32 = 0o600) throws(FileIOError) {
        let temp = path + temporaryMarker + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode_t(mode))
        if fd < 0 { throw FileIOError("create", path: temp, errno: errno) }
        do throws(FileIOError) {
            try writeAll(fd, bytes, path: temp)
            if durable, fsync(fd) != 0 { throw FileIOError("fsync", path: temp, errno: errno) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        if rename(temp, path) != 0 {
            let code = errno
            unlink(temp)
            throw FileIOError("rename", path: path, errno: code)
        }
        if durable { try syncDirectory(containing: path) }
    }

    /// fsyncs the directory that holds `path`, making a rename or create durable.
    package static func syncDirectory(containing path: String) throws(FileIOError) {
        let dir = directoryName(path)
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileIOError("open", path: dir, errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileIOError("fsync", path: dir, errno: errno) }
    }

    /// Creates `path` and its parents (like `mkdir -p`). Directories it creates get `mode` (0700 by
    /// default: owner only; the umask can only remove bits); existing ones are left as they are.
    package static func createDirectory(_ path: String, mode: UInt32 = 0o700) throws(FileIOError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode_t(mode)) != 0, errno != EEXIST {
                throw FileIOError("mkdir", path: current, errno: errno)
            }
        }
    }

    /// Proves that files can be created in `directory`: creates a new, empty probe file there
    /// (exclusively, owner-only) and removes it again.
    package static func probeWritable(_ directory: String) throws(FileIOError) {
        let probe = directory + "/.devicebackup-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 { throw FileIOError("create", path: probe, errno: errno) }
        close(fd)
        if unlink(probe) != 0 { throw FileIOError("unlink", path: probe, errno: errno) }
    }

    /// Whether `name` is a temporary file left by ``writeAtomically(_:_:durable:mode:)`` for a file
    /// whose name ends with `suffix` (`<name><suffix>.tmp-<pid>-<random>`).
    package static func isTemporaryFileName(_ name: String, for suffix: String) -> Bool {
        // Scan backwards: <digits> '-' <digits>, then ".tmp-", then `suffix`.
        var bytes = Array(name.utf8)[...]
        func digits() -> Bool {
            var count = 0
            while let last = bytes.last, last >= UInt8(ascii: "0"), last <= UInt8(ascii: "9") {
                bytes.removeLast()
                count += 1
            }
            return count > 0
        }
        func literal(_ text: String) -> Bool {
            let expected = Array(text.utf8)
            guard bytes.count >= expected.count, bytes.suffix(expected.count).elementsEqual(expected) else { return false }
            bytes.removeLast(expected.count)
            return true
        }
        return digits() && literal("-") && digits() && literal(suffix + temporaryMarker)
    }

    /// Names in a directory (without `.` and `..`); `[]` if it does not exist.
    package static func listDirectory(_ path: String) throws(FileIOError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw FileIOError("opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file; a missing file is not an error.
    package static func remove(_ path: String) throws(FileIOError) {
        if unlink(path) != 0, errno != ENOENT { throw FileIOError("unlink", path: path, errno: errno) }
    }

    /// The directory part of `path` (`.` when it has none, `/` for a file in the root).
    package static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Makes a string safe as one path component: keeps letters, digits, `-`, `_`, `.`; replaces the rest
/// with `_`; never `.`/`..` or empty.
package func sanitizedFileComponent(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.properties.isAlphabetic && scalar.isASCII || ("0"..."9").contains(scalar) || "-_.".unicodeScalars.contains(scalar) {
            out.unicodeScalars.append(scalar)
        } else {
            out.append("_")
        }
    }
    if out.isEmpty || out == "." || out == ".." { out = "_" + out }
    return out
}
