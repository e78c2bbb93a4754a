import BackupExecutor
import BackupModels
import BackupServerKit
import BackupTestKit
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import TaskStore
import Testing

@Suite struct TaskRouteTests {
    @Test func backupAllSynchronousReturnsTheFinishedTask() async throws {
        let harness = Harness(devices: 3, failing: [2])
        try await harness.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            let task = try decode(BackupTask.self, response)
            #expect(task.status == .partial)
            #expect(task.total == 3 && task.successCount == 2 && task.failedCount == 1)
            #expect(task.errors.map(\.errorCode) == [.authFailed])
            #expect(task.createdBy == "api")
            // The wire format is the library's: snake_case.
            let text = String(buffer: response.body)
            #expect(text.contains(#""success_count":2"#) && text.contains(#""task_id":""#))
        }
    }

    @Test func backupAllAsynchronousAnswers202AtOnceWithLocation() async throws {
        let harness = Harness(devices: 2)
        harness.transport.setBehavior(.hang, for: 1)
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json("{}"))
            #expect(response.status == .accepted)
            let task = try decode(BackupTask.self, response)
            #expect(!task.status.isFinal)
            #expect(response.headers[.location] == "/configurations/backup-tasks/\(task.taskID)")
            let cancel = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/cancel", method: .post, headers: authorized)
            #expect(cancel.status == .ok)
            #expect(try decode(BackupTask.self, cancel).status == .cancelled)
        }
    }

    @Test func emptyBodyMeansAllDefaults() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized)
            #expect(response.status == .accepted)
            let task = try decode(BackupTask.self, response)
            #expect(task.filter == .default && task.total == 2)
        }
    }

    @Test func filterSelectsDevicesBySeedFields() async throws {
        let harness = Harness(devices: 3)
        try await harness.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized,
                body: json(#"{"device_ids": [1, 3], "async_execute": false, "priority": "high", "max_concurrent": 5, "timeout": 120, "retry_count": 0}"#))
            #expect(response.status == .ok)
            let task = try decode(BackupTask.self, response)
            #expect(task.devices.map(\.id) == [1, 3])
            #expect(task.priority == .high && task.filter.maxConcurrent == 5 && task.filter.timeout == 120 && task.filter.retryCount == 0)
            let none = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized,
                body: json(#"{"filter_vendor": "juniper_junos", "async_execute": false}"#))
            let empty = try decode(BackupTask.self, none)
            #expect(empty.total == 0 && empty.status == .completed)
        }
    }

    @Test func idempotencyKeyReturnsTheSameTask() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            var headers = authorized
            headers[HTTPField.Name("Idempotency-Key")!] = "nightly-2026-11-29"
            let first = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: headers, body: json(#"{"async_execute": false}"#)))
            let second = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: headers, body: json("{}"))
            #expect(second.status == .accepted)
            let again = try decode(BackupTask.self, second)
            #expect(again.taskID == first.taskID)
            #expect(again.idempotencyKey == "nightly-2026-11-29")
            let page = try decode(TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks", method: .get, headers: authorized))
            #expect(page.total == 1)
            let other = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#))
            #expect(try decode(BackupTask.self, other).taskID != first.taskID)
        }
    }

    @Test func listPagesAndFiltersByStatus() async throws {
        let harness = Harness(devices: 2, failing: [2])
        try await harness.withRunning { client in
            var ids: [String] = []
            for body in [#"{"async_execute": false}"#, #"{"async_execute": false, "device_ids": [1]}"#, #"{"async_execute": false}"#] {
                let task = try decode(
                    BackupTask.self, try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(body)))
                ids.append(task.taskID)
            }
            let firstPage = try decode(
                TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks?page=1&page_size=2", method: .get, headers: authorized))
            #expect(firstPage.total == 3 && firstPage.page == 1 && firstPage.pageSize == 2)
            #expect(firstPage.items.map(\.taskID) == [ids[2], ids[1]])  // newest first
            let secondPage = try decode(
                TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks?page=2&page_size=2", method: .get, headers: authorized))
            #expect(secondPage.items.map(\.taskID) == [ids[0]])
            let completed = try decode(
                TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks?status=completed", method: .get, headers: authorized))
            #expect(completed.items.map(\.taskID) == [ids[1]])
            let partial = try decode(
                TaskPage.self, try await client.execute(uri: "/configurations/backup-tasks?status=partial", method: .get, headers: authorized))
            #expect(Set(partial.items.map(\.taskID)) == [ids[0], ids[2]])
        }
    }

    @Test func getTaskHasResultsAndErrors() async throws {
        let harness = Harness(devices: 2, failing: [1])
        try await harness.withRunning { client in
            let created = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(created.taskID)", method: .get, headers: authorized)
            #expect(response.status == .ok)
            let task = try decode(BackupTask.self, response)
            #expect(task == created)
            #expect(task.results.count == 2)
            #expect(task.errors.first?.deviceID == 1)
        }
    }

    @Test func retryCreatesANewTaskForTheFailedDevicesOnly() async throws {
        let harness = Harness(devices: 3, failing: [2, 3])
        try await harness.withRunning { client in
            let original = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false, "priority": "low"}"#)))
            #expect(original.failedCount == 2)
            harness.transport.setBehavior(.config("hostname fixed\n"), for: 2)
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(original.taskID)/retry", method: .post, headers: authorized)
            #expect(response.status == .accepted)
            let retry = try decode(BackupTask.self, response)
            #expect(retry.taskID != original.taskID)
            #expect(retry.devices.map(\.id) == [2, 3])
            #expect(retry.priority == .low)
            #expect(retry.createdBy == "api (retry of \(original.taskID))")
            let done = try await harness.executor.waitForCompletion(of: retry.taskID)
            #expect(done.status == .partial && done.successCount == 1 && done.failedCount == 1)
        }
    }

    @Test func devicesAllListsTheInventoryWithoutSecrets() async throws {
        let harness = Harness(devices: 3)
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/devices/all", method: .get, headers: authorized)
            #expect(response.status == .ok)
            struct List: Decodable {
                var items: [Device]
                var total: Int
            }
            let list = try decode(List.self, response)
            #expect(list.total == 3 && list.items.map(\.name) == ["dev-1", "dev-2", "dev-3"])
            #expect(!String(buffer: response.body).contains("mock-password"))
        }
    }

    @Test func deviceHistoryIsNewestFirstAndLimited() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            var ids: [String] = []
            for _ in 0..<3 {
                let task = try decode(
                    BackupTask.self,
                    try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
                ids.append(task.taskID)
            }
            let response = try await client.execute(uri: "/configurations/devices/1/backup-history?limit=2", method: .get, headers: authorized)
            #expect(response.status == .ok)
            struct History: Decodable {
                var deviceID: DeviceID
                var items: [DeviceHistoryEntry]
                enum CodingKeys: String, CodingKey {
                    case deviceID = "device_id"
                    case items
                }
            }
            let history = try decode(History.self, response)
            #expect(history.deviceID == 1)
            #expect(history.items.map(\.taskID) == [ids[2], ids[1]])
            #expect(history.items.allSatisfy { $0.result.success && $0.result.deviceID == 1 })
        }
    }

    @Test func statusPageAndOpenAPIAreServedWithoutAuth() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(String(buffer: page.body).contains("<html"))
            let document = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(document.status == .ok)
            #expect(String(buffer: document.body).hasPrefix("openapi: 3.1"))
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
    }
}

