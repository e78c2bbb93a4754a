public import BackupModels
internal import BackupSupport
internal import CLibSSH2
public import DeviceTransport
public import Logging

/// SSH sessions to devices through libssh2 (Debian's `libssh2-1-dev`, 1.10), which still speaks the old
/// algorithms that network equipment needs.
///
/// Sessions are non-blocking and driven by one epoll reactor thread shared by all sessions: hundreds of
/// concurrent sessions cost no thread each, and no call ever blocks Swift's cooperative thread pool
/// (host names resolve on a separate pool; files are read off the pool too).
///
/// What a connection does, in order:
/// 1. reads the known-hosts file (for `HostKeyPolicy.strict(knownHostsFile:)` and
///    `HostKeyPolicy.trustOnFirstUse(knownHostsFile:)`) and a private key file, if any;
/// 2. resolves the host and connects (IPv4 or IPv6) within `TransportTimeouts.connect`;
/// 3. runs the SSH handshake with the target's `AlgorithmPreferences` (also within the connect timeout);
///    for a host that known_hosts knows, only host-key algorithms of the recorded key types are offered;
/// 4. checks the host key: strict (unknown → `HOST_KEY_UNKNOWN`, different → `HOST_KEY_MISMATCH`),
///    trust-on-first-use (an unknown host's key is recorded under a lock across processes, then checked
///    strictly), or the explicitly unsafe accept-any. A known host that presents or offers only a key of
///    another type is `HOST_KEY_MISMATCH` under both checking policies. Errors quote the key's SHA-256
///    fingerprint as OpenSSH prints it;
/// 5. authenticates within `TransportTimeouts.authentication`: public key (from a file or memory, with
///    passphrase), then password, then keyboard-interactive (every prompt answered with the password), as
///    far as the server offers them. `AUTH_FAILED` lists what was tried and what the server offered; a
///    server that closes the connection in answer to a login attempt (OpenSSH at `MaxAuthTries`) is
///    `AUTH_FAILED` too, never the retried `CONNECTION_LOST`.
///
/// Timeouts map to codes: connect and handshake → `CONNECTION_TIMEOUT`; authentication →
/// `AUTH_FAILED`; no output for `TransportTimeouts.idleRead` → `COMMAND_TIMEOUT`; the whole session
/// (`TransportTimeouts.session`, counted from `connect`) → `DEVICE_TIMEOUT`. A refused connection is
/// `CONNECTION_REFUSED`, an unresolvable or unreachable host `HOST_UNREACHABLE`, a connection that breaks
/// `CONNECTION_LOST`, an algorithm mismatch `SSH_NEGOTIATION_FAILED`.
///
/// Cancelling the task that awaits any step closes the session at once (socket and all libssh2 memory
/// released) and throws `CANCELLED`. Apart from an idle timeout on a shell read, any error also closes
/// the session. Keepalives are sent while waiting for data, every `ConnectionTarget.keepaliveInterval`.
///
/// The `Logger` passed to ``connect(to:credentials:logger:)`` gets debug and trace messages; no secret
/// ever reaches a log message or an error.
public struct LibSSH2Transport: DeviceTransport {
    /// Limits of the transport.
    public struct Configuration: Sendable, Hashable {
        /// Largest output (stdout + stderr) one exec command may produce before it fails with
        /// `COMMAND_FAILED`: a guard against a runaway command filling memory.
        public var maximumOutputBytes: Int

        /// - Parameter maximumOutputBytes: defaults to 256 MiB.
        public init(maximumOutputBytes: Int = 256 * 1024 * 1024) {
            self.maximumOutputBytes = maximumOutputBytes
        }
    }

    /// The transport's limits.
    public var configuration: Configuration

    /// Creates a transport. Transports are cheap; all of them share one reactor thread.
    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Connects, verifies the host key and authenticates.
    ///
    /// - Throws: a `BackupError` (see the type's documentation for the codes).
    public func connect(to target: ConnectionTarget, credentials: Credentials, logger: Logger) async throws
        -> any DeviceSession
    {
        try await establish(target, credentials: credentials, logger: logger)
    }

