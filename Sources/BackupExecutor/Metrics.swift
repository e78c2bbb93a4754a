import BackupModels
import Metrics
import Synchronization

/// The executor's swift-metrics instruments, created once and cached by dimension.
///
/// - `devicebackup_device_duration_seconds` (timer): time per device, backoff included;
/// - `devicebackup_device_results_total` (counter, `result`=success|failure, `code`=error code);
/// - `devicebackup_attempts_total` (counter): attempts made;
/// - `devicebackup_sessions_in_flight` (meter): device sessions open right now;
/// - `devicebackup_tasks_finished_total` (counter, `status`).
final class ExecutorMetrics: Sendable {
    private let factory: any MetricsFactory
    private let duration: Metrics.Timer
    private let attempts: Counter
    private let inFlight: Meter
    private let success: Counter
    private let failures = Mutex<[String: Counter]>([:])
    private let tasks = Mutex<[String: Counter]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        duration = Metrics.Timer(label: "devicebackup_device_duration_seconds", dimensions: [], factory: factory)
        attempts = Counter(label: "devicebackup_attempts_total", dimensions: [], factory: factory)
        inFlight = Meter(label: "devicebackup_sessions_in_flight", dimensions: [], factory: factory)
        success = Counter(label: "devicebackup_device_results_total", dimensions: [("result", "success")], factory: factory)
    }

    func sessionOpened() { inFlight.increment() }
    func sessionClosed() { inFlight.decrement() }
    func attemptStarted() { attempts.increment() }

    func deviceFinished(_ result: DeviceBackupResult, seconds: Double) {
        duration.recordNanoseconds(Int64(seconds * 1e9))
        if result.success {
            success.increment()
        } else {
            let code = result.errorCode?.rawValue ?? "UNKNOWN"
            let counter = failures.withLock { counters in
                if let counter = counters[code] { return counter }
                let counter = Counter(label: "devicebackup_device_results_total", dimensions: [("result", "failure"), ("code", code)], factory: factory)
                counters[code] = counter
                return counter
            }
            counter.increment()
        }
    }

    func taskFinished(_ status: BackupTaskStatus) {
        let counter = tasks.withLock { counters in
            if let counter = counters[status.rawValue] { return counter }
            let counter = Counter(label: "devicebackup_tasks_finished_total", dimensions: [("status", status.rawValue)], factory: factory)
            counters[status.rawValue] = counter
            return counter
        }
        counter.increment()
    }
}
