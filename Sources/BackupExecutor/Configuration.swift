public import BackupModels
public import DeviceTransport

/// What the executor does with tasks that a previous process left `pending` or `running`.
public enum RecoveryPolicy: Sendable, Hashable {
    /// Run the devices that have no final result yet, under the same task id.
    case resume
    /// End such tasks `failed` with error `INTERRUPTED`; their finished results are kept.
    case markFailed
    /// Leave them as they are; resume them one by one with ``BackupExecutor/resume(taskID:)`` (what a
    /// command-line tool that runs one task at a time wants).
    case manual
}

/// Settings of a ``BackupExecutor``; every field has a sensible default.
public struct BackupExecutorConfiguration: Sendable {
    /// The allowed filter ranges. The seed's policy by default; widen `maxConcurrent` for large fleets.
    public var policy: BackupPolicy
    /// The most device sessions open at once across all tasks.
    public var maxConcurrentSessions: Int
    /// Backoff between attempts.
    public var retryStrategy: RetryStrategy
    /// How host keys are checked on every connection.
    public var hostKeyPolicy: HostKeyPolicy
    /// Transport time limits (connect, authentication, idle read).
    public var transportTimeouts: TransportTimeouts
    /// Events buffered per subscriber before the oldest are dropped.
    public var eventBufferLimit: Int
    /// What to do with interrupted tasks found when ``BackupExecutor/run()`` starts.
    public var recovery: RecoveryPolicy
    /// On graceful shutdown, how long running devices may go on before they are cancelled. Their tasks
    /// stay unfinished and are recovered (per ``recovery``) on the next start.
    public var shutdownGracePeriod: Duration
    /// How long storing one fetched config in the archive may take (a hung disk or file system). Past it
    /// the device fails with `ARCHIVE_FAILED` and the executor stops waiting, so a task never stays
    /// `running` because of the archive. Commits at the end of a task are bounded by the archive itself
    /// (`GitArchive`'s per-command timeout).
    public var archiveTimeout: Duration

    /// Creates a configuration; every parameter has a default.
    ///
    /// - Parameters:
    ///   - policy: the allowed ranges of submitted filters.
    ///   - maxConcurrentSessions: the most sessions open at once across all tasks (positive).
    ///   - retryStrategy: the backoff between attempts.
    ///   - hostKeyPolicy: strict checking against `~/.ssh/known_hosts` by default.
    ///   - transportTimeouts: connect, authentication and idle-read limits.
    ///   - eventBufferLimit: events buffered per subscriber before the oldest are dropped.
    ///   - recovery: what to do with tasks a previous process left unfinished.
    ///   - shutdownGracePeriod: how long running devices may go on after a graceful shutdown began.
    ///   - archiveTimeout: how long storing one config in the archive may take (positive).
    public init(
        policy: BackupPolicy = .default,
        maxConcurrentSessions: Int = 50,
        retryStrategy: RetryStrategy = .exponential,
        hostKeyPolicy: HostKeyPolicy = .strict(knownHostsFile: BackupExecutorConfiguration.defaultKnownHostsFile),
        transportTimeouts: TransportTimeouts = .init(),
        eventBufferLimit: Int = 4096,
        recovery: RecoveryPolicy = .resume,
        shutdownGracePeriod: Duration = .seconds(30),
        archiveTimeout: Duration = .seconds(120)
    ) {
        precondition(maxConcurrentSessions > 0, "maxConcurrentSessions must be positive")
        precondition(archiveTimeout > .zero, "archiveTimeout must be positive")
        self.policy = policy
        self.maxConcurrentSessions = maxConcurrentSessions
        self.retryStrategy = retryStrategy
        self.hostKeyPolicy = hostKeyPolicy
        self.transportTimeouts = transportTimeouts
        self.eventBufferLimit = eventBufferLimit
        self.recovery = recovery
        self.shutdownGracePeriod = shutdownGracePeriod
        self.archiveTimeout = archiveTimeout
    }

    /// `~/.ssh/known_hosts` of the current user.
    public static var defaultKnownHostsFile: String {
        let home = ProcessEnvironment.value("HOME") ?? "/root"
        return home + "/.ssh/known_hosts"
    }
}

extension BackupError.Code {
    /// A task was found unfinished after a restart and the executor was configured to fail such tasks.
    public static let interrupted: BackupError.Code = "INTERRUPTED"
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum ProcessEnvironment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}
