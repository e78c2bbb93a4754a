import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `netbackup` process started in the background, with its output collected.
final class BackgroundRun: @unchecked Sendable {
    let process = Process()
    private let err = Pipe()
    private let out = Pipe()
    private let lock = NSLock()
    private var stderrText = ""
    private var stdoutData = Data()
    private var readers: [Thread] = []
    private let done = DispatchSemaphore(value: 0)

    init(cli: NetBackupCLI, arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: cli.path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = err
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errReader = Thread { [self] in
            let handle = err.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { stderrText += String(decoding: chunk, as: UTF8.self) }
            }
            done.signal()
        }
        let outReader = Thread { [self] in
            let data = out.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { stdoutData = data }
            done.signal()
        }
        errReader.start()
        outReader.start()
    }

    var stderr: String { lock.withLock { stderrText } }

    /// Waits (up to a minute) until stderr shows `anyOf` one of the texts; `false` if the process ended first.
    func waitForStderr(anyOf texts: [String]) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = stderr
            if texts.contains(where: { text.contains($0) }) { return true }
            if !process.isRunning { return false }
            usleep(20_000)
        }
        return false
    }

    /// Waits for the process to exit; returns (status, stdout, stderr).
    func finish() -> (Int32, String, String) {
        process.waitUntilExit()
        done.wait()
        done.wait()
        return (process.terminationStatus, lock.withLock { String(decoding: stdoutData, as: UTF8.self) }, stderr)
    }
}

func git(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text.prefix(500))")
}

@Suite("netbackup signals, reports and failed commits", .serialized)
struct SignalAndReportTests {
    @Test("SIGTERM and SIGHUP mid-run cancel cleanly like Ctrl-C: exit 143/129, the task cancelled (not left running), what was stored committed, cancelled devices counted apart; resuming reports only its own commits", .timeLimit(.minutes(6)))
    func termAndHangup() throws {
        let cli = try NetBackupCLI()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-sig-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let simulator = try cli.startSimulator(devices: 16, latencyMilliseconds: 150, inventory: dir + "/inventory.json")
        defer { simulator.stop() }
        let env = ["NETBACKUP_HOME": dir + "/home"]
        let backup = ["backup", "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--max-concurrent", "1", "--retries", "0"]

        // SIGTERM after a device or two: exit 143, the task cancelled in the store and its configs committed.
        let term = try BackgroundRun(cli: cli, arguments: backup + ["--json"], environment: env)
        #expect(term.waitForStderr(anyOf: ["ok 1", "ok 2"]), "\(term.stderr.suffix(1000))")
        kill(term.process.processIdentifier, SIGTERM)
        let (termStatus, termOut, termErr) = term.finish()
        #expect(termStatus == 143, "\(termErr.suffix(1500))")
        #expect(termErr.contains("SIGTERM received"))
        let termTask = try jsonObject(termOut)
        #expect(termTask["status"] as? String == "cancelled")
        let termID = try #require(termTask["task_id"] as? String)
        let termReport = try #require(termTask["report"] as? [String: Any])
        let succeeded = try #require(termReport["succeeded"] as? Int)
        #expect(succeeded >= 1 && succeeded < 16)
        #expect(termReport["cancelled"] as? Int == 16 - succeeded, "cancelled devices are counted apart: \(termReport)")
        #expect(termReport["failed"] as? Int == 0, "no device failed; the cancelled ones are not failures: \(termReport)")
        #expect(termReport["interrupted_by"] as? String == "SIGTERM")
        #expect(termReport["exit_status"] as? Int == 143)
        let repo = dir + "/home/configs"
        let firstCommit = try git(["-C", repo, "rev-parse", "HEAD"])
        #expect(try git(["-C", repo, "rev-list", "--count", "HEAD"]) == "1", "what was stored before SIGTERM is committed")
        #expect(try git(["-C", repo, "status", "--porcelain"]).isEmpty, "nothing left uncommitted")
        let results = try #require(termTask["results"] as? [[String: Any]])
        #expect(results.filter { $0["success"] as? Bool == true }.allSatisfy { $0["git_commit_id"] as? String == firstCommit })
        let stored = try cli.run(["tasks", "list", "--status", "running", "--json"], environment: env)
        #expect(try jsonObject(stored.1)["total"] as? Int == 0, "no task is left running")

        // Resume it: the report counts only this run, and does not claim the first run's commit.
        let resumed = try cli.run(
            ["tasks", "resume", termID, "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--json"], environment: env)
        #expect(resumed.0 == 0, "\(resumed.2.suffix(1500))")
        let resumedTask = try jsonObject(resumed.1)
        #expect(resumedTask["status"] as? String == "completed")
        let resumedReport = try #require(resumedTask["report"] as? [String: Any])
        #expect(resumedReport["earlier_results"] as? Int == succeeded, "\(resumedReport)")
        #expect(resumedReport["succeeded"] as? Int == 16 - succeeded)
        #expect(resumedReport["changed"] as? Int == 16 - succeeded)
        #expect(resumedReport["committed"] as? Int == 16 - succeeded)
        let commits = try #require(resumedReport["commits"] as? [String])
        #expect(commits.count == 1 && !commits.contains(firstCommit), "only this run's commit: \(commits)")
        let text = try cli.run(["tasks", "show", termID], environment: env)
        #expect(text.1.contains("Devices: 16 ok, 0 failed, 0 cancelled"), "\(text.1)")

        // SIGHUP (terminal closed): exit 129, cancelled the same way.
        let hup = try BackgroundRun(cli: cli, arguments: backup, environment: env)
        #expect(hup.waitForStderr(anyOf: ["ok 1", "ok 2"]), "\(hup.stderr.suffix(1000))")
        kill(hup.process.processIdentifier, SIGHUP)
        let (hupStatus, _, hupErr) = hup.finish()
        #expect(hupStatus == 129, "\(hupErr.suffix(1500))")
        #expect(hupErr.contains("SIGHUP received"))
        #expect(hupErr.contains("Interrupted by SIGHUP"), "the report says so: \(hupErr.suffix(800))")
        #expect(hupErr.contains("cancelled") && hupErr.contains("tasks resume"))
        let cancelled = try cli.run(["tasks", "list", "--status", "cancelled", "--json"], environment: env)
        #expect(try jsonObject(cancelled.1)["total"] as? Int == 1)
    }

