import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Logging
import Synchronization
import TaskStore
import Testing

/// A store that forwards every call to an in-memory store; subclasses override the calls a test bends.
class ForwardingTaskStore: TaskStore, @unchecked Sendable {
    let inner = InMemoryTaskStore()

    func create(_ task: BackupTask) async throws -> TaskCreation { try await inner.create(task) }
    func markRunning(taskID: String, at date: Date, resumed: Bool) async throws { try await inner.markRunning(taskID: taskID, at: date, resumed: resumed) }
    func record(_ results: [DeviceBackupResult], taskID: String) async throws { try await inner.record(results, taskID: taskID) }
    func finish(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) async throws {
        try await inner.finish(taskID: taskID, status: status, message: message, error: error, at: date)
    }
    func task(id: String) async throws -> BackupTask? { try await inner.task(id: id) }
    func summary(id: String) async throws -> BackupTaskSummary? { try await inner.summary(id: id) }
    func task(idempotencyKey: String) async throws -> BackupTask? { try await inner.task(idempotencyKey: idempotencyKey) }
    func tasks(_ query: TaskQuery) async throws -> TaskPage { try await inner.tasks(query) }
    func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry] { try await inner.history(deviceID: deviceID, limit: limit) }
    func unfinishedTasks() async throws -> [BackupTask] { try await inner.unfinishedTasks() }
    func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int { try await inner.prune(policy, now: now) }
}

/// A store that fails `record` after `okRecords` successful calls (to simulate a broken disk).
final class FailingStore: ForwardingTaskStore, @unchecked Sendable {
    private let remaining: Mutex<Int>
    init(okRecords: Int) { remaining = Mutex(okRecords) }

    override func record(_ results: [DeviceBackupResult], taskID: String) async throws {
        let ok = remaining.withLock { value in
            value -= 1
            return value >= 0
        }
        guard ok else { throw BackupError(.storeFailed, "disk full (simulated)") }
        try await inner.record(results, taskID: taskID)
    }
}

struct BrokenArchive: ConfigArchive {
    func store(_ config: RetrievedConfig, for device: DeviceRef, context: ArchiveContext) async throws -> ArchiveReceipt {
        throw BackupError(.archiveFailed, "read-only file system (simulated)")
    }
    func currentConfig(for device: DeviceRef) async throws -> String? { nil }
}

struct PlainError: Error, CustomStringConvertible { var description: String }

