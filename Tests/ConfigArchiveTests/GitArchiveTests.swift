import BackupModels
@testable import ConfigArchive
import DeviceTransport
import Foundation
import Testing

/// Runs git for the tests' own checks, with an environment free of the variables some tests set.
@discardableResult
func git(_ repo: String, _ arguments: String...) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GIT_") && $0.key != "NET_PASSWORD" }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = Pipe()
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

func commitCount(_ repo: String) throws -> Int {
    Int(try git(repo, "rev-list", "--count", "HEAD").trimmingWhitespace()) ?? 0
}

/// Files in a commit (NUL-separated, so no path is quoted).
func filesIn(_ repo: String, _ commit: String = "HEAD") throws -> [String] {
    try git(repo, "show", "--name-only", "-z", "--format=", commit).split(separator: "\0").map(String.init).filter { !$0.isEmpty && $0 != "\n" }
}

func writeScript(_ path: String, _ text: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
}

let realGit = GitRunner.findOnPath() ?? "/usr/bin/git"

@Suite("GitArchive", .timeLimit(.minutes(3)))
struct GitArchiveTests {
    let devices = (1...3).map { DeviceRef(id: DeviceID($0), name: "sw\($0)", vendor: "cisco_ios") }

    func backup(_ archive: GitArchive, task: String, configs: [String], devices: [DeviceRef]? = nil) async throws -> ArchiveCommit? {
        for (device, config) in zip(devices ?? self.devices, configs) {
            _ = try await archive.store(RetrievedConfig(text: config), for: device, context: ArchiveContext(taskID: task, fetchedAt: Date()))
        }
        return try await archive.taskDidFinish(taskID: task)
    }

    @Test("one commit per task that changed configs; none when nothing changed; a change commits only its diff")
    func commits() async throws {
        let path = temporaryPath("git-archive")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        let first = try #require(try await backup(archive, task: "task-1", configs: ["a\n", "b\n", "c\n"]))
        #expect(first.devices == [1, 2, 3])
        #expect(try commitCount(path) == 1)
        let message = try git(path, "log", "-1", "--format=%B")
        #expect(message.contains("task-1") && message.contains("sw1") && message.contains("sw3"))
        #expect(try git(path, "rev-parse", "HEAD").hasPrefix(first.commitID))

        #expect(try await backup(archive, task: "task-2", configs: ["a\n", "b\n", "c\n"]) == nil)
        #expect(try commitCount(path) == 1)

        let third = try #require(try await backup(archive, task: "task-3", configs: ["a\n", "b2\n", "c\n"]))
        #expect(third.devices == [2])
        #expect(try filesIn(path) == ["sw2.cfg"])
        #expect(try git(path, "diff", "HEAD~1", "HEAD").contains("-b\n+b2"))
        #expect(try git(path, "status", "--porcelain").isEmpty)
    }

    @Test("a task that stored no config in an archive that has none commits nothing and does not fail")
    func nothingStoredYet() async throws {
        let path = temporaryPath("git-archive-empty")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        #expect(try await archive.taskDidFinish(taskID: "all-devices-failed") == nil)
        #expect(try await backup(archive, task: "task-2", configs: []) == nil)
        let first = try #require(try await backup(archive, task: "task-3", configs: ["a\n"]))
        #expect(first.devices == [1])
    }

