import BackupExecutor
import BackupModels
import Foundation
import Hummingbird
import HummingbirdCore
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import HummingbirdWebSocket
import TaskStore

/// The route handlers. Bodies and responses use the library's wire format (snake_case, ISO 8601 dates).
struct BackupAPI: Sendable {
    let executor: BackupExecutor
    let inventory: any DeviceInventory
    let configuration: BackupServerConfiguration

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let maxIdempotencyKeyLength = 200
    /// The largest `page` of the task list (the library's bound, 1,000,000: with `page_size` at most 100 that
    /// reaches 100 million tasks). Larger pages are a 422 here, before any store sees them.
    static let maxPage = TaskQuery.maxPage

    var policy: BackupPolicy { executor.configuration.policy }

    // MARK: Tasks

    /// `POST /configurations/backup-all`: 202 with the new task (`async_execute`, the default) or 200
    /// with the finished task. A repeated `Idempotency-Key` with the same filter returns the task it
    /// created; with a different filter it is a 409 `IDEMPOTENCY_CONFLICT`. The body is decoded strictly
    /// (unknown keys are a 422 naming them).
    func backupAll(_ request: Request, context: some RequestContext) async throws -> Response {
        let key = try idempotencyKey(request)
        let filter = try await JSONBody.decode(BackupFilter.self, from: request, policy: policy)
        let task: BackupTask
        do {
            task = try await executor.submit(filter, createdBy: "api", idempotencyKey: key)
        } catch let error as BackupError {
            throw APIError.from(error)
        }
        context.logger.info("backup task submitted", metadata: ["task_id": "\(task.taskID)", "devices": "\(task.total)"])
        return try taskResponse(task, accepted: filter.asyncExecute)
    }