@Suite("Task lifecycle", .timeLimit(.minutes(2)))
struct TaskLifecycleTests {
    @Test("a synchronous submission returns the finished task with per-device results in the seed's shape")
    func syncSubmission() async throws {
        let transport = MockTransport(defaultBehavior: .config("hostname r\ninterface x\n"))
        transport.setBehavior(.alwaysFail(BackupError(.authFailed, "bad password")), for: 3)
        let executor = Fixture(devices: 4, transport: transport).makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false), createdBy: "alice") }
        #expect(task.status == .partial)
        #expect(task.total == 4 && task.completed == 4 && task.successCount == 3 && task.failedCount == 1)
        #expect(task.progressPercentage == 100)
        #expect(task.createdBy == "alice")
        #expect(task.startedAt != nil && task.completedAt != nil)
        let ok = try #require(task.result(for: 1))
        #expect(ok.configID == configContentID("hostname r\ninterface x\n"))
        #expect(ok.configSize == 23)
        #expect(ok.changed == true)
        #expect(task.errors.map(\.deviceID) == [3])
        #expect(task.errors.first?.errorCode == .authFailed)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder.deviceBackup().encode(task)) as! [String: Any]
        for key in ["task_id", "status", "total", "completed", "success_count", "failed_count", "progress_percentage", "message",
                    "created_at", "started_at", "completed_at", "created_by", "priority", "filter", "errors", "results"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let results = try #require(json["results"] as? [[String: Any]])
        // Results are in finishing order: check a successful device's, wherever it finished.
        let success = try #require(results.first { $0["device_id"] as? String == "1" || $0["device_id"] as? Int == 1 })
        for key in ["device_id", "device_name", "success", "config_id", "config_size", "execution_time", "attempts"] {
            #expect(success[key] != nil, "missing \(key)")
        }
    }

    @Test("two concurrent submissions with one idempotency key create one task")
    func idempotency() async throws {
        let executor = Fixture(devices: 10).makeExecutor()
        try await executor.withRunning { executor in
            async let first = executor.submit(try filter(), idempotencyKey: "nightly-2026-11-29")
            async let second = executor.submit(try filter(), idempotencyKey: "nightly-2026-11-29")
            let (a, b) = try await (first, second)
            #expect(a.taskID == b.taskID)
            let third = try await executor.submit(try filter(), idempotencyKey: "nightly-2026-11-29")
            #expect(third.taskID == a.taskID)
            let done = try await executor.waitForCompletion(of: a.taskID)
            #expect(done.status == .completed)
            #expect(try await executor.tasks(TaskQuery()).total == 1)
            let other = try await executor.submit(try filter(), idempotencyKey: "another")
            #expect(other.taskID != a.taskID)
        }
    }

    @Test("the store failing mid-task ends the task failed with STORE_FAILED details, never running")
    func storeFailure() async throws {
        var fixture = Fixture(devices: 50)
        let store = FailingStore(okRecords: 10)
        fixture.store = store
        let executor = fixture.makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(maxConcurrent: 4, asyncExecute: false)) }
        #expect(task.status == .failed)
        #expect(task.error?.code == .storeFailed)
        #expect(task.message.contains("disk full"))
        #expect(task.errors.last?.errorCode == .storeFailed)
        #expect(try await store.unfinishedTasks().isEmpty)
    }

    @Test("archive failures become ARCHIVE_FAILED results; non-BackupErrors become INTERNAL")
    func archiveAndUnknownErrors() async throws {
        var fixture = Fixture(devices: 1)
        fixture.archive = BrokenArchive()
        let executor = fixture.makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false)) }
        #expect(task.results.first?.errorCode == .archiveFailed)
        #expect(task.status == .failed)

        let transport = MockTransport(defaultBehavior: .throwing(PlainError(description: "boom")))
        let executor2 = Fixture(devices: 1, transport: transport).makeExecutor()
        let task2 = try await executor2.withRunning { try await $0.submit(try filter(asyncExecute: false)) }
        #expect(task2.results.first?.errorCode == .internal)
        #expect(task2.results.first?.errorMessage?.contains("boom") == true)
        #expect(task2.results.first?.attempts == 1)
    }

    @Test("explicit device ids: unknown ids are DEVICE_NOT_FOUND; unknown vendors UNKNOWN_VENDOR")
    func notFoundAndUnknownVendor() async throws {
        var fixture = Fixture(devices: 3)
        fixture.inventory.deviceList[2].vendor = "acme_os"
        let executor = BackupExecutor(
            configuration: fixture.configuration, inventory: fixture.inventory, transport: fixture.transport,
            retriever: ExecCommandRetriever(commandsByVendor: ["cisco_ios": ["show running-config"]], defaultCommands: nil),
            archive: InMemoryArchive())
        let task = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false, deviceIDs: [1, 3, 99])) }
        #expect(task.total == 3)
        #expect(task.result(for: 1)?.success == true)
        #expect(task.result(for: 3)?.errorCode == .unknownVendor)
        #expect(task.result(for: 99)?.errorCode == .deviceNotFound)
        #expect(task.result(for: 99)?.attempts == 0)
    }

    @Test("filters select by status and vendor; no match completes at once with the seed's message")
    func filterSelection() async throws {
        var fixture = Fixture(devices: 6)
        fixture.inventory.deviceList[0].status = .maintenance
        fixture.inventory.deviceList[1].vendor = "juniper_junos"
        let executor = fixture.makeExecutor()
        try await executor.withRunning { executor in
            let juniper = try await executor.submit(try filter(asyncExecute: false, vendor: "juniper_junos"))
            #expect(juniper.devices.map(\.id) == [2])
            let maintenance = try await executor.submit(try filter(asyncExecute: false, status: .maintenance))
            #expect(maintenance.devices.map(\.id) == [1])
            let none = try await executor.submit(try filter(asyncExecute: false, status: .offline))
            #expect(none.status == .completed)
            #expect(none.total == 0)
            #expect(none.message == "No devices match the filter.")
            #expect(none.progressPercentage == 100)
        }
    }

    @Test("the executor validates filters against its policy, which it may widen")
    func policy() async throws {
        let wide = try filter(maxConcurrent: 200, policy: .widened(maxConcurrent: 500))
        let executor = Fixture(devices: 1).makeExecutor()
        let error = await #expect(throws: ValidationError.self) { try await executor.submit(wide) }
        #expect(error?.violations.map(\.field) == ["max_concurrent"])
        var fixture = Fixture(devices: 1)
        fixture.configuration.policy = .widened(maxConcurrent: 500)
        let wideExecutor = fixture.makeExecutor()
        let task = try await wideExecutor.withRunning { try await $0.submit(wide) }
        #expect(task.filter.maxConcurrent == 200)
    }

    @Test("notify_on_complete sends the finished task to the notifier; otherwise nothing is sent")
    func notification() async throws {
        var fixture = Fixture(devices: 2)
        let notifier = RecordingNotifier()
        fixture.notifier = notifier
        let executor = fixture.makeExecutor()
        try await executor.withRunning { executor in
            let quiet = try await executor.submit(try filter(asyncExecute: false))
            let loud = try await executor.submit(try filter(asyncExecute: false, notify: true))
            #expect(notifier.notified.map(\.taskID) == [loud.taskID])
            #expect(notifier.notified.first?.status == .completed)
            #expect(quiet.status == .completed)
        }
    }

    @Test("task listing pages newest first with a status filter; device history is newest first with a limit")
    func queries() async throws {
        let transport = MockTransport(defaultBehavior: .config("a"))
        transport.setBehavior(.alwaysFail(BackupError(.authFailed, "no")), for: 2)
        let counter = Mutex(0)
        var fixture = Fixture(devices: 2, transport: transport)
        fixture.configuration.hostKeyPolicy = .acceptAnyUnsafe
        let executor = BackupExecutor(
            configuration: fixture.configuration, inventory: fixture.inventory, transport: transport, archive: InMemoryArchive(),
            wallClock: {
                // Strictly increasing timestamps make "newest first" observable.
                let n = counter.withLock { value in
                    value += 1
                    return value
                }
                return Date(timeIntervalSince1970: 1_800_000_000 + Double(n))
            })
        let ids = try await executor.withRunning { executor in
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await executor.submit(try filter(asyncExecute: false, deviceIDs: [1])).taskID) }
            ids.append(try await executor.submit(try filter(asyncExecute: false, deviceIDs: [2])).taskID)
            return ids
        }
        let page1 = try await executor.tasks(TaskQuery(page: 1, pageSize: 4))
        #expect(page1.total == 6)
        #expect(page1.items.map(\.taskID) == Array(ids.reversed().prefix(4)))
        let page2 = try await executor.tasks(TaskQuery(page: 2, pageSize: 4))
        #expect(page2.items.map(\.taskID) == Array(ids.reversed().dropFirst(4)))
        let failed = try await executor.tasks(TaskQuery(status: .failed))
        #expect(failed.items.map(\.taskID) == [ids[5]])
        let history = try await executor.history(deviceID: 1, limit: 3)
        #expect(history.map(\.taskID) == [ids[4], ids[3], ids[2]])
        #expect(history.allSatisfy { $0.result.success })
        #expect(throws: ValidationError.self) { try TaskQuery(page: 0, pageSize: 500) }
    }
}

