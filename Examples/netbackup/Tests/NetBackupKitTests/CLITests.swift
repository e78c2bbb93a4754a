import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `netbackup` executable, driven as a user would.
struct NetBackupCLI {
    let path: String

    init() throws {
        let binDir = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).deletingLastPathComponent()
        path = binDir.appendingPathComponent("netbackup").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "build the netbackup product first (swift build)")
    }

    /// Runs to completion; returns (exit status, stdout, stderr).
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errData = Mutex2()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.value, as: UTF8.self))
    }
}

/// A `netbackup simulate` process, stopped with Ctrl-C.
struct RunningSimulator {
    let process: Process

    func stop() {
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
    }
}

extension NetBackupCLI {
    /// Starts `netbackup simulate` and waits until it has written its inventory.
    func startSimulator(devices: Int, latencyMilliseconds: Int = 0, inventory: String) throws -> RunningSimulator {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["simulate", "--devices", String(devices), "--latency-ms", String(latencyMilliseconds), "--inventory", inventory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: inventory) && Date() < deadline { usleep(20_000) }
        usleep(100_000)
        return RunningSimulator(process: process)
    }
}

final class Mutex2: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func set(_ value: Data) { lock.lock(); data = value; finished = true; lock.unlock() }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}

@Suite("netbackup command line", .serialized)
struct CLITests {
    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("bad inventory, unknown vendor and invalid filter values exit 2 with a message naming the problem")
    func usageErrors() throws {
        let cli = try NetBackupCLI()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["NETBACKUP_HOME": dir + "/home"]
        try "devices:\n  - { id: 1, host: h, vendor: cisco_ios, port: 99999 }\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        try "devices:\n  - { id: 1, host: h, vendor: acme_os }\n".write(toFile: dir + "/vendor.yaml", atomically: true, encoding: .utf8)
        try "devices:\n  - { id: 1, host: 127.0.0.1, vendor: linux, username: u, password: p }\n".write(toFile: dir + "/ok.yaml", atomically: true, encoding: .utf8)
        let bad = try cli.run(["backup", "--inventory", dir + "/bad.yaml"], environment: env)
        #expect(bad.0 == 2)
        #expect(bad.2.contains("bad.yaml:2: field 'port'"))
        let vendor = try cli.run(["backup", "--inventory", dir + "/vendor.yaml"], environment: env)
        #expect(vendor.0 == 2)
        #expect(vendor.2.contains("unknown vendor 'acme_os'"))
        let filter = try cli.run(["backup", "--inventory", dir + "/ok.yaml", "--max-concurrent", "50", "--timeout", "5", "--filter-status", "broken"], environment: env)
        #expect(filter.0 == 2)
        for field in ["max_concurrent", "timeout", "filter_status"] { #expect(filter.2.contains(field)) }
        let missing = try cli.run(["backup"], environment: env)
        #expect(missing.0 == 2)
    }

    @Test("backup against the simulator: configs in git, one commit, an unchanged run commits nothing; --json has the seed's names", .timeLimit(.minutes(5)))
    func backupAgainstSimulator() throws {
        let cli = try NetBackupCLI()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let simulator = try cli.startSimulator(devices: 16, inventory: dir + "/inventory.json")
        defer { simulator.stop() }
        let env = ["NETBACKUP_HOME": dir + "/home"]
        let first = try cli.run(["backup", "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--json", "--max-concurrent", "8"], environment: env)
        #expect(first.0 == 0, "\(first.2.suffix(2000))")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.1.utf8)) as? [String: Any])
        for key in ["task_id", "status", "total", "completed", "success_count", "failed_count", "progress_percentage", "message", "created_at", "started_at", "completed_at", "errors", "results"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["status"] as? String == "completed")
        #expect(object["success_count"] as? Int == 16)
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.allSatisfy { $0["git_commit_id"] is String && $0["config_id"] is String })
        let repo = dir + "/home/configs"
        let log = Process()
        log.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        log.arguments = ["git", "-C", repo, "rev-list", "--count", "HEAD"]
        let pipe = Pipe()
        log.standardOutput = pipe
        try log.run()
        log.waitUntilExit()
        #expect(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let second = try cli.run(["backup", "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any"], environment: env)
        #expect(second.0 == 0)
        #expect(second.2.contains("0 changed, nothing committed"))
        let list = try cli.run(["tasks", "list"], environment: env)
        #expect(list.0 == 0 && list.1.contains("2 of 2 tasks"))
    }
}

@Suite("netbackup Ctrl-C", .serialized)
struct InterruptTests {
    @Test("SIGINT mid-run: exit 130, the task is cancelled in the store, and resuming finishes it", .timeLimit(.minutes(5)))
    func interruptAndResume() throws {
        let cli = try NetBackupCLI()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-int-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let simulator = try cli.startSimulator(devices: 16, latencyMilliseconds: 150, inventory: dir + "/inventory.json")
        defer { simulator.stop() }
        let env = ProcessInfo.processInfo.environment.merging(["NETBACKUP_HOME": dir + "/home"]) { $1 }

        let backup = Process()
        backup.executableURL = URL(fileURLWithPath: cli.path)
        backup.arguments = ["backup", "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--max-concurrent", "1", "--retries", "0"]
        backup.environment = env
        let err = Pipe()
        backup.standardError = err
        backup.standardOutput = FileHandle.nullDevice
        try backup.run()
        // Wait until at least one device is done, then press Ctrl-C once.
        var seen = ""
        let handle = err.fileHandleForReading
        while !seen.contains("ok 1") && !seen.contains("ok 2") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(backup.processIdentifier, SIGINT)
        seen += String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        backup.waitUntilExit()
        #expect(backup.terminationStatus == 130, "\(seen.suffix(1500))")
        #expect(seen.contains("Cancelling"))

        let list = try cli.run(["tasks", "list", "--status", "cancelled", "--json"], environment: ["NETBACKUP_HOME": dir + "/home"])
        let page = try #require(try JSONSerialization.jsonObject(with: Data(list.1.utf8)) as? [String: Any])
        let items = try #require(page["items"] as? [[String: Any]])
        #expect(items.count == 1)
        let taskID = try #require(items.first?["task_id"] as? String)
        #expect((items.first?["success_count"] as? Int ?? 0) >= 1)
        #expect((items.first?["success_count"] as? Int ?? 16) < 16)

        let resumed = try cli.run(
            ["tasks", "resume", taskID, "--inventory", dir + "/inventory.json", "--host-key-policy", "accept-any", "--json"],
            environment: ["NETBACKUP_HOME": dir + "/home"])
        #expect(resumed.0 == 0, "\(resumed.2.suffix(1500))")
        let task = try #require(try JSONSerialization.jsonObject(with: Data(resumed.1.utf8)) as? [String: Any])
        #expect(task["status"] as? String == "completed")
        #expect(task["success_count"] as? Int == 16)
        #expect(task["resume_count"] as? Int == 1)
    }
}
