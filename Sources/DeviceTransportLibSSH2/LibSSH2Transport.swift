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
/// 4. checks the host key: strict (unknown → `HOST_KEY_UNKNOWN`, different → `HOST_KEY_MISMATCH`),
///    trust-on-first-use (an unknown key is appended to the file, then checked strictly), or the
///    explicitly unsafe accept-any. Errors quote the key's SHA-256 fingerprint as OpenSSH prints it;
/// 5. authenticates within `TransportTimeouts.authentication`: public key (from a file or memory, with
///    passphrase), then password, then keyboard-interactive (every prompt answered with the password), as
///    far as the server offers them. `AUTH_FAILED` lists what was tried and what the server offered.
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
            try core.applyAlgorithmPreferences(target.algorithms, knownHostKeyTypes: knownTypes)
            try await core.handshake(until: connectDeadline)
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
        let result =
            KnownHostsCollection(session: core.session, contents: knownHosts ?? [])?
            .check(pattern: pattern, blob: key.blob, type: type) ?? LIBSSH2_KNOWNHOST_CHECK_FAILURE
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            logger.trace("SSH host key verified", metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)"])
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            throw BackupError(
                .hostKeyMismatch,
                "The host key of \(core.endpoint) does not match \(path): the server presented \(keyText). Someone may be intercepting the connection.",
                hint: "If the device's key changed legitimately (re-installed, replaced), verify the new fingerprint out of band and remove the old entry: ssh-keygen -R '\(pattern)' -f \(path)")
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND where trustOnFirstUse:
            try await KnownHosts.append(KnownHosts.line(pattern: pattern, key: key), to: path)
            logger.notice(
                "Recorded new SSH host key (trust on first use)",
                metadata: ["ssh.hostkey.fingerprint": "\(key.fingerprint)", "ssh.known_hosts": "\(path)"])
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
