internal import BackupModels
internal import BackupSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One resolved address.
struct ResolvedAddress: Sendable {
    var family: Int32
    var storage: sockaddr_storage
    var length: socklen_t

    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var copy = storage
        let rc = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            }
        }
        return rc == 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }
}

/// A connected, non-blocking TCP socket registered with the reactor.
struct ConnectedSocket: Sendable {
    var fd: Int32
    var token: ReactorToken
    var address: String
}

/// Name resolution (off the cooperative pool) and non-blocking connect through the reactor.
enum TCPConnector {
    /// Resolves `host` (a name, an IPv4 or an IPv6 address, optionally in brackets).
    ///
    /// Numeric addresses are parsed in place (`AI_NUMERICHOST` never blocks); names go to
    /// `getaddrinfo` on the ``BlockingIOPool``, and the wait for it ends at once if the task is cancelled.
    static func resolve(host: String, port: Int, endpoint: String) async throws(BackupError) -> [ResolvedAddress] {
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        let numeric = getAddresses(name, port: port, numericOnly: true)
        if case .success(let addresses) = numeric, !addresses.isEmpty { return addresses }
        let lookupName = name
        let result: Result<[ResolvedAddress], ResolveError>
        do {
            result = try await cancellableBlockingCall { getAddresses(lookupName, port: port, numericOnly: false) }
        } catch {
            throw BackupError(.cancelled, "Connecting to \(endpoint) was cancelled.")
        }
        switch result {
        case .success(let addresses) where !addresses.isEmpty:
            return addresses
        case .success:
            throw BackupError(.hostUnreachable, "\(host) has no IPv4 or IPv6 address.", hint: "Check the device's host name.")
        case .failure(let error):
            throw BackupError(
                .hostUnreachable, "\(host) does not resolve: \(error.message).",
                hint: "Check the device's host name and the DNS configuration.")
        }
    }

    struct ResolveError: Error, Sendable {
        var code: Int32
        var message: String
    }