@Suite struct ErrorTests {
    @Test func validationListsEveryBadField() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized,
                body: json(#"{"max_concurrent": 0, "timeout": 10, "retry_count": 9, "priority": "urgent", "filter_status": "broken", "async_execute": "yes"}"#))
            #expect(response.status == .unprocessableContent)
            let error = try errorBody(response)
            #expect(error.code == "VALIDATION_FAILED")
            let violations = error.details?.violations ?? []
            #expect(Set(violations.map(\.field)) == ["max_concurrent", "timeout", "retry_count", "priority", "filter_status", "async_execute"])
            let timeout = violations.first { $0.field == "timeout" }
            #expect(timeout?.value == "10" && timeout?.allowed == "60...3600")
            #expect(violations.first { $0.field == "max_concurrent" }?.allowed == "1...10")
            #expect(violations.first { $0.field == "retry_count" }?.allowed == "0...5")
            let page = try await harness.executor.tasks(try TaskQuery())
            #expect(page.total == 0)
        }
    }

    @Test func badQueryParametersAre422() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/backup-tasks?page=0&page_size=500&status=done", method: .get, headers: authorized)
            #expect(response.status == .unprocessableContent)
            let error = try errorBody(response)
            #expect(error.code == "VALIDATION_FAILED")
            #expect(error.details?.violations?.map(\.field) == ["page", "page_size", "status"])
            let notNumber = try await client.execute(uri: "/configurations/backup-tasks?page=abc", method: .get, headers: authorized)
            #expect(notNumber.status == .unprocessableContent)
            let limit = try await client.execute(uri: "/configurations/devices/1/backup-history?limit=0", method: .get, headers: authorized)
            #expect(limit.status == .unprocessableContent)
            #expect(try errorBody(limit).details?.violations?.first?.field == "limit")
        }
    }

    @Test func badIdempotencyKeyIs422() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            var headers = authorized
            headers[HTTPField.Name("Idempotency-Key")!] = String(repeating: "k", count: 201)
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: headers, body: json("{}"))
            #expect(response.status == .unprocessableContent)
            #expect(try errorBody(response).details?.violations?.first?.field == "Idempotency-Key")
        }
    }

    @Test(arguments: [#"{"max_concurrent": "#, "not json", "[1, 2]", "42"])
    func badJSONIs400(body: String) async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(body))
            #expect(response.status == .badRequest)
            #expect(try errorBody(response).code == "INVALID_JSON")
        }
    }

    @Test func unknownTaskIs404OnEveryTaskRoute() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let routes: [(String, HTTPRequest.Method)] = [
                ("/configurations/backup-tasks/nope", .get),
                ("/configurations/backup-tasks/nope/cancel", .post),
                ("/configurations/backup-tasks/nope/retry", .post),
                ("/configurations/backup-tasks/nope/events", .get),
                ("/configurations/backup-tasks/nope/ws", .get),
            ]
            for (uri, method) in routes {
                let response = try await client.execute(uri: uri, method: method, headers: authorized)
                #expect(response.status == .notFound, "\(method) \(uri)")
                let error = try errorBody(response)
                #expect(error.code == "TASK_NOT_FOUND")
                #expect(error.details?.taskID == "nope")
            }
        }
    }

    @Test func cancellingAFinishedTaskIs400() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/cancel", method: .post, headers: authorized)
            #expect(response.status == .badRequest)
            #expect(try errorBody(response).code == "TASK_ALREADY_FINISHED")
        }
    }

    @Test func retryingATaskWithoutFailuresIs400AndARunningOne409() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/retry", method: .post, headers: authorized)
            #expect(response.status == .badRequest)
            #expect(try errorBody(response).code == "NO_FAILED_DEVICES")

            harness.transport.setBehavior(.hang, for: 1)
            let running = try decode(
                BackupTask.self, try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json("{}")))
            let conflict = try await client.execute(uri: "/configurations/backup-tasks/\(running.taskID)/retry", method: .post, headers: authorized)
            #expect(conflict.status == .conflict)
            #expect(try errorBody(conflict).code == "TASK_NOT_FINISHED")
            _ = try await harness.executor.cancel(taskID: running.taskID)
        }
    }

    @Test func unknownDeviceHistoryIs404() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/devices/999/backup-history", method: .get, headers: authorized)
            #expect(response.status == .notFound)
            #expect(try errorBody(response).code == "DEVICE_NOT_FOUND")
            let known = try await client.execute(uri: "/configurations/devices/2/backup-history", method: .get, headers: authorized)
            #expect(known.status == .ok)
        }
    }

    @Test func unknownRouteIs404InTheSameShape() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/nothing/here", method: .get, headers: authorized)
            #expect(response.status == .notFound)
            #expect(try errorBody(response).code == "NOT_FOUND")
        }
    }

    @Test func plainGetOnTheWebSocketRouteIs426() async throws {
        let harness = Harness(devices: 1)
        try await harness.withRunning { client in
            let task = try decode(
                BackupTask.self,
                try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#)))
            let response = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/ws", method: .get, headers: authorized)
            #expect(response.status.code == 426)
            #expect(try errorBody(response).code == "WEBSOCKET_UPGRADE_REQUIRED")
        }
    }

    @Test func submittingWhileShuttingDownIs503() async throws {
        let harness = Harness()
        harness.executor.shutdown()
        try await harness.app.test(.router) { client in
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json("{}"))
            #expect(response.status == .serviceUnavailable)
            #expect(try errorBody(response).code == "SHUTTING_DOWN")
        }
    }
}
