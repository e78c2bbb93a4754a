import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation
import TaskStore
import Testing

@Suite("Cancellation", .timeLimit(.minutes(2)))
struct CancellationTests {
    @Test("cancelling a 1,000-device task in flight: cancelled quickly, sessions closed, results kept, rest CANCELLED")
    func cancelInFlight() async throws {
        let transport = MockTransport(defaultBehavior: .hang)
        for id in 1...100 { transport.setBehavior(.config("hostname dev-\(id)\n"), for: DeviceID(id)) }
        var fixture = Fixture(devices: 1_000, transport: transport)
        fixture.configuration.maxConcurrentSessions = 20
        let executor = fixture.makeExecutor()
        let (task, elapsed) = try await executor.withRunning { executor in
            let submitted = try await executor.submit(try filter(maxConcurrent: 10))
            try await eventually("100 done and 10 hanging") {
                let current = try await executor.task(id: submitted.taskID)
                return current?.successCount == 100 && transport.stats.openSessions == 10
            }
            let start = ContinuousClock.now
            let cancelled = try await executor.cancel(taskID: submitted.taskID)
            return (cancelled, ContinuousClock.now - start)
        }
        #expect(task.status == .cancelled)
        #expect(elapsed < .seconds(5))
        #expect(task.results.count == 1_000)
        #expect(task.successCount == 100)
        #expect(task.failedCount == 900)
        #expect(task.results.filter { !$0.success }.allSatisfy { $0.errorCode == .cancelled })
        #expect(task.results.filter(\.success).allSatisfy { $0.deviceID.intValue! <= 100 })
        // The ten that were running report the attempt they were in; the others never started.
        #expect(task.results.filter { $0.errorCode == .cancelled && $0.attempts == 1 }.count == 10)
        #expect(transport.stats.openSessions == 0)
        #expect(transport.stats.sessionsClosed == transport.stats.sessionsOpened)
        let stored = try #require(try await executor.task(id: task.taskID))
        #expect(stored.status == .cancelled)
        #expect(stored.completedAt != nil)
        #expect(try await executor.tasks(TaskQuery(status: .running)).total == 0)
    }

    @Test("cancelling a finished task is TASK_ALREADY_FINISHED; an unknown one TASK_NOT_FOUND")
    func cancelErrors() async throws {
        let executor = Fixture(devices: 2).makeExecutor()
        try await executor.withRunning { executor in
            let task = try await executor.submit(try filter(asyncExecute: false))
            #expect(task.status == .completed)
            let finished = await #expect(throws: BackupError.self) { try await executor.cancel(taskID: task.taskID) }
            #expect(finished?.code == .taskAlreadyFinished)
            let unknown = await #expect(throws: BackupError.self) { try await executor.cancel(taskID: "no-such-task") }
            #expect(unknown?.code == .taskNotFound)
        }
    }

    @Test("cancelling the Swift task awaiting a synchronous submission cancels the backup task")
    func cancelAwaitingTask() async throws {
        let transport = MockTransport(defaultBehavior: .hang)
        let executor = Fixture(devices: 5, transport: transport).makeExecutor()
        try await executor.withRunning { executor in
            let waiter = Task { try await executor.submit(try filter(asyncExecute: false)) }
            try await eventually("sessions open") { transport.stats.openSessions == 3 }
            waiter.cancel()
            let result = await waiter.result
            let task = try result.get()
            #expect(task.status == .cancelled)
            #expect(task.results.count == 5)
            #expect(transport.stats.openSessions == 0)
        }
    }

    @Test("a task cancelled before the executor runs it ends cancelled with every device CANCELLED")
    func cancelPending() async throws {
        let executor = Fixture(devices: 3).makeExecutor()
        let task = try await executor.submit(try filter())
        #expect(task.status == .pending)
        let cancelled = try await executor.cancel(taskID: task.taskID)
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.results.map(\.errorCode) == [.cancelled, .cancelled, .cancelled])
    }
}
