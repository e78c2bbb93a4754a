import BackupSupport
public import BackupModels
public import DeviceTransport
import Synchronization

/// Keeps one file per device in a directory, each replaced atomically (write, fsync, rename), so a crash
/// leaves the old or the new config, never half of one.
///
/// - **File names**: `<encoded id or name>.cfg` by the reversible rule of ``ArchiveFileNaming``
///   (`core/sw1` → `core%2Fsw1.cfg`, `路由器1` → `路由器1.cfg`): two devices never share a file.
///   ``prepare(for:)`` refuses a task in which two devices would (duplicate names with
///   ``ArchiveFileNaming/deviceName``) or a device has no usable name (empty, too long); ``store(_:for:context:)``
///   refuses to write a file that another device id already wrote through this archive instance, and
///   never overwrites it.
/// - **Permissions**: files are created `0600` and directories `0700` by default (`fileMode`,
///   `directoryMode`). The temporary file of each atomic write is created with that mode and renamed
///   into place, so a config is never readable by others, not even for a moment; nothing is chmod'ed,
///   and existing directories keep their permissions. The process umask can only remove bits.
/// - **Crash leftovers**: a crash between writing the temporary file (`<file>.cfg.tmp-<pid>-<n>`) and
///   renaming it leaves that file behind; opening the archive removes such files (only names of
///   exactly that form). Two processes must not write the same archive directory at the same time.
///
/// File I/O runs on a dedicated thread pool, never on Swift's cooperative threads (the constructor's
/// `mkdir` and directory scan are the only blocking calls made on the caller's thread).
public struct DirectoryArchive: ConfigArchive {
    /// The directory holding the files.
    public let directory: String
    /// How file names are derived from devices.
    public let naming: ArchiveFileNaming
    /// fsync files and the directory (on by default; off only for tests and benchmarks).
    public let durable: Bool
    /// The permission bits config files are created with (default `0o600`).
    public let fileMode: UInt32
    /// The permission bits directories the archive creates get (default `0o700`).
    public let directoryMode: UInt32
    private let locks = StripedLocks()
    private let owners = FileOwners()

    /// Creates the archive, creating `directory` (and missing parents, with `directoryMode`) if needed,
    /// and removes temporary files a crash left in it.
    ///
    /// - Parameters:
    ///   - directory: where the files go.
    ///   - naming: file names by device id (default) or by device name.
    ///   - durable: fsync every file and the directory after writing (default `true`).
    ///   - fileMode: permission bits of created files (default `0o600`, owner read/write).
    ///   - directoryMode: permission bits of created directories (default `0o700`).
    public init(
        directory: String, naming: ArchiveFileNaming = .deviceID, durable: Bool = true,
        fileMode: UInt32 = 0o600, directoryMode: UInt32 = 0o700
    ) throws {
        self.directory = directory
        self.naming = naming
        self.durable = durable
        self.fileMode = fileMode
        self.directoryMode = directoryMode
        do {
            try FileIO.createDirectory(directory, mode: directoryMode)
        } catch {
            throw BackupError(
                .archiveFailed, "Cannot create the archive directory \(directory): \(error)",
                hint: "Check that the path is a directory (or can be created) and that this user may write there.")
        }
        try Self.removeTemporaryFiles(in: directory)
    }

    /// Removes `*.cfg.tmp-<pid>-<n>` files (interrupted atomic writes). Blocking.
    static func removeTemporaryFiles(in directory: String) throws {
        let names: [String]
        do {
            names = try FileIO.listDirectory(directory)
        } catch {
            throw BackupError(
                .archiveFailed, "Cannot read the archive directory \(directory): \(error)",
                hint: "Check that the path is a directory this user may read.")
        }
        for name in names where FileIO.isTemporaryFileName(name, for: ".cfg") {
            // A leftover that cannot be removed is harmless: it is never read and never committed.
            try? FileIO.remove(directory + "/" + name)
        }
    }

    /// The path of a device's file.
    public func path(for device: DeviceRef) -> String { directory + "/" + naming.fileName(for: device) }

    /// Checks, before any device is contacted, that every device has a usable file name, that no two of
    /// `devices` share a file, and that files can be created in the directory. Then records each path as
    /// belonging to its device for ``store(_:for:context:)``'s clash check (the inventory a task starts
    /// with decides which device a name belongs to, so a name that moved to another device between two
    /// tasks is accepted).
    public func prepare(for devices: [DeviceRef]) async throws {
        var byFile: [String: DeviceRef] = [:]
        byFile.reserveCapacity(devices.count)
        var unnamable: [String] = []
        var clashes: [String] = []
        for device in devices {
            if let problem = naming.fileNameProblem(for: device) {
                unnamable.append("\(Self.describe(device)): \(problem)")
                continue
            }
            let file = naming.fileName(for: device)
            if let other = byFile.updateValue(device, forKey: file), other.id != device.id {
                byFile[file] = other
                clashes.append("\(Self.describe(other)) and \(Self.describe(device)) would share \(file)")
            }
        }
        if !unnamable.isEmpty {
            throw BackupError(
                .archiveFailed,
                "\(unnamable.count) device\(unnamable.count == 1 ? "" : "s") cannot have a file in the archive \(directory): \(Self.list(unnamable))",
                hint: "Give each device a non-empty \(naming == .deviceID ? "id" : "name") of at most \(ArchiveFileNaming.maximumFileComponentBytes) bytes as a file name (a character written as %XX takes 3 bytes per UTF-8 byte).")
        }
        if !clashes.isEmpty {
            throw BackupError(
                .archiveFailed,
                "\(clashes.count) pair\(clashes.count == 1 ? "" : "s") of devices would share one file in the archive \(directory): \(Self.list(clashes))",
                hint: naming == .deviceName
                    ? "Device names must be unique when the archive names files by device name: rename the devices, or name files by device id."
                    : "Device ids must be unique: fix the inventory.")
        }
        let directory = directory
        do {
            try await BlockingIOPool.shared.run { try FileIO.probeWritable(directory) }
        } catch {
            throw BackupError(
                .archiveFailed, "The archive directory \(directory) is not writable: \(error)",
                hint: "Check that it exists, is a directory, is writable by this user and the disk has room.")
        }
        owners.claim(byFile.map { ($0.key, $0.value.id) })
    }

