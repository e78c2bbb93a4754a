import BackupExecutor
import BackupModels
import BackupServerKit
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import NIOCore
import Synchronization
import TaskStore
import Testing

/// One server under test: an executor over a mock transport and the app built around it.
struct Harness: Sendable {
    static let token = "test-token-0123456789abcdef"

    let executor: BackupExecutor
    let transport: MockTransport
    let inventory: StaticInventory
    let configuration: BackupServerConfiguration
    let readiness: ServerReadiness

    /// `count` devices `dev-1`… (ids 1…count, cisco_ios, online); `failing` devices always fail with
    /// `AUTH_FAILED` (never retried, so no backoff sleeps); others serve a config at once.
    init(devices count: Int = 3, failing: Set<Int> = [], store: any TaskStore = InMemoryTaskStore(), auth: AuthMode = .bearerToken(Harness.token),
        recovery: RecoveryPolicy = .resume
    ) {
        let inventory = StaticInventory.mock(count: count)
        let transport = MockTransport(defaultBehavior: .config("hostname mock\n"))
        for id in failing {
            transport.setBehavior(.alwaysFail(BackupError(.authFailed, "Mock: wrong password for dev-\(id).")), for: DeviceID(id))
        }
        self.inventory = inventory
        self.transport = transport
        executor = BackupExecutor(
            configuration: .init(hostKeyPolicy: .acceptAnyUnsafe, recovery: recovery, shutdownGracePeriod: .zero), inventory: inventory, transport: transport,
            archive: InMemoryArchive(), store: store)
        configuration = BackupServerConfiguration(host: "127.0.0.1", port: 0, auth: auth)
        readiness = ServerReadiness(store: store)
    }

    var router: Router<BackupRequestContext> {
        buildRouter(configuration: configuration, executor: executor, inventory: inventory, readiness: readiness)
    }
    var app: some ApplicationProtocol {
        var logger = Logger(label: "backup-server-test")
        logger.logLevel = .warning
        return buildApplication(configuration: configuration, executor: executor, inventory: inventory, readiness: readiness, logger: logger)
    }

    /// Runs the executor and the app (requests go straight to the router) around `body`.
    func withRunning<T: Sendable>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = self.app
        return try await readiness.withRunning(executor) { try await app.test(.router, body) }
    }
}


/// Collects values from concurrent code.
final class Collector<T: Sendable>: Sendable {
    private let values = Mutex<[T]>([])
    func append(_ value: T) { values.withLock { $0.append(value) } }
    var all: [T] { values.withLock { $0 } }
}

let authorized: HTTPFields = [.authorization: "Bearer \(Harness.token)", .contentType: "application/json"]

func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder.deviceBackup().decode(T.self, from: Data(response.body.readableBytesView))
}

/// The `error` object of an error response.
struct ErrorBody: Decodable {
    struct Inner: Decodable {
        var code: String
        var message: String
        var details: Details?
    }

    struct Details: Decodable {
        var violations: [FieldViolation]?
        var taskID: String?

        enum CodingKeys: String, CodingKey {
            case violations
            case taskID = "task_id"
        }
    }

    var error: Inner
}

func errorBody(_ response: TestResponse) throws -> ErrorBody.Inner {
    try decode(ErrorBody.self, response).error
}

/// Parses a complete `text/event-stream` body into (event name, data) pairs.
func parseServerSentEvents(_ text: String) -> [(name: String, data: String)] {
    text.components(separatedBy: "\n\n").compactMap { block in
        var name: String?
        var data: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        guard let name else { return nil }
        return (name, data.joined(separator: "\n"))
    }
}

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("backup-server-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