import MetricsTestKit

@Suite("Metrics")
struct MetricsTests {
    @Test("results are counted by outcome and error code; durations and attempts recorded; in-flight returns to 0")
    func counters() async throws {
        let metrics = TestMetrics()
        let transport = MockTransport(defaultBehavior: .config("c"))
        transport.setBehavior(.alwaysFail(BackupError(.authFailed, "no")), for: 2)
        let fixture = Fixture(devices: 3, transport: transport)
        let executor = BackupExecutor(
            configuration: fixture.configuration, inventory: fixture.inventory, transport: transport, archive: InMemoryArchive(),
            metricsFactory: metrics)
        _ = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false)) }
        #expect(try metrics.expectCounter("devicebackup_device_results_total", [("result", "success")]).totalValue == 2)
        #expect(try metrics.expectCounter("devicebackup_device_results_total", [("result", "failure"), ("code", "AUTH_FAILED")]).totalValue == 1)
        #expect(try metrics.expectCounter("devicebackup_attempts_total").totalValue == 3)
        #expect(try metrics.expectTimer("devicebackup_device_duration_seconds").values.count == 3)
        #expect(try metrics.expectMeter("devicebackup_sessions_in_flight").lastValue == 0)
        #expect(try metrics.expectCounter("devicebackup_tasks_finished_total", [("status", "partial")]).totalValue == 1)
    }
}

@Suite("Git archive through the executor", .timeLimit(.minutes(2)))
struct GitArchiveExecutorTests {
    @Test("changed devices get the task's git_commit_id; an unchanged second run commits nothing")
    func commitIDs() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("exec-git-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        var fixture = Fixture(devices: 4)
        fixture.archive = try await GitArchive(repository: repo)
        let executor = fixture.makeExecutor()
        let (first, second) = try await executor.withRunning { executor in
            (try await executor.submit(try filter(asyncExecute: false)), try await executor.submit(try filter(asyncExecute: false)))
        }
        let commits = Set(first.results.compactMap(\.gitCommitID))
        #expect(commits.count == 1)
        #expect(first.results.allSatisfy { $0.gitCommitID != nil && $0.changed == true })
        #expect(second.results.allSatisfy { $0.gitCommitID == nil && $0.changed == false })
        #expect(second.status == .completed)
    }
}
