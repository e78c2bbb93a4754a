import BackupModels
import Foundation
import Testing

@testable import TaskStore

/// The stores the shared conformance suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case file

    var testDescription: String { rawValue }
}

/// A fresh, empty directory under the system's temporary directory, removed by ``remove()``.
struct TemporaryDirectory: Sendable {
    let path: String

    init(_ name: String = "store") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/taskstore-tests-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A directory at `path` that may not exist yet (the store creates it).
    init(existing path: String) { self.path = path }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    var journal: String { path + "/journal.jsonl" }

    func journalBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: journal))) }

    func writeJournal(_ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: journal)) }

    /// The journal's lines, without their newlines (a torn last line included).
    func journalLines() throws -> [String] {
        let text = String(decoding: try journalBytes(), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Every file in the directory with its bytes.
    func contents() throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return files
    }
}

/// Runs `body` with a fresh store of `kind`; the file store lives in a temporary directory that is removed after.
func withStore<T>(_ kind: StoreKind, _ body: (any TaskStore) async throws -> T) async throws -> T {
    switch kind {
    case .memory:
        return try await body(InMemoryTaskStore())
    case .file:
        let directory = try TemporaryDirectory(kind.rawValue)
        defer { directory.remove() }
        return try await withFileStore(directory) { try await body($0) }
    }
}

/// Opens the store in `directory`, runs `body`, closes the store.
func withFileStore<T>(
    _ directory: TemporaryDirectory, options: FileTaskStore.Options = .init(), _ body: (FileTaskStore) async throws -> T
) async throws -> T {
    let store = try await FileTaskStore.open(directory: directory.path, options: options)
    do {
        let value = try await body(store)
        try await store.close()
        return value
    } catch {
        try? await store.close()
        throw error
    }
}

/// A fixed point in time plus `seconds` (whole seconds: exact through the wire format).
func at(_ seconds: Int) -> Date { Date(timeIntervalSince1970: 1_750_000_000 + Double(seconds)) }

func makeTask(
    _ id: String, key: String? = nil, devices: Int = 3, createdAt: Date = at(0), status: BackupTaskStatus = .pending
) -> BackupTask {
    let refs = (0..<devices).map { DeviceRef(id: DeviceID($0 + 1), name: "dev-\($0 + 1)", vendor: "cisco_ios") }
    let summary = BackupTaskSummary(
        taskID: id, status: status, total: devices, message: "Queued \(devices) devices", createdAt: createdAt,
        createdBy: "tests", priority: .normal, filter: .default, idempotencyKey: key)
    return BackupTask(summary: summary, devices: refs)
}

func success(_ device: Int, at date: Date = at(10), config: String = "cfg") -> DeviceBackupResult {
    DeviceBackupResult(
        deviceID: DeviceID(device), deviceName: "dev-\(device)", success: true, configID: "\(config)-\(device)",
        configSize: 1000 + device, changed: true, executionTime: 1.5, attempts: 1, startedAt: at(5), finishedAt: date)
}

func failure(_ device: Int, at date: Date = at(10)) -> DeviceBackupResult {
    DeviceBackupResult(
        deviceID: DeviceID(device), deviceName: "dev-\(device)", success: false, errorCode: .authFailed,
        errorMessage: "Authentication failed", executionTime: 0.5, attempts: 1, startedAt: at(5), finishedAt: date)
}

/// Everything a store can tell, for comparing two stores (or one store before and after a reopen).
struct StoreDump: Equatable, CustomStringConvertible {
    var tasks: [BackupTask]
    var pages: [TaskPage]
    var unfinished: [BackupTask]
    var history: [String: [DeviceHistoryEntry]]
    var keys: [String: String]

    var description: String { "StoreDump(\(tasks.count) tasks, \(unfinished.count) unfinished)" }
}

/// Reads everything from `store`: every page of every status filter, every task, its summary and key, history
/// of `devices` with a small and a large limit, unfinished tasks.
func dump(_ store: any TaskStore, devices: ClosedRange<Int> = 1...10) async throws -> StoreDump {
    var pages: [TaskPage] = []
    var tasks: [BackupTask] = []
    var keys: [String: String] = [:]
    for status in [nil] + BackupTaskStatus.allCases.map(Optional.some) {
        var page = 1
        while true {
            let result = try await store.tasks(TaskQuery(status: status, page: page, pageSize: 7))
            pages.append(result)
            if status == nil {
                for summary in result.items {
                    let task = try #require(try await store.task(id: summary.taskID))
                    #expect(try await store.summary(id: summary.taskID) == task.summary)
                    tasks.append(task)
                    if let key = summary.idempotencyKey {
                        keys[key] = try await store.task(idempotencyKey: key)?.taskID
                    }
                }
            }
            if page * 7 >= result.total { break }
            page += 1
        }
    }
    var history: [String: [DeviceHistoryEntry]] = [:]
    for device in devices {
        for limit in [1, 1000] {
            history["\(device)/\(limit)"] = try await store.history(deviceID: DeviceID(device), limit: limit)
        }
    }
    return StoreDump(tasks: tasks, pages: pages, unfinished: try await store.unfinishedTasks(), history: history, keys: keys)
}

extension BackupError {
    /// Whether this is a `STORE_FAILED` error whose message contains every one of `parts`.
    func isStoreFailed(mentioning parts: String...) -> Bool {
        code == .storeFailed && parts.allSatisfy { message.contains($0) }
    }
}

/// The error `body` throws, as a `BackupError` (`nil` if it does not throw).
func backupError(_ body: () async throws -> Void) async -> BackupError? {
    do {
        try await body()
        return nil
    } catch let error as BackupError {
        return error
    } catch {
        Issue.record("expected a BackupError, got \(error)")
        return nil
    }
}