    /// `GET /configurations/backup-tasks?page=&page_size=&status=`: newest first.
    func listTasks(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var violations: [FieldViolation] = []
        let page = Self.intParameter(query, "page", default: 1, allowed: 1...Self.maxPage, allowedText: "1...\(Self.maxPage)", into: &violations)
        let pageSize = Self.intParameter(
            query, "page_size", default: 20, allowed: 1...TaskQuery.maxPageSize, allowedText: "1...\(TaskQuery.maxPageSize)", into: &violations)
        var status: BackupTaskStatus?
        if let text = query["status"].map(String.init) {
            status = BackupTaskStatus(rawValue: text)
            if status == nil {
                violations.append(FieldViolation(
                    field: "status", value: text, allowed: BackupTaskStatus.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        if !violations.isEmpty { throw ValidationError(violations: violations) }
        let taskQuery = try TaskQuery(status: status, page: page, pageSize: pageSize)
        return try JSONResponse.make(status: .ok, try await executor.tasks(taskQuery))
    }

    /// `GET /configurations/backup-tasks/{task_id}`.
    func getTask(_ taskID: String) async throws -> Response {
        try JSONResponse.make(status: .ok, try await existingTask(taskID))
    }

    /// `POST /configurations/backup-tasks/{task_id}/cancel`: 200 with the cancelled task; 400
    /// `TASK_ALREADY_FINISHED` for a finished one.
    func cancel(_ taskID: String) async throws -> Response {
        do {
            return try JSONResponse.make(status: .ok, try await executor.cancel(taskID: taskID))
        } catch let error as BackupError {
            throw APIError.from(error, taskID: taskID)
        }
    }

    /// `POST /configurations/backup-tasks/{task_id}/retry`: a new task (202) for the devices that did not
    /// succeed in a finished task — failed, cancelled, or never backed up because the task itself failed.
    /// Same settings as the original task, with its devices named explicitly (`device_ids`).
    func retry(_ taskID: String, _ request: Request) async throws -> Response {
        let key = try idempotencyKey(request)
        let original = try await existingTask(taskID)
        guard original.status.isFinal else {
            throw APIError(
                .conflict, code: APIError.Code.taskNotFinished,
                message: "Task \(taskID) is still \(original.status.rawValue); retry it when it has finished (or cancel it).",
                details: .object(["task_id": .string(taskID)]))
        }
        // Every device of the task without a successful result (failed, cancelled, never reached), in the
        // task's own device order — not in the order the devices happened to finish.
        let succeeded = Set(original.results.filter(\.success).map(\.deviceID))
        let failed = original.devices.map(\.id).filter { !succeeded.contains($0) }
        guard !failed.isEmpty else {
            throw APIError(
                .badRequest, code: APIError.Code.noFailedDevices,
                message: "Every device of task \(taskID) was backed up; there is nothing to retry.",
                details: .object(["task_id": .string(taskID)]))
        }
        var filter = original.filter
        filter.deviceIDs = failed
        filter.filterStatus = nil
        filter.filterVendor = nil
        filter.asyncExecute = true
        let task: BackupTask
        do {
            task = try await executor.submit(filter, createdBy: "api (retry of \(taskID))", idempotencyKey: key)
        } catch let error as BackupError {
            throw APIError.from(error, taskID: taskID)
        }
        return try taskResponse(task, accepted: true)
    }

    // MARK: Devices

    /// `GET /devices/all`: the inventory (no secrets: devices name their credentials, never hold them).
    func devices() async throws -> Response {
        let devices = try await inventory.devices()
        return try JSONResponse.make(status: .ok, DeviceList(items: devices, total: devices.count))
    }

    /// `GET /configurations/devices/{device_id}/backup-history?limit=`: newest first.
    func history(deviceID raw: String, _ request: Request) async throws -> Response {
        var violations: [FieldViolation] = []
        let limits = configuration.historyLimit
        let limit = Self.intParameter(
            request.uri.queryParameters, "limit", default: min(20, limits.upperBound), allowed: limits,
            allowedText: "\(limits.lowerBound)...\(limits.upperBound)", into: &violations)
        if !violations.isEmpty { throw ValidationError(violations: violations) }
        let deviceID = DeviceID(raw)
        let entries = try await executor.history(deviceID: deviceID, limit: limit)
        if entries.isEmpty, try await !inventory.devices().contains(where: { $0.id == deviceID }) {
            throw APIError(
                .notFound, code: APIError.Code.deviceNotFound, message: "No device has the id \(raw), and no backup history names it.",
                details: .object(["device_id": .string(raw)]))
        }
        return try JSONResponse.make(status: .ok, DeviceHistory(deviceID: deviceID, items: entries))
    }

    // MARK: Live progress

    /// `GET …/{task_id}/events`: Server-Sent Events. One `event:` per ``BackupEvent`` (its `type`), the
    /// event's JSON as `data:`; the first is the task's snapshot, the last `task_finished`, then the
    /// stream ends. (It also ends without `task_finished` if the server shuts down before the task ends.)
    func serverSentEvents(_ taskID: String) async throws -> Response {
        let stream: BackupEventStream
        do {
            stream = try await executor.events(for: taskID)
        } catch let error as BackupError {
            throw APIError.from(error, taskID: taskID)
        }
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let encoder = JSONEncoder.deviceBackup()
            for await event in stream {
                let data = try encoder.encode(event)
                var buffer = ByteBuffer(string: "event: \(event.kind.name)\ndata: ")
                buffer.writeBytes(data)
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        })
    }

    /// Checks a WebSocket request before upgrading: the task must exist and the request must be an upgrade.
    func shouldUpgrade(_ request: Request, taskID: String) async throws -> RouterShouldUpgrade {
        _ = try await existingTask(taskID)
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw APIError(
                .init(code: 426, reasonPhrase: "Upgrade Required"), code: APIError.Code.upgradeRequired,
                message: "This route speaks WebSocket: connect with a WebSocket client (or use …/events for Server-Sent Events).",
                headers: [.upgrade: "websocket"])
        }
        return .upgrade([:])
    }

    /// `GET …/{task_id}/ws` after the upgrade: the same JSON as the SSE route, one text frame per event;
    /// the server closes normally after `task_finished`. Messages from the client are ignored.
    func streamWebSocket(taskID: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let stream: BackupEventStream
        do {
            stream = try await executor.events(for: taskID)
        } catch {
            try? await outbound.close(.unexpectedServerError, reason: "\(BackupError.wrapping(error).code)")
            return
        }
        await withTaskGroup(of: Void.self) { group in
            // Reading the inbound side notices a client that went away (and answers pings).
            group.addTask {
                do {
                    for try await _ in inbound {}
                } catch {}
            }
            group.addTask {
                let encoder = JSONEncoder.deviceBackup()
                for await event in stream {
                    guard let data = try? encoder.encode(event) else { continue }
                    do {
                        try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
                    } catch {
                        return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: Files

    func staticFile(_ name: String, contentType: String, context: some RequestContext) async throws -> Response {
        try await file(configuration.publicDirectory + "/" + name, contentType: contentType, context: context)
    }

    func file(_ path: String, contentType: String, context: some RequestContext) async throws -> Response {
        let body = try await FileIO().loadFile(path: path, context: context)
        return Response(
            status: .ok,
            headers: [
                .contentType: contentType, .cacheControl: "no-cache",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
                HTTPField.Name("X-Frame-Options")!: "DENY",
            ],
            body: body)
    }

    // MARK: Helpers

    private func existingTask(_ taskID: String) async throws -> BackupTask {
        let task: BackupTask?
        do {
            task = try await executor.task(id: taskID)
        } catch let error as BackupError {
            throw APIError.from(error, taskID: taskID)
        }
        guard let task else { throw APIError.from(BackupError.taskNotFound(taskID), taskID: taskID) }
        return task
    }

    private func taskResponse(_ task: BackupTask, accepted: Bool) throws -> Response {
        try JSONResponse.make(
            status: accepted ? .accepted : .ok, task,
            headers: [.location: "/configurations/backup-tasks/\(task.taskID)"])
    }

    private func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[Self.idempotencyKey] else { return nil }
        guard !key.isEmpty, key.count <= Self.maxIdempotencyKeyLength, key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F })
        else {
            throw ValidationError(violations: [
                FieldViolation(
                    field: "Idempotency-Key", value: String(key.prefix(40)),
                    allowed: "1...\(Self.maxIdempotencyKeyLength) visible ASCII characters")
            ])
        }
        return key
    }

    private static func intParameter(
        _ query: FlatDictionary<Substring, Substring>, _ name: String, default value: Int, allowed: ClosedRange<Int>, allowedText: String,
        into violations: inout [FieldViolation]
    ) -> Int {
        // Absent: the default. Present, even empty (`?page=`), it must be a number in range.
        guard let text = query[Substring(name)] else { return value }
        guard let number = Int(text), allowed.contains(number) else {
            violations.append(FieldViolation(field: name, value: String(text), allowed: allowedText))
            return value
        }
        return number
    }
}

/// `GET /devices/all`.
struct DeviceList: Encodable {
    var items: [Device]
    var total: Int
}

/// `GET /configurations/devices/{device_id}/backup-history`.
struct DeviceHistory: Encodable {
    var deviceID: DeviceID
    var items: [DeviceHistoryEntry]

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case items
    }
}
