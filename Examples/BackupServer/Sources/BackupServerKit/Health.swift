import BackupExecutor
import BackupModels
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TaskStore

/// What the health routes report: live (the process answers) versus ready (it can take work).
///
/// - `GET /health/live` and `GET /health`: 200 whenever the HTTP server answers. `/health` keeps its old
///   meaning (liveness) so that existing probes do not change behaviour.
/// - `GET /health/ready`: 200 when the executor is running (started, not shutting down) **and** the task
///   store accepts writes; 503 otherwise, with each check's state. A load balancer should route work only to
///   a ready server; an orchestrator should restart only a server that is not live.
///
/// The store check is a real write through the ``TaskStore`` protocol that changes nothing: `prune` with
/// a ``RetentionPolicy`` that limits nothing. A store that refuses writes (closed, poisoned by an I/O error,
/// a full disk it has noticed) throws, and the server is not ready until a later check succeeds. Each check
/// has a time limit (``storeCheckTimeout``): a store that hangs is not ready either.
///
/// The executor state is observed by running the executor through ``run(_:)`` (what ``BackupServer``
/// does) or ``withRunning(_:_:)`` (tests, embedders).
public final class ServerReadiness: Sendable {
    /// The executor's lifecycle as this server observes it.
    public enum ExecutorState: String, Sendable, Hashable {
        /// ``run(_:)`` has not been called yet.
        case notStarted = "not_started"
        /// Running: takes new tasks.
        case running
        /// Graceful shutdown has begun: no new tasks.
        case shuttingDown = "shutting_down"
        /// `run()` has returned.
        case stopped
    }

    /// The result of one readiness check.
    public struct Report: Sendable, Hashable {
        /// The executor's state.
        public var executor: ExecutorState
        /// `ok`, or the error code the store answered a write with (`STORE_FAILED`, `TIMEOUT`, …), or `none`
        /// when no store was given.
        public var store: String
        /// Both checks passed.
        public var isReady: Bool { executor == .running && (store == "ok" || store == "none") }
    }

    private let state = Mutex<ExecutorState>(.notStarted)
    private let store: (any TaskStore)?
    private let logger: Logger

    /// The most a store check may take before the server counts as not ready.
    public let storeCheckTimeout: Duration

    /// Creates the readiness of a server whose executor writes to `store` (the same store the executor was
    /// given; `nil` skips the store check).
    public init(store: (any TaskStore)?, storeCheckTimeout: Duration = .seconds(2), logger: Logger = Logger(label: "backup-server.health")) {
        self.store = store
        self.storeCheckTimeout = storeCheckTimeout
        self.logger = logger
    }

    /// The executor's state now.
    public var executorState: ExecutorState { state.withLock { $0 } }

    /// Runs `executor` (its `run()`), reporting it running until graceful shutdown begins or `run()` returns.
    public func run(_ executor: BackupExecutor) async throws {
        state.withLock { $0 = .running }
        defer { state.withLock { $0 = .stopped } }
        try await withGracefulShutdownHandler {
            try await executor.run()
        } onGracefulShutdown: {
            self.markShuttingDown()
        }
    }

    /// Runs `executor` while `body` runs (as `BackupExecutor.withRunning`), observing its state.
    public func withRunning<T: Sendable>(_ executor: BackupExecutor, _ body: () async throws -> T) async throws -> T {
        // Running from here on: tasks submitted before the child task gets to `run()` wait `pending` and
        // start with it.
        state.withLock { $0 = .running }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run(executor) }
            do {
                let value = try await body()
                markShuttingDown()
                executor.shutdown()
                try await group.waitForAll()
                return value
            } catch {
                markShuttingDown()
                executor.shutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    private func markShuttingDown() {
        state.withLock { if $0 == .running || $0 == .notStarted { $0 = .shuttingDown } }
    }

    /// Checks the executor and the store now.
    public func check() async -> Report {
        let executor = executorState
        guard let store else { return Report(executor: executor, store: "none") }
        let outcome = await Self.probe(store, timeout: storeCheckTimeout)
        if outcome != "ok" {
            logger.warning("readiness: the task store refuses writes", metadata: ["store": "\(outcome)"])
        }
        return Report(executor: executor, store: outcome)
    }

    /// A write that changes nothing, within `timeout`: "ok" or the error's code. A store that hangs is
    /// not waited for beyond `timeout` (its call is cancelled and left to end on its own).
    private static func probe(_ store: any TaskStore, timeout: Duration) async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let answer = AnswerOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                answer.resume("TIMEOUT")
            }
            Task {
                let outcome: String
                do {
                    _ = try await store.prune(RetentionPolicy(), now: Date())
                    outcome = "ok"
                } catch {
                    outcome = BackupError.wrapping(error).code.rawValue
                }
                timer.cancel()
                answer.resume(outcome)
            }
        }
    }
}

/// Resumes a continuation once; later answers are dropped.
private final class AnswerOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<String, Never>?>

    init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = Mutex(continuation) }

    func resume(_ value: String) {
        let waiting = continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        waiting?.resume(returning: value)
    }
}

/// The executor as a service of ``BackupServer``'s group, observed by a ``ServerReadiness``.
struct ObservedExecutorService: Service {
    let executor: BackupExecutor
    let readiness: ServerReadiness

    func run() async throws { try await readiness.run(executor) }
}
