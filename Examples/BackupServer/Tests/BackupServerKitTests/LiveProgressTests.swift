import AsyncHTTPClient
import BackupExecutor
import BackupModels
import BackupTestKit
import BackupServerKit
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWSClient
import NIOHTTP1
import NIOWebSocket
import NIOCore
import Testing

/// Live progress over SSE and WebSocket against a live server.
///
/// No timing margins: the task is submitted while the executor is not running yet (it waits `pending`),
/// the client subscribes and receives the snapshot, and only then does the executor start. So the client
/// must see every event of the task, in order.
@Suite struct LiveProgressTests {
    /// Checks the full event sequence of a 4-device task whose device 3 fails.
    static func checkCompleteSequence(_ events: [BackupEvent], taskID: String) throws {
        let names = events.map(\.kind.name)
        #expect(names.first == "snapshot")
        #expect(names.last == "task_finished")
        #expect(!names.contains("events_dropped"))
        guard case .snapshot(let snapshot)? = events.first?.kind else { Issue.record("no snapshot first"); return }
        #expect(snapshot.taskID == taskID && snapshot.status == .pending && snapshot.completed == 0)
        let live = events.dropFirst()
        #expect(live.map(\.sequence) == Array(1...UInt64(live.count)), "every event, in order")
        #expect(live.first?.kind.name == "task_started")
        var started: Set<DeviceID> = []
        var finished: [DeviceID] = []
        for event in live {
            #expect(event.taskID == taskID)
            switch event.kind {
            case .deviceStarted(let device, _):
                started.insert(device.id)
            case .deviceFinished(let result):
                #expect(started.contains(result.deviceID), "device_started before device_finished")
                finished.append(result.deviceID)
                #expect(event.progress.completed == finished.count)
                #expect(result.success == (result.deviceID != 3))
            default:
                break
            }
        }
        #expect(Set(finished) == [1, 2, 3, 4] && finished.count == 4)
        guard case .taskFinished(let summary)? = events.last?.kind else { return }
        #expect(summary.status == .partial && summary.successCount == 3 && summary.failedCount == 1)
    }

    @Test func serverSentEventsDeliverEveryDeviceEventInOrder() async throws {
        let harness = Harness(devices: 4, failing: [3])
        let executor = harness.executor
        try await harness.app.test(.live) { client in
            let port = try #require(client.port)
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"max_concurrent": 2}"#)))
            #expect(task.status == .pending)

            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/configurations/backup-tasks/\(task.taskID)/events")
            request.headers.add(name: "Authorization", value: "Bearer \(Harness.token)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)

            let subscribed = Gate()
            async let running: Void = {
                await subscribed.wait()
                try await executor.run()
            }()
            var text = ""
            do {
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if text.contains("\n\n") { subscribed.open() }  // the snapshot is here: start the executor
                }
            } catch {
                subscribed.open()
                executor.shutdown()
                throw error
            }
            subscribed.open()
            executor.shutdown()
            try await running

            let blocks = parseServerSentEvents(text)
            let events = try blocks.map { try JSONDecoder.deviceBackup().decode(BackupEvent.self, from: Data($0.data.utf8)) }
            #expect(blocks.map(\.name) == events.map(\.kind.name), "event: names the JSON's type")
            try Self.checkCompleteSequence(events, taskID: task.taskID)
        }
    }

    @Test func webSocketDeliversEveryDeviceEventInOrder() async throws {
        let harness = Harness(devices: 4, failing: [3])
        let executor = harness.executor
        try await harness.app.test(.live) { client in
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"max_concurrent": 2}"#)))
            let subscribed = Gate()
            async let running: Void = {
                await subscribed.wait()
                try await executor.run()
            }()
            let frames = Collector<String>()
            do {
                let close = try await client.ws(
                    "/configurations/backup-tasks/\(task.taskID)/ws",
                    configuration: .init(additionalHeaders: [.authorization: "Bearer \(Harness.token)"])
                ) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        guard case .text(let text) = message else { continue }
                        frames.append(text)
                        subscribed.open()  // the snapshot is here: start the executor
                    }
                }
                #expect(close?.closeCode == .normalClosure)
            } catch {
                subscribed.open()
                executor.shutdown()
                throw error
            }
            subscribed.open()
            executor.shutdown()
            try await running

            let events = try frames.all.map { try JSONDecoder.deviceBackup().decode(BackupEvent.self, from: Data($0.utf8)) }
            try Self.checkCompleteSequence(events, taskID: task.taskID)
        }
    }

    @Test func webSocketWithoutTokenIsRefused() async throws {
        let harness = Harness(devices: 1)
        try await harness.executor.withRunning { executor in
            try await harness.app.test(.live) { client in
                let task = try decode(
                    BackupTask.self,
                    try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
                for headers: HTTPFields in [[:], [.authorization: "Bearer not-the-token-at-all"]] {
                    let frames = Collector<String>()
                    await #expect(throws: (any Error).self) {
                        try await client.ws("/configurations/backup-tasks/\(task.taskID)/ws", configuration: .init(additionalHeaders: headers)) { inbound, _, _ in
                            for try await message in inbound.messages(maxSize: 1 << 20) {
                                if case .text(let text) = message { frames.append(text) }
                            }
                        }
                    }
                    #expect(frames.all.isEmpty)
                }
            }
        }
    }

    @Test func eventsOfAFinishedTaskAreSnapshotAndCompletion() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/events", method: .get, headers: authorized)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            let blocks = parseServerSentEvents(String(buffer: response.body))
            #expect(blocks.map(\.name) == ["snapshot", "task_finished"])
            let last = try JSONDecoder.deviceBackup().decode(BackupEvent.self, from: Data(blocks[1].data.utf8))
            #expect(last.progress.completed == 2)
        }
    }
}
