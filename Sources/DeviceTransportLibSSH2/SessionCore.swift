internal import BackupModels
internal import BackupSupport
internal import CLibSSH2
internal import DeviceTransport
internal import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One non-blocking libssh2 session, its socket and its reactor registration.
///
/// Not synchronised by itself: exactly one task at a time calls into it — the task that holds the gate
/// of the owning ``LibSSH2Session`` (or the connecting task before the session is handed out). That
/// invariant is why it is `@unchecked Sendable`. Every libssh2 call that returns `LIBSSH2_ERROR_EAGAIN`
/// is repeated with the same arguments after ``awaitSocket(until:timeout:)``, which asks
/// `libssh2_session_block_directions` what to wait for and suspends on the reactor.
final class SessionCore: @unchecked Sendable {
    let reactor: Reactor
    let socket: ConnectedSocket
    let session: OpaquePointer
    let endpoint: String
    let logger: Logger
    let timeouts: TransportTimeouts
    let sessionDeadline: MonotonicInstant?
    let maximumOutputBytes: Int

    private let keepaliveEnabled: Bool
    private var authenticated = false
    private(set) var isTornDown = false
    /// Set just before throwing an error after which the session is still consistent (an idle shell read
    /// that timed out, a channel the server refused). Any other error tears the session down: an
    /// abandoned libssh2 call may have left a half-sent packet behind.
    var keepSessionAfterError = false
    /// Whether the last wait was for inbound data only (then no half-sent packet is pending).
    private var lastWaitInboundOnly = true
    private let scratch: UnsafeMutableRawBufferPointer

    private static let readChunk = 64 * 1024

    init(
        socket: ConnectedSocket, reactor: Reactor, endpoint: String, logger: Logger, timeouts: TransportTimeouts,
        sessionDeadline: MonotonicInstant?, keepaliveInterval: Duration?, maximumOutputBytes: Int
    ) throws(BackupError) {
        guard let session = libssh2_session_init_ex(libssh2CountingAlloc, libssh2CountingFree, libssh2CountingRealloc, nil)
        else {
            reactor.deregister(socket.token)
            close(socket.fd)
            throw BackupError(.internal, "libssh2 could not create a session (out of memory?).")
        }
        self.session = session
        self.socket = socket
        self.reactor = reactor
        self.endpoint = endpoint
        self.logger = logger
        self.timeouts = timeouts
        self.sessionDeadline = sessionDeadline
        self.maximumOutputBytes = maximumOutputBytes
        self.scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        libssh2_session_set_blocking(session, 0)
        if let keepaliveInterval, keepaliveInterval > .zero {
            let seconds = max(2, UInt32(clamping: keepaliveInterval.nanosecondsSaturated / 1_000_000_000))
            // want_reply = 0: libssh2 would queue every reply without ever consuming it.
            libssh2_keepalive_config(session, 0, seconds)
            keepaliveEnabled = true
        } else {
            keepaliveEnabled = false
        }
    }

    deinit {
        teardown()
        scratch.deallocate()
    }

    // MARK: - Teardown

    /// Releases everything, in the order the reactor and libssh2 need: deregister the fd, send a
    /// disconnect (one non-blocking attempt), free the libssh2 session (and its channels), close the fd.
    /// Never waits; idempotent.
    func teardown() {
        guard !isTornDown else { return }
        isTornDown = true
        reactor.deregister(socket.token)
        _ = devicebackup_session_disconnect(session, "closed by DeviceBackup")
        // With the socket shut down, libssh2's channel and session cleanup cannot hit EAGAIN any more
        // (sends fail at once), so the free below completes without waiting for the peer.
        shutdown(socket.fd, Int32(SHUT_RDWR))
        var attempts = 0
        while libssh2_session_free(session) == LIBSSH2_ERROR_EAGAIN {
            attempts += 1
            if attempts == 16 {
                logger.error("libssh2_session_free kept returning EAGAIN; its memory is leaked")
                break
            }
        }
        close(socket.fd)
        logger.trace("SSH session resources released")
    }

    // MARK: - Waiting

