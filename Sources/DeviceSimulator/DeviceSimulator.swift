public import BackupModels
import Crypto
public import Logging
import NIOCore
import NIOPosix
import NIOSSH
import Synchronization

/// How a ``DeviceSimulator`` listens.
public enum SimulatorListenMode: Sendable, Hashable {
    /// One port per device (the device's ``DeviceSimulatorConfiguration/devicePorts`` entry, or an ephemeral
    /// one). Any login name other than the device's user name is refused.
    case portPerDevice
    /// One shared port for every device: the SSH login name selects the device, as `<device id>:<username>`
    /// or as the bare user name when exactly one device has it.
    case sharedPort
    /// Both: every device has its own port, and the shared port serves them all too.
    case both
}

/// What a ``DeviceSimulator`` serves and where.
public struct DeviceSimulatorConfiguration: Sendable {
    /// The simulated devices (ids must be unique; later duplicates are ignored).
    public var devices: [SimulatedDevice]
    /// The address to listen on. Tests and demos use the loopback address only.
    public var host: String
    /// Port per device, one shared port, or both.
    public var listenMode: SimulatorListenMode
    /// The shared port (0 picks a free one).
    public var sharedPort: Int
    /// Fixed ports for some devices (others get a free one).
    public var devicePorts: [DeviceID: Int]
    /// 32 bytes seeding the Ed25519 host key, for a host key that stays the same across runs (known_hosts);
    /// `nil` makes a new key per simulator.
    public var hostKeySeed: [UInt8]?
    /// Event-loop threads serving the connections.
    public var threads: Int
    /// Where the simulator logs (connection errors at debug level).
    public var logger: Logger

    /// Creates a configuration.
    public init(
        devices: [SimulatedDevice],
        host: String = "127.0.0.1",
        listenMode: SimulatorListenMode = .portPerDevice,
        sharedPort: Int = 0,
        devicePorts: [DeviceID: Int] = [:],
        hostKeySeed: [UInt8]? = nil,
        threads: Int = 1,
        logger: Logger = Logger(label: "device-simulator", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.devices = devices
        self.host = host
        self.listenMode = listenMode
        self.sharedPort = sharedPort
        self.devicePorts = devicePorts
        self.hostKeySeed = hostKeySeed
        self.threads = threads
        self.logger = logger
    }
}

/// Errors of the simulator.
public struct DeviceSimulatorError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String
}

/// A fake SSH server that serves many simulated network devices from one process.
///
/// It speaks SSH through swift-nio-ssh with, besides AES-GCM, `aes128-ctr`/`aes256-ctr` + `hmac-sha2-256`
/// so that libssh2 1.10 can connect (curve25519-sha256 key exchange, Ed25519 host key), answers PTY, shell,
/// exec and env requests, and emulates each device's vendor CLI (see ``VendorEmulation``) with its
/// latency and faults (``DeviceFault``).
///
/// ```swift
/// try await DeviceSimulator.withRunning(.init(devices: devices)) { simulator in
///     let port = simulator.port(of: "r1")!
///     // connect to 127.0.0.1:port …
/// }
/// ```
///
/// Limits: no rekeying (swift-nio-ssh 0.15.1 loses channel data when a client rekeys mid-transfer), no
/// keyboard-interactive authentication (password and public key only), no port forwarding.
public final class DeviceSimulator: Sendable {
    /// The configuration it was created with.
    public let configuration: DeviceSimulatorConfiguration
    let registry: DeviceRegistry
    private let hostKey: NIOSSHPrivateKey
    private let publicKeyText: String
    private let running: Mutex<Running?>

    private struct Running {
        var group: MultiThreadedEventLoopGroup
        var channels: [any Channel]
        var ports: [DeviceID: Int]
        var sharedPort: Int?
    }

    /// Creates a simulator; ``start()`` opens its ports.
    public init(configuration: DeviceSimulatorConfiguration) throws {
        self.configuration = configuration
        self.registry = DeviceRegistry(devices: configuration.devices)
        let key: Curve25519.Signing.PrivateKey
        if let seed = configuration.hostKeySeed {
            guard seed.count == 32 else {
                throw DeviceSimulatorError(description: "hostKeySeed must be 32 bytes, got \(seed.count)")
            }
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        } else {
            key = Curve25519.Signing.PrivateKey()
        }
        self.hostKey = NIOSSHPrivateKey(ed25519Key: key)
        self.publicKeyText = String(openSSHPublicKey: hostKey.publicKey)
        self.running = Mutex(nil)
    }

    /// The host's public key in OpenSSH format (`ssh-ed25519 AAAA…`), for a known_hosts line.
    public var hostPublicKey: String { publicKeyText }

