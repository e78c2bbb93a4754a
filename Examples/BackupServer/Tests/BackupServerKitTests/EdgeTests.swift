import BackupExecutor
import BackupModels
import BackupServerKit
import BackupTestKit
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Synchronization
import TaskStore
import Testing

/// Issue 11, the API's edges: paging and limit parameters that once crashed the server, strict filters,
/// idempotency conflicts, readiness.
@Suite struct PagingEdgeTests {
    static let hostile = [
        "9223372036854775807", "-9223372036854775808", "99999999999999999999999", "-1", "0", "1e3", "0x10", " 1", "",
    ]

    /// One authenticated request with `page=Int.max` used to take the whole server down (an overflow in the
    /// store's offset). Every paging and limit parameter of every route is bounded at the edge now.
    @Test func everyPagingAndLimitParameterIsBounded() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            _ = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"async_execute": false}"#))
            let routes = [
                ("/configurations/backup-tasks?page=", "page"),
                ("/configurations/backup-tasks?page_size=", "page_size"),
                ("/configurations/devices/1/backup-history?limit=", "limit"),
            ]
            for (prefix, field) in routes {
                for value in Self.hostile {
                    let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
                    let response = try await client.execute(uri: prefix + encoded, method: .get, headers: authorized)
                    #expect(response.status == .unprocessableContent, "\(field)=\(value)")
                    let error = try errorBody(response)
                    #expect(error.code == "VALIDATION_FAILED")
                    #expect(error.details?.violations?.map(\.field) == [field], "\(field)=\(value)")
                }
            }
            // The largest allowed page is past the end: an empty page, not a crash.
            let last = try await client.execute(uri: "/configurations/backup-tasks?page=1000000&page_size=100", method: .get, headers: authorized)
            #expect(last.status == .ok)
            let page = try decode(TaskPage.self, last)
            #expect(page.items.isEmpty && page.total == 1 && page.page == 1_000_000)
            let beyond = try await client.execute(uri: "/configurations/backup-tasks?page=1000001", method: .get, headers: authorized)
            #expect(try errorBody(beyond).details?.violations?.first?.allowed == "1...1000000")
            // An empty status is not "any status" (schemathesis found it accepted).
            let emptyStatus = try await client.execute(uri: "/configurations/backup-tasks?status=", method: .get, headers: authorized)
            #expect(emptyStatus.status == .unprocessableContent)
            #expect(try errorBody(emptyStatus).details?.violations?.map(\.field) == ["status"])
            // The server still answers.
            let list = try await client.execute(uri: "/configurations/backup-tasks?page=1&page_size=100", method: .get, headers: authorized)
            #expect(try decode(TaskPage.self, list).items.count == 1)
        }
    }

    @Test func historyLimitConfigurationIsCapped() {
        var configuration = BackupServerConfiguration(auth: .disabledInsecure, historyLimit: 0...Int.max)
        #expect(configuration.historyLimit == 1...BackupServerConfiguration.maxHistoryLimit)
        configuration.historyLimit = 5...50
        #expect(configuration.historyLimit == 5...50)
    }
}

@Suite struct MethodTests {
    /// schemathesis: a known path asked with a method it does not answer is 405 with `Allow`, not 404.
    @Test func knownPathWithAnotherMethodIs405WithAllow() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            let cases: [(String, HTTPRequest.Method, String)] = [
                ("/health", .init("TRACE")!, "GET"), ("/configurations/backup-all", .get, "POST"),
                ("/configurations/backup-tasks/some-task", .delete, "GET"), ("/configurations/backup-tasks/x/cancel", .put, "POST"),
            ]
            for (uri, method, allow) in cases {
                let response = try await client.execute(uri: uri, method: method, headers: authorized)
                #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                #expect(try errorBody(response).code == "METHOD_NOT_ALLOWED")
            }
            let unknown = try await client.execute(uri: "/configurations/nothing-here", method: .get, headers: authorized)
            #expect(unknown.status == .notFound)
        }
    }
}

