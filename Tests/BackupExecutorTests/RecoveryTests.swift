import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TaskStore
import Testing

@Suite("Shutdown and recovery", .timeLimit(.minutes(2)))
struct RecoveryTests {
    /// Runs a task whose devices 6… hang, shuts the executor down (grace 0) once 5 devices are done,
    /// and returns the store with the interrupted task.
    func interruptedTask(store: InMemoryTaskStore) async throws -> String {
        let transport = MockTransport(defaultBehavior: .hang)
        for id in 1...5 { transport.setBehavior(.config("c\(id)"), for: DeviceID(id)) }
        var fixture = Fixture(devices: 20, transport: transport)
        fixture.store = store
        fixture.configuration.shutdownGracePeriod = .zero
        let executor = fixture.makeExecutor()
        let taskID = try await executor.withRunning { executor in
            let task = try await executor.submit(try filter(maxConcurrent: 2))
            try await eventually("5 done") { try await store.summary(id: task.taskID)?.completed == 5 }
            try await eventually("2 hanging") { transport.stats.openSessions == 2 }
            return task.taskID
        }
        #expect(transport.stats.openSessions == 0)
        return taskID
    }

    @Test("graceful shutdown leaves an unfinished task resumable; a new executor resumes only the remaining devices")
    func resume() async throws {
        let store = InMemoryTaskStore()
        let taskID = try await interruptedTask(store: store)
        let interrupted = try #require(try await store.task(id: taskID))
        #expect(interrupted.status == .running)
        #expect(interrupted.completed == 5)

        let transport = MockTransport(defaultBehavior: .config("after restart"))
        var fixture = Fixture(devices: 20, transport: transport)
        fixture.store = store
        let executor = fixture.makeExecutor()
        let final = try await executor.withRunning { executor in try await executor.waitForCompletionEventually(taskID) }
        #expect(final.status == .completed)
        #expect(final.results.count == 20)
        #expect(Set(final.results.map(\.deviceID)).count == 20)
        #expect(final.resumeCount == 1)
        #expect(transport.stats.connects == 15)
        #expect(transport.stats.attemptsByDevice[1] == nil)
    }

    @Test("recovery policy markFailed ends interrupted tasks failed with INTERRUPTED, keeping finished results")
    func markFailed() async throws {
        let store = InMemoryTaskStore()
        let taskID = try await interruptedTask(store: store)
        var fixture = Fixture(devices: 20)
        fixture.store = store
        fixture.configuration.recovery = .markFailed
        let executor = fixture.makeExecutor()
        let final = try await executor.withRunning { executor in try await executor.waitForCompletionEventually(taskID) }
        #expect(final.status == .failed)
        #expect(final.error?.code == .interrupted)
        #expect(final.message.contains("Interrupted"))
        #expect(final.results.count == 5)
        #expect(fixture.transport.stats.connects == 0)
    }

