public import BackupModels
public import Logging

/// How the server's host key is checked.
///
/// The most common tools in this field accept any host key by default; DeviceBackup does not. The
/// unsafe policy exists for labs and says so in its name.
public enum HostKeyPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The host must be in `knownHostsFile` with a matching key; unknown → `HOST_KEY_UNKNOWN`,
    /// different → `HOST_KEY_MISMATCH`.
    case strict(knownHostsFile: String)
    /// An unknown host's key is recorded in `knownHostsFile`; afterwards it is checked as in `strict`.
    case trustOnFirstUse(knownHostsFile: String)
    /// Any host key is accepted. Only for labs: a man in the middle sees the credentials.
    case acceptAnyUnsafe

    public var description: String {
        switch self {
        case .strict(let file): "strict(\(file))"
        case .trustOnFirstUse(let file): "trust-on-first-use(\(file))"
        case .acceptAnyUnsafe: "accept-any (UNSAFE)"
        }
    }
}

/// SSH algorithm preferences, most preferred first, in OpenSSH names. `nil` keeps the transport's
/// default. Old devices need old algorithms (`diffie-hellman-group14-sha1`, `aes128-cbc`, `ssh-rsa`).
public struct AlgorithmPreferences: Sendable, Hashable, Codable {
    /// Key exchange methods (`kex` in profiles), such as `diffie-hellman-group14-sha1`.
    public var keyExchange: [String]?
    /// Host key algorithms (`host_key`), such as `ssh-rsa`.
    public var hostKey: [String]?
    /// Ciphers, such as `aes128-ctr` or `aes128-cbc`, for both directions.
    public var ciphers: [String]?
    /// MACs, such as `hmac-sha2-256`, for both directions.
    public var macs: [String]?

    /// Creates preferences; `nil` keeps the transport's default for that category.
    public init(keyExchange: [String]? = nil, hostKey: [String]? = nil, ciphers: [String]? = nil, macs: [String]? = nil) {
        self.keyExchange = keyExchange
        self.hostKey = hostKey
        self.ciphers = ciphers
        self.macs = macs
    }

    enum CodingKeys: String, CodingKey {
        case keyExchange = "kex"
        case hostKey = "host_key"
        case ciphers
        case macs
    }
}

/// Time limits of a session; each maps to its own error code.
public struct TransportTimeouts: Sendable, Hashable {
    /// TCP connect and SSH handshake → `CONNECTION_TIMEOUT`.
    public var connect: Duration
    /// Authentication → `AUTH_FAILED` (with a message saying it timed out).
    public var authentication: Duration
    /// No data on a read for this long → `COMMAND_TIMEOUT`.
    public var idleRead: Duration
    /// The whole session → `DEVICE_TIMEOUT`; `nil` for no limit (the executor bounds attempts anyway).
    public var session: Duration?

    /// Creates time limits; the defaults suit most devices (15 s connect, 20 s authentication, 30 s idle).
    public init(
        connect: Duration = .seconds(15), authentication: Duration = .seconds(20), idleRead: Duration = .seconds(30),
        session: Duration? = nil
    ) {
        self.connect = connect
        self.authentication = authentication
        self.idleRead = idleRead
        self.session = session
    }
}

/// Where and how to open a session.
public struct ConnectionTarget: Sendable, Hashable {
    /// Host name, IPv4 or IPv6 address.
    public var host: String
    /// SSH port.
    public var port: Int
    /// The inventory device this session is for (for logs and errors).
    public var deviceID: DeviceID?
    /// How the server's host key is checked.
    public var hostKeyPolicy: HostKeyPolicy
    /// SSH algorithm preferences (old devices need old algorithms).
    public var algorithms: AlgorithmPreferences
    /// Time limits of the session.
    public var timeouts: TransportTimeouts
    /// Interval of SSH keepalives; `nil` disables them.
    public var keepaliveInterval: Duration?

    /// Creates a target.
    public init(
        host: String, port: Int = 22, deviceID: DeviceID? = nil, hostKeyPolicy: HostKeyPolicy,
        algorithms: AlgorithmPreferences = .init(), timeouts: TransportTimeouts = .init(),
        keepaliveInterval: Duration? = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.deviceID = deviceID
        self.hostKeyPolicy = hostKeyPolicy
        self.algorithms = algorithms
        self.timeouts = timeouts
        self.keepaliveInterval = keepaliveInterval
    }

    /// A target for `device` with the given policy.
    public init(device: Device, hostKeyPolicy: HostKeyPolicy, timeouts: TransportTimeouts = .init()) {
        self.init(host: device.host, port: device.port, deviceID: device.id, hostKeyPolicy: hostKeyPolicy, timeouts: timeouts)
    }
}

/// The output of one command run on an exec channel.
public struct CommandOutput: Sendable, Hashable {
    /// Everything the command wrote to standard output.
    public var stdout: [UInt8]
    /// Everything the command wrote to standard error.
    public var stderr: [UInt8]
    /// The exit status, when the server sent one.
    public var exitStatus: Int32?

    /// Creates an output.
    public init(stdout: [UInt8], stderr: [UInt8] = [], exitStatus: Int32? = 0) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
    }

    /// stdout decoded as UTF-8 (invalid bytes replaced).
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr decoded as UTF-8 (invalid bytes replaced).
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Options of an interactive shell channel.
public struct ShellOptions: Sendable, Hashable {
    /// Terminal type sent with the PTY request.
    public var terminalType: String
    /// Terminal width in characters; wide, so long configuration lines are not wrapped.
    public var columns: Int
    /// Terminal height in lines.
    public var rows: Int
    /// Request a PTY (most network CLIs need one).
    public var requestPTY: Bool

    /// Creates shell options.
    public init(terminalType: String = "vt100", columns: Int = 511, rows: Int = 24, requestPTY: Bool = true) {
        self.terminalType = terminalType
        self.columns = columns
        self.rows = rows
        self.requestPTY = requestPTY
    }
}

/// Opens sessions to devices. Implementations: `LibSSH2Transport` (real SSH) and `MockTransport`
/// (BackupTestKit).
///
/// Errors thrown are `BackupError`s with the codes documented on `BackupError.Code`. Every method
/// honours task cancellation.
public protocol DeviceTransport: Sendable {
    /// Connects, verifies the host key and authenticates.
    func connect(to target: ConnectionTarget, credentials: Credentials, logger: Logger) async throws -> any DeviceSession
}

/// An authenticated session. One task drives a session at a time.
public protocol DeviceSession: Sendable {
    /// Runs one command on an exec channel and returns its whole output.
    func execute(_ command: String, timeout: Duration?) async throws -> CommandOutput
    /// Opens an interactive shell (with a PTY unless disabled).
    func openShell(_ options: ShellOptions) async throws -> any ShellChannel
    /// Closes the session and releases every resource. Safe to call twice and from a cancelled task.
    func close() async
}

/// An interactive shell channel: a byte stream in both directions.
public protocol ShellChannel: Sendable {
    /// Sends bytes (the channel writes all of them or throws).
    func write(_ bytes: [UInt8]) async throws
    /// Returns the next bytes that arrive (stdout and stderr merged), `[]` at end of stream, or throws
    /// `COMMAND_TIMEOUT` when nothing arrives within `idleTimeout`.
    func read(idleTimeout: Duration) async throws -> [UInt8]
    /// Closes the channel. Safe to call twice.
    func close() async
}

extension ShellChannel {
    /// Sends text as UTF-8.
    public func write(_ text: String) async throws { try await write(Array(text.utf8)) }
}
