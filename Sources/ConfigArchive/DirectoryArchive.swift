import BackupSupport
public import BackupModels
public import DeviceTransport
import Synchronization

/// How an archive names each device's file.
public enum ArchiveFileNaming: Sendable, Hashable {
    /// `<device id>.cfg`: stable across renames, never collides.
    case deviceID
    /// `<device name>.cfg`: readable; names must be unique in the inventory.
    case deviceName

    func fileName(for device: DeviceRef) -> String {
        switch self {
        case .deviceID: sanitizedFileComponent(device.id.rawValue) + ".cfg"
        case .deviceName: sanitizedFileComponent(device.name) + ".cfg"
        }
    }
}

/// Keeps one file per device in a directory, each replaced atomically (write, fsync, rename), so a crash
/// leaves the old or the new config, never half of one.
///
/// File I/O runs on a dedicated thread pool, never on Swift's cooperative threads.
public struct DirectoryArchive: ConfigArchive {
    /// The directory holding the files.
    public let directory: String
    /// How file names are derived from devices.
    public let naming: ArchiveFileNaming
    /// fsync files and the directory (on by default; off only for tests and benchmarks).
    public let durable: Bool
    private let locks = StripedLocks()

    /// Creates the archive, creating `directory` if needed.
    public init(directory: String, naming: ArchiveFileNaming = .deviceID, durable: Bool = true) throws {
        self.directory = directory
        self.naming = naming
        self.durable = durable
        do {
            try FileIO.createDirectory(directory)
        } catch {
            throw BackupError(.archiveFailed, "Cannot create the archive directory: \(error)", hint: "Check the path and its permissions.")
        }
    }

    /// The path of a device's file.
    public func path(for device: DeviceRef) -> String { directory + "/" + naming.fileName(for: device) }

    public func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        let path = path(for: device)
        let bytes = Array(config.text.utf8)
        let durable = durable
        let locks = locks
        do {
            return try await BlockingIOPool.shared.run {
                try locks.withLock(for: path) {
                    let newID = configContentID(config.text)
                    let old = try FileIO.read(path)
                    let changed = old.map { $0 != bytes } ?? true  // comparing is cheaper than hashing
                    if changed { try FileIO.writeAtomically(path, bytes, durable: durable) }
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
