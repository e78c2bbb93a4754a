import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Logging
import Synchronization
import TaskStore
import Testing

/// Polls `condition` until it holds (bounded by a generous real-time limit: not a timing margin, only a
/// guard against a hung test).
func eventually(_ what: String = "condition", within seconds: Double = 60, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(2))
    }
    Issue.record("timed out waiting for \(what)")
    throw CancellationError()
}

/// An async barrier: `arrive()` suspends until `count` tasks have arrived.
final class Barrier: Sendable {
    private let state: Mutex<(count: Int, arrived: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(count: Int) { state = Mutex((count, 0, [])) }

    func arrive() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release: [CheckedContinuation<Void, Never>] = state.withLock { state in
                state.arrived += 1
                state.waiters.append(continuation)
                guard state.arrived >= state.count else { return [] }
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in release { waiter.resume() }
        }
    }

    var arrived: Int { state.withLock { $0.arrived } }
}

struct Fixture {
    var inventory: StaticInventory
    var transport: MockTransport
    var store: any TaskStore = InMemoryTaskStore()
    var archive: any ConfigArchive = InMemoryArchive()
    var configuration = BackupExecutorConfiguration(hostKeyPolicy: .acceptAnyUnsafe)
    var notifier: (any BackupNotifier)? = nil
    var random: RandomSource = .seeded(42)
    var logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    init(devices: Int, transport: MockTransport = MockTransport()) {
        inventory = .mock(count: devices)
        self.transport = transport
    }

    func makeExecutor<C: Clock>(clock: C) -> BackupExecutor where C.Duration == Duration {
        BackupExecutor(
            configuration: configuration, inventory: inventory, transport: transport, archive: archive, store: store,
            notifier: notifier, clock: clock, random: random, logger: logger)
    }

    func makeExecutor() -> BackupExecutor { makeExecutor(clock: ContinuousClock()) }
}

func filter(
    maxConcurrent: Int = 3, timeout: Int = 300, retryCount: Int = 2, priority: BackupPriority = .normal,
    asyncExecute: Bool = true, notify: Bool = false, deviceIDs: [DeviceID]? = nil, vendor: String? = nil,
    status: DeviceStatus? = nil, policy: BackupPolicy = .default
) throws -> BackupFilter {
    try BackupFilter(
        filterStatus: status, filterVendor: vendor, deviceIDs: deviceIDs, asyncExecute: asyncExecute, notifyOnComplete: notify,
        priority: priority, maxConcurrent: maxConcurrent, timeout: timeout, retryCount: retryCount, policy: policy)
}

extension BackupTask {
    func result(for id: DeviceID) -> DeviceBackupResult? { results.first { $0.deviceID == id } }
}
