import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation
import TaskStore
import Testing

@Suite("Concurrency and priority", .timeLimit(.minutes(2)))
struct ConcurrencyTests {
    @Test("1,000 devices at max_concurrent 5 never exceed 5 sessions, and reach 5")
    func perTaskCap() async throws {
        let barrier = Barrier(count: 5)
        let transport = MockTransport(defaultBehavior: .custom { _ in
            // The first five sessions wait for each other: the cap must let five run at once.
            if barrier.arrived < 5 { await barrier.arrive() }
            await Task.yield()
            return "hostname r\n"
        })
        var fixture = Fixture(devices: 1_000, transport: transport)
        fixture.configuration.maxConcurrentSessions = 100
        let executor = fixture.makeExecutor()
        let task = try await executor.withRunning { executor in
            try await executor.submit(try filter(maxConcurrent: 5, asyncExecute: false))
        }
        #expect(task.status == .completed)
        #expect(task.successCount == 1_000)
        #expect(transport.stats.peakOpenSessions == 5)
        #expect(executor.sessionUsage.peak == 5)
        #expect(transport.stats.openSessions == 0)
    }

    @Test("three tasks submitted together never exceed the executor-wide cap")
    func executorCap() async throws {
        let barrier = Barrier(count: 4)
        let transport = MockTransport(defaultBehavior: .custom { _ in
            if barrier.arrived < 4 { await barrier.arrive() }
            await Task.yield()
            return "x\n"
        })
        var fixture = Fixture(devices: 300, transport: transport)
        fixture.configuration.maxConcurrentSessions = 4
        let executor = fixture.makeExecutor()
        let tasks = try await executor.withRunning { executor in
            async let a = executor.submit(try filter(maxConcurrent: 3, asyncExecute: false, deviceIDs: (1...100).map { DeviceID($0) }))
            async let b = executor.submit(try filter(maxConcurrent: 3, asyncExecute: false, deviceIDs: (101...200).map { DeviceID($0) }))
            async let c = executor.submit(try filter(maxConcurrent: 3, asyncExecute: false, deviceIDs: (201...300).map { DeviceID($0) }))
            return try await [a, b, c]
        }
        #expect(tasks.allSatisfy { $0.status == .completed && $0.successCount == 100 })
        #expect(transport.stats.peakOpenSessions == 4)
        #expect(executor.sessionUsage.peak == 4)
    }

    @Test("waiting high-priority work starts before waiting normal and low work")
    func priorityOrder() async throws {
        let gate = Gate()
        let transport = MockTransport(defaultBehavior: .config("x\n"))
        transport.setBehavior(.custom { _ in await gate.wait(); return "x\n" }, for: 1)
        var fixture = Fixture(devices: 12, transport: transport)
        fixture.configuration.maxConcurrentSessions = 1
        let executor = fixture.makeExecutor()
        try await executor.withRunning { executor in
            // Low task: devices 1-4, device 1 holds the only slot until the gate opens.
            let low = try await executor.submit(try filter(maxConcurrent: 2, priority: .low, deviceIDs: [1, 2, 3, 4]))
            try await eventually("device 1 connected") { gate.arrived == 1 }
            let normal = try await executor.submit(try filter(maxConcurrent: 1, priority: .normal, deviceIDs: [5, 6, 7, 8]))
            let high = try await executor.submit(try filter(maxConcurrent: 1, priority: .high, deviceIDs: [9, 10, 11, 12]))
            // One lane of the low task, and one lane each of the normal and high tasks wait for the slot.
            try await eventually("three waiters") { executor.sessionUsage.waiting == 3 }
            gate.open()
            for id in [low.taskID, normal.taskID, high.taskID] {
                let done = try await executor.waitForCompletion(of: id)
                #expect(done.status == .completed)
            }
        }
        let order = transport.stats.connectOrder.map { $0.intValue! }
        #expect(order == [1, 9, 10, 11, 12, 5, 6, 7, 8, 2, 3, 4])
    }
}
