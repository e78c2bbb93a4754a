public import BackupExecutor
public import BackupModels
import Foundation
public import Logging
import Synchronization

extension StaticInventory {
    /// `count` devices `dev-1` … `dev-N` (ids 1…N) of `vendor`, all sharing one set of credentials.
    public static func mock(count: Int, vendor: String = "cisco_ios", status: DeviceStatus = .online, credentials: Credentials = Credentials(username: "netops", password: "mock-password")) -> StaticInventory {
        StaticInventory(
            devices: (1...max(1, count)).prefix(count).map {
                Device(id: DeviceID($0), name: "dev-\($0)", host: "10.255.\($0 / 256 % 256).\($0 % 256)", vendor: vendor, status: status)
            },
            defaultCredentials: credentials)
    }
}

/// A log handler that keeps every line, for asserting on logs (e.g. that no secret is logged).
public struct CapturingLogHandler: LogHandler {
    /// The captured lines, shared by every copy of the handler.
    public final class Storage: Sendable {
        private let lines = Mutex<[String]>([])
        /// Creates empty storage.
        public init() {}
        /// Every line logged so far: level, message and metadata.
        public var all: [String] { lines.withLock { $0 } }
        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    /// Where the lines go.
    public let storage: Storage
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    /// Creates a handler writing into `storage`; pass it to `Logger(label:factory:)` or use
    /// ``logger(_:label:level:)``.
    public init(storage: Storage, logLevel: Logger.Level = .trace) {
        self.storage = storage
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        storage.append("\(event.level) \(event.message) \(merged) \(event.source) \(event.file):\(event.line)")
    }

    /// A logger that writes into `storage`.
    public static func logger(_ storage: Storage, label: String = "test", level: Logger.Level = .trace) -> Logger {
        Logger(label: label) { _ in CapturingLogHandler(storage: storage, logLevel: level) }
    }
}

/// A notifier that records the tasks it was told about.
public final class RecordingNotifier: BackupNotifier {
    private let tasks = Mutex<[BackupTask]>([])
    /// Creates a notifier that has recorded nothing.
    public init() {}
    /// The finished tasks it was told about, in order.
    public var notified: [BackupTask] { tasks.withLock { $0 } }
    /// Records `task`.
    public func taskDidFinish(_ task: BackupTask) async throws { tasks.withLock { $0.append(task) } }
}

/// A one-shot gate for tests: every `wait()` blocks until `open()` is called, and returns at once after.
///
/// Typical use: a `MockTransport` `.custom` behaviour awaits the gate, so that sessions stay in flight
/// until the test has looked at them (`arrived` tells how many got there).
///
/// ```swift
/// let gate = Gate()
/// let transport = MockTransport(defaultBehavior: .custom { _ in await gate.wait(); return "cfg\n" })
/// ```
public final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>], arrived: Int)>((false, [], 0))

    /// Creates a closed gate.
    public init() {}

    /// Returns when the gate is open (at once if it already is). Not cancellable: open the gate to end it.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resume: Bool = state.withLock { state in
                state.arrived += 1
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resume { continuation.resume() }
        }
    }

    /// Opens the gate for every waiter, now and later.
    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How many calls of `wait()` have arrived so far (waiting or passed).
    public var arrived: Int { state.withLock { $0.arrived } }
}