    /// Opens the listening sockets: one per device and/or the shared port (see ``SimulatorListenMode``).
    public func start() async throws {
        guard running.withLock({ $0 == nil }) else {
            throw DeviceSimulatorError(description: "the simulator is already running")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        var channels: [any Channel] = []
        var ports: [DeviceID: Int] = [:]
        var shared: Int?
        do {
            if configuration.listenMode != .sharedPort {
                for id in registry.order {
                    let channel = try await bind(
                        group: group, port: configuration.devicePorts[id] ?? 0, target: .device(id))
                    channels.append(channel)
                    ports[id] = channel.localAddress?.port
                }
            }
            if configuration.listenMode != .portPerDevice {
                let channel = try await bind(group: group, port: configuration.sharedPort, target: .shared)
                channels.append(channel)
                shared = channel.localAddress?.port
            }
        } catch {
            for channel in channels { try? await channel.close() }
            try? await group.shutdownGracefully()
            throw error
        }
        running.withLock { $0 = Running(group: group, channels: channels, ports: ports, sharedPort: shared) }
    }

    /// Closes every listening socket and connection.
    public func stop() async {
        guard let state = running.withLock({ state -> Running? in
            defer { state = nil }
            return state
        }) else { return }
        for channel in state.channels { try? await channel.close() }
        try? await state.group.shutdownGracefully()
    }

    /// Starts (unless already started), serves until the task is cancelled, then stops (the shape of a
    /// swift-service-lifecycle `Service`).
    public func run() async throws {
        if running.withLock({ $0 == nil }) { try await start() }
        await withTaskCancellationHandler {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
        } onCancel: {}
        await stop()
    }

    /// Runs `body` with a started simulator and stops it afterwards, also when `body` throws.
    public static func withRunning<Result: Sendable>(
        _ configuration: DeviceSimulatorConfiguration,
        _ body: (DeviceSimulator) async throws -> Result
    ) async throws -> Result {
        let simulator = try DeviceSimulator(configuration: configuration)
        try await simulator.start()
        do {
            let result = try await body(simulator)
            await simulator.stop()
            return result
        } catch {
            await simulator.stop()
            throw error
        }
    }

    /// The port a device listens on (port-per-device mode), once started.
    public func port(of id: DeviceID) -> Int? {
        running.withLock { $0?.ports[id] }
    }

    /// Every device's port, once started.
    public var ports: [DeviceID: Int] {
        running.withLock { $0?.ports ?? [:] }
    }

    /// The shared port (shared-port mode), once started.
    public var sharedPort: Int? {
        running.withLock { $0?.sharedPort }
    }

    /// A device as it is now (with runtime changes of faults or latency).
    public func device(_ id: DeviceID) -> SimulatedDevice? {
        registry.device(id)
    }

    /// Library `Device`s for every simulated device, pointing at its own port (or the shared port when the
    /// simulator listens only there).
    public func inventory() -> [Device] {
        registry.order.compactMap { id in
            guard let device = registry.device(id), let port = port(of: id) ?? sharedPort else { return nil }
            return device.inventoryDevice(host: configuration.host, port: port)
        }
    }

    /// The configuration a correct backup of the device yields now (stable lines, `\n`-joined, ending in `\n`;
    /// see ``SimulatedDevice/expectedConfig``), including runtime changes.
    public func expectedConfig(of id: DeviceID) -> String? {
        registry.config(of: id)?.stableText
    }

    /// The device's current configuration.
    public func config(of id: DeviceID) -> GeneratedConfig? {
        registry.config(of: id)
    }

    /// Changes the configuration at run time: replaces the first line equal to `old` (or starting with `old`
    /// and a space) with `line`, or inserts `line` before the end marker when `old` is `nil`. Returns `false`
    /// for an unknown device or a missing line.
    @discardableResult
    public func setConfigLine(_ line: String, replacing old: String? = nil, on id: DeviceID) -> Bool {
        registry.changeConfig(of: id) { config in
            if let old { return config.replaceLine(old, with: line) }
            config.insertLineBeforeEnd(line)
            return true
        }
    }

    /// Removes the first configuration line equal to `line` (or starting with it and a space).
    @discardableResult
    public func removeConfigLine(_ line: String, on id: DeviceID) -> Bool {
        registry.changeConfig(of: id) { $0.removeLine(line) }
    }

    /// Changes a device's faults for new connections and sessions.
    @discardableResult
    public func setFaults(_ faults: Set<DeviceFault>, on id: DeviceID) -> Bool {
        registry.update(id) { $0.faults = faults }
    }

    /// Changes a device's per-command latency for new sessions.
    @discardableResult
    public func setLatency(_ latency: Duration, on id: DeviceID) -> Bool {
        registry.update(id) { $0.latency = latency }
    }

    /// What the simulator has served so far.
    public var statistics: SimulatorStatistics { registry.statistics }

    // MARK: - Listening

    private func bind(group: MultiThreadedEventLoopGroup, port: Int, target: ListenerTarget) async throws
        -> any Channel
    {
        let registry = self.registry
        let hostKey = self.hostKey
        let logger = configuration.logger
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.setUpConnection(
                        channel: channel, target: target, registry: registry, hostKey: hostKey, logger: logger)
                }
            }
            .bind(host: configuration.host, port: port)
            .get()
    }

    private static func setUpConnection(
        channel: any Channel, target: ListenerTarget, registry: DeviceRegistry, hostKey: NIOSSHPrivateKey,
        logger: Logger
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ConnectionTracker(registry: registry))
        if case .device(let id) = target, let device = registry.device(id),
            device.faults.contains(.acceptThenSilence)
        {
            try pipeline.addHandler(SilentHandler())
            return
        }
        let connection = ConnectionState()
        var serverConfiguration = SSHServerConfiguration(
            hostKeys: [hostKey],
            userAuthDelegate: DeviceAuthDelegate(target: target, registry: registry, connection: connection),
            globalRequestDelegate: nil,
            banner: nil,
            transportProtectionSchemes: SimulatorTransportSchemes.all)
        if case .device(let id) = target, let banner = registry.device(id)?.vendor.sshAuthBanner {
            serverConfiguration.banner = .init(message: banner, languageTag: "en")
        }
        let ssh = NIOSSHHandler(
            role: .server(serverConfiguration),
            allocator: channel.allocator,
            inboundChildChannelInitializer: { child, type in
                guard case .session = type, let device = connection.device else {
                    return child.eventLoop.makeFailedFuture(
                        DeviceSimulatorError(description: "only session channels are supported"))
                }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        DeviceSessionHandler(device: device, loginName: connection.loginName, registry: registry))
                }
            })
        try pipeline.addHandler(ssh)
        try pipeline.addHandler(ConnectionErrorHandler(logger: logger))
    }
}
