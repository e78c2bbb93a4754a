import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Synchronization
import TaskStore
import Testing

/// An archive that stores in memory and fails its commit while `failing` is set.
final class CommitFailingArchive: ConfigArchive {
    let inner = InMemoryArchive()
    let failing = Mutex(true)
    let committed = Mutex<[DeviceID]>([])
    private let stored = Mutex<[String: [DeviceID]]>([:])

    func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        stored.withLock { $0[context.taskID, default: []].append(device.id) }
        return try await inner.store(config, for: device, context: context)
    }

    func currentConfig(for device: DeviceRef) async throws -> String? { try await inner.currentConfig(for: device) }

    func taskDidFinish(taskID: String) async throws -> ArchiveCommit? {
        let devices = stored.withLock { $0.removeValue(forKey: taskID) ?? [] }
        if failing.withLock({ $0 }) {
            throw BackupError(.archiveFailed, "git commit failed in /srv/archive (exit 128): fatal: Unable to create '/srv/archive/.git/index.lock': File exists.")
        }
        committed.withLock { $0 = devices }
        return ArchiveCommit(commitID: String(repeating: "ab", count: 20), devices: devices)
    }
}

/// An archive whose `prepare` refuses the task, counting how often it was asked.
struct RefusingArchive: ConfigArchive {
    func prepare(for devices: [DeviceRef]) async throws {
        throw BackupError(.archiveFailed, "Two devices would share the file sw1.cfg: 3 and 7.", hint: "Give the devices distinct names.")
    }
    func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        Issue.record("store must not be called after prepare refused")
        throw BackupError(.archiveFailed, "unexpected")
    }
    func currentConfig(for device: DeviceRef) async throws -> String? { nil }
}

/// An archive whose `store` never returns (a hung disk): blocking I/O that cannot be cancelled.
struct HungArchive: ConfigArchive {
    let started = Barrier(count: 1)
    func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        await started.arrive()
        // Ignores cancellation, like a thread blocked in write(2) on a hung file system.
        await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
        fatalError("unreachable")
    }
    func currentConfig(for device: DeviceRef) async throws -> String? { nil }
}

@Suite("Trusting the archive's outcome", .timeLimit(.minutes(2)))
struct ArchiveTrustTests {
    @Test("a failed commit never reports success: task partial with ARCHIVE_COMMIT_FAILED, no git_commit_id; the next commit is recorded")
    func failedCommitIsNotSuccess() async throws {
        var fixture = Fixture(devices: 5)
        let archive = CommitFailingArchive()
        fixture.archive = archive
        let executor = fixture.makeExecutor()
        let (first, second) = try await executor.withRunning { executor in
            let first = try await executor.submit(try filter(asyncExecute: false))
            archive.failing.withLock { $0 = false }
            let second = try await executor.submit(try filter(asyncExecute: false))
            return (first, second)
        }
        #expect(first.status == .partial)
        #expect(first.successCount == 5 && first.failedCount == 0)
        #expect(first.error?.code == .archiveCommitFailed)
        #expect(first.error?.message.contains("index.lock") == true)
        #expect(first.message.contains("could not commit"))
        #expect(first.results.allSatisfy { $0.success && $0.gitCommitID == nil })
        #expect(first.errors.last?.errorCode == .archiveCommitFailed)

        #expect(second.status == .completed)
        #expect(second.error == nil)
        #expect(second.results.allSatisfy { $0.gitCommitID == String(repeating: "ab", count: 20) })
    }

    @Test("a real git repository locked by .git/index.lock: the task is not completed; after the lock is gone the leftovers are committed")
    func lockedGitRepository() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("exec-git-lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        var fixture = Fixture(devices: 3)
        fixture.archive = try await GitArchive(repository: repo)
        let executor = fixture.makeExecutor()
        #expect(FileManager.default.createFile(atPath: repo + "/.git/index.lock", contents: Data()))
        let (locked, next) = try await executor.withRunning { executor in
            let locked = try await executor.submit(try filter(asyncExecute: false))
            try FileManager.default.removeItem(atPath: repo + "/.git/index.lock")
            // Configs unchanged: only what the failed commit left behind is committed now.
            let next = try await executor.submit(try filter(asyncExecute: false))
            return (locked, next)
        }
        #expect(locked.status == .partial)
        #expect(locked.error?.code == .archiveCommitFailed)
        #expect(locked.results.allSatisfy { $0.gitCommitID == nil })
        #expect(next.status == .completed)
        let commits = Set(next.results.compactMap(\.gitCommitID))
        #expect(commits.count == 1, "the leftovers' commit id is recorded for this task's devices")
        #expect(next.results.count == 3)
    }

    @Test("an archive that refuses the task in prepare fails it before any device is contacted")
    func prepareRefusal() async throws {
        var fixture = Fixture(devices: 4)
        fixture.archive = RefusingArchive()
        let executor = fixture.makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false)) }
        #expect(task.status == .failed)
        #expect(task.error?.code == .archiveFailed)
        #expect(task.error?.message.contains("sw1.cfg") == true)
        #expect(fixture.transport.stats.connects == 0)
    }

    @Test("a hung archive write fails the device with ARCHIVE_FAILED after archiveTimeout; the task ends")
    func hungArchive() async throws {
        let clock = ManualClock()
        var fixture = Fixture(devices: 1)
        let archive = HungArchive()
        fixture.archive = archive
        fixture.configuration.archiveTimeout = .seconds(30)
        let executor = fixture.makeExecutor(clock: clock)
        let task = try await executor.withRunning { executor in
            let submitted = try await executor.submit(try filter(retryCount: 0))
            await archive.started.arrive()
            // Move time past the archive limit (and only that: the per-device timeout is 300 s).
            try await eventually("the archive deadline is registered") {
                clock.advance(by: .seconds(31))
                return try await executor.task(id: submitted.taskID)?.status.isFinal == true
            }
            return try await executor.waitForCompletion(of: submitted.taskID)
        }
        #expect(task.status == .failed)
        #expect(task.results.first?.errorCode == .archiveFailed)
        #expect(task.results.first?.errorMessage?.contains("did not finish within 30 s") == true)
    }

    @Test("the same idempotency key with a different request is IDEMPOTENCY_CONFLICT; the same request returns the task")
    func idempotencyConflict() async throws {
        let executor = Fixture(devices: 10).makeExecutor()
        try await executor.withRunning { executor in
            let first = try await executor.submit(try filter(vendor: "mock"), idempotencyKey: "k1")
            let same = try await executor.submit(try filter(asyncExecute: false, vendor: "mock"), idempotencyKey: "k1")
            #expect(same.taskID == first.taskID)
            let error = await #expect(throws: BackupError.self) {
                try await executor.submit(try filter(vendor: "cisco_ios"), idempotencyKey: "k1")
            }
            #expect(error?.code == .idempotencyConflict)
            #expect(error?.message.contains(first.taskID) == true)
            #expect(try await executor.tasks(TaskQuery()).total == 1)
        }
    }

    @Test("isRunning is true only while run() runs and takes work")
    func isRunning() async throws {
        let executor = Fixture(devices: 1).makeExecutor()
        #expect(!executor.isRunning)
        try await executor.withRunning { executor in
            try await eventually("run() started") { executor.isRunning }
        }
        #expect(!executor.isRunning)
    }
}
