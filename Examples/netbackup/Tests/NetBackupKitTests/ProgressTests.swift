import BackupModels
import Foundation
import NetBackupKit
import Testing

@Suite("Progress output")
struct ProgressTests {
    func event(_ completed: Int, of total: Int, failed: Int = 0, kind: BackupEvent.Kind) -> BackupEvent {
        BackupEvent(taskID: "t", sequence: UInt64(completed), timestamp: Date(), progress: BackupProgress(total: total, completed: completed, successCount: completed - failed, failedCount: failed), kind: kind)
    }

    @Test("the status line shows the bar, counts, rate and ETA")
    func statusLine() {
        let renderer = ProgressRenderer(interactive: true, barWidth: 10)
        let line = renderer.statusLine(BackupProgress(total: 100, completed: 50, successCount: 48, failedCount: 2), elapsed: 10)
        #expect(line == "[#####.....] 50/100  ok 48  failed 2  5.0/s  ETA 0:10")
        let done = renderer.statusLine(BackupProgress(total: 4, completed: 4, successCount: 4), elapsed: 125)
        #expect(done.hasSuffix("2:05"))
    }

    @Test("logs get a line per failure and per 10 %; terminals a redrawn line")
    func modes() {
        let failure = DeviceBackupResult(deviceID: 3, deviceName: "r3", success: false, errorCode: .authFailed, errorMessage: "denied", finishedAt: Date())
        var decile = 0
        let plain = ProgressRenderer(interactive: false)
        let out = plain.render(event(1, of: 5, failed: 1, kind: .deviceFinished(failure)), elapsed: 1, lastReportedDecile: &decile)
        #expect(out.hasPrefix("FAILED r3 (3): AUTH_FAILED denied\n"))
        #expect(out.contains("1/5"))
        #expect(decile == 2)
        let quiet = plain.render(event(1, of: 5, failed: 1, kind: .deviceStarted(DeviceRef(id: 4, name: "r4", vendor: "v"), attempt: 1)), elapsed: 1, lastReportedDecile: &decile)
        #expect(quiet.isEmpty)
        var d2 = 0
        let tty = ProgressRenderer(interactive: true).render(event(2, of: 5, kind: .deviceFinished(DeviceBackupResult(deviceID: 1, deviceName: "r1", success: true, finishedAt: Date()))), elapsed: 1, lastReportedDecile: &d2)
        #expect(tty.hasPrefix("\r\u{1B}[2K["))
        #expect(!tty.hasSuffix("\n"))
    }

    @Test("exit codes follow the task's status")
    func exitCodes() {
        #expect(ExitStatus.forTask(.completed).rawValue == 0)
        #expect(ExitStatus.forTask(.partial).rawValue == 1)
        #expect(ExitStatus.forTask(.failed).rawValue == 1)
        #expect(ExitStatus.forTask(.cancelled).rawValue == 130)
    }
}
