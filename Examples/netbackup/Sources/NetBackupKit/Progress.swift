public import BackupModels
import Foundation

/// Renders a task's progress for a terminal (one line redrawn in place) or for logs (plain lines).
public struct ProgressRenderer: Sendable {
    /// Whether output goes to a terminal (redraw with `\r`) or a file/pipe (plain lines).
    public var interactive: Bool
    /// Width of the bar in characters.
    public var barWidth: Int

    public init(interactive: Bool, barWidth: Int = 24) {
        self.interactive = interactive
        self.barWidth = barWidth
    }

    /// The status line: bar, done/total, ok/failed, rate, ETA.
    public func statusLine(_ progress: BackupProgress, elapsed: Double) -> String {
        let fraction = progress.total == 0 ? 1 : Double(progress.completed) / Double(progress.total)
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled)
        let rate = elapsed > 0 ? Double(progress.completed) / elapsed : 0
        var line = "[\(bar)] \(progress.completed)/\(progress.total)  ok \(progress.successCount)  failed \(progress.failedCount)"
        line += String(format: "  %.1f/s", rate)
        if rate > 0 && progress.completed < progress.total {
            line += "  ETA " + Self.clock(Double(progress.total - progress.completed) / rate)
        } else {
            line += "  " + Self.clock(elapsed)
        }
        return line
    }

    /// What to write for an event: for a terminal, a redraw of the status line (and failures on their
    /// own lines); for logs, a line per failed device and a status line per 10 % of progress.
    public func render(_ event: BackupEvent, elapsed: Double, lastReportedDecile: inout Int) -> String {
        var out = ""
        if case .deviceFinished(let result) = event.kind, !result.success {
            let line = "FAILED \(result.deviceName) (\(result.deviceID)): \(result.errorCode?.rawValue ?? "?") \(result.errorMessage ?? "")"
            out += interactive ? "\r\u{1B}[2K" + line + "\n" : line + "\n"
        }
        let status = statusLine(event.progress, elapsed: elapsed)
        if interactive {
            switch event.kind {
            case .deviceFinished, .snapshot, .taskStarted, .taskResumed, .taskFinished, .eventsDropped:
                out += "\r\u{1B}[2K" + status
                if event.isTerminal { out += "\n" }
            default: break
            }
        } else {
            let decile = event.progress.total == 0 ? 10 : event.progress.completed * 10 / event.progress.total
            if decile > lastReportedDecile || (event.isTerminal && lastReportedDecile < 10) {
                lastReportedDecile = decile
                out += status + "\n"
            }
        }
        return out
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}

/// netbackup's exit codes (for cron and CI); `netbackup --help` and the README list them.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Every device was backed up (and the archive committed what changed).
    case success = 0
    /// Some or all devices failed (task `partial` or `failed`), or the run itself failed (e.g. the task store).
    case someFailed = 1
    /// Bad usage or invalid input — unknown option, bad value, invalid inventory, unknown vendor, a store, archive or
    /// file path that cannot be used, an idempotency key reused for another request. Nothing was backed up.
    case usage = 2
    /// Configs were fetched and written to the archive, but the git commit failed: they are not in the history
    /// yet (the next backup commits them). Takes precedence over 1.
    case commitFailed = 3
    /// Interrupted by SIGHUP (terminal closed): the task was cancelled and can be resumed.
    case hangup = 129
    /// Interrupted by Ctrl-C (SIGINT): the task was cancelled and can be resumed.
    case interrupted = 130
    /// Interrupted by SIGTERM: the task was cancelled and can be resumed.
    case terminated = 143

    /// The exit status for a finished task.
    public static func forTask(_ status: BackupTaskStatus) -> ExitStatus {
        switch status {
        case .completed: .success
        case .cancelled: .interrupted
        case .partial, .failed, .pending, .running: .someFailed
        }
    }

    /// The exit status of a run: the signal that interrupted it (128 + its number), else 3 when the archive commit
    /// failed, else by the task's status.
    public static func forRun(_ task: BackupTask, signal: Int32?) -> ExitStatus {
        if let signal, let status = ExitStatus(rawValue: 128 + signal) { return status }
        if task.error?.code == .archiveCommitFailed { return .commitFailed }
        return forTask(task.status)
    }

    /// One line per exit status, for `--help` and the README.
    public static var summary: String {
        """
        0 every device backed up; 1 some or all devices failed; 2 bad usage or invalid input (nothing was backed \
        up); 3 configs fetched but the archive commit failed (the next backup commits them); 129/130/143 \
        interrupted by SIGHUP/Ctrl-C/SIGTERM (the task is cancelled and can be resumed with 'netbackup tasks resume').
        """
    }
}