    /// Waits until the socket is ready in the direction(s) libssh2 last blocked on.
    ///
    /// Ends with `timeout()` at `deadline`, `DEVICE_TIMEOUT` at the session deadline, `CANCELLED` when
    /// the task is cancelled or another task closes the session. Returns early (without error) when a
    /// keepalive is due; the caller repeats its call, and the next wait sends the keepalive.
    func awaitSocket(until deadline: MonotonicInstant?, timeout: () -> BackupError) async throws(BackupError) {
        let directions = libssh2_session_block_directions(session)
        var events: IOEvents = []
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events.insert(.readable) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events.insert(.writable) }
        if events.isEmpty { events = .readable }
        lastWaitInboundOnly = events == .readable
        var waitDeadline = MonotonicInstant.earliest(deadline, sessionDeadline)
        if keepaliveEnabled, authenticated, lastWaitInboundOnly {
            // Only with nothing half-sent: libssh2 cannot interleave a keepalive with a pending packet.
            var secondsToNext: Int32 = 0
            _ = libssh2_keepalive_send(session, &secondsToNext)
            if secondsToNext > 0 {
                let due = MonotonicInstant.now().advanced(by: .seconds(Int(secondsToNext)))
                waitDeadline = MonotonicInstant.earliest(waitDeadline, due)
            }
        }
        switch await reactor.wait(socket.token, for: events, until: waitDeadline) {
        case .ready:
            return
        case .timedOut:
            let now = MonotonicInstant.now()
            if let sessionDeadline, sessionDeadline <= now {
                throw TCPConnector.deviceTimeout(endpoint: endpoint, sessionTimeout: timeouts.session)
            }
            if let deadline, deadline <= now { throw timeout() }
            return  // a keepalive is due
        case .cancelled:
            throw BackupError(.cancelled, "The SSH session with \(endpoint) was cancelled.")
        case .interrupted, .deregistered:
            throw BackupError(.cancelled, "The SSH session with \(endpoint) was closed while an operation was running.")
        }
    }

    /// Repeats `call` while it returns `LIBSSH2_ERROR_EAGAIN`, waiting for the socket in between.
    func retrying(
        until deadline: MonotonicInstant?, timeout: () -> BackupError, _ call: () -> Int32
    ) async throws(BackupError) -> Int32 {
        while true {
            let rc = call()
            if rc != LIBSSH2_ERROR_EAGAIN { return rc }
            try await awaitSocket(until: deadline, timeout: timeout)
        }
    }

    /// Like ``retrying(until:timeout:_:)`` for calls that return a pointer, `nil` with
    /// `libssh2_session_last_errno` = EAGAIN meaning "again". Returns `nil` with the error left in libssh2.
    func retryingPointer(
        until deadline: MonotonicInstant?, timeout: () -> BackupError, _ call: () -> OpaquePointer?
    ) async throws(BackupError) -> OpaquePointer? {
        while true {
            if let pointer = call() { return pointer }
            if libssh2_session_last_errno(session) != LIBSSH2_ERROR_EAGAIN { return nil }
            try await awaitSocket(until: deadline, timeout: timeout)
        }
    }

    /// Like ``retrying(until:timeout:_:)``, but each call runs on the ``BlockingIOPool`` (for libssh2 calls
    /// that burn CPU, like decrypting a private key). Waits for every call to finish, even when cancelled.
    func retryingOffPool(
        until deadline: MonotonicInstant?, timeout: () -> BackupError, _ call: @escaping @Sendable () -> Int32
    ) async throws(BackupError) -> Int32 {
        while true {
            let rc = (try? await BlockingIOPool.shared.run(call)) ?? LIBSSH2_ERROR_ALLOC
            if rc != LIBSSH2_ERROR_EAGAIN { return rc }
            try await awaitSocket(until: deadline, timeout: timeout)
        }
    }

    // MARK: - Errors

    /// libssh2's message for its last error (static texts; never secrets).
    func lastErrorMessage() -> String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        libssh2_session_last_error(session, &message, &length, 0)
        guard let message, length > 0 else { return "unknown error" }
        return String(cString: message)
    }

    /// Maps a failed libssh2 session-level call.
    func failure(_ rc: Int32, during activity: String) -> BackupError {
        let detail = lastErrorMessage()
        switch rc {
        case LIBSSH2_ERROR_KEX_FAILURE, LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED,
            LIBSSH2_ERROR_METHOD_NONE, LIBSSH2_ERROR_HOSTKEY_INIT, LIBSSH2_ERROR_HOSTKEY_SIGN:
            return BackupError(
                .sshNegotiationFailed, "SSH negotiation with \(endpoint) failed during \(activity): \(detail).",
                hint: "The device may need other algorithms: set AlgorithmPreferences (kex, host key, cipher, MAC).")
        default:
            return BackupError(
                .connectionLost, "The connection to \(endpoint) was lost during \(activity): \(detail) (libssh2 error \(rc)).",
                hint: "The device closed or reset the connection; check its SSH limits and logs.")
        }
    }

    func connectTimeoutError(_ phase: String) -> BackupError {
        BackupError(
            .connectionTimeout, "\(phase) with \(endpoint) did not finish within \(timeouts.connect.shortDescription).",
            hint: "Check that an SSH server (not just a TCP listener) answers on this port.")
    }

    // MARK: - Handshake and algorithms

    /// Sets the algorithm preferences.
    ///
    /// For a known host (`knownHostKeyTypes`, the key types known_hosts records for it), the host-key
    /// algorithms are restricted to those presenting a recorded type — in the order of the configured
    /// host-key preference, if any, else libssh2's — so that the server must show a key that can be
    /// checked: a host known by its Ed25519 key cannot get away with an unrecorded ECDSA key. When the
    /// configured preference holds no recorded type, it is kept as it is (the host-key check then
    /// reports the other type as a mismatch). With `restrictHostKeys` false, recorded types are only
    /// put first (to learn which key a server offers when the restricted negotiation failed).
    ///
    /// - Returns: the host-key algorithms the negotiation was restricted to, `nil` if it was not.
    @discardableResult
    func applyAlgorithmPreferences(
        _ preferences: AlgorithmPreferences, knownHostKeyTypes: [HostKeyType], restrictHostKeys: Bool = true
    ) throws(BackupError) -> [String]? {
        try setPreference(LIBSSH2_METHOD_KEX, preferences.keyExchange, label: "key exchange")
        let configured = preferences.hostKey.flatMap { $0.isEmpty ? nil : $0 }
        let recorded = Set(knownHostKeyTypes.flatMap(\.algorithms))
        let supported = recorded.isEmpty ? [] : supportedAlgorithms(LIBSSH2_METHOD_HOSTKEY)
        let base = configured ?? supported
        let matching = base.filter { recorded.contains($0) && supported.contains($0) }
        var restricted: [String]?
        if matching.isEmpty {
            try setPreference(LIBSSH2_METHOD_HOSTKEY, configured, label: "host key")
        } else if restrictHostKeys {
            restricted = matching
            try setPreference(LIBSSH2_METHOD_HOSTKEY, matching, label: "host key")
        } else {
            try setPreference(LIBSSH2_METHOD_HOSTKEY, matching + base.filter { !matching.contains($0) }, label: "host key")
        }
        try setPreference(LIBSSH2_METHOD_CRYPT_CS, preferences.ciphers, label: "cipher")
        try setPreference(LIBSSH2_METHOD_CRYPT_SC, preferences.ciphers, label: "cipher")
        try setPreference(LIBSSH2_METHOD_MAC_CS, preferences.macs, label: "MAC")
        try setPreference(LIBSSH2_METHOD_MAC_SC, preferences.macs, label: "MAC")
        return restricted
    }

    private func setPreference(_ method: Int32, _ names: [String]?, label: String) throws(BackupError) {
        guard let names, !names.isEmpty else { return }
        if libssh2_session_method_pref(session, method, names.joined(separator: ",")) != 0 {
            let supported = supportedAlgorithms(method).joined(separator: ", ")
            throw BackupError(
                .invalidRequest, "None of the \(label) algorithms \(names.joined(separator: ", ")) is supported by libssh2.",
                hint: "libssh2 \(LIBSSH2_VERSION) supports: \(supported).")
        }
    }

    /// The algorithms libssh2 supports for a method type.
    func supportedAlgorithms(_ method: Int32) -> [String] {
        var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let count = libssh2_session_supported_algs(session, method, &list)
        guard count > 0, let list else { return [] }
        defer { libssh2_free(session, list) }
        return (0..<Int(count)).compactMap { list[$0].map { String(cString: $0) } }
    }

    /// The negotiated algorithm of a method type (for logs).
    func negotiated(_ method: Int32) -> String {
        libssh2_session_methods(session, method).map { String(cString: $0) } ?? "?"
    }

    /// Runs the SSH handshake (banner, key exchange) within the connect deadline.
    func handshake(until deadline: MonotonicInstant?) async throws(BackupError) {
        let rc = try await retrying(until: deadline, timeout: { connectTimeoutError("The SSH handshake") }) {
            libssh2_session_handshake(session, socket.fd)
        }
        if rc != 0 { throw failure(rc, during: "the SSH handshake") }
    }

    /// The server's host key and its SHA-256 fingerprint.
    func serverHostKey() throws(BackupError) -> ServerHostKey {
        var length = 0
        var type: Int32 = 0
        guard let raw = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            throw BackupError(.hostKeyUnknown, "\(endpoint) presented no host key.")
        }
        let blob = Array(UnsafeRawBufferPointer(start: raw, count: length))
        let digest: [UInt8]
        if let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) {
            digest = Array(UnsafeRawBufferPointer(start: hash, count: 32))
        } else {
            digest = SHA256Digest.hash(blob)
        }
        return ServerHostKey(type: type, blob: blob, fingerprint: "SHA256:" + Base64.encodeUnpadded(digest))
    }

    // MARK: - Authentication

    /// Authenticates with what `credentials` offer, in the order public key, password,
    /// keyboard-interactive, limited to the methods the server lists.
    func authenticate(_ credentials: Credentials, privateKey: [UInt8]?, until deadline: MonotonicInstant?) async throws(BackupError) {
        let username = Array(credentials.username.utf8)
        let timeout = {
            BackupError(
                .authFailed,
                "Authentication as '\(credentials.username)' on \(self.endpoint) did not finish within \(self.timeouts.authentication.shortDescription) (timed out).",
                hint: "The device may be slow to check credentials (e.g. a RADIUS/TACACS server); raise the authentication timeout.")
        }
        var listPointer: UnsafeMutablePointer<CChar>?
        while true {
            listPointer = username.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    libssh2_userauth_list(session, $0.baseAddress, UInt32($0.count))
                }
            }
            if listPointer != nil { break }
            if libssh2_userauth_authenticated(session) != 0 {
                authenticated = true
                logger.debug("SSH server accepted authentication method 'none'")
                return
            }
            let rc = libssh2_session_last_errno(session)
            if rc != LIBSSH2_ERROR_EAGAIN { throw failure(rc, during: "authentication") }
            try await awaitSocket(until: deadline, timeout: timeout)
        }
        let offered = String(cString: listPointer!).split(separator: ",").map(String.init)
        var tried: [String] = []
        var notes: [String] = []

        func attempt(_ method: String, _ call: () -> Int32) async throws(BackupError) -> Bool {
            tried.append(method)
            return try await evaluate(method, try await retrying(until: deadline, timeout: timeout, call))
        }

        func evaluate(_ method: String, _ rc: Int32) async throws(BackupError) -> Bool {
            if rc == 0, libssh2_userauth_authenticated(session) != 0 {
                authenticated = true
                logger.debug("SSH authentication succeeded", metadata: ["ssh.auth.method": "\(method)"])
                return true
            }
            switch rc {
            case 0, LIBSSH2_ERROR_AUTHENTICATION_FAILED, LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED, LIBSSH2_ERROR_METHOD_NONE:
                notes.append("\(method) rejected")
            case LIBSSH2_ERROR_PASSWORD_EXPIRED:
                notes.append("password expired")
            case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED, LIBSSH2_ERROR_PUBLICKEY_UNRECOGNIZED,
                LIBSSH2_ERROR_METHOD_NOT_SUPPORTED, LIBSSH2_ERROR_DECRYPT:
                notes.append("the private key could not be decoded (wrong passphrase or unsupported key format)")
            case LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_DISCONNECT:
                // The connection ended while credentials were being checked: OpenSSH disconnects instead of
                // answering the attempt that reaches MaxAuthTries (even the first one), and many devices
                // close after a failed login. Reported as a rejected login, AUTH_FAILED, which is never
                // retried: retrying as CONNECTION_LOST would repeat a wrong password until the account
                // locks.
                notes.append(
                    "\(method) was answered by closing the connection (\(lastErrorMessage())); the server may allow too few attempts (MaxAuthTries)")
                throw authFailure(credentials.username, offered: offered, tried: tried, notes: notes)
            default:
                notes.append("\(method) failed: \(lastErrorMessage())")
            }
            logger.debug("SSH authentication method failed", metadata: ["ssh.auth.method": "\(method)", "ssh.auth.rc": "\(rc)"])
            return false
        }

        if let privateKey, offered.contains("publickey") {
            // An empty passphrase is passed as "" (never NULL: OpenSSL would prompt on the terminal).
            let passphrase = SecretBuffer(Array((credentials.passphrase?.reveal() ?? "").utf8CString))
            defer { passphrase.wipe() }
            let sessionPointer = SessionPointer(raw: session)
            let call: @Sendable () -> Int32 = {
                username.withUnsafeBufferPointer { user in
                    user.withMemoryRebound(to: CChar.self) { user in
                        privateKey.withUnsafeBufferPointer { key in
                            key.withMemoryRebound(to: CChar.self) { key in
                                passphrase.withPointer { passphrase in
                                    libssh2_userauth_publickey_frommemory(
                                        sessionPointer.raw, user.baseAddress, user.count, nil, 0, key.baseAddress, key.count,
                                        passphrase)
                                }
                            }
                        }
                    }
                }
            }
            tried.append("publickey")
            let rc: Int32
            if credentials.passphrase.map({ !$0.isEmpty }) ?? false {
                // Decrypting the key (bcrypt_pbkdf, done twice by libssh2) costs ~0.1 s of CPU per call: not on
                // the cooperative pool. The task waits for each call (no early return on cancellation: the
                // pool thread uses the session meanwhile), so one task still drives the session.
                rc = try await retryingOffPool(until: deadline, timeout: timeout, call)
            } else {
                rc = try await retrying(until: deadline, timeout: timeout, call)
            }
            if try await evaluate("publickey", rc) { return }
        }
        if let password = credentials.password {
            var secret = Array(password.reveal().utf8)
            defer { secret.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            if offered.contains("password") {
                let done = try await attempt("password") {
                    username.withUnsafeBufferPointer { user in
                        user.withMemoryRebound(to: CChar.self) { user in
                            secret.withUnsafeBufferPointer { pass in
                                pass.withMemoryRebound(to: CChar.self) { pass in
                                    libssh2_userauth_password_ex(
                                        session, user.baseAddress, UInt32(user.count), pass.baseAddress, UInt32(pass.count), nil)
                                }
                            }
                        }
                    }
                }
                if done { return }
            }
            if offered.contains("keyboard-interactive") {
                let answer = UnsafeMutablePointer<KeyboardInteractiveAnswer>.allocate(capacity: 1)
                let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(secret.count, 1))
                _ = bytes.initialize(from: secret)
                answer.initialize(to: KeyboardInteractiveAnswer(bytes: bytes.baseAddress!, count: secret.count))
                let abstract = libssh2_session_abstract(session)!
                abstract.pointee = UnsafeMutableRawPointer(answer)
                defer {
                    abstract.pointee = nil
                    bytes.update(repeating: 0)
                    bytes.deallocate()
                    answer.deinitialize(count: 1)
                    answer.deallocate()
                }
                let done = try await attempt("keyboard-interactive") {
                    username.withUnsafeBufferPointer { user in
                        user.withMemoryRebound(to: CChar.self) { user in
                            libssh2_userauth_keyboard_interactive_ex(
                                session, user.baseAddress, UInt32(user.count), keyboardInteractiveResponder)
                        }
                    }
                }
                if done { return }
            }
        }
        throw authFailure(credentials.username, offered: offered, tried: tried, notes: notes, credentials: credentials)
    }

    private func authFailure(
        _ username: String, offered: [String], tried: [String], notes: [String], credentials: Credentials? = nil
    ) -> BackupError {
        let offeredText = offered.isEmpty ? "none" : offered.joined(separator: ",")
        if tried.isEmpty {
            var have: [String] = []
            if credentials?.privateKey != nil { have.append("a private key") }
            if credentials?.password != nil { have.append("a password") }
            return BackupError(
                .authFailed,
                "No usable authentication method for '\(username)' on \(endpoint): the server offered \(offeredText); the credentials hold \(have.isEmpty ? "nothing" : have.joined(separator: " and ")).",
                hint: "Give the credentials the server accepts.")
        }
        return BackupError(
            .authFailed,
            "Authentication as '\(username)' on \(endpoint) failed (tried \(tried.joined(separator: ", ")): \(notes.joined(separator: "; "))). The server offered: \(offeredText).",
            hint: "Check the username, password or key for this device. Failed logins are not retried.")
    }

    // MARK: - Channels

    private func commandTimeout(_ what: String, after duration: Duration) -> BackupError {
        BackupError(
            .commandTimeout, "\(what) on \(endpoint) produced nothing for \(duration.shortDescription).",
            hint: "The device may be slow or waiting for input; raise the timeout if the output is just slow.")
    }

    /// Opens a session channel.
    private func openChannel(until deadline: MonotonicInstant?, purpose: String) async throws(BackupError) -> OpaquePointer {
        let channel = try await retryingPointer(
            until: deadline, timeout: { commandTimeout("Opening a channel for \(purpose)", after: timeouts.idleRead) }
        ) {
            devicebackup_channel_open_session(session)
        }
        guard let channel else {
            let rc = libssh2_session_last_errno(session)
            if rc == LIBSSH2_ERROR_CHANNEL_FAILURE {
                keepSessionAfterError = true
                throw BackupError(
                    .commandFailed, "\(endpoint) refused to open a channel for \(purpose): \(lastErrorMessage()).",
                    hint: "The device may limit sessions per connection.")
            }
            throw failure(rc, during: "opening a channel")
        }
        return channel
    }

    /// Frees a channel whose close was already negotiated (or that must go now).
    private func freeChannel(_ channel: OpaquePointer, until deadline: MonotonicInstant?) async throws(BackupError) {
        _ = try await retrying(until: deadline, timeout: { commandTimeout("Closing a channel", after: timeouts.idleRead) }) {
            libssh2_channel_free(channel)
        }
    }

    /// Runs `command` on an exec channel, reading stdout and stderr side by side.
    func execute(_ command: String, timeout: Duration?) async throws(BackupError) -> CommandOutput {
        let started = MonotonicInstant.now()
        let commandDeadline = timeout.map { started.advanced(by: $0) }
        var lastActivity = started
        func deadline() -> MonotonicInstant? {
            MonotonicInstant.earliest(lastActivity.advanced(by: timeouts.idleRead), commandDeadline)
        }
        let timeoutError = { () -> BackupError in
            if let commandDeadline, let timeout, commandDeadline <= MonotonicInstant.now() {
                return BackupError(
                    .commandTimeout, "'\(command)' on \(self.endpoint) did not finish within \(timeout.shortDescription).",
                    hint: "Raise the command timeout for large outputs.")
            }
            return self.commandTimeout("'\(command)'", after: self.timeouts.idleRead)
        }

        let channel = try await openChannel(until: deadline(), purpose: "'\(command)'")
        let commandBytes = Array(command.utf8)
        let rc = try await retrying(until: deadline(), timeout: timeoutError) {
            commandBytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    devicebackup_channel_exec(channel, $0.baseAddress, UInt32($0.count))
                }
            }
        }
        if rc != 0 {
            if rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED || rc == LIBSSH2_ERROR_CHANNEL_FAILURE {
                try await freeChannel(channel, until: deadline())
                keepSessionAfterError = true
                throw BackupError(
                    .commandFailed, "\(endpoint) refused to run '\(command)' on an exec channel.",
                    hint: "Some devices have no exec channel: use an interactive shell (a vendor profile) instead.")
            }
            throw failure(rc, during: "starting '\(command)'")
        }

        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        while true {
            var progressed = false
            for stream: Int32 in [0, SSH_EXTENDED_DATA_STDERR] {
                while true {
                    let n = libssh2_channel_read_ex(channel, stream, scratch.baseAddress, scratch.count)
                    if n > 0 {
                        let chunk = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
                        if stream == 0 { stdout.append(contentsOf: chunk) } else { stderr.append(contentsOf: chunk) }
                        progressed = true
                        continue
                    }
                    if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 { break }
                    throw failure(Int32(clamping: n), during: "reading the output of '\(command)'")
                }
            }
            if stdout.count + stderr.count > maximumOutputBytes {
                throw BackupError(
                    .commandFailed, "'\(command)' on \(endpoint) produced more than \(maximumOutputBytes) bytes.",
                    hint: "Raise LibSSH2Transport.Configuration.maximumOutputBytes if this output is expected.")
            }
            if progressed {
                lastActivity = MonotonicInstant.now()
                continue
            }
            if libssh2_channel_eof(channel) != 0 { break }
            // Reading one stream can pull the other's packets off the socket: never wait while data is
            // already queued inside libssh2 (an unread stream would stall on a full window).
            if libssh2_poll_channel_read(channel, 1) > 0 { continue }
            try await awaitSocket(until: deadline(), timeout: timeoutError)
        }

        var closeRC = try await retrying(until: deadline(), timeout: timeoutError) { libssh2_channel_close(channel) }
        if closeRC == 0 {
            closeRC = try await retrying(until: deadline(), timeout: timeoutError) { libssh2_channel_wait_closed(channel) }
        }
        if closeRC != 0 { throw failure(closeRC, during: "closing the channel of '\(command)'") }
        let status = libssh2_channel_get_exit_status(channel)
        try await freeChannel(channel, until: deadline())
        logger.trace(
            "SSH exec finished",
            metadata: ["ssh.exit_status": "\(status)", "ssh.stdout_bytes": "\(stdout.count)", "ssh.stderr_bytes": "\(stderr.count)"])
        return CommandOutput(stdout: stdout, stderr: stderr, exitStatus: status)
    }

    /// Opens a shell channel (stderr merged into stdout), with a PTY unless disabled.
    func openShell(_ options: ShellOptions) async throws(BackupError) -> OpaquePointer {
        let deadline = MonotonicInstant.now().advanced(by: timeouts.idleRead)
        let timeout = { self.commandTimeout("Opening a shell", after: self.timeouts.idleRead) }
        let channel = try await openChannel(until: deadline, purpose: "a shell")
        _ = libssh2_channel_handle_extended_data2(channel, LIBSSH2_CHANNEL_EXTENDED_DATA_MERGE)
        if options.requestPTY {
            let term = Array(options.terminalType.utf8)
            let rc = try await retrying(until: deadline, timeout: timeout) {
                term.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        devicebackup_channel_request_pty(
                            channel, $0.baseAddress, UInt32($0.count), Int32(clamping: options.columns), Int32(clamping: options.rows))
                    }
                }
            }
            if rc != 0 {
                if rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED {
                    try await freeChannel(channel, until: deadline)
                    keepSessionAfterError = true
                    throw BackupError(
                        .commandFailed, "\(endpoint) refused a PTY.", hint: "Open the shell with requestPTY = false for this device.")
                }
                throw failure(rc, during: "requesting a PTY")
            }
        }
        let rc = try await retrying(until: deadline, timeout: timeout) { devicebackup_channel_shell(channel) }
        if rc != 0 {
            if rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED {
                try await freeChannel(channel, until: deadline)
                keepSessionAfterError = true
                throw BackupError(.commandFailed, "\(endpoint) refused to start a shell.")
            }
            throw failure(rc, during: "starting a shell")
        }
        logger.trace("SSH shell opened", metadata: ["ssh.pty": "\(options.requestPTY)"])
        return channel
    }

    /// Writes all of `bytes` (libssh2 may take them in parts).
    func write(_ bytes: [UInt8], to channel: OpaquePointer) async throws(BackupError) {
        var offset = 0
        var deadline = MonotonicInstant.now().advanced(by: timeouts.idleRead)
        let timeout = {
            BackupError(
                .commandTimeout, "\(self.endpoint) accepted no input for \(self.timeouts.idleRead.shortDescription).",
                hint: "The device stopped reading; it may be hung.")
        }
        while offset < bytes.count {
            let n = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    libssh2_channel_write_ex(channel, 0, $0.baseAddress! + offset, $0.count - offset)
                }
            }
            if n > 0 {
                offset += n
                deadline = MonotonicInstant.now().advanced(by: timeouts.idleRead)
            } else if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 {
                try await awaitSocket(until: deadline, timeout: timeout)
            } else {
                throw failure(Int32(clamping: n), during: "writing to the shell")
            }
        }
    }

    /// The next bytes from the shell; `[]` at end of stream.
    func read(from channel: OpaquePointer, idleTimeout: Duration) async throws(BackupError) -> [UInt8] {
        let deadline = MonotonicInstant.now().advanced(by: idleTimeout)
        while true {
            let n = libssh2_channel_read_ex(channel, 0, scratch.baseAddress, scratch.count)
            if n > 0 { return Array(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) }
            if n == 0, libssh2_channel_eof(channel) != 0 { return [] }
            if n < 0, n != Int(LIBSSH2_ERROR_EAGAIN) {
                throw failure(Int32(clamping: n), during: "reading from the shell")
            }
            do {
                try await awaitSocket(until: deadline, timeout: { commandTimeout("The shell", after: idleTimeout) })
            } catch {
                // Timing out while waiting for inbound data abandons no libssh2 call: the session stays usable.
                if error.code == .commandTimeout, lastWaitInboundOnly { keepSessionAfterError = true }
                throw error
            }
        }
    }

    /// Closes and frees a shell channel.
    func closeChannel(_ channel: OpaquePointer) async throws(BackupError) {
        let deadline = MonotonicInstant.now().advanced(by: min(timeouts.idleRead, .seconds(5)))
        _ = try await retrying(until: deadline, timeout: { commandTimeout("Closing the shell", after: min(timeouts.idleRead, .seconds(5))) }) {
            libssh2_channel_free(channel)
        }
    }
}