    public func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        if let problem = naming.fileNameProblem(for: device) {
            throw BackupError(
                .archiveFailed, "The config of \(Self.describe(device)) cannot be stored in \(directory): \(problem).",
                hint: "Give the device a non-empty \(naming == .deviceID ? "id" : "name") of at most about \(ArchiveFileNaming.maximumFileComponentBytes) bytes.")
        }
        let file = naming.fileName(for: device)
        let path = directory + "/" + file
        if let owner = owners.claimIfFree(file, for: device.id) {
            throw BackupError(
                .archiveFailed,
                "The config of \(Self.describe(device)) was not stored: its file \(path) belongs to device id \(owner) in this archive, and is never overwritten by another device.",
                hint: naming == .deviceName
                    ? "Two devices have the same name: rename one, or name files by device id."
                    : "Two devices have the same id: fix the inventory.")
        }
        let bytes = Array(config.text.utf8)
        let durable = durable
        let fileMode = fileMode
        let locks = locks
        do {
            return try await BlockingIOPool.shared.run {
                try locks.withLock(for: path) {
                    let newID = configContentID(config.text)
                    let old = try FileIO.read(path)
                    let changed = old.map { $0 != bytes } ?? true  // comparing is cheaper than hashing
                    if changed { try FileIO.writeAtomically(path, bytes, durable: durable, mode: fileMode) }
                    return ArchiveReceipt(configID: newID, size: bytes.count, changed: changed)
                }
            }
        } catch {
            throw BackupError(
                .archiveFailed, "Cannot store the config of \(device.name) in \(path): \(error)",
                hint: "Check free space and permissions of the archive directory.")
        }
    }

    public func currentConfig(for device: DeviceRef) async throws -> String? {
        let path = path(for: device)
        do {
            return try await BlockingIOPool.shared.run { try FileIO.read(path).map { String(decoding: $0, as: UTF8.self) } }
        } catch {
            throw BackupError(.archiveFailed, "Cannot read \(path): \(error)")
        }
    }

    static func describe(_ device: DeviceRef) -> String {
        "\(device.name.debugDescription) (id \(device.id.rawValue.debugDescription))"
    }

    static func list(_ items: [String], cap: Int = 10) -> String {
        items.prefix(cap).joined(separator: "; ") + (items.count > cap ? "; … and \(items.count - cap) more" : "")
    }
}

/// Which device id each file of an archive belongs to, as far as this process knows.
final class FileOwners: Sendable {
    private let owners = Mutex<[String: DeviceID]>([:])

    /// Records `claims` (file → device), replacing earlier owners.
    func claim(_ claims: [(String, DeviceID)]) {
        owners.withLock { owners in
            for (file, id) in claims { owners[file] = id }
        }
    }

    /// Claims `file` for `id` unless another device owns it; returns that other device.
    func claimIfFree(_ file: String, for id: DeviceID) -> DeviceID? {
        owners.withLock { owners in
            if let owner = owners[file], owner != id { return owner }
            owners[file] = id
            return nil
        }
    }

    /// The device that owns `file`, if known.
    func owner(of file: String) -> DeviceID? { owners.withLock { $0[file] } }
}

/// Keeps configs in memory: for tests, demos and benchmarks.
public final class InMemoryArchive: ConfigArchive {
    private let configs = Mutex<[DeviceID: (text: String, id: String)]>([:])

    /// Creates an empty archive.
    public init() {}

    public func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        let id = configContentID(config.text)
        let changed = configs.withLock { configs in
            let old = configs.updateValue((config.text, id), forKey: device.id)
            return old.map { $0.id != id } ?? true
        }
        return ArchiveReceipt(configID: id, size: config.size, changed: changed)
    }

    public func currentConfig(for device: DeviceRef) async throws -> String? {
        configs.withLock { $0[device.id]?.text }
    }

    /// How many devices have a stored config.
    public var count: Int { configs.withLock { $0.count } }
}

/// A fixed set of locks selected by key hash: serialises work on one key without a lock per key.
final class StripedLocks: Sendable {
    private final class Stripe: Sendable { let mutex = Mutex(()) }
    private let stripes: [Stripe] = (0..<64).map { _ in Stripe() }

    func withLock<T>(for key: String, _ body: () throws -> T) rethrows -> T {
        var hasher = Hasher()
        hasher.combine(key)
        let index = Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes.count))
        return try stripes[index].mutex.withLock { _ in try body() }
    }
}