    @Test("a failed git commit is printed prominently (text and --json) and exits 3; the next run commits what was left", .timeLimit(.minutes(6)))
    func failedCommit() throws {
        let cli = try NetBackupCLI()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-commit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let simulator = try cli.startSimulator(devices: 6, latencyMilliseconds: 100, inventory: dir + "/inventory.json")
        defer { simulator.stop() }
        let env = ["NETBACKUP_HOME": dir + "/home"]
        let backup = ["backup", "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--max-concurrent", "1", "--retries", "0"]
        let repo = dir + "/home/configs"

        // A git process "holds" the repository (index.lock) when the task commits.
        let run = try BackgroundRun(cli: cli, arguments: backup + ["--json"], environment: env)
        #expect(run.waitForStderr(anyOf: ["ok 1", "ok 2"]), "\(run.stderr.suffix(1000))")
        #expect(FileManager.default.createFile(atPath: repo + "/.git/index.lock", contents: nil))
        let (status, out, err) = run.finish()
        #expect(status == 3, "\(err.suffix(1500))")
        #expect(err.contains("ARCHIVE COMMIT FAILED"), "\(err.suffix(1500))")
        let task = try jsonObject(out)
        let report = try #require(task["report"] as? [String: Any])
        let commitError = try #require(report["commit_error"] as? [String: Any], "\(report)")
        #expect(commitError["error_code"] as? String == "ARCHIVE_COMMIT_FAILED")
        #expect(report["exit_status"] as? Int == 3)
        #expect(report["committed"] as? Int == 0 && (report["commits"] as? [Any])?.isEmpty == true)
        #expect(task["status"] as? String != "completed")
        let results = try #require(task["results"] as? [[String: Any]])
        #expect(results.allSatisfy { $0["git_commit_id"] == nil || $0["git_commit_id"] is NSNull })

        // The same in text: prominent, with what to do.
        let text = try cli.run(backup, environment: env)
        #expect(text.0 == 3, "\(text.2.suffix(1500))")
        #expect(text.2.contains("ARCHIVE COMMIT FAILED [ARCHIVE_COMMIT_FAILED]"), "\(text.2.suffix(1500))")
        #expect(text.2.contains("NOT in its git history"))

        // Once the lock is gone, the next run commits what was left and exits 0.
        try FileManager.default.removeItem(atPath: repo + "/.git/index.lock")
        let next = try cli.run(backup, environment: env)
        #expect(next.0 == 0, "\(next.2.suffix(1500))")
        #expect(try git(["-C", repo, "rev-list", "--count", "HEAD"]) == "1")
        #expect(try git(["-C", repo, "status", "--porcelain"]).isEmpty, "nothing left uncommitted")
    }
}