/// What the keyboard-interactive callback answers every prompt with (the password), reached through the
/// session's abstract pointer only while `libssh2_userauth_keyboard_interactive_ex` runs.
struct KeyboardInteractiveAnswer {
    var bytes: UnsafeMutablePointer<UInt8>
    var count: Int
}

/// Answers each keyboard-interactive prompt with the prepared password. Responses are allocated with the
/// session's allocator, which libssh2 frees them with.
private let keyboardInteractiveResponder:
    @convention(c) (
        UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, Int32,
        UnsafePointer<LIBSSH2_USERAUTH_KBDINT_PROMPT>?, UnsafeMutablePointer<LIBSSH2_USERAUTH_KBDINT_RESPONSE>?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Void = { _, _, _, _, promptCount, _, responses, abstract in
        guard promptCount > 0, let responses, let raw = abstract?.pointee else { return }
        let answer = raw.assumingMemoryBound(to: KeyboardInteractiveAnswer.self).pointee
        for index in 0..<Int(promptCount) {
            guard let text = libssh2CountingAlloc(max(answer.count, 1), nil) else { continue }
            text.copyMemory(from: answer.bytes, byteCount: answer.count)
            responses[index].text = text.assumingMemoryBound(to: CChar.self)
            responses[index].length = UInt32(answer.count)
        }
    }

/// The libssh2 session pointer, handed to a pool thread while the driving task waits for it.
struct SessionPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// A NUL-terminated secret that can be wiped after use and read from a pool thread.
final class SecretBuffer: @unchecked Sendable {
    // Written only by `wipe()`, after every reader has finished (the driving task awaited them).
    private var bytes: [CChar]

    init(_ bytes: [CChar]) { self.bytes = bytes }

    func withPointer<T>(_ body: (UnsafePointer<CChar>) -> T) -> T {
        bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    func wipe() {
        bytes.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}