    @Test("10,000 devices: one commit with all files; unchanged → no commit; 1 % changed → exactly those files")
    func fleetScale() async throws {
        let path = temporaryPath("git-fleet")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path, subdirectory: "configs", durable: false)
        let fleet = (0..<10_000).map { DeviceRef(id: DeviceID($0), name: "device-\($0)", vendor: "cisco_ios") }
        func run(_ task: String, config: @escaping @Sendable (Int) -> String) async throws -> (ArchiveCommit?, Duration) {
            try await archive.prepare(for: fleet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for start in stride(from: 0, to: fleet.count, by: 1_000) {
                    group.addTask {
                        for index in start..<(start + 1_000) {
                            _ = try await archive.store(
                                RetrievedConfig(text: config(index)), for: fleet[index], context: ArchiveContext(taskID: task, fetchedAt: Date()))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let clock = ContinuousClock()
            var commit: ArchiveCommit?
            let elapsed = try await clock.measure { commit = try await archive.taskDidFinish(taskID: task) }
            return (commit, elapsed)
        }

        let (first, firstTime) = try await run("fleet-1") { "hostname device-\($0)\n" }
        let commit = try #require(first)
        #expect(commit.devices.count == 10_000)
        #expect(Set(commit.devices) == Set(fleet.map(\.id)))
        #expect(try commitCount(path) == 1)
        #expect(try filesIn(path).count == 10_000)
        let message = try git(path, "log", "-1", "--format=%B")
        #expect(message.contains("10000 configs") && message.contains("… and 9950 more"))
        #expect(lines(message).filter { $0.hasPrefix("- ") }.count == GitArchive.messageListLimit)

        let (second, secondTime) = try await run("fleet-2") { "hostname device-\($0)\n" }
        #expect(second == nil)
        #expect(try commitCount(path) == 1)

        let changed = Set(stride(from: 7, to: 10_000, by: 100))  // 100 devices, 1 %
        let (third, thirdTime) = try await run("fleet-3") { changed.contains($0) ? "hostname device-\($0)\nchanged\n" : "hostname device-\($0)\n" }
        let update = try #require(third)
        #expect(Set(update.devices) == Set(changed.map { DeviceID($0) }))
        #expect(try commitCount(path) == 2)
        #expect(Set(try filesIn(path)) == Set(changed.map { "configs/device-\($0).cfg" }))
        #expect(try git(path, "status", "--porcelain").isEmpty)
        print("GitArchive 10,000-device commit: first \(firstTime), unchanged \(secondTime), 1 % changed \(thirdTime)")
    }

    @Test("a failed commit (index.lock) throws git's message and what to do; the next task commits everything left, its devices get the commit")
    func failedCommitRecovers() async throws {
        let path = temporaryPath("git-lock")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path, subdirectory: "configs")
        #expect(try await backup(archive, task: "t0", configs: ["a\n", "b\n", "c\n"]) != nil)
        #expect(FileManager.default.createFile(atPath: path + "/.git/index.lock", contents: Data()))
        let locked = await #expect(throws: BackupError.self) { try await backup(archive, task: "t1", configs: ["a1\n", "b1\n", "c1\n"]) }
        #expect(locked?.code == .archiveFailed)
        #expect(locked?.message.contains("index.lock") == true, "git's stderr is in the message")
        #expect(locked?.hint?.contains("index.lock") == true)
        #expect(try commitCount(path) == 1)

        // The cause is gone; the next task stores only sw1 (unchanged since t1): all three files are committed.
        try FileManager.default.removeItem(atPath: path + "/.git/index.lock")
        let next = try #require(try await backup(archive, task: "t2", configs: ["a1\n"]))
        #expect(next.devices == [1], "the devices of this task whose file is in the commit")
        #expect(Set(try filesIn(path)) == ["configs/sw1.cfg", "configs/sw2.cfg", "configs/sw3.cfg"])
        let message = try git(path, "log", "-1", "--format=%B")
        #expect(message.contains("left uncommitted by an earlier run (2 files)"))
        #expect(message.contains("configs/sw2.cfg") && message.contains("configs/sw3.cfg"))
        #expect(try git(path, "show", "HEAD:configs/sw3.cfg") == "c1\n")
        #expect(try git(path, "status", "--porcelain").isEmpty)
    }

    @Test("an object directory git cannot write to fails the commit with git's message; once repaired, the next task commits everything")
    func unwritableObjects() async throws {
        let path = temporaryPath("git-objects")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        // Tests run as root, for whom permission bits stop nothing: a file where git's pack directory
        // should be stops every object write just as well.
        let pack = path + "/.git/objects/pack"
        try FileManager.default.removeItem(atPath: pack)
        #expect(FileManager.default.createFile(atPath: pack, contents: Data()))
        let error = await #expect(throws: BackupError.self) { try await backup(archive, task: "t1", configs: ["a\n", "b\n", "c\n"]) }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains("git add failed in \(path)") == true, "\(String(describing: error?.message))")
        #expect(error?.message.contains("objects/pack") == true, "git's stderr is quoted")
        #expect(error?.hint?.contains("fsck") == true)
        #expect(try git(path, "rev-parse", "--verify", "-q", "HEAD").isEmpty, "no commit was made")

        try FileManager.default.removeItem(atPath: pack)
        try FileManager.default.createDirectory(atPath: pack, withIntermediateDirectories: false)
        let commit = try #require(try await backup(archive, task: "t2", configs: ["a\n"]))
        #expect(commit.devices == [1])
        #expect(try filesIn(path) == ["sw1.cfg", "sw2.cfg", "sw3.cfg"])
    }

    @Test("a config stored by an earlier run whose commit failed gets the commit id of the next task that stores it")
    func leftoverDevicesGetCommit() async throws {
        let path = temporaryPath("git-leftover")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        #expect(FileManager.default.createFile(atPath: path + "/.git/index.lock", contents: Data()))
        await #expect(throws: BackupError.self) { try await backup(archive, task: "t1", configs: ["a\n", "b\n", "c\n"]) }
        try FileManager.default.removeItem(atPath: path + "/.git/index.lock")
        // Same configs: no file changes in t2, but all three were never committed.
        let commit = try #require(try await backup(archive, task: "t2", configs: ["a\n", "b\n", "c\n"]))
        #expect(commit.devices == [1, 2, 3])
        #expect(try filesIn(path) == ["sw1.cfg", "sw2.cfg", "sw3.cfg"])
    }

    @Test("managed deletions, renames and names git would quote are committed; foreign changes never block and never enter the commit")
    func foreignChanges() async throws {
        let path = temporaryPath("git-foreign")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try git(path, "init", "-q")
        try "notes\n".write(toFile: path + "/README.txt", atomically: true, encoding: .utf8)
        try "draft\n".write(toFile: path + "/plan.txt", atomically: true, encoding: .utf8)
        try git(path, "add", "README.txt", "plan.txt")
        try git(path, "commit", "-qm", "existing history")
        let archive = try await GitArchive(repository: path, subdirectory: "configs")
        let odd = [DeviceRef(id: 1, name: "路由器 \"1\"", vendor: "v"), DeviceRef(id: 2, name: "sw\t2", vendor: "v"), DeviceRef(id: 3, name: "sw3", vendor: "v")]
        #expect(try await backup(archive, task: "t1", configs: ["a\n", "b\n", "c\n"], devices: odd) != nil)

        // Foreign: a staged edit, a staged rename, an unstaged edit, an untracked file, an untracked .cfg elsewhere.
        try "edited\n".write(toFile: path + "/README.txt", atomically: true, encoding: .utf8)
        try git(path, "add", "README.txt")
        try git(path, "mv", "plan.txt", "plan-renamed.txt")
        try "untracked\n".write(toFile: path + "/scratch.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path + "/other", withIntermediateDirectories: true)
        try "x\n".write(toFile: path + "/other/foreign.cfg", atomically: true, encoding: .utf8)
        // Managed: someone renamed one file by hand (the archive writes the old name again) and deleted another.
        try git(path, "mv", "configs/sw%092.cfg", "configs/renamed.cfg")
        try FileManager.default.removeItem(atPath: path + "/configs/sw3.cfg")

        let commit = try #require(try await backup(archive, task: "t2", configs: ["a2\n", "b\n"], devices: Array(odd.prefix(2))))
        // sw\t2's file was written again with the committed content: not part of the commit.
        #expect(commit.devices == [1])
        #expect(Set(try filesIn(path)) == ["configs/路由器%20%221%22.cfg", "configs/renamed.cfg", "configs/sw3.cfg"])
        #expect(try git(path, "show", "HEAD:README.txt") == "notes\n", "the staged foreign edit is not in the archive's commit")
        let status = Set(lines(try git(path, "status", "--porcelain")))
        #expect(status == ["M  README.txt", "R  plan.txt -> plan-renamed.txt", "?? other/", "?? scratch.txt"], "foreign changes stay as they were")
        #expect(try String(contentsOfFile: path + "/README.txt", encoding: .utf8) == "edited\n")
        #expect(try git(path, "log", "--format=%s").contains("existing history"))
    }

    @Test("temporary files left by a crash are removed on open and never block a commit")
    func crashTemporaryFiles() async throws {
        let path = temporaryPath("git-tmp")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        #expect(try await backup(archive, task: "t1", configs: ["a\n", "b\n", "c\n"]) != nil)
        // A crash during a write in the next run leaves a temporary file; the run after it opens the archive anew.
        #expect(FileManager.default.createFile(atPath: path + "/sw1.cfg.tmp-4242-99", contents: Data("half".utf8)))
        #expect(try await backup(archive, task: "t2", configs: ["a\n", "b2\n"]) != nil, "a leftover temporary file does not block")
        #expect(try filesIn(path) == ["sw2.cfg"])
        let reopened = try await GitArchive(repository: path)
        #expect(!FileManager.default.fileExists(atPath: path + "/sw1.cfg.tmp-4242-99"))
        #expect(try await backup(reopened, task: "t3", configs: ["a3\n"]) != nil)
        #expect(try git(path, "status", "--porcelain").isEmpty)
    }

    @Test("a directory with other files that is not a repository is refused and left alone; empty or missing ones are initialised")
    func refusesForeignDirectory() async throws {
        let path = temporaryPath("git-notrepo")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try "my own notes\n".write(toFile: path + "/sw1.cfg", atomically: true, encoding: .utf8)
        let error = await #expect(throws: BackupError.self) { try await GitArchive(repository: path) }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains("not a git repository") == true && error?.message.contains("sw1.cfg") == true)
        #expect(error?.hint != nil)
        #expect(!FileManager.default.fileExists(atPath: path + "/.git"))
        #expect(try String(contentsOfFile: path + "/sw1.cfg", encoding: .utf8) == "my own notes\n")

        let empty = path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        _ = try await GitArchive(repository: empty)
        #expect(FileManager.default.fileExists(atPath: empty + "/.git"))
        let missing = path + "/missing/repo"
        _ = try await GitArchive(repository: missing)
        #expect(FileManager.default.fileExists(atPath: missing + "/.git"))
        #expect(try permissions(missing) == 0o700)
    }

    @Test("git gets a minimal environment and runs no hooks: no NET_PASSWORD, GIT_DIR or GIT_INDEX_FILE from the caller")
    func isolatedEnvironment() async throws {
        let path = temporaryPath("git-env")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let wrapper = path + "-git"
        defer { try? FileManager.default.removeItem(atPath: wrapper) }
        try writeScript(wrapper, "#!/bin/sh\n/usr/bin/env >> '\(path)-env.txt'\nexec '\(realGit)' \"$@\"\n")
        defer { try? FileManager.default.removeItem(atPath: path + "-env.txt") }
        let repo = path + "/repo"
        let archive = try await GitArchive(repository: repo, gitExecutable: wrapper)
        for hook in ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-index-change"] {
            try writeScript(repo + "/.git/hooks/" + hook, "#!/bin/sh\n/usr/bin/env > '\(path)/hook-\(hook).txt'\n")
        }
        for device in devices {
            _ = try await archive.store(RetrievedConfig(text: "x\n"), for: device, context: ArchiveContext(taskID: "t", fetchedAt: Date()))
        }
        // The caller's environment points git elsewhere and holds a secret, only while the commit runs.
        let decoy = path + "/decoy"
        try FileManager.default.createDirectory(atPath: decoy, withIntermediateDirectories: true)
        setenv("GIT_DIR", decoy + "/.git", 1)
        setenv("GIT_INDEX_FILE", decoy + "/index", 1)
        setenv("GIT_WORK_TREE", decoy, 1)
        setenv("NET_PASSWORD", "hunter2-do-not-leak", 1)
        let commit: ArchiveCommit?
        do {
            defer { for name in ["GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "NET_PASSWORD"] { unsetenv(name) } }
            commit = try await archive.taskDidFinish(taskID: "t")
        }
        #expect(commit?.devices == [1, 2, 3])
        #expect(try filesIn(repo) == ["sw1.cfg", "sw2.cfg", "sw3.cfg"], "committed in the archive's repository")
        #expect(try FileManager.default.contentsOfDirectory(atPath: decoy).isEmpty)
        let hooksRun = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("hook-") }
        #expect(hooksRun.isEmpty, "hooks ran: \(hooksRun)")
        let environment = try String(contentsOfFile: path + "-env.txt", encoding: .utf8)
        #expect(!environment.contains("hunter2"))
        #expect(!environment.contains("GIT_DIR") && !environment.contains("GIT_INDEX_FILE") && !environment.contains("GIT_WORK_TREE"))
        #expect(environment.contains("GIT_TERMINAL_PROMPT=0") && environment.contains("LC_ALL=C"))
        let names = Set(lines(environment).compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(names.isSubset(of: ["PATH", "HOME", "TMPDIR", "LC_ALL", "LANG", "GIT_TERMINAL_PROMPT", "PWD", "SHLVL", "_"]), "\(names)")
    }

    @Test("a git command that hangs is killed after gitTimeout; the error names it; the child is reaped")
    func timeout() async throws {
        let path = temporaryPath("git-timeout")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let wrapper = path + "/slow-git"
        try writeScript(wrapper, """
            #!/bin/sh
            for argument in "$@"; do
              if [ "$argument" = commit ]; then echo $$ > '\(path)/pid'; exec sleep 600; fi
            done
            exec '\(realGit)' "$@"

            """)
        let archive = try await GitArchive(repository: path + "/repo", gitExecutable: wrapper, gitTimeout: .seconds(2))
        let error = await #expect(throws: BackupError.self) { try await backup(archive, task: "t", configs: ["a\n"]) }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains("git commit did not finish within 2 s") == true, "\(String(describing: error?.message))")
        #expect(error?.hint?.contains("gitTimeout") == true)
        let pid = try #require(Int32(try String(contentsOfFile: path + "/pid", encoding: .utf8).trimmingWhitespace()))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the killed git was reaped, not left as a zombie")
    }

    @Test("git gc --auto never delays a task: the commit returns while gc still runs, and the next commit waits for it")
    func housekeepingOffTheTasksPath() async throws {
        let path = temporaryPath("git-gc")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let wrapper = path + "/gc-waits-git"
        // gc blocks until the test creates `release` (no timing involved): a task that waited for gc would
        // hang here until the test's time limit.
        try writeScript(wrapper, """
            #!/bin/sh
            for argument in "$@"; do
              if [ "$argument" = gc ]; then
                touch '\(path)/gc-started'
                while [ ! -e '\(path)/release' ]; do sleep 0.05; done
                touch '\(path)/gc-done'
                exit 0
              fi
            done
            exec '\(realGit)' "$@"

            """)
        let archive = try await GitArchive(repository: path + "/repo", gitExecutable: wrapper)
        let first = try #require(try await backup(archive, task: "t1", configs: ["a\n"]))
        #expect(!first.commitID.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path + "/gc-done"), "the task did not wait for gc")
        #expect(FileManager.default.createFile(atPath: path + "/release", contents: Data()))
        let second = try #require(try await backup(archive, task: "t2", configs: ["b\n"]))
        #expect(second.commitID != first.commitID)
        #expect(FileManager.default.fileExists(atPath: path + "/gc-done"), "gc ran before the next commit, never beside it")
    }

    @Test("stdin is written while stdout and stderr are drained: megabytes each way, no deadlock")
    func childProcessLargeIO() throws {
        let input = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        // cat copies stdin to stdout while it is still being written; then 3 MB go to stderr.
        let output = try ChildProcess.run(
            executable: "/bin/sh", arguments: ["-c", "cat; head -c 3000000 /dev/zero >&2"], environment: ["PATH=/usr/bin:/bin"],
            input: input, timeout: .seconds(120))
        #expect(output.status == 0)
        #expect(output.stdout.count == input.count)
        #expect(output.stdout == input, "stdout is stdin, byte for byte")
        #expect(output.stderr.count == ChildProcess.stderrLimit, "only the end of stderr is kept")
        #expect(output.stderr.allSatisfy { $0 == 0 })
        let failing = try ChildProcess.run(executable: "/bin/sh", arguments: ["-c", "exit 3"], environment: [], input: input, timeout: .seconds(60))
        #expect(failing.status == 3, "a child that exits without reading its input is no error of the pipe")
    }

    @Test("the three name pairs go to distinct files in one commit; duplicate names are refused by prepare")
    func namesInGit() async throws {
        let path = temporaryPath("git-names")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let archive = try await GitArchive(repository: path)
        let pairs = [
            DeviceRef(id: 1, name: "core/sw1", vendor: "v"), DeviceRef(id: 2, name: "core_sw1", vendor: "v"),
            DeviceRef(id: 3, name: "路由器1", vendor: "v"), DeviceRef(id: 4, name: "交换机1", vendor: "v"),
        ]
        try await archive.prepare(for: pairs)
        let commit = try #require(try await backup(archive, task: "t", configs: ["1\n", "2\n", "3\n", "4\n"], devices: pairs))
        #expect(commit.devices == [1, 2, 4, 3])  // in git's (byte) order of the paths
        #expect(Set(try filesIn(path)) == ["core%2Fsw1.cfg", "core_sw1.cfg", "路由器1.cfg", "交换机1.cfg"])
        let sites = [DeviceRef(id: "a/sw1", name: "sw1", vendor: "v"), DeviceRef(id: "b/sw1", name: "sw1", vendor: "v")]
        let error = await #expect(throws: BackupError.self) { try await archive.prepare(for: sites) }
        #expect(error?.message.contains("a/sw1") == true && error?.message.contains("b/sw1") == true)
    }
}
