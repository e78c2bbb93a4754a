public import BackupModels
public import DeviceTransport
public import Logging
import Synchronization

/// What a mock device does when the executor backs it up.
public enum MockBehavior: Sendable {
    /// Serves `config` for every command, after `latency` (on the transport's clock).
    case config(String, latency: Duration = .zero)
    /// Fails the first `times` attempts with `code` at connect, then behaves as `then`.
    indirect case fail(BackupError.Code, times: Int, then: MockBehavior)
    /// Fails every attempt with `error` at connect.
    case alwaysFail(BackupError)
    /// Connects, then never answers until the attempt is cancelled (timeout or task cancellation).
    case hang
    /// Throws an arbitrary error (not a `BackupError`) from the command.
    case throwing(any Error & Sendable)
    /// Computes the config per attempt (1-based); may sleep or throw.
    case custom(@Sendable (_ attempt: Int) async throws -> String)
}

/// A scriptable in-memory `DeviceTransport` for tests: each device (by id, else by host) has a
/// ``MockBehavior``; counters record what happened.
///
/// ```swift
/// let transport = MockTransport(defaultBehavior: .config("hostname r1\n"))
/// transport.setBehavior(.fail(.connectionTimeout, times: 2, then: .config("ok")), for: "r2")
/// // … run the executor …
/// #expect(transport.stats.peakOpenSessions <= 5)
/// ```
public final class MockTransport: DeviceTransport {
    /// What the transport observed.
    public struct Stats: Sendable, Hashable {
        /// `connect` calls (attempts).
        public var connects = 0
        /// Sessions opened successfully.
        public var sessionsOpened = 0
        /// Sessions closed.
        public var sessionsClosed = 0
        /// Sessions open right now.
        public var openSessions = 0
        /// Most sessions open at the same time.
        public var peakOpenSessions = 0
        /// Commands executed.
        public var commands = 0
        /// Attempts per device id.
        public var attemptsByDevice: [DeviceID: Int] = [:]
        /// The order in which devices were first connected.
        public var connectOrder: [DeviceID] = []
    }

    private struct State {
        var behaviors: [String: MockBehavior] = [:]
        var stats = Stats()
    }

    private let state = Mutex(State())
    private let defaultBehavior: MockBehavior
    private let sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - defaultBehavior: what devices without their own behaviour do.
    ///   - clock: the clock latencies are slept on (a `ManualClock` in deterministic tests).
    public init<C: Clock>(defaultBehavior: MockBehavior = .config("hostname mock\n"), clock: C = ContinuousClock())
    where C.Duration == Duration {
        self.defaultBehavior = defaultBehavior
        sleep = { duration in try await clock.sleep(for: duration) }
    }

    /// Sets the behaviour of one device, by device id (or host).
    public func setBehavior(_ behavior: MockBehavior, for key: DeviceID) {
        state.withLock { $0.behaviors[key.rawValue] = behavior }
    }

    /// A snapshot of the counters.
    public var stats: Stats { state.withLock { $0.stats } }

    public func connect(to target: ConnectionTarget, credentials: Credentials, logger: Logger) async throws -> any DeviceSession {
        try Task.checkCancellation()
        let key = target.deviceID ?? DeviceID(target.host)
        let (behavior, attempt): (MockBehavior, Int) = state.withLock { state in
            state.stats.connects += 1
            let attempt = (state.stats.attemptsByDevice[key] ?? 0) + 1
            state.stats.attemptsByDevice[key] = attempt
            if attempt == 1 { state.stats.connectOrder.append(key) }
            return (state.behaviors[key.rawValue] ?? state.behaviors[target.host] ?? defaultBehavior, attempt)
        }
        let resolved = try Self.resolve(behavior, attempt: attempt, device: key)
        state.withLock { state in
            state.stats.sessionsOpened += 1
            state.stats.openSessions += 1
            state.stats.peakOpenSessions = max(state.stats.peakOpenSessions, state.stats.openSessions)
        }
        return MockSession(transport: self, behavior: resolved, attempt: attempt)
    }

    /// Follows `fail` chains to the behaviour of this attempt, throwing for failing attempts.
    private static func resolve(_ behavior: MockBehavior, attempt: Int, device: DeviceID) throws -> MockBehavior {
        switch behavior {
        case .fail(let code, let times, let then):
            if attempt <= times {
                throw BackupError(code, "Mock failure \(attempt) of \(times) for device \(device).")
            }
            return try resolve(then, attempt: attempt - times, device: device)
        case .alwaysFail(let error):
            throw error
        default:
            return behavior
        }
    }

    fileprivate func sessionClosed() {
        state.withLock { state in
            state.stats.sessionsClosed += 1
            state.stats.openSessions -= 1
        }
    }

    fileprivate func commandRun() { state.withLock { $0.stats.commands += 1 } }

    fileprivate func run(_ behavior: MockBehavior, attempt: Int) async throws -> String {
        switch behavior {
        case .config(let text, let latency):
            if latency > .zero { try await sleep(latency) }
            try Task.checkCancellation()
            return text
        case .hang:
            try await sleep(.seconds(365 * 24 * 3600))
            throw CancellationError()
        case .throwing(let error):
            throw error
        case .custom(let body):
            return try await body(attempt)
        case .fail, .alwaysFail:
            throw BackupError(.internal, "unresolved mock behaviour")
        }
    }
}

/// A session of ``MockTransport``.
final class MockSession: DeviceSession {
    private let transport: MockTransport
    private let behavior: MockBehavior
    private let attempt: Int
    private let closed = Mutex(false)

    init(transport: MockTransport, behavior: MockBehavior, attempt: Int) {
        self.transport = transport
        self.behavior = behavior
        self.attempt = attempt
    }

    func execute(_ command: String, timeout: Duration?) async throws -> CommandOutput {
        transport.commandRun()
        let text = try await transport.run(behavior, attempt: attempt)
        return CommandOutput(stdout: Array(text.utf8), stderr: [], exitStatus: 0)
    }

    func openShell(_ options: ShellOptions) async throws -> any ShellChannel {
        throw BackupError(.commandFailed, "MockTransport sessions have no interactive shell; use exec-based retrievers.")
    }

    func close() async {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first { transport.sessionClosed() }
    }
}
