import Synchronization

/// An error from backing up a device or running a task.
///
/// `BackupError` is a struct around an extensible ``Code``: new codes can be added (by this library or by
/// users' own transports and archives) without breaking anyone's `switch`. Each code says whether it is
/// worth retrying. Messages say what went wrong and what to do; they never contain secrets.
public struct BackupError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// A stable, machine-readable error code, such as `AUTH_FAILED`.
    public struct Code: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The wire name (`error_code`).
        public let rawValue: String

        /// Creates a code. Codes not known to the library are not retryable unless registered with
        /// ``init(_:retryable:)``.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.init(value) }

        /// Creates a custom code and records whether it is retryable.
        public init(_ rawValue: String, retryable: Bool) {
            self.rawValue = rawValue
            if retryable { _ = Self.customRetryable.withLock { $0.insert(rawValue) } }
        }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// Whether a failed attempt with this code is worth another attempt after a backoff.
        ///
        /// Connection problems and timeouts are retryable; wrong credentials, host key problems,
        /// cancellation and local failures are not (retrying a wrong password only locks accounts).
        public var isRetryable: Bool {
            if Self.retryableCodes.contains(rawValue) { return true }
            return Self.customRetryable.withLock { $0.contains(rawValue) }
        }

        private static let retryableCodes: Set<String> = [
            "CONNECTION_REFUSED", "CONNECTION_TIMEOUT", "CONNECTION_LOST", "HOST_UNREACHABLE", "PROMPT_NOT_FOUND",
            "COMMAND_TIMEOUT", "TRUNCATED_CONFIG", "DEVICE_TIMEOUT",
        ]
        private static let customRetryable = LockedSet()

        /// The server rejected the credentials (or offered no method we can use). Not retried.
        public static let authFailed: Code = "AUTH_FAILED"
        /// Nothing listens on the port. Retried.
        public static let connectionRefused: Code = "CONNECTION_REFUSED"
        /// TCP connect or the SSH handshake did not finish in time. Retried.
        public static let connectionTimeout: Code = "CONNECTION_TIMEOUT"
        /// An established session broke (reset, EOF mid-output). Retried.
        public static let connectionLost: Code = "CONNECTION_LOST"
        /// The name does not resolve or the network is unreachable. Retried.
        public static let hostUnreachable: Code = "HOST_UNREACHABLE"
        /// The server's host key differs from the known one: possible attack. Never retried.
        public static let hostKeyMismatch: Code = "HOST_KEY_MISMATCH"
        /// Strict host key checking and the host is not in known_hosts. Not retried.
        public static let hostKeyUnknown: Code = "HOST_KEY_UNKNOWN"
        /// The device's CLI prompt never appeared. Retried.
        public static let promptNotFound: Code = "PROMPT_NOT_FOUND"
        /// A command was rejected by the device or exited non-zero. Not retried.
        public static let commandFailed: Code = "COMMAND_FAILED"
        /// A command produced no further output within its idle timeout. Retried.
        public static let commandTimeout: Code = "COMMAND_TIMEOUT"
        /// The configuration looked cut short (failed the profile's truncation guard). Retried.
        public static let truncatedConfig: Code = "TRUNCATED_CONFIG"
        /// The whole attempt exceeded the per-device timeout. Retried.
        public static let deviceTimeout: Code = "DEVICE_TIMEOUT"
        /// The device is not in the inventory (any more). Not retried.
        public static let deviceNotFound: Code = "DEVICE_NOT_FOUND"
        /// The vendor profile named by the device does not exist. Not retried.
        public static let unknownVendor: Code = "UNKNOWN_VENDOR"
        /// The task was cancelled before this device finished. Not retried.
        public static let cancelled: Code = "CANCELLED"
        /// Every attempt failed with a retryable error; ``BackupError/cause`` names the last one.
        public static let maxRetriesExceeded: Code = "MAX_RETRIES_EXCEEDED"
        /// The task store could not record a change. Not retried.
        public static let storeFailed: Code = "STORE_FAILED"
        /// The config archive could not store a config. Not retried.
        public static let archiveFailed: Code = "ARCHIVE_FAILED"
        /// A task-level error: the configs were stored, but the version-controlled archive could not commit
        /// them (no `git_commit_id` in the results). The files stay on disk and the next task that commits
        /// takes them along. Not retried.
        public static let archiveCommitFailed: Code = "ARCHIVE_COMMIT_FAILED"
        /// The idempotency key was used before with a different request; nothing was submitted. Not retried.
        public static let idempotencyConflict: Code = "IDEMPOTENCY_CONFLICT"
        /// The request was invalid (bad filter, unknown task, finished task). Not retried.
        public static let invalidRequest: Code = "INVALID_REQUEST"
        /// No task has the given id. Not retried.
        public static let taskNotFound: Code = "TASK_NOT_FOUND"
        /// The task has already finished (it cannot be cancelled any more). Not retried.
        public static let taskAlreadyFinished: Code = "TASK_ALREADY_FINISHED"
        /// The executor is shutting down and takes no new work. Not retried.
        public static let shuttingDown: Code = "SHUTTING_DOWN"
        /// An unexpected error: a bug or an error type this library does not know. Not retried.
        public static let `internal`: Code = "INTERNAL"

        /// Every code the library itself produces.
        public static let builtIn: [Code] = [
            .authFailed, .connectionRefused, .connectionTimeout, .connectionLost, .hostUnreachable,
            .hostKeyMismatch, .hostKeyUnknown, .promptNotFound, .commandFailed, .commandTimeout,
            .truncatedConfig, .deviceTimeout, .deviceNotFound, .unknownVendor, .cancelled,
            .maxRetriesExceeded, .storeFailed, .archiveFailed, .archiveCommitFailed, .idempotencyConflict, .invalidRequest, .taskNotFound, .taskAlreadyFinished,
            .shuttingDown, .internal,
        ]
    }

    /// What kind of error this is.
    public var code: Code
    /// What went wrong, in words (never containing secrets).
    public var message: String
    /// What the user can do about it, when there is something to say.
    public var hint: String?
    /// For ``Code/maxRetriesExceeded``: the code of the last attempt's error.
    public var cause: Code?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the machine-readable code.
    ///   - message: what went wrong, for people; never put a secret in it.
    ///   - hint: what the user can do about it.
    ///   - cause: for ``Code/maxRetriesExceeded``, the code of the last attempt's error.
    public init(_ code: Code, _ message: String, hint: String? = nil, cause: Code? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
        self.cause = cause
    }

    /// Whether another attempt could succeed.
    public var isRetryable: Bool { code.isRetryable }

    public var description: String {
        var text = "[\(code.rawValue)] \(message)"
        if let cause { text += " (last error: \(cause.rawValue))" }
        if let hint { text += " — \(hint)" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case code = "error_code"
        case message = "error_message"
        case hint
        case cause = "cause_code"
    }

    /// Wraps any error as a `BackupError`: a `BackupError` is returned as it is, `CancellationError`
    /// becomes ``Code/cancelled``, anything else ``Code/internal`` with the error's description.
    public static func wrapping(_ error: any Error) -> BackupError {
        if let error = error as? BackupError { return error }
        if error is CancellationError { return BackupError(.cancelled, "The operation was cancelled.") }
        return BackupError(
            .internal, "Unexpected error: \(String(describing: error))",
            hint: "This is a bug or an unsupported error type; please report it with the log.")
    }
}


final class LockedSet: Sendable {
    private let storage = Mutex<Set<String>>([])
    func withLock<T>(_ body: (inout Set<String>) -> T) -> T { storage.withLock { body(&$0) } }
}
