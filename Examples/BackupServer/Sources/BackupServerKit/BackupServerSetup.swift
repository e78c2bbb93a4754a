import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Logging
import TaskStore
import VendorProfiles

/// The executor and its parts as the `backup-server` command builds them from its options.
public struct BackupServerSetup: Sendable {
    public struct Options: Sendable {
        /// File store directory; `nil` keeps tasks in memory.
        public var storeDirectory: String?
        /// Devices file of real devices; `nil` serves the demo network.
        public var inventoryFile: String?
        /// Where configs go; `nil` keeps them in memory.
        public var archiveDirectory: String?
        public var knownHostsFile: String?
        public var trustOnFirstUse = false
        public var demoLatency: Duration = .milliseconds(800)
        public var maxSessions = 50
        public var allowConcurrency: Int?
        public var shutdownGrace: Duration = .seconds(10)
        /// The first delay between attempts on a device (doubling per retry, up to 2 minutes).
        public var retryBaseDelay: Duration = RetryStrategy.exponential.baseDelay
        public var recovery: RecoveryPolicy = .resume

        public init() {}
    }

    public let executor: BackupExecutor
    public let inventory: any DeviceInventory
    /// `/health/ready`'s checks: the executor's state and whether the executor's store accepts writes.
    public let readiness: ServerReadiness
    private let fileStore: FileTaskStore?

    /// Builds everything; throws ``InventoryLoadError`` for a bad devices file, `STORE_FAILED` for a store
    /// that cannot be opened (e.g. another process holds it).
    public static func make(_ options: Options, logger: Logger) async throws -> BackupServerSetup {
        let fileStore = try await options.storeDirectory.asyncMap { try await FileTaskStore.open(directory: $0, logger: logger) }
        let store: any TaskStore = fileStore ?? InMemoryTaskStore()
        let archive: any ConfigArchive = try options.archiveDirectory.map { try DirectoryArchive(directory: $0) } ?? InMemoryArchive()
        var configuration = BackupExecutorConfiguration(
            policy: options.allowConcurrency.map { .widened(maxConcurrent: $0) } ?? .default,
            maxConcurrentSessions: options.maxSessions,
            retryStrategy: RetryStrategy(baseDelay: options.retryBaseDelay),
            recovery: options.recovery,
            shutdownGracePeriod: options.shutdownGrace)
        let inventory: any DeviceInventory
        let executor: BackupExecutor
        if let path = options.inventoryFile {
            let loaded = try ServerInventory.load(path: path)
            let knownHosts = options.knownHostsFile ?? BackupExecutorConfiguration.defaultKnownHostsFile
            configuration.hostKeyPolicy = options.trustOnFirstUse ? .trustOnFirstUse(knownHostsFile: knownHosts) : .strict(knownHostsFile: knownHosts)
            inventory = loaded
            executor = BackupExecutor(
                configuration: configuration, inventory: loaded, transport: LibSSH2Transport(),
                retriever: ProfileConfigRetriever(registry: VendorProfileRegistry()), archive: archive, store: store, logger: logger)
        } else {
            let demo = DemoNetwork.inventory
            inventory = demo
            executor = BackupExecutor(
                configuration: configuration, inventory: demo, transport: DemoNetwork.transport(latency: options.demoLatency),
                archive: archive, store: store, logger: logger)
        }
        return BackupServerSetup(
            executor: executor, inventory: inventory, readiness: ServerReadiness(store: store, logger: logger), fileStore: fileStore)
    }

    /// Closes the file store (after the executor has stopped).
    public func close() async throws {
        try await fileStore?.close()
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
