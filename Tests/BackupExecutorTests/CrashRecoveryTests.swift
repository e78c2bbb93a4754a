import BackupExecutor
import BackupModels
import BackupSupport
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import TaskStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` at random points while a child process backs up 1,000 mock devices into a file store.
///
/// The child is this test binary run again with `CRASH_CHILD_STORE` set: ``child()`` opens the store,
/// resumes the interrupted task (recovery policy `.resume`) or submits it (idempotency key
/// `crash-test`, so a restart finds the same task), says `RUNNING`, and backs up until killed.
@Suite("Crash recovery with kill -9", .serialized, .timeLimit(.minutes(10)))
struct CrashRecoveryTests {
    static let storeVariable = "CRASH_CHILD_STORE"
    static let devices = 1_000

    @Test(
        "child process for the kill -9 test (runs only when started by it)",
        .enabled(if: ProcessInfo.processInfo.environment[CrashRecoveryTests.storeVariable] != nil))
    func child() async throws {
        let directory = try #require(ProcessInfo.processInfo.environment[Self.storeVariable])
        let store = try await FileTaskStore.open(directory: directory)
        let transport = MockTransport(defaultBehavior: .custom { _ in
            // ~7 s for the whole task at 5 at a time: the 20 rounds (10–120 ms each, even stretched
            // several times on a busy machine) must not finish it before the last round.
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...50)))
            return "hostname device\n"
        })
        let executor = BackupExecutor(
            configuration: BackupExecutorConfiguration(maxConcurrentSessions: 5, hostKeyPolicy: .acceptAnyUnsafe, recovery: .resume),
            inventory: StaticInventory.mock(count: Self.devices), transport: transport, archive: InMemoryArchive(), store: store)
        let final = try await executor.withRunning { executor in
            let task = try await executor.submit(try BackupFilter(maxConcurrent: 5, retryCount: 0), idempotencyKey: "crash-test")
            Self.say("RUNNING \(task.taskID)")
            return try await executor.waitForCompletionEventually(task.taskID)
        }
        Self.say("DONE \(final.status.rawValue) \(final.results.count)")
        try await store.close()
    }

    /// Writes a line straight to stdout (unbuffered: the parent reads it while we run).
    static func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    @Test("20 random kill -9 rounds: every reopen is consistent, results only grow, the resumed task ends with one result per device")
    func killNine() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var previousCount = 0
        var killedMidRun = 0
        var taskID: String?
        for round in 1...20 {
            let child = try ChildProcess(storeDirectory: directory)
            guard let line = try await child.readLine(), line.hasPrefix("RUNNING ") else {
                Issue.record("round \(round): child did not start: \(child.stderrText())")
                return
            }
            let id = String(line.dropFirst("RUNNING ".count))
            if let taskID { #expect(id == taskID, "round \(round): a restart created a second task") }
            taskID = id
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...120)))
            if child.killNow() { killedMidRun += 1 }

            let store = try await FileTaskStore.open(directory: directory)
            let task = try #require(try await store.task(id: id))
            let ids = task.results.map(\.deviceID)
            #expect(Set(ids).count == ids.count, "round \(round): duplicate result")
            #expect(task.completed == ids.count && task.successCount + task.failedCount == ids.count)
            #expect(ids.count >= previousCount, "round \(round): acknowledged results were lost")
            #expect(task.total == Self.devices)
            previousCount = ids.count
            try await store.close()
        }
        #expect(killedMidRun >= 15)
        #expect(previousCount > 0, "no result survived any round")
        // A last run without a kill finishes the task.
        let child = try ChildProcess(storeDirectory: directory)
        _ = try await child.readLine()
        let done = try await child.readLine()
        #expect(done?.hasPrefix("DONE completed 1000") == true, "\(done ?? "nil") \(child.stderrText())")
        child.wait()
        let store = try await FileTaskStore.open(directory: directory)
        let finalID = try #require(taskID)
        let task = try #require(try await store.task(id: finalID))
        #expect(task.status == .completed)
        #expect(task.results.count == Self.devices)
        #expect(Set(task.results.map(\.deviceID)).count == Self.devices)
        #expect(task.results.allSatisfy { $0.success })
        #expect(task.resumeCount >= 1)
        #expect(try await store.unfinishedTasks().isEmpty)
        try await store.close()
    }
}

/// The test binary run again as the crash child.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private var buffer: [UInt8] = []

    init(storeDirectory: String) throws {
        process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        process.arguments = ["--testing-library", "swift-testing", "--filter", "CrashRecoveryTests/child"]
        process.environment = ProcessInfo.processInfo.environment.merging([CrashRecoveryTests.storeVariable: storeDirectory]) { $1 }
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The next line the child prints, or `nil` at its end.
    func readLine() async throws -> String? {
        let fd = output.fileHandleForReading.fileDescriptor
        return try await BlockingIOPool.shared.run { [self] in
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return nil }
                buffer.append(contentsOf: chunk[0..<n])
            }
        }
    }

    /// Sends SIGKILL; returns whether the child was still running.
    func killNow() -> Bool {
        let running = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return running && process.terminationReason == .uncaughtSignal
    }

    func wait() { process.waitUntilExit() }

    func stderrText() -> String {
        String(decoding: (try? errors.fileHandleForReading.readToEnd()) ?? Data(), as: UTF8.self).suffix(2000).description
    }
}
