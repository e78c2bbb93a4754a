import AsyncHTTPClient
import BackupExecutor
import BackupModels
import BackupServerKit
import BackupTestKit
import NIOHTTP1
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import TaskStore
import Testing

@Suite struct RestartTests {
    @Test func tasksSurviveARestartWithAFileStore() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let firstStore = try await FileTaskStore.open(directory: directory)
        let first = Harness(devices: 3, failing: [2], store: firstStore)
        let taskID = try await first.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#))
            return try decode(BackupTask.self, response).taskID
        }
        try await firstStore.close()

        let secondStore = try await FileTaskStore.open(directory: directory)
        let second = Harness(devices: 3, failing: [2], store: secondStore)
        try await second.withRunning { client in
            let page = try decode(TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks", method: .get, headers: authorized))
            #expect(page.items.map(\.taskID) == [taskID])
            let task = try decode(
                BackupTask.self, try await client.execute(uri: "/configurations/backup-tasks/\(taskID)", method: .get, headers: authorized))
            #expect(task.status == .partial)
            #expect(task.results.count == 3 && task.successCount == 2)
            #expect(task.errors.map(\.deviceID) == [2])
            let history = try await client.execute(uri: "/configurations/devices/1/backup-history", method: .get, headers: authorized)
            #expect(String(buffer: history.body).contains(taskID))
        }
        try await secondStore.close()
    }

    /// The whole server (HTTP + executor in one ServiceGroup) stops gracefully with a task still running:
    /// the task is recorded unfinished, and the next start resumes it to completion.
    @Test func gracefulShutdownRecordsARunningTaskAndTheNextStartResumesIt() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let firstStore = try await FileTaskStore.open(directory: directory)
        let first = Harness(devices: 2, store: firstStore)
        first.transport.setBehavior(.hang, for: 2)
        let running = Gate()
        let ports = Collector<Int>()
        let app = buildApplication(
            configuration: first.configuration, executor: first.executor, inventory: first.inventory, readiness: first.readiness
        ) { port in
            if let port { ports.append(port) }
            running.open()
        }
        let server = BackupServer(application: app, executor: first.executor, readiness: first.readiness, logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        let taskID: String = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await running.wait()
            let port = try #require(ports.all.first)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/configurations/backup-all")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(Harness.token)")
            request.body = .bytes(ByteBuffer(string: "{}"))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
            #expect(response.status == .accepted)
            let body = try await response.body.collect(upTo: 1 << 20)
            let task = try JSONDecoder.deviceBackup().decode(BackupTask.self, from: Data(body.readableBytesView))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return task.taskID
        }
        try await firstStore.close()

        let secondStore = try await FileTaskStore.open(directory: directory)
        let recorded = try #require(try await secondStore.task(id: taskID))
        #expect(!recorded.status.isFinal, "left unfinished, to be resumed")
        // Device 2 answers now. Recovery is manual here only so that the test knows when the task is
        // running again (the server's default, .resume, does the same on start).
        let second = Harness(devices: 2, store: secondStore, recovery: .manual)
        try await second.withRunning { client in
            try await second.executor.resume(taskID: taskID)
            let done = try await second.executor.waitForCompletion(of: taskID)
            #expect(done.status == .completed && done.results.count == 2)
            let listed = try decode(TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks", method: .get, headers: authorized))
            #expect(listed.items.map(\.taskID) == [taskID])
        }
        try await secondStore.close()
    }
}