    private func establish(_ target: ConnectionTarget, credentials: Credentials, logger baseLogger: Logger)
        async throws(BackupError) -> LibSSH2Session
    {
        let endpoint = Self.endpoint(host: target.host, port: target.port)
        if Task.isCancelled { throw BackupError(.cancelled, "Connecting to \(endpoint) was cancelled.") }
        guard (1...65535).contains(target.port), !target.host.isEmpty else {
            throw BackupError(.invalidRequest, "'\(endpoint)' is not a valid SSH endpoint.")
        }
        try LibSSH2Runtime.ensureInitialized()
        let reactor = try Reactor.shared()
        var logger = baseLogger
        logger[metadataKey: "ssh.endpoint"] = "\(endpoint)"
        if let deviceID = target.deviceID { logger[metadataKey: "device.id"] = "\(deviceID)" }

        let start = MonotonicInstant.now()
        let timeouts = target.timeouts
        let sessionDeadline = timeouts.session.map { start.advanced(by: $0) }
        let connectDeadline = start.advanced(by: timeouts.connect)

        // Local files first: a missing key or unreadable known_hosts fails before any network traffic.
        var knownHostsContents: [UInt8]?
        switch target.hostKeyPolicy {
        case .strict(let path), .trustOnFirstUse(let path):
            knownHostsContents = try await KnownHosts.read(path)
        case .acceptAnyUnsafe:
            break
        }
        let privateKey = try await Self.loadPrivateKey(credentials.privateKey)

        let addresses = try await TCPConnector.resolve(host: target.host, port: target.port, endpoint: endpoint)
        let socket = try await TCPConnector.connect(
            to: addresses, reactor: reactor, endpoint: endpoint, connectDeadline: connectDeadline,
            sessionDeadline: sessionDeadline, connectTimeout: timeouts.connect, sessionTimeout: timeouts.session)
        logger.trace("TCP connected", metadata: ["ssh.address": "\(socket.address)"])

        let core = try SessionCore(
            socket: socket, reactor: reactor, endpoint: endpoint, logger: logger, timeouts: timeouts,
            sessionDeadline: sessionDeadline, keepaliveInterval: target.keepaliveInterval,
            maximumOutputBytes: configuration.maximumOutputBytes)
        do throws(BackupError) {
            let pattern = KnownHosts.hostPattern(host: target.host, port: target.port)
            var knownTypes: [HostKeyType] = []
            if let knownHostsContents, let hosts = KnownHostsCollection(session: core.session, contents: knownHostsContents) {
                knownTypes = hosts.recordedTypes(pattern: pattern)
            }
            let restricted = try core.applyAlgorithmPreferences(target.algorithms, knownHostKeyTypes: knownTypes)
            do {
                try await core.handshake(until: connectDeadline)
            } catch where error.code == .sshNegotiationFailed && restricted != nil {
                // The server may have offered no key of a recorded type (a downgrade), or the negotiation
                // failed for another reason: a handshake without the restriction tells which.
                let path: String
                switch target.hostKeyPolicy {
                case .strict(let file), .trustOnFirstUse(let file): path = file
                case .acceptAnyUnsafe: path = "the known-hosts file"
                }
                if let offered = await Self.probeHostKey(
                    target, addresses: addresses, reactor: reactor, knownTypes: knownTypes, logger: logger,
                    connectDeadline: connectDeadline, sessionDeadline: sessionDeadline)
                {
                    throw Self.otherKeyTypeError(
                        endpoint: endpoint, pattern: pattern, path: path, recorded: knownTypes, presented: offered,
                        whileNegotiating: true)
                }
                throw error
            }
            logger.debug(
                "SSH handshake done",
                metadata: [
                    "ssh.kex": "\(core.negotiated(LIBSSH2_METHOD_KEX))",
                    "ssh.hostkey": "\(core.negotiated(LIBSSH2_METHOD_HOSTKEY))",
                    "ssh.cipher": "\(core.negotiated(LIBSSH2_METHOD_CRYPT_CS))",
                    "ssh.mac": "\(core.negotiated(LIBSSH2_METHOD_MAC_CS))",
                ])
            try await Self.verifyHostKey(
                core: core, policy: target.hostKeyPolicy, pattern: pattern, knownHosts: knownHostsContents, logger: logger)
            let authDeadline = MonotonicInstant.now().advanced(by: timeouts.authentication)
            try await core.authenticate(credentials, privateKey: privateKey, until: authDeadline)
        } catch {
            core.teardown()
            throw error
        }
        logger.debug("SSH session established", metadata: ["ssh.user": "\(credentials.username)"])
        return LibSSH2Session(core: core)
    }

