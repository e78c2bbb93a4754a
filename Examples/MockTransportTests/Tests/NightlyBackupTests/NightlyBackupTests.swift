import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Logging
import NightlyBackup
import Synchronization
import TaskStore
import Testing

// How to test your own automation with BackupTestKit:
// - `MockTransport` plays the devices: each one (by id) gets a scripted behaviour — a config, failures,
//   a hang, a latency on the test's clock.
// - `ManualClock` is the only clock: backoff, per-device timeouts, mock latencies and your own deadlines
//   sleep on it, and time moves only when the test advances it. Nothing sleeps for real, so the tests take
//   the same path on an idle laptop and on a busy 2-core CI machine.
// - The test waits for *events* (the executor's stream, `clock.waitForSleeper…`), never for wall time.
// - It submits the task and subscribes to its events *before* the executor runs: tasks submitted before
//   `run()` wait `pending`, so no event can happen before the subscription. (A subscription made later starts with a
//   snapshot of the task, which holds its results but not, say, an attempt that failed a moment ago.)
// - `RecordingNotifier`, `CapturingLogHandler` and `StaticInventory.mock` check the rest.

/// Collects the alerts the job sends.
final class RecordingAlerts: AlertSink {
    private let sent = Mutex<[[Alert]]>([])
    /// One entry per `send` call.
    var batches: [[Alert]] { sent.withLock { $0 } }
    var all: [Alert] { batches.flatMap { $0 } }
    func send(_ alerts: [Alert]) async throws { sent.withLock { $0.append(alerts) } }
}

/// One test's world: four devices (three online, one in maintenance), mocks, a manual clock.
struct World {
    let clock = ManualClock()
    let transport: MockTransport
    let notifier = RecordingNotifier()
    let alerts = RecordingAlerts()
    let logs = CapturingLogHandler.Storage()
    let executor: BackupExecutor
    let inventory: StaticInventory

    init(devices: Int = 4) {
        transport = MockTransport(defaultBehavior: .config("hostname router\nntp server 192.0.2.1\nend\n"), clock: clock)
        var inventory = StaticInventory.mock(
            count: devices, credentials: Credentials(username: "netops", password: "S3cret-Nightly-Pw"))
        inventory.deviceList[devices - 1].status = .maintenance   // never backed up by the nightly job
        self.inventory = inventory
        executor = BackupExecutor(
            configuration: BackupExecutorConfiguration(hostKeyPolicy: .acceptAnyUnsafe),
            inventory: inventory, transport: transport, archive: InMemoryArchive(), store: InMemoryTaskStore(),
            notifier: notifier, clock: clock, random: .seeded(42),
            logger: CapturingLogHandler.logger(logs, label: "executor"))
    }

    func job(window: Duration = .seconds(2 * 3600), deviceTimeout: Int = 300) -> NightlyBackup<ManualClock> {
        NightlyBackup(
            executor: executor, alerts: alerts, clock: clock, window: window, deviceTimeout: deviceTimeout,
            logger: CapturingLogHandler.logger(logs, label: "nightly"))
    }
}

extension BackupTask {
    func result(_ id: DeviceID) -> DeviceBackupResult? { results.first { $0.deviceID == id } }
}

extension Duration {
    /// A retry delay as announced by an `attempt_failed` event (seconds as a `Double`).
    init(announced seconds: Double) { self = .nanoseconds(Int64((seconds * 1e9).rounded())) }
}

@Suite("NightlyBackup, tested with BackupTestKit", .timeLimit(.minutes(2)))
struct NightlyBackupTests {
    @Test("all online devices back up; the device in maintenance is left out; no alert; one notification")
    func quietNight() async throws {
        let world = World()
        let job = world.job()
        let task = try await job.start(night: "2026-11-29")   // the executor is not running yet: it waits
        #expect(task.status == .pending)
        #expect(task.total == 3)
        let stream = try await world.executor.events(for: task.taskID)
        let (report, events) = try await world.executor.withRunning { _ in
            let report = try await job.finish(task)
            var kinds: [String] = []
            for await event in stream { kinds.append(event.kind.name) }
            return (report, kinds)
        }
        #expect(report.task.status == .completed)
        #expect(report.task.successCount == 3)
        #expect(report.task.results.allSatisfy { $0.success && $0.attempts == 1 && $0.changed == true })
        #expect(report.alerts.isEmpty)           // a first backup is not drift
        #expect(world.alerts.batches.isEmpty)    // nothing sent
        #expect(!report.windowClosed)

        // The events a UI would show, in order.
        #expect(events.first == "snapshot")
        #expect(events.dropFirst().first == "task_started")
        #expect(events.last == "task_finished")
        #expect(events.filter { $0 == "device_started" }.count == 3)
        #expect(events.filter { $0 == "device_finished" }.count == 3)

        // What the mock saw: three devices, one session each, all closed; device 4 (maintenance) untouched.
        let stats = world.transport.stats
        #expect(Set(stats.connectOrder) == [1, 2, 3])
        #expect(stats.attemptsByDevice[4] == nil)
        #expect(stats.openSessions == 0)
        #expect(stats.sessionsClosed == 3)

        // notify_on_complete: the executor's notifier was told once, with the finished task.
        #expect(world.notifier.notified.map(\.taskID) == [report.task.taskID])
        #expect(world.notifier.notified.first?.status == .completed)
        #expect(world.logs.all.contains { $0.contains("nightly backup finished") && $0.contains(#""ok": 3"#) })
    }

