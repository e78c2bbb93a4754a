import BackupModels
import ConfigArchive
import DeviceTransport
import Foundation
import Testing

@Suite("GitArchive")
struct GitArchiveTests {
    func git(_ repo: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", repo] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func repo() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("git-archive-\(UUID().uuidString)").path }

    let devices = (1...3).map { DeviceRef(id: DeviceID($0), name: "sw\($0)", vendor: "cisco_ios") }

    func backup(_ archive: GitArchive, task: String, configs: [String]) async throws -> ArchiveCommit? {
        for (device, config) in zip(devices, configs) {
            _ = try await archive.store(RetrievedConfig(text: config), for: device, context: ArchiveContext(taskID: task, fetchedAt: Date()))
        }
        return try await archive.taskDidFinish(taskID: task)
    }

    @Test("one commit per task that changed configs; none when nothing changed; a change commits only its diff")
    func commits() async throws {
        let path = repo()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        let first = try #require(try await backup(archive, task: "task-1", configs: ["a\n", "b\n", "c\n"]))
        #expect(first.devices.count == 3)
        #expect(try git(path, "rev-list", "--count", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let message = try git(path, "log", "-1", "--format=%B")
        #expect(message.contains("task-1") && message.contains("sw1") && message.contains("sw3"))
        #expect(try git(path, "rev-parse", "HEAD").hasPrefix(first.commitID))

        #expect(try await backup(archive, task: "task-2", configs: ["a\n", "b\n", "c\n"]) == nil)
        #expect(try git(path, "rev-list", "--count", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == "1")

        let third = try #require(try await backup(archive, task: "task-3", configs: ["a\n", "b2\n", "c\n"]))
        #expect(third.devices == [2])
        #expect(try git(path, "diff", "--name-only", "HEAD~1", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == "sw2.cfg")
        let diff = try git(path, "diff", "HEAD~1", "HEAD")
        #expect(diff.contains("-b\n+b2"))
        #expect(try git(path, "status", "--porcelain").isEmpty)
    }

    @Test("an existing repository is used as it is; foreign uncommitted changes or a lock are ARCHIVE_FAILED and nothing is touched")
    func refusesDirtyOrLocked() async throws {
        let path = repo()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try git(path, "init", "-q")
        try "notes\n".write(toFile: path + "/README.txt", atomically: true, encoding: .utf8)
        _ = try git(path, "-c", "user.name=t", "-c", "user.email=t@t", "add", "README.txt")
        _ = try git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "existing history")
        let archive = try await GitArchive(repository: path, subdirectory: "configs")
        try "edited\n".write(toFile: path + "/README.txt", atomically: true, encoding: .utf8)
        let dirty = await #expect(throws: BackupError.self) { try await backup(archive, task: "t1", configs: ["a\n"]) }
        #expect(dirty?.code == .archiveFailed)
        #expect(dirty?.message.contains("README.txt") == true)
        #expect(try git(path, "rev-list", "--count", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try String(contentsOfFile: path + "/README.txt", encoding: .utf8) == "edited\n")

        _ = try git(path, "checkout", "--", "README.txt")
        #expect(FileManager.default.createFile(atPath: path + "/.git/index.lock", contents: Data()))
        let locked = await #expect(throws: BackupError.self) { try await backup(archive, task: "t2", configs: ["b\n"]) }
        #expect(locked?.code == .archiveFailed)
        #expect(locked?.hint?.contains("index.lock") == true)
        try FileManager.default.removeItem(atPath: path + "/.git/index.lock")

        // Configs written by the refused runs were not lost: the next commit takes them.
        let commit = try #require(try await backup(archive, task: "t3", configs: ["b\n", "x\n"]))
        #expect(commit.devices == [2])  // sw1 did not change in t3, but its uncommitted file from t2 is in the commit
        #expect(try git(path, "log", "-1", "--format=%B").contains("left uncommitted by an earlier run: configs/sw1.cfg"))
        #expect(try git(path, "show", "HEAD:configs/sw1.cfg") == "b\n")
        #expect(try git(path, "log", "--format=%s").contains("existing history"))
    }
}
