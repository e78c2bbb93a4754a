internal import BackupModels
internal import DeviceTransport
internal import Logging
import Synchronization

/// A libssh2 channel pointer, used only by the task that holds the session's gate.
struct ChannelPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// An authenticated libssh2 session.
///
/// A gate lets one task at a time drive the session (a second concurrent call fails instead of
/// corrupting libssh2's state machine). ``close()`` may come from any task at any time: if an operation
/// is running, it is interrupted at its next wait and the session is torn down before `close()` returns.
final class LibSSH2Session: DeviceSession {
    private struct GateState {
        var busy = false
        var closed = false
        var closeRequested = false
        var closeWaiters: [UnsafeContinuation<Void, Never>] = []
    }

    let core: SessionCore
    private let gate = Mutex(GateState())

    init(core: SessionCore) {
        self.core = core
    }

    func execute(_ command: String, timeout: Duration?) async throws -> CommandOutput {
        try await drive { core throws(BackupError) in try await core.execute(command, timeout: timeout) }
    }

    func openShell(_ options: ShellOptions) async throws -> any ShellChannel {
        let channel = try await drive { core throws(BackupError) in ChannelPointer(raw: try await core.openShell(options)) }
        return LibSSH2ShellChannel(session: self, channel: channel)
    }

    func close() async {
        enum Action {
            case done
            case tearDown
            case waitForDriver
        }
        let action: Action = gate.withLock { state in
            if state.closed { return .done }
            if state.busy {
                state.closeRequested = true
                return .waitForDriver
            }
            state.busy = true
            return .tearDown
        }
        switch action {
        case .done:
            return
        case .tearDown:
            core.teardown()
            let waiters = gate.withLock { state in
                state.closed = true
                state.busy = false
                defer { state.closeWaiters.removeAll() }
                return state.closeWaiters
            }
            for waiter in waiters { waiter.resume() }
            core.logger.debug("SSH session closed")
        case .waitForDriver:
            // The driving task is inside an operation: end its current or next wait, then let it tear down.
            core.reactor.interrupt(core.socket.token)
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let closedAlready = gate.withLock { state in
                    if state.closed { return true }
                    state.closeWaiters.append(continuation)
                    return false
                }
                if closedAlready { continuation.resume() }
            }
        }
    }

    /// Runs one operation with exclusive use of the session. A failure tears the session down unless the
    /// operation marked it as still consistent; a `close()` that arrived meanwhile is completed here.
    func drive<T>(_ body: (SessionCore) async throws(BackupError) -> T) async throws(BackupError) -> T {
        let refusal: BackupError? = gate.withLock { state in
            if state.closed || state.closeRequested {
                return BackupError(
                    .connectionLost, "The SSH session with \(core.endpoint) is closed.",
                    hint: "Open a new session; a session is closed by close(), cancellation or an earlier error.")
            }
            if state.busy {
                return BackupError(
                    .internal, "Two tasks used the SSH session with \(core.endpoint) at once.",
                    hint: "A session (and its channels) is driven by one task at a time; this is a bug in the caller.")
            }
            state.busy = true
            return nil
        }
        if let refusal { throw refusal }

        let outcome: Result<T, BackupError>
        if Task.isCancelled {
            outcome = .failure(BackupError(.cancelled, "The SSH session with \(core.endpoint) was cancelled."))
        } else {
            do throws(BackupError) {
                outcome = .success(try await body(core))
            } catch {
                outcome = .failure(error)
            }
        }
        var failedBadly = false
        if case .failure(let error) = outcome {
            failedBadly = !core.keepSessionAfterError
            if failedBadly {
                core.logger.debug("SSH session torn down after error", metadata: ["error.code": "\(error.code)"])
            }
        }
        core.keepSessionAfterError = false

        var tornDown = false
        while true {
            let (tearDownNow, waiters): (Bool, [UnsafeContinuation<Void, Never>]) = gate.withLock { state in
                if !tornDown, failedBadly || state.closeRequested { return (true, []) }
                state.busy = false
                if tornDown { state.closed = true }
                guard state.closed else { return (false, []) }
                defer { state.closeWaiters.removeAll() }
                return (false, state.closeWaiters)
            }
            if tearDownNow {
                core.teardown()
                tornDown = true
                continue
            }
            for waiter in waiters { waiter.resume() }
            break
        }
        return try outcome.get()
    }
}

/// An interactive shell on a libssh2 session (stderr merged into stdout).
final class LibSSH2ShellChannel: ShellChannel {
    private let session: LibSSH2Session
    private let channel: Mutex<ChannelPointer?>

    init(session: LibSSH2Session, channel: ChannelPointer) {
        self.session = session
        self.channel = Mutex(channel)
    }

    private func current() throws(BackupError) -> ChannelPointer {
        guard let channel = channel.withLock({ $0 }) else {
            throw BackupError(.connectionLost, "The shell channel with \(session.core.endpoint) is closed.")
        }
        return channel
    }

    func write(_ bytes: [UInt8]) async throws {
        let channel = try current()
        try await session.drive { core throws(BackupError) in try await core.write(bytes, to: channel.raw) }
    }

    func read(idleTimeout: Duration) async throws -> [UInt8] {
        let channel = try current()
        return try await session.drive { core throws(BackupError) in try await core.read(from: channel.raw, idleTimeout: idleTimeout) }
    }

    func close() async {
        guard let channel = channel.withLock({ $0.take() }) else { return }
        // A cancelled task does not negotiate the close (that would tear the session down): the channel
        // is then freed with the session. If the session is already closed, its teardown freed it.
        if Task.isCancelled { return }
        _ = try? await session.drive { core throws(BackupError) in try await core.closeChannel(channel.raw) }
    }
}