    @Test("a refused login is not retried, raises a backup_failed alert, and the password is never logged")
    func authFailure() async throws {
        let world = World()
        world.transport.setBehavior(.alwaysFail(BackupError(.authFailed, "Permission denied (password).")), for: 2)
        let job = world.job()
        let task = try await job.start(night: "2026-11-29")
        let report = try await world.executor.withRunning { _ in try await job.finish(task) }

        #expect(report.task.status == .partial)
        let failed = try #require(report.task.result(2))
        #expect(failed.errorCode == .authFailed)
        #expect(failed.attempts == 1)                          // AUTH_FAILED is never retried
        #expect(world.transport.stats.attemptsByDevice[2] == 1)
        #expect(report.task.errors.map(\.errorCode) == [.authFailed])

        #expect(world.alerts.all == [
            Alert(kind: .backupFailed, device: "dev-2", code: .authFailed,
                  detail: "Permission denied (password). after 1 attempt(s)"),
        ])
        #expect(world.notifier.notified.first?.status == .partial)
        #expect(!world.logs.all.isEmpty)
        #expect(!world.logs.all.contains { $0.contains("S3cret-Nightly-Pw") })
    }

    @Test("connection timeouts then success: retried with backoff on the manual clock, no alert")
    func timeoutThenSuccess() async throws {
        let world = World()
        world.transport.setBehavior(
            .fail(.connectionTimeout, times: 2, then: .config("hostname dev-1\nend\n")), for: 1)
        let job = world.job()
        let task = try await job.start(night: "2026-11-29")
        let events = try await world.executor.events(for: task.taskID)   // before anything can fail
        let (report, delays) = try await world.executor.withRunning { _ in
            async let report = job.finish(task)
            var delays: [Double] = []
            for await event in events {
                if case .attemptFailed(let device, let attempt, let error, let delay) = event.kind {
                    #expect(device.id == 1)
                    #expect(attempt == delays.count + 1)
                    #expect(error.code == .connectionTimeout)
                    delays.append(delay)
                    // The executor announces the backoff, then sleeps it on our clock: wait until it
                    // sleeps, then move time forward by exactly that much.
                    await world.clock.waitForSleeper(remaining: Duration(announced: delay), tolerance: .microseconds(2))
                    world.clock.advance(by: Duration(announced: delay))
                }
                if event.isTerminal { break }
            }
            return (try await report, delays)
        }
        #expect(report.task.status == .completed)
        #expect(report.task.result(1)?.attempts == 3)
        #expect(report.task.result(1)?.success == true)
        #expect(world.transport.stats.attemptsByDevice[1] == 3)
        #expect(delays.count == 2)
        #expect(delays[1] > delays[0])                    // exponential backoff (2 s, 4 s ± 20 %)
        #expect(delays[0] >= 1.6 && delays[0] <= 2.4)
        #expect(report.alerts.isEmpty)
    }

    @Test("a changed configuration on the second night raises config_drift for that device only")
    func drift() async throws {
        let world = World()
        let job = world.job()
        let night1 = try await job.start(night: "2026-11-28")
        let (first, second, again) = try await world.executor.withRunning { _ in
            let first = try await job.finish(night1)
            world.transport.setBehavior(.config("hostname dev-2\nntp server 192.0.2.99\nend\n"), for: 2)
            let second = try await job.run(night: "2026-11-29")
            // The cron job fired twice: the idempotency key gives back the same task.
            let again = try await job.start(night: "2026-11-29")
            return (first, second, again)
        }
        #expect(first.alerts.isEmpty)
        #expect(second.alerts.map(\.kind) == [.configDrift])
        #expect(second.alerts.map(\.device) == ["dev-2"])
        #expect(second.task.result(1)?.changed == false)
        #expect(second.task.result(2)?.changed == true)
        #expect(again.taskID == second.task.taskID)
        // One notification per task (each is sent after its task has finished, so their order may vary).
        let notified = world.notifier.notified.map(\.taskID)
        #expect(notified.sorted() == [first.task.taskID, second.task.taskID].sorted())
        #expect(try await world.executor.history(deviceID: 2, limit: 10).count == 2)
    }

    @Test("a slow device is cancelled when the maintenance window closes; the others keep their results")
    func windowClosesOnSlowDevice() async throws {
        let world = World()
        // Device 3 takes 45 minutes (of manual-clock time) to answer; the window is 30 minutes; the
        // per-device timeout (60 minutes) would come later still.
        world.transport.setBehavior(.config("hostname dev-3\nend\n", latency: .seconds(45 * 60)), for: 3)
        let job = world.job(window: .seconds(30 * 60), deviceTimeout: 3600)
        let task = try await job.start(night: "2026-11-29")
        let events = try await world.executor.events(for: task.taskID)
        let report = try await world.executor.withRunning { _ in
            async let report = job.finish(task)
            // Wait for the two quick devices to finish …
            var finished = 0
            for await event in events {
                if case .deviceFinished = event.kind { finished += 1 }
                if finished == 2 { break }
            }
            // … and for both the slow device and the job's window to be sleeping on the clock.
            await world.clock.waitForSleeper(remaining: .seconds(45 * 60))
            await world.clock.waitForSleeper(remaining: .seconds(30 * 60))
            world.clock.advance(by: .seconds(30 * 60))
            return try await report
        }
        #expect(report.windowClosed)
        #expect(report.task.status == .cancelled)
        #expect(report.task.successCount == 2)
        let slow = try #require(report.task.result(3))
        #expect(slow.errorCode == .cancelled)
        #expect(slow.attempts == 1)                        // it was running when cancelled
        #expect(report.alerts == [
            Alert(kind: .windowClosed, device: "dev-3", code: .cancelled,
                  detail: "not backed up before the maintenance window closed"),
        ])
        #expect(world.transport.stats.openSessions == 0)   // the cancelled session was closed
        #expect(world.notifier.notified.first?.status == .cancelled)
    }
}
