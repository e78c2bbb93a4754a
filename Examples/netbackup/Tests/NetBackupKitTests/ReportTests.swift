import BackupModels
import Foundation
import NetBackupKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Reports and exit codes")
struct ReportTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    func result(_ id: Int, success: Bool, code: BackupError.Code? = nil, changed: Bool? = nil, commit: String? = nil) -> DeviceBackupResult {
        DeviceBackupResult(
            deviceID: DeviceID(id), deviceName: "r\(id)", success: success, configID: success ? "c\(id)" : nil, gitCommitID: commit,
            changed: changed, errorCode: code, errorMessage: code.map { "\($0.rawValue) happened" }, finishedAt: now)
    }

    func task(_ results: [DeviceBackupResult], status: BackupTaskStatus, total: Int? = nil, error: BackupError? = nil) throws -> BackupTask {
        let total = total ?? results.count
        let ok = results.filter(\.success).count
        let summary = BackupTaskSummary(
            taskID: "t-1", status: status, total: total, completed: results.count, successCount: ok, failedCount: results.count - ok,
            message: "Backed up \(ok) of \(total) devices.", createdAt: now, priority: .normal, filter: .default, error: error)
        return BackupTask(summary: summary, devices: (1...total).map { DeviceRef(id: DeviceID($0), name: "r\($0)", vendor: "linux") }, results: results)
    }

    @Test("cancelled devices are counted apart from failed ones, in the text and the JSON report")
    func cancelledApart() throws {
        let results = [
            result(1, success: true, changed: true, commit: "abc"), result(2, success: false, code: .authFailed),
            result(3, success: false, code: .cancelled), result(4, success: false, code: .cancelled),
        ]
        let report = BackupReport(BackupRunOutcome(task: try task(results, status: .cancelled), signal: SIGINT), archive: "/a")
        #expect(report.summary.succeeded == 1 && report.summary.failed == 1 && report.summary.cancelled == 2)
        #expect(report.text.contains("Devices: 1 ok, 1 failed, 2 cancelled (of 4)"), "\(report.text)")
        #expect(report.text.contains("Failed devices:\n  r2 (id 2)  AUTH_FAILED"))
        #expect(!report.text.contains("r3 (id 3)"), "cancelled devices are not listed as failed")
        #expect(report.text.contains("Interrupted by SIGINT"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(json["task_id"] as? String == "t-1", "the task's wire format is kept")
        let summary = try #require(json["report"] as? [String: Any])
        #expect(summary["failed"] as? Int == 1 && summary["cancelled"] as? Int == 2 && summary["succeeded"] as? Int == 1)
        #expect(summary["exit_status"] as? Int == 130)
    }

    @Test("after a resume the report counts this run only and never claims the earlier run's commit")
    func resumedReport() throws {
        let earlier = [result(1, success: true, changed: true, commit: "old"), result(2, success: true, changed: true, commit: "old")]
        let now = [result(3, success: true, changed: true, commit: "new"), result(4, success: true, changed: false)]
        // Device 5's config was left uncommitted by the earlier run; this run's commit took it along.
        let leftover = result(5, success: true, changed: true)
        var leftoverNow = leftover
        leftoverNow.gitCommitID = "new"
        let outcome = BackupRunOutcome(
            task: try task(earlier + now + [leftoverNow], status: .completed),
            earlierResults: Dictionary(uniqueKeysWithValues: (earlier + [leftover]).map { ($0.deviceID, $0) }))
        let report = BackupReport(outcome, archive: "/a")
        #expect(report.summary.earlierResults == 3)
        #expect(report.summary.succeeded == 2 && report.summary.changed == 1)
        #expect(report.summary.commits == ["new"])
        #expect(report.summary.committed == 2)
        #expect(report.text.contains("Configs: /a — 1 changed, 2 committed in new"), "\(report.text)")
        #expect(!report.text.contains("old"))
        #expect(report.text.contains("3 more done by an earlier run"))
    }

    @Test("a failed commit is prominent and exits 3; signals take precedence; exit codes are documented")
    func failedCommit() throws {
        let error = BackupError(.archiveCommitFailed, "The configs were saved but the archive could not commit them: index.lock", hint: "Remove .git/index.lock.")
        let failed = try task([result(1, success: true, changed: true), result(2, success: false, code: .authFailed)], status: .partial, error: error)
        let report = BackupReport(BackupRunOutcome(task: failed), archive: "/a")
        #expect(report.summary.exitStatus == 3)
        #expect(report.text.contains("ARCHIVE COMMIT FAILED [ARCHIVE_COMMIT_FAILED]"))
        #expect(report.text.contains("What to do: Remove .git/index.lock."))
        #expect(report.text.contains("Configs: /a — 1 changed, nothing committed"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        let commitError = try #require((json["report"] as? [String: Any])?["commit_error"] as? [String: Any])
        #expect(commitError["error_code"] as? String == "ARCHIVE_COMMIT_FAILED")
        #expect(ExitStatus.forRun(failed, signal: SIGTERM) == .terminated)
        #expect(ExitStatus.forRun(failed, signal: SIGHUP).rawValue == 129)
        #expect(ExitStatus.forRun(try task([result(1, success: true)], status: .completed), signal: nil) == .success)
        for status in ExitStatus.allCases { #expect(ExitStatus.summary.contains("\(status.rawValue)"), "\(status) documented") }
        // The README documents every exit code too.
        let readme = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../README.md").standardizedFileURL.path, encoding: .utf8)
        for status in ExitStatus.allCases { #expect(readme.contains("`\(status.rawValue)`"), "README documents \(status.rawValue)") }
    }

    @Test("a long list of failures is cut short in the text")
    func longFailureList() throws {
        let results = (1...150).map { result($0, success: false, code: .connectionRefused) }
        let report = BackupReport(BackupRunOutcome(task: try task(results, status: .failed)), archive: nil)
        #expect(report.text.contains("… and 50 more (netbackup tasks show t-1 --json lists them all)"))
        #expect(report.text.split(separator: "\n").count < 110)
    }
}