    /// `host:port`, with IPv6 addresses in brackets.
    static func endpoint(host: String, port: Int) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func loadPrivateKey(_ source: PrivateKeySource?) async throws(BackupError) -> [UInt8]? {
        switch source {
        case nil:
            return nil
        case .inMemory(let secret):
            return Array(secret.reveal().utf8)
        case .file(let path):
            let result: Result<[UInt8]?, FileIOError>
            do {
                result = try await cancellableBlockingCall(pool: KnownHosts.fileQueue) {
                    Result { () throws(FileIOError) in try FileIO.read(path) }
                }
            } catch {
                throw BackupError(.cancelled, "Reading the private key file was cancelled.")
            }
            switch result {
            case .success(let bytes?):
                return bytes
            case .success(nil):
                throw BackupError(.authFailed, "The private key file \(path) does not exist.", hint: "Check the credentials' key path.")
            case .failure(let error):
                throw BackupError(.authFailed, "The private key file cannot be read: \(error).", hint: "Check the key file's permissions.")
            }
        }
    }

    /// Connects once more and runs only the handshake, with the host-key algorithms unrestricted
    /// (recorded types first), to learn which key the server offers; `nil` if that fails too. Sends no
    /// credentials.
    private static func probeHostKey(
        _ target: ConnectionTarget, addresses: [ResolvedAddress], reactor: Reactor, knownTypes: [HostKeyType], logger: Logger,
        connectDeadline: MonotonicInstant, sessionDeadline: MonotonicInstant?
    ) async -> ServerHostKey? {
        let endpoint = Self.endpoint(host: target.host, port: target.port)
        do throws(BackupError) {
            let socket = try await TCPConnector.connect(
                to: addresses, reactor: reactor, endpoint: endpoint, connectDeadline: connectDeadline,
                sessionDeadline: sessionDeadline, connectTimeout: target.timeouts.connect, sessionTimeout: target.timeouts.session)
            let core = try SessionCore(
                socket: socket, reactor: reactor, endpoint: endpoint, logger: logger, timeouts: target.timeouts,
                sessionDeadline: sessionDeadline, keepaliveInterval: nil, maximumOutputBytes: 0)
            defer { core.teardown() }
            try core.applyAlgorithmPreferences(target.algorithms, knownHostKeyTypes: knownTypes, restrictHostKeys: false)
            try await core.handshake(until: connectDeadline)
            return try core.serverHostKey()
        } catch {
            logger.debug("Host-key probe failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// `HOST_KEY_MISMATCH` for a known host that presents (or only offers) a key of a type its entries
    /// do not record — a downgrade is treated like a changed key, as OpenSSH's `accept-new` does — or
    /// whose key another session or process recorded differently while this one was connecting.
    static func otherKeyTypeError(
        endpoint: String, pattern: String, path: String, recorded: [HostKeyType], presented: ServerHostKey,
        whileNegotiating: Bool = false, byAnotherProcess: Bool = false
    ) -> BackupError {
        let recordedText = recorded.map(\.name).joined(separator: ", ")
        let sameType = recorded.contains { $0.libssh2Type == presented.type }
        let known =
            byAnotherProcess
            ? "was recorded in \(path) meanwhile (by another session or process) with \(sameType ? "a different" : "its") \(recordedText) key"
            : "is known in \(path) by its \(recordedText) key"
        let why =
            sameType
            ? "Someone may be intercepting the connection."
            : "A key of another type for a known host is treated as a changed key: someone may be intercepting the connection."
        return BackupError(
            .hostKeyMismatch,
            "The host key of \(endpoint) does not match: \(pattern) \(known), but the server \(whileNegotiating ? "offers no key of \(recorded.count == 1 ? "that type" : "those types") and presented" : "presented") its \(presented.typeName) key \(presented.fingerprint). \(why)",
            hint: "If the device's keys changed legitimately (re-installed, replaced), verify the new fingerprint out of band and remove the old entry: ssh-keygen -R '\(pattern)' -f \(path)")
    }

    private static func verifyHostKey(
        core: SessionCore, policy: HostKeyPolicy, pattern: String, knownHosts: [UInt8]?, logger: Logger
    ) async throws(BackupError) {
        let key = try core.serverHostKey()
        let keyText = "\(key.typeName) key \(key.fingerprint)"
        let path: String
        let trustOnFirstUse: Bool
        switch policy {
        case .acceptAnyUnsafe:
            logger.warning(
                "SSH host key NOT verified (accept-any policy)", metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)"])
            return
        case .strict(let file):
            path = file
            trustOnFirstUse = false
        case .trustOnFirstUse(let file):
            path = file
            trustOnFirstUse = true
        }
        guard let type = HostKeyType(libssh2Type: key.type) else {
            throw BackupError(.hostKeyUnknown, "\(core.endpoint) presented a host key of an unsupported type (\(key.type)).")
        }
        guard let hosts = KnownHostsCollection(session: core.session, contents: knownHosts ?? []) else {
            throw BackupError(.hostKeyUnknown, "The host key of \(core.endpoint) could not be checked: \(core.lastErrorMessage()).")
        }
        let result = hosts.check(pattern: pattern, blob: key.blob, type: type)
        let recordedTypes = hosts.recordedTypes(pattern: pattern)
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            logger.trace("SSH host key verified", metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)"])
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            throw BackupError(
                .hostKeyMismatch,
                "The host key of \(core.endpoint) does not match \(path): the server presented \(keyText). Someone may be intercepting the connection.",
                hint: "If the device's key changed legitimately (re-installed, replaced), verify the new fingerprint out of band and remove the old entry: ssh-keygen -R '\(pattern)' -f \(path)")
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND where !recordedTypes.isEmpty:
            // Known, but by keys of other types only: never trusted on first use.
            throw otherKeyTypeError(endpoint: core.endpoint, pattern: pattern, path: path, recorded: recordedTypes, presented: key)
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND where trustOnFirstUse:
            switch try await KnownHosts.record(key, pattern: pattern, path: path) {
            case .recorded:
                logger.notice(
                    "Recorded new SSH host key (trust on first use)",
                    metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)", "ssh.known_hosts": "\(path)"])
            case .alreadyRecorded:
                logger.debug(
                    "SSH host key recorded meanwhile by another session", metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)"])
            case .conflict(let names):
                throw otherKeyTypeError(
                    endpoint: core.endpoint, pattern: pattern, path: path, recorded: names.compactMap { HostKeyType(algorithm: $0) },
                    presented: key, byAnotherProcess: true)
            }
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            throw BackupError(
                .hostKeyUnknown, "\(core.endpoint) is not in \(path); the server presented \(keyText).",
                hint: "Verify the fingerprint out of band, then add the key to the known-hosts file (ssh-keyscan), or use trust-on-first-use.")
        default:
            throw BackupError(.hostKeyUnknown, "The host key of \(core.endpoint) could not be checked: \(core.lastErrorMessage()).")
        }
    }
}

extension BackupError.Code {
    /// The SSH key exchange found no algorithm both sides support, or the server's host-key signature did
    /// not verify. Not retried (the same algorithms fail again): set `AlgorithmPreferences` for the device.
    public static let sshNegotiationFailed: BackupError.Code = "SSH_NEGOTIATION_FAILED"
}
