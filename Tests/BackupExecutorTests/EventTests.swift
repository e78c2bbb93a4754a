import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation
import TaskStore
import Testing

@Suite("Live events", .timeLimit(.minutes(2)))
struct EventTests {
    @Test("a subscriber sees the snapshot, then every device event in order, then task_finished")
    func fullStream() async throws {
        let gate = Gate()
        let transport = MockTransport(defaultBehavior: .custom { _ in await gate.wait(); return "cfg\n" })
        let executor = Fixture(devices: 20, transport: transport).makeExecutor()
        let (events, final) = try await executor.withRunning { executor in
            let task = try await executor.submit(try filter(maxConcurrent: 4))
            let stream = try await executor.events(for: task.taskID)
            gate.open()
            var events: [BackupEvent] = []
            for await event in stream { events.append(event) }
            return (events, try await executor.waitForCompletion(of: task.taskID))
        }
        guard case .snapshot(let snapshot) = events.first?.kind else {
            Issue.record("first event is not a snapshot")
            return
        }
        #expect(snapshot.taskID == final.taskID)
        let finished = events.compactMap { event -> DeviceBackupResult? in
            if case .deviceFinished(let result) = event.kind { return result }
            return nil
        }
        // Every device exactly once overall (snapshot results + live events), counters monotone.
        let seen = snapshot.results.map(\.deviceID) + finished.map(\.deviceID)
        #expect(Set(seen).count == 20 && seen.count == 20)
        let live = events.dropFirst()
        let sequences = live.map(\.sequence)
        #expect(sequences == sequences.sorted())
        #expect(Set(sequences).count == sequences.count)
        let completed = live.map(\.progress.completed)
        #expect(completed == completed.sorted())
        guard case .taskFinished(let summary) = events.last?.kind else {
            Issue.record("last event is not task_finished")
            return
        }
        #expect(summary.status == .completed)
        #expect(events.last?.progress.completed == 20)
    }

    @Test("a late subscriber to a finished task gets the snapshot and the final event")
    func lateSubscriber() async throws {
        let executor = Fixture(devices: 3).makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(asyncExecute: false)) }
        var kinds: [String] = []
        for await event in try await executor.events(for: task.taskID) { kinds.append(event.kind.name) }
        #expect(kinds == ["snapshot", "task_finished"])
        let error = await #expect(throws: BackupError.self) { try await executor.events(for: "nope") }
        #expect(error?.code == .taskNotFound)
    }

    @Test("many subscribers each get the events; a subscriber that never reads does not slow the task and loses only old events")
    func slowSubscriber() async throws {
        var fixture = Fixture(devices: 300)
        fixture.configuration.eventBufferLimit = 16
        let gate = Gate()
        fixture.transport = MockTransport(defaultBehavior: .custom { _ in await gate.wait(); return "c" })
        let executor = fixture.makeExecutor()
        try await executor.withRunning { executor in
            let task = try await executor.submit(try filter(maxConcurrent: 10))
            let stalled = try await executor.events(for: task.taskID)  // never read until the end
            let reader = try await executor.events(for: task.taskID)
            let readerTask = Task {
                var finishedCount = 0
                var dropped = 0
                for await event in reader {
                    if case .deviceFinished = event.kind { finishedCount += 1 }
                    if case .eventsDropped(let count) = event.kind { dropped += count }
                }
                return (finishedCount, dropped)
            }
            gate.open()
            let done = try await executor.waitForCompletion(of: task.taskID)
            #expect(done.status == .completed)
            _ = await readerTask.value
            // The stalled subscriber kept at most its buffer, was told how many it lost, and still ends.
            var kinds: [BackupEvent] = []
            for await event in stalled { kinds.append(event) }
            #expect(kinds.count <= 16 + 2)
            let droppedMarker = kinds.compactMap { event -> Int? in
                if case .eventsDropped(let count) = event.kind { return count }
                return nil
            }
            #expect(droppedMarker.count == 1)
            #expect((droppedMarker.first ?? 0) > 500)
            #expect(kinds.last?.isTerminal == true)
            #expect(kinds.last?.progress.completed == 300)
        }
    }

    @Test("events encode to JSON with a type and the seed's field names, and decode back")
    func eventJSON() throws {
        let result = DeviceBackupResult(deviceID: 7, deviceName: "r7", success: true, configID: "abc", configSize: 3, executionTime: 0.5, attempts: 1, finishedAt: Date(timeIntervalSince1970: 1_800_000_000))
        let event = BackupEvent(taskID: "t", sequence: 3, timestamp: Date(timeIntervalSince1970: 1_800_000_000), progress: BackupProgress(total: 10, completed: 4, successCount: 4), kind: .deviceFinished(result))
        let data = try JSONEncoder.deviceBackup().encode(event)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"type\":\"device_finished\""))
        #expect(text.contains("\"device_id\":7"))
        #expect(text.contains("\"progress_percentage\":40"))
        let decoded = try JSONDecoder.deviceBackup().decode(BackupEvent.self, from: data)
        #expect(decoded == event)
    }
}
