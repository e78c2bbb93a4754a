import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import TaskStore
import Testing
import VendorProfiles

/// The whole stack against an in-process simulator: executor → libssh2 transport → vendor profile
/// (``ProfileConfigRetriever``) → in-memory archive. Shared by the simulator integration suites.
enum SimulatorHarness {
    /// What one backup run is configured with; the defaults are generous for a busy 2-core machine.
    struct Settings: Sendable {
        var retriever = ProfileConfigRetriever()
        /// The per-attempt timeout of the task (`DEVICE_TIMEOUT`), in seconds.
        var timeout = 60
        var transportTimeouts = TransportTimeouts()
        var maxConcurrent = 100
        var transport = LibSSH2Transport()
    }

    /// Profiles whose backup holds more than the running config (IOS: `show inventory` as comments;
    /// Linux: several /etc files under `# path` headers).
    static let profilesWithExtraSections: Set<String> = ["cisco_ios", "linux"]

    /// Expects the archived `text` to be the simulator's `expected` config byte for byte, or, for a
    /// profile that keeps more than the running config, to contain it whole.
    static func expectSameConfig(
        _ text: String, _ expected: String, vendor: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        if profilesWithExtraSections.contains(vendor) {
            #expect(text.contains(expected), "\(vendor): the running config is not in the backup, whole", sourceLocation: sourceLocation)
        } else {
            #expect(text == expected, "\(vendor): archived config differs from the simulator's", sourceLocation: sourceLocation)
        }
    }

    /// A policy that accepts the short per-attempt timeouts and the concurrency the tests use.
    static let policy = BackupPolicy(maxConcurrent: 1...1000, timeoutSeconds: 1...3600, retryCount: 0...5)

    /// Backs up every device of `simulator` once (no retries) and returns the finished task, the archive
    /// and the wall time the task took.
    static func backUp(_ simulator: DeviceSimulator, _ settings: Settings = Settings()) async throws
        -> (task: BackupTask, archive: InMemoryArchive, elapsed: Duration)
    {
        let devices = simulator.inventory()
        let credentials = Dictionary(
            uniqueKeysWithValues: simulator.configuration.devices.map { ($0.id.rawValue, $0.credentials) })
        let inventory = StaticInventory(
            devices: devices.map { device in
                var device = device
                device.credentialsRef = device.id.rawValue
                return device
            }, credentialsByRef: credentials)
        let archive = InMemoryArchive()
        let executor = BackupExecutor(
            configuration: .init(
                policy: policy, maxConcurrentSessions: settings.maxConcurrent, hostKeyPolicy: .acceptAnyUnsafe,
                transportTimeouts: settings.transportTimeouts),
            inventory: inventory, transport: settings.transport, retriever: settings.retriever, archive: archive)
        let clock = ContinuousClock()
        let start = clock.now
        let task = try await executor.withRunning {
            try await $0.submit(
                try BackupFilter(
                    asyncExecute: false, maxConcurrent: min(settings.maxConcurrent, max(1, devices.count)),
                    timeout: settings.timeout, retryCount: 0, policy: policy))
        }
        return (task, archive, start.duration(to: clock.now))
    }

    /// The simulator's open TCP connections reach 0 before `deadline` passes: every session the backup opened
    /// was closed (the client closes its socket; the simulator sees the connection go inactive).
    static func waitUntilAllConnectionsClosed(_ simulator: DeviceSimulator, within deadline: Duration = .seconds(20))
        async throws -> Bool
    {
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while simulator.statistics.connectionsOpen > 0 {
            if clock.now >= end { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// A simulated device of `vendor` with its host name derived from the vendor.
    static func device(
        _ vendor: String, id: DeviceID = 1, size: Int = 3000, faults: Set<DeviceFault> = [], seed: UInt64 = 11
    ) throws -> SimulatedDevice {
        let emulation = try #require(VendorEmulation.named(vendor))
        return SimulatedDevice(
            id: id, hostname: "sim-\(vendor.replacingOccurrences(of: "_", with: "-"))", vendor: emulation,
            enableSecret: "En4ble-Secret", configSize: size, seed: seed, faults: faults)
    }

    /// The built-in profiles with every backup command's idle timeout set to `seconds` (the profiles give
    /// `show running-config` 120 s for slow devices; a test of a silent device does not wait that long).
    static func registry(backupCommandTimeout seconds: Double) throws -> VendorProfileRegistry {
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        for var profile in VendorProfile.builtIn {
            for index in profile.commands.indices { profile.commands[index].timeoutSeconds = seconds }
            try registry.register(profile)
        }
        return registry
    }
}
