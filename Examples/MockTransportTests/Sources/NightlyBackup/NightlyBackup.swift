import BackupExecutor
import BackupModels
import Logging

/// Something the on-call engineer should look at after the nightly backup.
public struct Alert: Sendable, Hashable, CustomStringConvertible {
    /// Why the alert was raised.
    public enum Kind: String, Sendable, Hashable {
        /// The device could not be backed up (the code says why).
        case backupFailed = "backup_failed"
        /// The device's configuration changed since its last successful backup.
        case configDrift = "config_drift"
        /// The maintenance window closed before the device was backed up.
        case windowClosed = "window_closed"
    }

    /// Why the alert was raised.
    public var kind: Kind
    /// The device's name.
    public var device: String
    /// The error code, for failures (`AUTH_FAILED`, `MAX_RETRIES_EXCEEDED`, …).
    public var code: BackupError.Code?
    /// A sentence for the pager.
    public var detail: String

    /// Creates an alert.
    public init(kind: Kind, device: String, code: BackupError.Code? = nil, detail: String) {
        self.kind = kind
        self.device = device
        self.code = code
        self.detail = detail
    }

    /// `kind device [code]: detail`.
    public var description: String {
        "\(kind.rawValue) \(device)\(code.map { " [\($0)]" } ?? ""): \(detail)"
    }
}

/// Where alerts go: a chat channel, a pager, a ticket system.
public protocol AlertSink: Sendable {
    /// Delivers the alerts of one night (never called with an empty list).
    func send(_ alerts: [Alert]) async throws
}

/// What one night's run did.
public struct NightlyReport: Sendable {
    /// The backup task as it finished.
    public var task: BackupTask
    /// The alerts that were sent.
    public var alerts: [Alert]
    /// Whether the maintenance window closed before the task finished (the task was then cancelled).
    public var windowClosed: Bool
}

/// The nightly job: back up every online device within a maintenance window, then alert on failures and
/// on configuration drift.
///
/// It is the kind of code a team writes on top of DeviceBackup. It receives the ``BackupExecutor`` (and a
/// clock for its window) instead of creating them, so its tests can hand it an executor built on
/// `BackupTestKit`'s `MockTransport` and `ManualClock`.
public struct NightlyBackup<C: Clock>: Sendable where C.Duration == Duration {
    /// The executor that runs the backups.
    public var executor: BackupExecutor
    /// Where alerts go.
    public var alerts: any AlertSink
    /// The clock the maintenance window is measured on.
    public var clock: C
    /// How long the night's backup may take; devices still running then are cancelled.
    public var window: Duration
    /// Per-device limit of one attempt, in seconds (60–3600).
    public var deviceTimeout: Int
    /// Retries after a failed attempt (0–5).
    public var retries: Int
    /// Devices backed up at once (1–10).
    public var maxConcurrent: Int
    /// Where the job logs.
    public var logger: Logger

    /// Creates the job.
    public init(
        executor: BackupExecutor, alerts: any AlertSink, clock: C, window: Duration = .seconds(2 * 3600),
        deviceTimeout: Int = 300, retries: Int = 2, maxConcurrent: Int = 5,
        logger: Logger = Logger(label: "nightly-backup")
    ) {
        self.executor = executor
        self.alerts = alerts
        self.clock = clock
        self.window = window
        self.deviceTimeout = deviceTimeout
        self.retries = retries
        self.maxConcurrent = maxConcurrent
        self.logger = logger
    }

    /// Starts (or, for a night that already has one, finds) the night's backup task.
    ///
    /// - Parameter night: the night's date, such as `2026-11-29`; the idempotency key, so that a cron job
    ///   that fires twice starts one backup.
    public func start(night: String) async throws -> BackupTask {
        let filter = try BackupFilter(
            filterStatus: .online, asyncExecute: true, notifyOnComplete: true, priority: .low,
            maxConcurrent: maxConcurrent, timeout: deviceTimeout, retryCount: retries)
        let task = try await executor.submit(filter, createdBy: "nightly-backup", idempotencyKey: "nightly-\(night)")
        logger.info("nightly backup started", metadata: ["task_id": "\(task.taskID)", "devices": "\(task.total)"])
        return task
    }

    /// Waits for the task until the maintenance window closes (cancelling it then), sends the alerts and
    /// returns the report.
    public func finish(_ started: BackupTask) async throws -> NightlyReport {
        let executor = self.executor
        let (window, clock) = (self.window, self.clock)
        let finished: BackupTask? = try await withThrowingTaskGroup(of: BackupTask?.self) { group in
            group.addTask { try await executor.waitForCompletion(of: started.taskID) }
            group.addTask {
                try await clock.sleep(for: window)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let task: BackupTask
        let windowClosed: Bool
        if let finished {
            (task, windowClosed) = (finished, false)
        } else {
            logger.warning("maintenance window closed; cancelling the backup", metadata: ["task_id": "\(started.taskID)"])
            do {
                (task, windowClosed) = (try await executor.cancel(taskID: started.taskID), true)
            } catch let error as BackupError where error.code == .taskAlreadyFinished {
                // It finished just as the window closed.
                (task, windowClosed) = (try await executor.waitForCompletion(of: started.taskID), false)
            }
        }

        let alerts = try await alerts(for: task, windowClosed: windowClosed)
        if !alerts.isEmpty { try await self.alerts.send(alerts) }
        logger.info("nightly backup finished", metadata: [
            "task_id": "\(task.taskID)", "status": "\(task.status.rawValue)", "ok": "\(task.successCount)",
            "failed": "\(task.failedCount)", "alerts": "\(alerts.count)",
        ])
        return NightlyReport(task: task, alerts: alerts, windowClosed: windowClosed)
    }

    /// ``start(night:)`` then ``finish(_:)``.
    public func run(night: String) async throws -> NightlyReport {
        try await finish(try await start(night: night))
    }

    private func alerts(for task: BackupTask, windowClosed: Bool) async throws -> [Alert] {
        var alerts: [Alert] = []
        for result in task.results.sorted(by: { $0.deviceName < $1.deviceName }) {
            if !result.success {
                if windowClosed && result.errorCode == .cancelled {
                    alerts.append(Alert(kind: .windowClosed, device: result.deviceName, code: result.errorCode,
                                        detail: "not backed up before the maintenance window closed"))
                } else {
                    let cause = result.causeCode.map { " (last error \($0))" } ?? ""
                    alerts.append(Alert(kind: .backupFailed, device: result.deviceName, code: result.errorCode,
                                        detail: "\(result.errorMessage ?? "failed")\(cause) after \(result.attempts) attempt(s)"))
                }
            } else if result.changed == true, try await hadEarlierBackup(result.deviceID, before: task.taskID) {
                // The first backup of a device is "changed" too; drift means it changed since an earlier one.
                alerts.append(Alert(kind: .configDrift, device: result.deviceName,
                                    detail: "configuration changed (now \(result.configID?.prefix(12) ?? "?"))"))
            }
        }
        return alerts
    }

    private func hadEarlierBackup(_ device: DeviceID, before taskID: String) async throws -> Bool {
        try await executor.history(deviceID: device, limit: 10).contains { $0.taskID != taskID && $0.result.success }
    }
}