    private static func getAddresses(_ name: String, port: Int, numericOnly: Bool) -> Result<[ResolvedAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, String(port), &hints, &list)
        guard rc == 0 else {
            let message = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            return .failure(ResolveError(code: rc, message: message))
        }
        defer { freeaddrinfo(list) }
        var addresses: [ResolvedAddress] = []
        var cursor = list
        while let info = cursor {
            if let address = info.pointee.ai_addr, info.pointee.ai_family == AF_INET || info.pointee.ai_family == AF_INET6 {
                var storage = sockaddr_storage()
                let length = info.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &storage) { raw in
                    raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
                }
                addresses.append(ResolvedAddress(family: info.pointee.ai_family, storage: storage, length: length))
            }
            cursor = info.pointee.ai_next
        }
        return .success(addresses)
    }

    /// Connects to the first address that accepts, within `deadline`.
    static func connect(
        to addresses: [ResolvedAddress], reactor: Reactor, endpoint: String, connectDeadline: MonotonicInstant,
        sessionDeadline: MonotonicInstant?, connectTimeout: Duration, sessionTimeout: Duration?
    ) async throws(BackupError) -> ConnectedSocket {
        var lastError: BackupError?
        for address in addresses {
            do {
                return try await connectOne(
                    address, reactor: reactor, endpoint: endpoint, connectDeadline: connectDeadline,
                    sessionDeadline: sessionDeadline, connectTimeout: connectTimeout, sessionTimeout: sessionTimeout)
            } catch {
                switch error.code {
                case .connectionRefused, .hostUnreachable, .connectionLost:
                    // Another address (IPv4 after IPv6) may work; keep the most telling error.
                    if lastError?.code != .connectionRefused { lastError = error }
                default:
                    throw error
                }
            }
        }
        throw lastError ?? BackupError(.hostUnreachable, "\(endpoint) has no usable address.")
    }

    private static func connectOne(
        _ address: ResolvedAddress, reactor: Reactor, endpoint: String, connectDeadline: MonotonicInstant,
        sessionDeadline: MonotonicInstant?, connectTimeout: Duration, sessionTimeout: Duration?
    ) async throws(BackupError) -> ConnectedSocket {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_TCP))
        guard fd >= 0 else { throw socketError(errno, endpoint: endpoint, during: "socket") }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let token: ReactorToken
        do {
            token = try reactor.register(fd: fd)
        } catch {
            close(fd)
            throw error
        }
        func fail(_ error: BackupError) -> BackupError {
            reactor.deregister(token)
            close(fd)
            return error
        }
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if rc != 0 {
            let code = errno
            guard code == EINPROGRESS || code == EINTR else { throw fail(socketError(code, endpoint: endpoint, during: "connect")) }
            let deadline = MonotonicInstant.earliest(connectDeadline, sessionDeadline)
            while true {
                switch await reactor.wait(token, for: .writable, until: deadline) {
                case .ready:
                    break
                case .timedOut:
                    if let sessionDeadline, sessionDeadline <= MonotonicInstant.now() {
                        throw fail(deviceTimeout(endpoint: endpoint, sessionTimeout: sessionTimeout))
                    }
                    throw fail(
                        BackupError(
                            .connectionTimeout, "TCP connect to \(endpoint) timed out after \(connectTimeout.shortDescription).",
                            hint: "Check that the device is up and that no firewall drops the connection."))
                case .cancelled, .interrupted, .deregistered:
                    throw fail(BackupError(.cancelled, "Connecting to \(endpoint) was cancelled."))
                }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length) != 0 { soError = errno }
                if soError == 0 {
                    // Readiness can be spurious; a connected socket has a peer.
                    var peer = sockaddr_storage()
                    var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let connected = withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &peerLength) }
                    }
                    if connected == 0 { break }
                    if errno == ENOTCONN { continue }
                    soError = errno
                }
                throw fail(socketError(soError, endpoint: endpoint, during: "connect"))
            }
        }
        return ConnectedSocket(fd: fd, token: token, address: address.description)
    }

    /// Maps a connect-time `errno` to an error code.
    static func socketError(_ code: Int32, endpoint: String, during call: String) -> BackupError {
        let reason = String(cString: strerror(code))
        switch code {
        case ECONNREFUSED:
            return BackupError(
                .connectionRefused, "\(endpoint) refused the connection (\(reason)).",
                hint: "Check that SSH is enabled on the device and the port is right.")
        case ETIMEDOUT:
            return BackupError(.connectionTimeout, "TCP connect to \(endpoint) timed out (\(reason)).")
        case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT, ENETDOWN, EHOSTDOWN:
            return BackupError(
                .hostUnreachable, "\(endpoint) is unreachable (\(reason)).", hint: "Check the address and the network route.")
        case ECONNRESET, ECONNABORTED, EPIPE:
            return BackupError(.connectionLost, "The connection to \(endpoint) was reset while connecting (\(reason)).")
        default:
            return BackupError(.hostUnreachable, "\(call) to \(endpoint) failed: \(reason).")
        }
    }

    static func deviceTimeout(endpoint: String, sessionTimeout: Duration?) -> BackupError {
        BackupError(
            .deviceTimeout,
            "The session with \(endpoint) exceeded its time limit\(sessionTimeout.map { " of \($0.shortDescription)" } ?? "").",
            hint: "Raise the session timeout for slow devices or large configurations.")
    }
}

/// Runs `body` on the ``BlockingIOPool`` and awaits its result, but stops waiting as soon as the task is
/// cancelled (throwing `CancellationError`); the blocking call then finishes on its own and its result is
/// dropped.
func cancellableBlockingCall<T: Sendable>(
    pool: BlockingIOPool = .shared, _ body: @escaping @Sendable () -> T
) async throws -> T {
    let slot = OneShotSlot<T>()
    return try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            if slot.install(continuation) {
                pool.submit { slot.finish(.success(body())) }
            }
        }
    } onCancel: {
        slot.finish(.failure(CancellationError()))
    }
}

/// A continuation that is resumed exactly once, by whichever comes first: the result or a cancellation
/// (which may even arrive before the continuation is installed).
final class OneShotSlot<T: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(UnsafeContinuation<T, any Error>)
        case finished(Result<T, any Error>)
        case done
    }

    private let state = Mutex<State>(.idle)

    /// Installs the continuation; `false` if the outcome was already known (then it is resumed here).
    func install(_ continuation: UnsafeContinuation<T, any Error>) -> Bool {
        let early: Result<T, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return nil
            case .finished(let result):
                state = .done
                return result
            case .waiting, .done:
                preconditionFailure("continuation installed twice")
            }
        }
        if let early {
            continuation.resume(with: early)
            return false
        }
        return true
    }

    /// Delivers the outcome; only the first call counts.
    func finish(_ result: Result<T, any Error>) {
        let continuation: UnsafeContinuation<T, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .finished, .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}
