import BackupModels
import BackupSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating and checking the files of a store directory. Every file and directory the store creates is created
/// with its final, owner-only mode (files 0600, directories 0700) — never widened or narrowed with `chmod`
/// afterwards, so none of them exists with wider permissions, not even for a moment. Blocking: call only on a
/// ``BlockingIOPool``.
enum StoreFiles {
    /// The mode of every file the store creates: journal, compaction temporaries, damaged-record copies, lock.
    static let fileMode: mode_t = 0o600
    /// The mode of a store directory the store creates (an existing one is left as it is).
    static let directoryMode: mode_t = 0o700

    /// Creates `path` and its missing parents (like `mkdir -p`) with ``directoryMode``.
    static func createDirectory(_ path: String) throws(FileIOError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, directoryMode) != 0, errno != EEXIST {
                throw FileIOError("mkdir", path: current, errno: errno)
            }
        }
    }

    /// Creates a new file for writing with ``fileMode``; it must not exist yet (`O_EXCL`). -1 on failure, with
    /// `errno` set.
    static func createNew(_ path: String) -> Int32 {
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
    }

    /// Writes `bytes` to a new file at `path`, created with ``fileMode``, fsyncs it and its directory.
    static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(FileIOError) {
        let fd = createNew(path)
        if fd < 0 { throw FileIOError("create", path: path, errno: errno) }
        do throws(FileIOError) {
            try FileIO.writeAll(fd, bytes, path: path)
            if fsync(fd) != 0 { throw FileIOError("fsync", path: path, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        try FileIO.syncDirectory(containing: path)
    }

    /// Checks, creating nothing, that `directory` holds a store: it exists, is a directory and has a non-empty
    /// journal. Throws `STORE_FAILED` naming the path otherwise.
    static func checkExistingStore(directory: String, journalPath: String) throws(BackupError) {
        var info = stat()
        if stat(directory, &info) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw BackupError(
                    .storeFailed, "There is no task store at \(directory): the directory does not exist.",
                    hint: "Check the store path for a typo; a store is created by the first backup that uses it.")
            }
            throw BackupError(
                .storeFailed, "Cannot open the task store at \(directory): \(FileIOError("stat", path: directory, errno: code)).",
                hint: "Check the path and its permissions.")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw BackupError(
                .storeFailed, "There is no task store at \(directory): it is a file, not a directory.",
                hint: "Point the store path at the store's directory.")
        }
        if stat(journalPath, &info) != 0 {
            let code = errno
            if code == ENOENT { throw noStore(directory, journalPath: journalPath, why: "it has no journal") }
            throw BackupError(
                .storeFailed, "Cannot open the task store at \(directory): \(FileIOError("stat", path: journalPath, errno: code)).",
                hint: "Check the directory's permissions.")
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else {
            throw noStore(directory, journalPath: journalPath, why: "its journal is empty or not a file")
        }
    }

    /// `STORE_FAILED`: `directory` exists but holds no task store.
    static func noStore(_ directory: String, journalPath: String, why: String) -> BackupError {
        BackupError(
            .storeFailed, "There is no task store in \(directory): \(why) (\(journalPath)).",
            hint: "Check the store path for a typo; a store is created by the first backup that uses it.")
    }
}
