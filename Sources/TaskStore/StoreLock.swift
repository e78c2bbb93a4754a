import BackupModels
import BackupSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `LOCK` file of a store directory, held with `flock(LOCK_EX)` for as long as the store is open.
///
/// `flock` locks belong to an open file description: a second process — or a second `open` in the same
/// process — conflicts with the holder, and the kernel releases the lock when the holder's descriptor is closed
/// or its process dies (also on `kill -9`), so a crashed process never leaves a stale lock behind. The holder
/// writes its pid into the file so that the loser's error can name it.
///
/// Blocking: call only on a ``BlockingIOPool``.
enum StoreLock {
    /// Takes the lock; returns the descriptor that holds it. A held lock is a `STORE_FAILED` error naming the
    /// holder's pid; the loser writes nothing.
    static func acquire(directory: String) throws(BackupError) -> Int32 {
        let path = directory + "/" + JournalFormat.lockFileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, StoreFiles.fileMode)
        if fd < 0 {
            throw BackupError(
                .storeFailed, "Cannot open the task store's lock file: \(FileIOError("open", path: path, errno: errno)).",
                hint: "Check that the directory exists and is writable.")
        }
        let key = fileKey(fd)
        if let key, heldHere.withLock({ $0.contains(key) }) {
            close(fd)
            throw lockedError(directory, who: "this process (pid \(getpid())) already has it open")
        }
        // A child process being spawned by this process (fork, then exec) briefly holds copies of our
        // descriptors, including the lock of a store we just closed: the lock then looks held by us although
        // no store of ours has it open. Wait for the exec (which closes the copy: O_CLOEXEC) for a moment.
        var transientRetries = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holder = readPID(fd)
            if code == EWOULDBLOCK, holder == getpid(), transientRetries < 200 {
                transientRetries += 1
                usleep(10_000)
                continue
            }
            close(fd)
            if code == EWOULDBLOCK {
                let who: String
                if let holder, holder == getpid() {
                    who = "this process (pid \(holder)) still holds it (a child process may have inherited the lock)"
                } else if let holder {
                    who = "another process (pid \(holder)) holds it"
                } else {
                    who = "another process holds it (pid unknown)"
                }
                throw lockedError(directory, who: who)
            }
            throw BackupError(
                .storeFailed, "Cannot lock the task store: \(FileIOError("flock", path: path, errno: code)).",
                hint: "The file system must support flock(2); network file systems may not.")
        }
        if let key { heldHere.withLock { _ = $0.insert(key) } }
        // We hold the lock: record our pid for whoever comes next (best effort, not needed for correctness).
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return fd
    }

    /// Releases the lock (closing its descriptor).
    static func release(_ fd: Int32) {
        if let key = fileKey(fd) { heldHere.withLock { _ = $0.remove(key) } }
        close(fd)
    }

    private struct FileKey: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    /// Lock files held by stores open in this process.
    private static let heldHere = Mutex<Set<FileKey>>([])

    private static func fileKey(_ fd: Int32) -> FileKey? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return FileKey(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    private static func lockedError(_ directory: String, who: String) -> BackupError {
        BackupError(
            .storeFailed, "The task store in \(directory) is locked: \(who).",
            hint: "Only one FileTaskStore may use a directory at a time. Stop the other process or close the "
                + "other store first, or use another directory.")
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace
        return Int32(text)
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(unicodeScalars.filter { !$0.properties.isWhitespace })
    }
}