    @Test("the executor runs as a swift-service-lifecycle service and stops on graceful shutdown")
    func serviceGroup() async throws {
        let executor = Fixture(devices: 5).makeExecutor()
        let group = ServiceGroup(services: [executor], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let task = try await executor.submit(try filter(asyncExecute: false))
            #expect(task.status == .completed)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let error = await #expect(throws: BackupError.self) { try await executor.submit(try filter()) }
        #expect(error?.code == .shuttingDown)
    }
}

extension BackupExecutor {
    /// Waits for a task that recovery will pick up (it may not be registered yet when called).
    func waitForCompletionEventually(_ taskID: String) async throws -> BackupTask {
        while true {
            if let task = try await task(id: taskID), task.status.isFinal { return task }
            do {
                return try await waitForCompletion(of: taskID)
            } catch let error as BackupError where error.code == .shuttingDown {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }
}

@Suite("Resuming cancelled tasks", .timeLimit(.minutes(2)))
struct ResumeTests {
    @Test("a cancelled task resumes: only CANCELLED devices run again, each device ends with one result", arguments: ["memory", "file"])
    func resumeCancelled(storeKind: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store: any TaskStore = storeKind == "memory" ? InMemoryTaskStore() : try await FileTaskStore.open(directory: directory)
        let first = MockTransport(defaultBehavior: .hang)
        for id in 1...10 { first.setBehavior(.config("c\(id)"), for: DeviceID(id)) }
        var fixture = Fixture(devices: 20, transport: first)
        fixture.store = store
        let cancelled = try await fixture.makeExecutor().withRunning { executor in
            let task = try await executor.submit(try filter(maxConcurrent: 2))
            try await eventually("10 done, 2 hanging") {
                try await store.summary(id: task.taskID)?.completed == 10 && first.stats.openSessions == 2
            }
            return try await executor.cancel(taskID: task.taskID)
        }
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.results.filter { $0.errorCode == .cancelled }.count == 10)

        let second = MockTransport(defaultBehavior: .config("after"))
        fixture.transport = second
        let executor = fixture.makeExecutor()
        // Resume before run(): the task waits, so a subscriber sees everything from task_resumed on.
        _ = try await executor.resume(taskID: cancelled.taskID)
        let events = try await executor.events(for: cancelled.taskID)
        let (resumed, kinds) = try await executor.withRunning { executor in
            var kinds: [String] = []
            for await event in events { kinds.append(event.kind.name) }
            return (try await executor.waitForCompletion(of: cancelled.taskID), kinds)
        }
        #expect(Array(kinds.prefix(2)) == ["snapshot", "task_resumed"])
        #expect(kinds.filter { $0 == "device_finished" }.count == 10)
        #expect(kinds.last == "task_finished")
        #expect(resumed.status == .completed)
        #expect(resumed.results.count == 20)
        #expect(Set(resumed.results.map(\.deviceID)).count == 20)
        #expect(resumed.successCount == 20 && resumed.failedCount == 0)
        #expect(resumed.resumeCount == 1)
        #expect(second.stats.connects == 10)
        #expect(second.stats.attemptsByDevice[1] == nil)
        let history = try await store.history(deviceID: 15, limit: 10)
        #expect(history.count == 1)
        #expect(history.first?.result.success == true)

        let again = await #expect(throws: BackupError.self) {
            try await fixture.makeExecutor().resume(taskID: cancelled.taskID)
        }
        #expect(again?.code == .taskAlreadyFinished)
        if let file = store as? FileTaskStore {
            try await file.close()
            let reopened = try await FileTaskStore.open(directory: directory)
            let task = try #require(try await reopened.task(id: cancelled.taskID))
            #expect(task.results.count == 20 && task.successCount == 20 && task.status == .completed)
            try await reopened.close()
        }
    }
}

/// A store whose `create` writes the task, then holds `submit` back until the executor has started running
/// some task (`markRunning`) or two seconds have passed: the window in which a starting executor's recovery
/// sees a task that `submit` has stored but not yet registered.
final class SlowCreateStore: ForwardingTaskStore, @unchecked Sendable {
    private let state = Mutex<(created: Bool, runningMarks: [String])>((false, []))

    var created: Bool { state.withLock { $0.created } }
    var runningMarks: [String] { state.withLock { $0.runningMarks } }

    override func create(_ task: BackupTask) async throws -> TaskCreation {
        let creation = try await inner.create(task)
        state.withLock { $0.created = true }
        let deadline = ContinuousClock.now + .seconds(2)
        while state.withLock({ $0.runningMarks.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        return creation
    }

    override func markRunning(taskID: String, at date: Date, resumed: Bool) async throws {
        state.withLock { $0.runningMarks.append(taskID) }
        try await inner.markRunning(taskID: taskID, at: date, resumed: resumed)
    }
}

@Suite("Submit while the executor starts", .timeLimit(.minutes(2)))
struct StartupRaceTests {
    @Test("a task stored by submit but not yet registered is not recovered as interrupted: it runs once")
    func submitDuringStartup() async throws {
        let store = SlowCreateStore()
        let transport = MockTransport(defaultBehavior: .config("hostname r\n"))
        var fixture = Fixture(devices: 3, transport: transport)
        fixture.store = store
        let notifier = RecordingNotifier()
        fixture.notifier = notifier
        let executor = fixture.makeExecutor()
        async let submitted = executor.submit(try filter(notify: true))
        try await eventually("the task is in the store") { store.created }
        // The executor starts now: its recovery lists the stored task while submit is still in create().
        let runner = Task { try await executor.run() }
        let task = try await submitted
        let final = try await executor.waitForCompletion(of: task.taskID)
        executor.shutdown()
        try await runner.value
        #expect(final.status == .completed)
        #expect(final.results.count == 3)
        #expect(transport.stats.connects == 3, "the task ran more than once")
        #expect(store.runningMarks == [task.taskID], "started \(store.runningMarks.count) times")
        #expect(notifier.notified.count == 1)
    }
}
