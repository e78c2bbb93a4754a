import BackupModels
import BackupSupport

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
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw BackupError(
                .storeFailed, "Cannot open the task store's lock file: \(FileIOError("open", path: path, errno: errno)).",
                hint: "Check that the directory exists and is writable.")
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let holder = readPID(fd)
            close(fd)
            if code == EWOULDBLOCK {
                let who: String
                if let holder, holder == getpid() {
                    who = "this process (pid \(holder)) already has it open"
                } else if let holder {
                    who = "another process (pid \(holder)) holds it"
                } else {
                    who = "another process holds it (pid unknown)"
                }
                throw BackupError(
                    .storeFailed, "The task store in \(directory) is locked: \(who).",
                    hint: "Only one FileTaskStore may use a directory at a time. Stop the other process or close the "
                        + "other store first, or use another directory.")
            }
            throw BackupError(
                .storeFailed, "Cannot lock the task store: \(FileIOError("flock", path: path, errno: code)).",
                hint: "The file system must support flock(2); network file systems may not.")
        }
        // We hold the lock: record our pid for whoever comes next (best effort, not needed for correctness).
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return fd
    }

    /// Releases the lock (closing its descriptor).
    static func release(_ fd: Int32) {
        close(fd)
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