@Suite struct StrictFilterTests {
    @Test func unknownFilterKeyIs422AndBacksUpNothing() async throws {
        let harness = Harness(devices: 3)
        try await harness.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"filter_vendr": "cisco_ios"}"#))
            #expect(response.status == .unprocessableContent)
            let error = try errorBody(response)
            #expect(error.code == "VALIDATION_FAILED")
            #expect(error.details?.violations?.map(\.field) == ["filter_vendr"])
            #expect(try await harness.executor.tasks(try TaskQuery()).total == 0)
            #expect(harness.transport.stats.connects == 0)
        }
    }

    @Test(arguments: [
        (#"{"device_ids": null}"#, "device_ids"), (#"{"max_concurrent": null}"#, "max_concurrent"), (#"{"async_execute": null}"#, "async_execute"),
    ])
    func nullWhereAValueIsExpectedIs422(body: String, field: String) async throws {
        let harness = Harness(devices: 3)
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(body))
            #expect(response.status == .unprocessableContent)
            #expect(try errorBody(response).details?.violations?.map(\.field) == [field])
            #expect(try await harness.executor.tasks(try TaskQuery()).total == 0)
        }
    }

    @Test func seedNullsForOptionalStringsAreAccepted() async throws {
        let harness = Harness(devices: 2)
        try await harness.withRunning { client in
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized,
                body: json(#"{"filter_status": null, "filter_vendor": null, "async_execute": false}"#))
            #expect(response.status == .ok)
            #expect(try decode(BackupTask.self, response).total == 2)
        }
    }

    @Test func tooManyDeviceIDsIs422() async throws {
        let harness = Harness(devices: 1)
        try await harness.withRunning { client in
            let ids = (1...(BackupPolicy.defaultMaxDeviceIDs + 1)).map(String.init).joined(separator: ",")
            let response = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: authorized, body: json(#"{"device_ids": [\#(ids)]}"#))
            #expect(response.status == .unprocessableContent)
            let violation = try errorBody(response).details?.violations?.first
            #expect(violation?.field == "device_ids" && violation?.allowed == "at most 10000 entries")
        }
    }
}

@Suite struct IdempotencyConflictTests {
    @Test func sameKeyWithAnotherRequestIs409AndTheSameRequestGetsTheOldTask() async throws {
        let harness = Harness(devices: 3, failing: [2])
        try await harness.withRunning { client in
            var headers = authorized
            headers[HTTPField.Name("Idempotency-Key")!] = "nightly-1"
            let first = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: headers, body: json(#"{"device_ids": [1, 2], "async_execute": false}"#))
            #expect(first.status == .ok)
            let task = try decode(BackupTask.self, first)
            #expect(task.status == .partial)
            let conflict = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: headers, body: json(#"{"device_ids": [3]}"#))
            #expect(conflict.status == .conflict)
            #expect(conflict.headers[.contentType]?.hasPrefix("application/json") == true)
            let error = try errorBody(conflict)
            #expect(error.code == "IDEMPOTENCY_CONFLICT")
            #expect(error.message.contains(task.taskID))
            // The same request (waiting or not) still answers with the first task.
            let same = try await client.execute(
                uri: "/configurations/backup-all", method: .post, headers: headers, body: json(#"{"device_ids": [1, 2]}"#))
            #expect(same.status == .accepted)
            #expect(try decode(BackupTask.self, same).taskID == task.taskID)
            // A retry (a new request: device 2 only) under the key of the first request conflicts too.
            let retry = try await client.execute(uri: "/configurations/backup-tasks/\(task.taskID)/retry", method: .post, headers: headers)
            #expect(retry.status == .conflict)
            #expect(try errorBody(retry).code == "IDEMPOTENCY_CONFLICT")
            #expect(try await harness.executor.tasks(try TaskQuery()).total == 1)
        }
    }
}

/// A store whose writes can be refused (as a store that hit an I/O error refuses them) or hang.
final class RefusingStore: TaskStore {
    enum Mode { case normal, refuse, hang }
    let base = InMemoryTaskStore()
    private let mode = Mutex(Mode.normal)

    func set(_ value: Mode) { mode.withLock { $0 = value } }

    private func write() async throws {
        switch mode.withLock({ $0 }) {
        case .normal: return
        case .refuse: throw BackupError(.storeFailed, "Test: the store refuses writes.")
        case .hang:
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
    }

    func create(_ task: BackupTask) async throws -> TaskCreation {
        try await write()
        return try await base.create(task)
    }
    func markRunning(taskID: String, at date: Date, resumed: Bool) async throws {
        try await write()
        try await base.markRunning(taskID: taskID, at: date, resumed: resumed)
    }
    func record(_ results: [DeviceBackupResult], taskID: String) async throws {
        try await write()
        try await base.record(results, taskID: taskID)
    }
    func finish(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) async throws {
        try await write()
        try await base.finish(taskID: taskID, status: status, message: message, error: error, at: date)
    }
    func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int {
        try await write()
        return try await base.prune(policy, now: now)
    }
    func task(id: String) async throws -> BackupTask? { try await base.task(id: id) }
    func summary(id: String) async throws -> BackupTaskSummary? { try await base.summary(id: id) }
    func task(idempotencyKey: String) async throws -> BackupTask? { try await base.task(idempotencyKey: idempotencyKey) }
    func tasks(_ query: TaskQuery) async throws -> TaskPage { try await base.tasks(query) }
    func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry] { try await base.history(deviceID: deviceID, limit: limit) }
    func unfinishedTasks() async throws -> [BackupTask] { try await base.unfinishedTasks() }
}

@Suite struct HealthTests {
    struct Readiness: Decodable {
        var status: String
        var checks: [String: String]
    }

    @Test func liveAndReadyWhileRunning() async throws {
        let harness = Harness()
        try await harness.withRunning { client in
            for uri in ["/health", "/health/live"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .ok, "\(uri)")
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            let body = try decode(Readiness.self, ready)
            #expect(body.status == "ready" && body.checks == ["executor": "running", "store": "ok"])
        }
    }

    @Test func aStoreThatRefusesWritesMakesTheServerNotReadyButStillLive() async throws {
        let store = RefusingStore()
        let harness = Harness(store: store)
        try await harness.withRunning { client in
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
            store.set(.refuse)
            let notReady = try await client.execute(uri: "/health/ready", method: .get)
            #expect(notReady.status == .serviceUnavailable)
            #expect(notReady.headers[.contentType]?.hasPrefix("application/json") == true)
            let body = try decode(Readiness.self, notReady)
            #expect(body.status == "not_ready" && body.checks == ["executor": "running", "store": "STORE_FAILED"])
            #expect(!String(buffer: notReady.body).contains("Test: the store refuses writes"), "no details on a public route")
            #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            store.set(.normal)
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
        }
    }

    @Test func aStoreThatHangsIsNotReadyWithinTheCheckTimeout() async throws {
        let store = RefusingStore()
        let harness = Harness(store: store)
        let readiness = ServerReadiness(store: store, storeCheckTimeout: .milliseconds(200))
        try await readiness.withRunning(harness.executor) {
            store.set(.hang)
            let report = await readiness.check()
            #expect(!report.isReady && report.store == "TIMEOUT" && report.executor == .running)
            store.set(.normal)
        }
    }

    @Test func notReadyBeforeTheExecutorRunsAndAfterItStopped() async throws {
        let harness = Harness()
        let before = await harness.readiness.check()
        #expect(before.executor == .notStarted && before.store == "ok" && !before.isReady)
        let router = harness.router
        let app = Application(router: router)
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/health/ready", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(try decode(Readiness.self, response).checks["executor"] == "not_started")
        }
        try await harness.readiness.withRunning(harness.executor) {
            #expect(await harness.readiness.check().isReady)
        }
        #expect(harness.readiness.executorState == .stopped)
        #expect(!(await harness.readiness.check().isReady))
    }
}
