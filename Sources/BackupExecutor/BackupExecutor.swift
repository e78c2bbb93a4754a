public import BackupModels
public import ConfigArchive
public import DeviceTransport
public import Foundation
public import Logging
public import CoreMetrics
public import ServiceLifecycle
public import TaskStore
import Synchronization

/// Runs batch backups as durable tasks.
///
/// Submit a `BackupFilter` (or an explicit device list through `BackupFilter.deviceIDs`) and get a
/// task back at once (`async_execute`, the default) or when it has finished. The executor then, for
/// every selected device:
/// - waits for a session slot: at most `BackupFilter.maxConcurrent` devices of the task and at most
///   ``BackupExecutorConfiguration/maxConcurrentSessions`` sessions in all; waiting work starts
///   high → normal → low priority, first come first served within a priority;
/// - connects through the `DeviceTransport`, lets the `ConfigRetriever` fetch the configuration and
///   closes, all within the per-device `BackupFilter.timeout` (`DEVICE_TIMEOUT` otherwise);
/// - retries retryable errors up to `BackupFilter.retryCount` times with exponential backoff and jitter
///   (``RetryStrategy``); never retries `AUTH_FAILED`, `HOST_KEY_MISMATCH` and the like;
/// - stores the configuration in the `ConfigArchive` and records the result in the `TaskStore`.
///
/// Tasks can be cancelled (``cancel(taskID:)`` or by cancelling the Swift task awaiting a synchronous
/// submission); progress is streamed live (``events(for:)``); an error escaping the store or the
/// executor itself ends the task `failed` with details, never leaves it `running`.
///
/// The executor is a swift-service-lifecycle `Service`: work starts when ``run()`` runs and stops on
/// graceful shutdown. Tasks submitted before ``run()`` wait `pending`. ``withRunning(_:)`` runs it around
/// a closure.
public final class BackupExecutor: Service, Sendable {
    /// The settings the executor was created with.
    public let configuration: BackupExecutorConfiguration

    private let inventory: any DeviceInventory
    private let transport: any DeviceTransport
    private let retriever: any ConfigRetriever
    private let archive: any ConfigArchive
    private let store: any TaskStore
    private let notifier: (any BackupNotifier)?
    private let clock: ExecutorClock
    private let random: RandomSource
    private let wallClock: @Sendable () -> Date
    private let logger: Logger
    private let slots: SessionSlots
    private let watchdog: DeadlineWatchdog
    private let metrics: ExecutorMetrics
    private let registry = Mutex(Registry())
    private let startRequests: AsyncStream<ActiveTask>
    private let startContinuation: AsyncStream<ActiveTask>.Continuation

    private enum Phase { case idle, running, shuttingDown, stopped }

    private struct Registry {
        var phase: Phase = .idle
        var hasRun = false
        var active: [String: ActiveTask] = [:]
        /// Tasks `submit` is writing to the store and has not registered yet: recovery must not take them
        /// for interrupted ones.
        var creating: Set<String> = []
        var nextSequence = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates an executor.
    ///
    /// - Parameters:
    ///   - configuration: policy, caps, retry strategy, host key policy, recovery.
    ///   - inventory: the devices and their credentials.
    ///   - transport: how sessions are opened (`LibSSH2Transport`, or `MockTransport` in tests).
    ///   - retriever: how a config is fetched over a session (vendor profiles).
    ///   - archive: where configs go.
    ///   - store: where tasks are kept (`InMemoryTaskStore` by default; use a file store for durability).
    ///   - notifier: told about finished tasks submitted with `notify_on_complete`.
    ///   - clock: the clock for timeouts and backoff (inject a manual clock in tests).
    ///   - random: the source of backoff jitter.
    ///   - wallClock: timestamps of tasks and results (kept to millisecond precision, as on the wire).
    ///   - logger: where the executor logs; it never logs secrets. Silent by default.
    ///   - metricsFactory: where metrics go (the bootstrapped swift-metrics backend by default):
    ///     `devicebackup_device_duration_seconds`, `devicebackup_device_results_total` (by result and
    ///     error code), `devicebackup_attempts_total`, `devicebackup_sessions_in_flight`,
    ///     `devicebackup_tasks_finished_total` (by status).
    public init<C: Clock>(
        configuration: BackupExecutorConfiguration = .init(),
        inventory: any DeviceInventory,
        transport: any DeviceTransport,
        retriever: any ConfigRetriever = ExecCommandRetriever(),
        archive: any ConfigArchive,
        store: any TaskStore = InMemoryTaskStore(),
        notifier: (any BackupNotifier)? = nil,
        clock: C = ContinuousClock(),
        random: RandomSource = .system,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "DeviceBackup.executor", factory: { _ in SwiftLogNoOpLogHandler() }),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) where C.Duration == Duration {
        metrics = ExecutorMetrics(factory: metricsFactory)
        self.configuration = configuration
        self.inventory = inventory
        self.transport = transport
        self.retriever = retriever
        self.archive = archive
        self.store = store
        self.notifier = notifier
        self.clock = ExecutorClock(clock)
        self.random = random
        self.wallClock = { wallClock().roundedToMilliseconds }
        self.logger = logger
        slots = SessionSlots(capacity: configuration.maxConcurrentSessions)
        watchdog = DeadlineWatchdog(clock: self.clock)
        (startRequests, startContinuation) = AsyncStream.makeStream(of: ActiveTask.self)
    }

    // MARK: - Running

    /// Runs the executor until graceful shutdown (or cancellation of the calling task).
    ///
    /// On start it recovers tasks a previous process left unfinished (per
    /// ``BackupExecutorConfiguration/recovery``). On graceful shutdown it takes no new work, lets running
    /// devices finish for up to ``BackupExecutorConfiguration/shutdownGracePeriod``, then cancels them;
    /// their tasks stay unfinished in the store and are recovered on the next start. Everything recorded
    /// is in the store when `run()` returns.
    public func run() async throws {
        try registry.withLock { registry throws(BackupError) in
            guard !registry.hasRun else {
                throw BackupError(.internal, "BackupExecutor.run() was called more than once.", hint: "Create a new executor to run again.")
            }
            registry.hasRun = true
            if registry.phase == .idle { registry.phase = .running }
        }
        logger.info("backup executor starting", metadata: ["max_sessions": "\(configuration.maxConcurrentSessions)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.watchdog.run() }
                await self.recoverInterruptedTasks()
                for await active in self.startRequests {
                    group.addTask { await self.execute(active) }
                }
                self.shutdown()
                await self.waitForActiveTasks()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        registry.withLock { $0.phase = .stopped }
        logger.info("backup executor stopped")
    }

    /// Whether ``run()`` is running and the executor takes new work (false before `run()`, once a shutdown
    /// began, and after `run()` returned): what a server's readiness check asks.
    public var isRunning: Bool { registry.withLock { $0.phase == .running && $0.hasRun } }

    /// Begins a graceful shutdown: no new tasks or devices start; running devices may finish within the
    /// grace period. ``run()`` returns when everything has stopped. Safe to call more than once.
    public func shutdown() {
        let active: [ActiveTask] = registry.withLock { registry in
            guard registry.phase == .running || registry.phase == .idle else { return [] }
            registry.phase = .shuttingDown
            return Array(registry.active.values)
        }
        for task in active { task.stopTakingWork() }
        startContinuation.finish()
    }

    /// Runs the executor while `body` runs, then shuts it down gracefully and waits for it to stop.
    public func withRunning<T: Sendable>(_ body: (BackupExecutor) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            do {
                let value = try await body(self)
                shutdown()
                try await group.waitForAll()
                return value
            } catch {
                shutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    private func waitForActiveTasks() async {
        let grace = configuration.shutdownGracePeriod
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let idle = self.registry.withLock { registry in
                        if registry.active.isEmpty { return true }
                        registry.idleWaiters.append(continuation)
                        return false
                    }
                    if idle { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await self.clock.sleep(for: grace)
                return false
            }
            let idle = await group.next() ?? true
            if !idle {
                let remaining = registry.withLock { Array($0.active.values) }
                logger.warning("shutdown grace period over; cancelling running devices", metadata: ["tasks": "\(remaining.count)"])
                for task in remaining { task.cancelLanes() }
                // Wait for the runners to record what they have; they no longer start new work.
                _ = await group.next()
            }
            group.cancelAll()
        }
    }

    // MARK: - Submitting

    /// Submits a backup.
    ///
    /// With `filter.asyncExecute` (the default) it returns the new `pending` task at once; otherwise it
    /// waits and returns the finished task (cancelling the calling Swift task then cancels the backup
    /// task, and the call returns it `cancelled`). With an `idempotencyKey` that was used before, it returns that task instead of creating a
    /// new one — also across restarts when the store is durable.
    ///
    /// - Throws: `ValidationError` for a filter outside ``BackupExecutorConfiguration/policy``;
    ///   `BackupError` `SHUTTING_DOWN`, `STORE_FAILED`, or the inventory's error.
    public func submit(_ filter: BackupFilter, createdBy: String? = nil, idempotencyKey: String? = nil) async throws -> BackupTask {
        try filter.validate(against: configuration.policy)
        try ensureAccepting()
        if let idempotencyKey, let existing = try await storeCall({ try await self.store.task(idempotencyKey: idempotencyKey) }) {
            try Self.checkSameRequest(existing, filter: filter, idempotencyKey: idempotencyKey)
            logger.debug("idempotency key matched an existing task", metadata: ["task_id": "\(existing.taskID)"])
            return filter.asyncExecute ? existing : try await finalTask(existing.taskID, cancelOnCancellation: true)
        }
        let allDevices: [Device]
        do {
            allDevices = try await inventory.devices()
        } catch {
            throw BackupError(.internal, "The inventory could not list devices: \(BackupError.wrapping(error).message)",
                              hint: "Check the inventory source.")
        }
        let (selected, missing) = Self.select(allDevices, filter: filter)
        var refs = selected.map(\.ref)
        refs += missing.map { DeviceRef(id: $0, name: $0.rawValue, vendor: "") }
        let now = wallClock()
        let summary = BackupTaskSummary(
            taskID: UUID().uuidString.lowercased(), status: .pending, total: refs.count,
            message: refs.isEmpty ? "No devices match the filter." : "Queued: \(refs.count) devices.",
            createdAt: now, createdBy: createdBy, priority: filter.priority, filter: filter, idempotencyKey: idempotencyKey)
        registry.withLock { _ = $0.creating.insert(summary.taskID) }
        let creation: TaskCreation
        do {
            creation = try await storeCall { try await self.store.create(BackupTask(summary: summary, devices: refs)) }
        } catch {
            registry.withLock { _ = $0.creating.remove(summary.taskID) }
            throw error
        }
        switch creation {
        case .existing(let existing):
            registry.withLock { _ = $0.creating.remove(summary.taskID) }
            if let idempotencyKey { try Self.checkSameRequest(existing, filter: filter, idempotencyKey: idempotencyKey) }
            return filter.asyncExecute ? existing : try await finalTask(existing.taskID, cancelOnCancellation: true)
        case .created(let task):
            let known = Dictionary(selected.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            // Recovery skips the task while it is in `creating`, so this registration is the only one.
            guard let active = register(task, knownDevices: known, resumed: false, creating: true) else {
                return filter.asyncExecute ? task : try await finalTask(task.taskID, cancelOnCancellation: true)
            }
            logger.info("task submitted", metadata: ["task_id": "\(task.taskID)", "devices": "\(refs.count)", "priority": "\(filter.priority.rawValue)"])
            startContinuation.yield(active)
            if filter.asyncExecute { return task }
            return try await finalTask(task.taskID, cancelOnCancellation: true)
        }
    }

    /// An idempotency key names one request: the same key with another filter is a conflict, never the old
    /// task passed off as the new request's. Whether the caller waits (`async_execute`) is not part of it.
    static func checkSameRequest(_ existing: BackupTask, filter: BackupFilter, idempotencyKey: String) throws(BackupError) {
        var asked = filter
        asked.asyncExecute = existing.filter.asyncExecute
        guard asked != existing.filter else { return }
        throw BackupError(
            .idempotencyConflict,
            "The idempotency key \"\(idempotencyKey)\" was used for task \(existing.taskID) with a different request.",
            hint: "Use a new key for a new request, or send exactly the same request to get task \(existing.taskID).")
    }

    /// Waits until a task has finished and returns it.
    ///
    /// - Parameters:
    ///   - taskID: the task's id.
    ///   - cancelTaskOnCancellation: when the waiting Swift task is cancelled, also cancel the backup task
    ///     (otherwise the wait just ends with `CancellationError`).
    public func waitForCompletion(of taskID: String, cancelTaskOnCancellation: Bool = false) async throws -> BackupTask {
        try await finalTask(taskID, cancelOnCancellation: cancelTaskOnCancellation)
    }

    private func finalTask(_ taskID: String, cancelOnCancellation: Bool) async throws -> BackupTask {
        if let active = registry.withLock({ $0.active[taskID] }) {
            if cancelOnCancellation {
                // Cancelling the waiter cancels the backup task, which then ends promptly: return it.
                return try await withTaskCancellationHandler {
                    try await active.completion.waitIgnoringCancellation()
                } onCancel: {
                    self.cancelInBackground(active)
                }
            }
            return try await active.completion.wait()
        }
        guard let task = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
        if task.status.isFinal { return task }
        throw BackupError(
            .shuttingDown, "Task \(taskID) is unfinished and this executor is not running it.",
            hint: "Start the executor (run()) to resume it, or cancel it.")
    }

    /// Cancels a task: running devices are cancelled promptly, devices not started are recorded
    /// `CANCELLED`, finished results are kept, and the task ends `cancelled`. Returns the cancelled task.
    ///
    /// - Throws: `TASK_NOT_FOUND` for an unknown id, `TASK_ALREADY_FINISHED` for a finished task.
    @discardableResult
    public func cancel(taskID: String) async throws -> BackupTask {
        if let active = registry.withLock({ $0.active[taskID] }) {
            switch active.requestCancel() {
            case .finished:
                break
            case .notStarted:
                logger.info("task cancelled before it started", metadata: ["task_id": "\(taskID)"])
                if active.beginConcluding() { await conclude(active) }
                return try await active.completion.waitIgnoringCancellation()
            case .running:
                logger.info("task cancelled", metadata: ["task_id": "\(taskID)"])
                return try await active.completion.waitIgnoringCancellation()
            }
        }
        guard let task = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
        guard !task.status.isFinal else {
            throw BackupError(
                .taskAlreadyFinished, "Task \(taskID) has already finished (\(task.status.rawValue)); it cannot be cancelled.",
                hint: "Only pending or running tasks can be cancelled.")
        }
        // Unfinished but not run by this executor (e.g. interrupted, executor not running): cancel in the store.
        let now = wallClock()
        let cancelled = task.remainingDevices.map { Self.cancelledResult($0, attempts: 0, at: now) }
        try await storeCall { try await self.store.record(cancelled, taskID: taskID) }
        let updated = try await storeCall { try await self.store.summary(id: taskID) }
        try await storeCall {
            try await self.store.finish(
                taskID: taskID, status: .cancelled, message: Self.cancelMessage(updated ?? task.summary), error: nil, at: now)
        }
        guard let final = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
        return final
    }

    /// Resumes a task that did not finish: one left `pending` or `running` by a stopped process, one
    /// `cancelled`, or one failed as `INTERRUPTED`. Devices without a result and devices recorded
    /// `CANCELLED` run again under the same task id; other results are kept. Returns the task as it was
    /// before resuming (use ``waitForCompletion(of:cancelTaskOnCancellation:)`` or ``events(for:)``).
    ///
    /// - Throws: `TASK_NOT_FOUND`; `TASK_ALREADY_FINISHED` for a task that completed, or failed or ended
    ///   partial for other reasons (submit a new task for its failed devices instead); `INVALID_REQUEST`
    ///   when this executor is already running it; `SHUTTING_DOWN`.
    @discardableResult
    public func resume(taskID: String) async throws -> BackupTask {
        try ensureAccepting()
        let alreadyRunning = BackupError(.invalidRequest, "Task \(taskID) is already running.", hint: "Wait for it or cancel it.")
        if registry.withLock({ $0.active[taskID] != nil }) { throw alreadyRunning }
        guard let task = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
        let resumable = !task.status.isFinal || task.status == .cancelled || task.error?.code == .interrupted
        guard resumable else {
            throw BackupError(
                .taskAlreadyFinished, "Task \(taskID) finished (\(task.status.rawValue)); there is nothing to resume.",
                hint: "Submit a new task (e.g. with device_ids of the failed devices) to try them again.")
        }
        let rerun = Set(task.results.filter { $0.errorCode == .cancelled }.map(\.deviceID))
        let finished = Set(task.results.map(\.deviceID))
        let devices = task.devices.filter { rerun.contains($0.id) || !finished.contains($0.id) }
        // Checked again atomically: another resume (or recovery) may have registered it meanwhile.
        guard let active = register(task, knownDevices: nil, resumed: true, devices: devices) else { throw alreadyRunning }
        logger.info("resuming task", metadata: ["task_id": "\(taskID)", "devices": "\(devices.count)"])
        startContinuation.yield(active)
        return task
    }

    private func cancelInBackground(_ active: ActiveTask) {
        if case .notStarted = active.requestCancel() {
            // The runner has not started: the runner will see the flag when it starts, or run() is not
            // running yet; in both cases conclusion happens on the runner's path or via cancel(taskID:).
            Task { [self] in if active.beginConcluding() { await self.conclude(active) } }
        }
    }

    // MARK: - Queries

    /// A task with its devices and results; `nil` if unknown.
    public func task(id: String) async throws -> BackupTask? { try await storeCall { try await self.store.task(id: id) } }

    /// Tasks, newest first, with paging and an optional status filter.
    public func tasks(_ query: TaskQuery) async throws -> TaskPage { try await storeCall { try await self.store.tasks(query) } }

    /// A device's backup results across tasks, newest first.
    public func history(deviceID: DeviceID, limit: Int = 20) async throws -> [DeviceHistoryEntry] {
        try await storeCall { try await self.store.history(deviceID: deviceID, limit: limit) }
    }

    /// Live events of a task: a snapshot of the task first, then every event until it finishes.
    ///
    /// For a finished task the stream holds the snapshot and the final event. Many subscribers may
    /// follow one task; a slow one loses the oldest events (see ``BackupEventStream``), never slowing
    /// the backup. - Throws: `TASK_NOT_FOUND`.
    public func events(for taskID: String) async throws -> BackupEventStream {
        if let active = registry.withLock({ $0.active[taskID] }), let subscriber = active.hub.subscribe() {
            guard let snapshot = try await storeCall({ try await self.store.task(id: taskID) }) else {
                subscriber.cancel()
                throw BackupError.taskNotFound(taskID)
            }
            let done = snapshot.completed
            subscriber.prepend([snapshotEvent(snapshot)]) { event in
                if case .deviceFinished = event.kind { return event.progress.completed <= done }
                return event.progress.completed < done
            }
            return BackupEventStream(subscriber: subscriber)
        }
        guard let task = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
        let subscriber = EventSubscriber(limit: 2) {}
        var events = [snapshotEvent(task)]
        if task.status.isFinal {
            events.append(BackupEvent(taskID: taskID, sequence: 0, timestamp: wallClock(), progress: Self.progress(of: task.summary), kind: .taskFinished(task.summary)))
        }
        subscriber.finish(with: events)
        return BackupEventStream(subscriber: subscriber)
    }

    /// Session slots in use, their peak, and workers waiting for one, across all tasks.
    public var sessionUsage: SessionUsage { slots.usage }

    // MARK: - Task lifecycle

    private func ensureAccepting() throws {
        let phase = registry.withLock { $0.phase }
        if phase == .shuttingDown || phase == .stopped {
            throw BackupError(.shuttingDown, "The backup executor is shutting down and takes no new tasks.", hint: "Submit again after it restarts.")
        }
    }

    /// Makes `task` active, unless it already is, or (for recovery and resume) is still being created by
    /// `submit`: then `nil`. Checking and registering under one lock is what keeps a task from running
    /// twice when recovery, `submit` and `resume` meet.
    ///
    /// - Parameter creating: `submit`'s own registration of the task it is creating.
    private func register(
        _ task: BackupTask, knownDevices: [DeviceID: Device]?, resumed: Bool, devices: [DeviceRef]? = nil,
        creating: Bool = false
    ) -> ActiveTask? {
        registry.withLock { registry in
            if creating {
                registry.creating.remove(task.taskID)
            } else if registry.creating.contains(task.taskID) {
                return nil
            }
            guard registry.active[task.taskID] == nil else { return nil }
            registry.nextSequence += 1
            let remaining = devices ?? task.remainingDevices
            let rerun = Set(remaining.map(\.id))
            let kept = task.results.filter { !rerun.contains($0.deviceID) }
            let progress = BackupProgress(
                total: task.total, completed: kept.count, successCount: kept.filter(\.success).count,
                failedCount: kept.filter { !$0.success }.count)
            let hub = TaskEventHub(
                taskID: task.taskID, progress: progress, bufferLimit: configuration.eventBufferLimit, wallClock: wallClock)
            let active = ActiveTask(
                taskID: task.taskID, sequence: registry.nextSequence, filter: task.filter, devices: remaining,
                knownDevices: knownDevices, resumed: resumed, hub: hub)
            registry.active[task.taskID] = active
            return active
        }
    }

    private func unregister(_ active: ActiveTask) {
        let waiters: [CheckedContinuation<Void, Never>] = registry.withLock { registry in
            registry.active[active.taskID] = nil
            guard registry.active.isEmpty else { return [] }
            defer { registry.idleWaiters.removeAll() }
            return registry.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func recoverInterruptedTasks() async {
        let unfinished: [BackupTask]
        do {
            unfinished = try await store.unfinishedTasks()
        } catch {
            logger.error("could not list unfinished tasks for recovery", metadata: ["error": "\(BackupError.wrapping(error))"])
            return
        }
        for task in unfinished where registry.withLock({ $0.active[task.taskID] == nil && !$0.creating.contains(task.taskID) }) {
            switch configuration.recovery {
            case .resume:
                guard let active = register(task, knownDevices: nil, resumed: task.status == .running) else { continue }
                logger.notice("resuming interrupted task", metadata: ["task_id": "\(task.taskID)", "remaining": "\(active.devices.count)"])
                startContinuation.yield(active)
            case .manual:
                logger.notice("unfinished task left for manual resume", metadata: ["task_id": "\(task.taskID)", "status": "\(task.status.rawValue)"])
            case .markFailed:
                let message = "Interrupted: the process running this task stopped after \(task.completed) of \(task.total) devices; the rest were not backed up."
                do {
                    try await store.finish(
                        taskID: task.taskID, status: .failed, message: message,
                        error: BackupError(.interrupted, message, hint: "Submit the task again for the remaining devices."), at: wallClock())
                    logger.notice("marked interrupted task failed", metadata: ["task_id": "\(task.taskID)"])
                } catch {
                    logger.error("could not mark interrupted task failed", metadata: ["task_id": "\(task.taskID)", "error": "\(BackupError.wrapping(error))"])
                }
            }
        }
    }

    /// Runs one task from start to its final state.
    private func execute(_ active: ActiveTask) async {
        guard active.beginRunning() else { return }  // cancelled before it started; cancel() concluded it
        do {
            try await storeCall { try await self.store.markRunning(taskID: active.taskID, at: self.wallClock(), resumed: active.resumed) }
            active.hub.publish(active.resumed ? .taskResumed(remaining: active.devices.count) : .taskStarted)
            let devices = try await resolveDevices(active)
            try await prepareArchive(for: active.devices)
            let laneCount = min(active.filter.maxConcurrent, active.devices.count)
            if laneCount > 0 {
                let lanes = Task {
                    await withDiscardingTaskGroup { group in
                        for _ in 0..<laneCount { group.addTask { await self.lane(active, devices) } }
                    }
                }
                active.setLanes(lanes)
                await withTaskCancellationHandler {
                    await lanes.value
                } onCancel: {
                    lanes.cancel()
                }
            }
        } catch let error as ArchivePreparationError {
            active.fail(error.error)
        } catch {
            active.fail(Self.storeError(error))
        }
        if active.beginConcluding() { await conclude(active) }
    }

    /// Lets the archive check, before any device is contacted, that it can take the task's configs.
    private func prepareArchive(for devices: [DeviceRef]) async throws(ArchivePreparationError) {
        do {
            try await archive.prepare(for: devices)
        } catch {
            var wrapped = BackupError.wrapping(error)
            if wrapped.code != .archiveFailed {
                wrapped = BackupError(.archiveFailed, "The archive cannot take this task's configs: \(wrapped.message)", hint: wrapped.hint)
            }
            logger.error("archive refused the task before any device was contacted", metadata: ["error": "\(wrapped)"])
            throw ArchivePreparationError(error: wrapped)
        }
    }

    private func resolveDevices(_ active: ActiveTask) async throws -> [DeviceID: Device] {
        if let known = active.knownDevices { return known }
        do {
            return Dictionary(try await inventory.devices().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        } catch {
            throw BackupError(.internal, "The inventory could not list devices: \(BackupError.wrapping(error).message)")
        }
    }

    /// One worker of a task: takes devices one at a time until none is left, holding a session slot
    /// while it works and handing it over when higher-priority work waits.
    private func lane(_ active: ActiveTask, _ devices: [DeviceID: Device]) async {
        let priority = active.filter.priority.rank
        guard active.canTakeWork else { return }
        do {
            try await slots.acquire(priority: priority, taskSequence: active.sequence)
        } catch {
            return
        }
        var holding = true
        defer { if holding { slots.release() } }
        while !Task.isCancelled, let ref = active.nextDevice() {
            guard let result = await backUp(ref, device: devices[ref.id], active: active) else {
                return  // interrupted by shutdown or a task failure
            }
            do {
                try await storeCall { try await self.store.record([result], taskID: active.taskID) }
            } catch {
                active.fail(Self.storeError(error))
                return
            }
            active.hub.publish(.deviceFinished(result)) { progress in
                progress.completed += 1
                if result.success { progress.successCount += 1 } else { progress.failedCount += 1 }
            }
            metrics.deviceFinished(result, seconds: result.executionTime)
            guard active.hasWorkLeft else { return }
            do {
                try await slots.continueHolding(priority: priority, taskSequence: active.sequence)
            } catch {
                holding = false
                return
            }
        }
    }

    /// Backs up one device with retries; `nil` when interrupted without a result to record.
    private func backUp(_ ref: DeviceRef, device: Device?, active: ActiveTask) async -> DeviceBackupResult? {
        let startedAt = wallClock()
        let start = clock.now
        func elapsed() -> Double { (clock.now - start).seconds }
        guard let device else {
            let error = BackupError(.deviceNotFound, "Device \(ref.id) is not in the inventory.", hint: "Check the device id or the inventory.")
            return .failure(ref, error, attempts: 0, startedAt: startedAt, finishedAt: wallClock())
        }
        let filter = active.filter
        var attempt = 0
        while true {
            attempt += 1
            active.hub.publish(.deviceStarted(ref, attempt: attempt))
            metrics.attemptStarted()
            let outcome = await attemptBackup(device, ref: ref, taskID: active.taskID, timeout: filter.timeoutDuration, attempt: attempt)
            let error: BackupError
            switch outcome {
            case .success(let receipt):
                return DeviceBackupResult(
                    deviceID: ref.id, deviceName: ref.name, success: true, configID: receipt.configID, configSize: receipt.size,
                    gitCommitID: receipt.commitID, changed: receipt.changed, executionTime: elapsed(), attempts: attempt,
                    startedAt: startedAt, finishedAt: wallClock())
            case .failure(let failure):
                error = failure
            }
            if error.code == .cancelled {
                guard active.isUserCancelled else { return nil }
                return Self.cancelledResult(ref, attempts: attempt, at: wallClock(), startedAt: startedAt, executionTime: elapsed())
            }
            if configuration.retryStrategy.shouldRetry(after: error, attempt: attempt, retryCount: filter.retryCount) {
                let delay = configuration.retryStrategy.delay(afterAttempt: attempt, random: random)
                active.hub.publish(.attemptFailed(ref, attempt: attempt, error: error, retryDelay: delay.seconds))
                logger.debug("attempt failed; retrying", metadata: [
                    "task_id": "\(active.taskID)", "device": "\(ref.name)", "attempt": "\(attempt)",
                    "error_code": "\(error.code)", "retry_in": "\(delay.seconds)",
                ])
                do {
                    try await clock.sleep(for: delay)
                } catch {
                    guard active.isUserCancelled else { return nil }
                    return Self.cancelledResult(ref, attempts: attempt, at: wallClock(), startedAt: startedAt, executionTime: elapsed())
                }
                continue
            }
            var final = error
            if attempt > 1 && error.isRetryable {
                final = BackupError(
                    .maxRetriesExceeded, "All \(attempt) attempts failed; the last with \(error.code): \(error.message)",
                    hint: error.hint ?? "Check that the device is reachable, or raise retry_count/timeout.", cause: error.code)
            }
            logger.info("device backup failed", metadata: [
                "task_id": "\(active.taskID)", "device": "\(ref.name)", "error_code": "\(final.code)", "attempts": "\(attempt)",
            ])
            return .failure(ref, final, attempts: attempt, startedAt: startedAt, finishedAt: wallClock(), executionTime: elapsed())
        }
    }

    /// One attempt within the per-device timeout: connect, fetch, close, then archive.
    private func attemptBackup(
        _ device: Device, ref: DeviceRef, taskID: String, timeout: Duration, attempt: Int
    ) async -> Result<ArchiveReceipt, BackupError> {
        let timedOut = Flag()
        let work = Task { try await self.fetchConfig(device) }
        let deadline = watchdog.register(at: clock.now + timeout) {
            timedOut.set()
            work.cancel()
        }
        let fetched = await withTaskCancellationHandler {
            await work.result
        } onCancel: {
            work.cancel()
        }
        watchdog.cancel(deadline)
        let config: RetrievedConfig
        switch fetched {
        case .success(let value):
            config = value
        case .failure(let error):
            if timedOut.isSet {
                return .failure(BackupError(
                    .deviceTimeout, "Attempt \(attempt) on \(device.name) did not finish within \(Int(timeout.seconds)) s.",
                    hint: "Raise the task's timeout if the device is slow, or check it responds."))
            }
            return .failure(BackupError.wrapping(error))
        }
        if Task.isCancelled { return .failure(BackupError(.cancelled, "Cancelled.")) }
        return await archiveConfig(config, device: device, ref: ref, taskID: taskID)
    }

    /// Stores a fetched config, within ``BackupExecutorConfiguration/archiveTimeout``. Blocking file I/O
    /// cannot be interrupted: past the limit the executor stops waiting for it (the write goes on alone,
    /// and is atomic) and the device fails with `ARCHIVE_FAILED`.
    private func archiveConfig(
        _ config: RetrievedConfig, device: Device, ref: DeviceRef, taskID: String
    ) async -> Result<ArchiveReceipt, BackupError> {
        let outcome = OneShot<Result<ArchiveReceipt, BackupError>>()
        let context = ArchiveContext(taskID: taskID, fetchedAt: wallClock())
        let archive = archive
        let name = device.name
        let work = Task {
            do {
                outcome.resolve(.success(try await archive.store(config, for: ref, context: context)))
            } catch {
                var wrapped = BackupError.wrapping(error)
                if wrapped.code != .cancelled && wrapped.code != .archiveFailed {
                    wrapped = BackupError(.archiveFailed, "Storing the config of \(name) failed: \(wrapped.message)", hint: wrapped.hint)
                }
                outcome.resolve(.failure(wrapped))
            }
        }
        let limit = configuration.archiveTimeout
        let deadline = watchdog.register(at: clock.now + limit) {
            work.cancel()
            outcome.resolve(.failure(BackupError(
                .archiveFailed, "Storing the config of \(name) did not finish within \(Int(limit.seconds)) s.",
                hint: "Check the archive's disk (full, hung or very slow storage) and that no other process holds its files.")))
        }
        let result = await withTaskCancellationHandler {
            await outcome.wait()
        } onCancel: {
            work.cancel()
        }
        watchdog.cancel(deadline)
        return result
    }

    /// Connects, fetches the configuration and closes. Errors never carry the device's secrets.
    private func fetchConfig(_ device: Device) async throws -> RetrievedConfig {
        var target = ConnectionTarget(device: device, hostKeyPolicy: configuration.hostKeyPolicy, timeouts: configuration.transportTimeouts)
        try retriever.prepare(&target, for: device)
        let credentials = try await inventory.credentials(for: device)
        do {
            let session = try await transport.connect(to: target, credentials: credentials, logger: logger)
            metrics.sessionOpened()
            defer { metrics.sessionClosed() }
            do {
                let config = try await retriever.retrieveConfig(from: session, device: device, credentials: credentials, logger: logger)
                await session.close()
                return config
            } catch {
                await session.close()
                throw error
            }
        } catch {
            throw Self.scrub(BackupError.wrapping(error), secrets: credentials.secretValues)
        }
    }

    /// Ends a task: records what is missing, writes the final status, notifies.
    private func conclude(_ active: ActiveTask) async {
        let taskID = active.taskID
        defer {
            active.markDone()
            unregister(active)
        }
        do {
            guard let current = try await storeCall({ try await self.store.task(id: taskID) }) else {
                throw BackupError.taskNotFound(taskID)
            }
            let remaining = current.remainingDevices
            let now = wallClock()
            let status: BackupTaskStatus
            let message: String
            var taskError: BackupError?
            if active.isUserCancelled {
                let cancelled = remaining.map { Self.cancelledResult($0, attempts: 0, at: now) }
                if !cancelled.isEmpty { try await storeCall { try await self.store.record(cancelled, taskID: taskID) } }
                let summary = try await storeCall({ try await self.store.summary(id: taskID) }) ?? current.summary
                status = .cancelled
                message = Self.cancelMessage(summary)
            } else if let failure = active.failure {
                status = .failed
                taskError = failure
                message = "Task failed after \(current.completed) of \(current.total) devices: \(failure)"
            } else if !remaining.isEmpty {
                // Interrupted by shutdown: leave it unfinished; recovery resumes or fails it on the next start.
                logger.notice("task interrupted by shutdown", metadata: ["task_id": "\(taskID)", "remaining": "\(remaining.count)"])
                active.hub.end()
                active.completion.resolve(.failure(BackupError(
                    .shuttingDown, "The executor shut down before task \(taskID) finished (\(remaining.count) devices left).",
                    hint: "The task is resumed (or marked interrupted) when the executor starts again.")))
                return
            } else {
                status = .final(successCount: current.successCount, failedCount: current.failedCount)
                message = current.total == 0
                    ? "No devices match the filter."
                    : "Backed up \(current.successCount) of \(current.total) devices; \(current.failedCount) failed."
            }
            var finalMessage = message
            var finalStatus = status
            if let commitError = await commitArchive(taskID) {
                finalMessage += " " + commitError.message
                // Configs fetched but not committed is not a success: never report `completed`.
                if finalStatus == .completed { finalStatus = .partial }
                if taskError == nil { taskError = commitError }
            }
            try await finishWithRetries(taskID: taskID, status: finalStatus, message: finalMessage, error: taskError)
        } catch {
            // The store failed even while concluding: try once more to end the task failed.
            let failure = Self.storeError(error)
            logger.error("concluding task failed", metadata: ["task_id": "\(taskID)", "error": "\(failure)"])
            try? await finishWithRetries(taskID: taskID, status: .failed, message: "Task failed: \(failure)", error: failure)
        }
        let final: BackupTask
        do {
            guard let stored = try await storeCall({ try await self.store.task(id: taskID) }) else { throw BackupError.taskNotFound(taskID) }
            final = stored
        } catch {
            let failure = Self.storeError(error)
            active.hub.end()
            active.completion.resolve(.failure(failure))
            return
        }
        metrics.taskFinished(final.status)
        logger.info("task finished", metadata: [
            "task_id": "\(taskID)", "status": "\(final.status.rawValue)", "success": "\(final.successCount)",
            "failed": "\(final.failedCount)",
        ])
        active.hub.publish(.taskFinished(final.summary)) { progress in progress = Self.progress(of: final.summary) }
        active.completion.resolve(.success(final))
        if final.filter.notifyOnComplete, let notifier {
            do {
                try await notifier.taskDidFinish(final)
            } catch {
                logger.warning("completion notification failed", metadata: ["task_id": "\(taskID)", "error": "\(BackupError.wrapping(error))"])
            }
        }
    }

    /// Lets a version-controlled archive commit the task's configs, then records the commit id in the
    /// results of the devices it holds. Returns an `ARCHIVE_COMMIT_FAILED` error when the commit failed
    /// (the configs stay on disk and go into the next commit), or when its id could not be recorded.
    private func commitArchive(_ taskID: String) async -> BackupError? {
        let commit: ArchiveCommit
        do {
            guard let made = try await archive.taskDidFinish(taskID: taskID) else { return nil }
            commit = made
        } catch {
            let wrapped = BackupError.wrapping(error)
            logger.error("archive could not commit the task's configs", metadata: ["task_id": "\(taskID)", "error": "\(wrapped)"])
            return BackupError(
                .archiveCommitFailed,
                "The configs were saved but the archive could not commit them, so no result has a git_commit_id: \(wrapped.message)",
                hint: (wrapped.hint.map { $0 + " " } ?? "") + "The files stay in the archive; the next backup that commits takes them along.")
        }
        guard !commit.devices.isEmpty else { return nil }
        do {
            guard let task = try await storeCall({ try await self.store.task(id: taskID) }) else { return nil }
            let committed = Set(commit.devices)
            let updated = task.results.filter { committed.contains($0.deviceID) && $0.success }.map { result -> DeviceBackupResult in
                var result = result
                result.gitCommitID = commit.commitID
                return result
            }
            if !updated.isEmpty { try await storeCall { try await self.store.record(updated, taskID: taskID) } }
            logger.info("archive committed", metadata: ["task_id": "\(taskID)", "commit": "\(commit.commitID)", "devices": "\(updated.count)"])
            return nil
        } catch {
            let wrapped = Self.storeError(error)
            logger.error("could not record the commit id in the task's results", metadata: ["task_id": "\(taskID)", "error": "\(wrapped)"])
            return BackupError(
                .archiveCommitFailed,
                "The archive committed the configs as \(commit.commitID), but the results could not record it: \(wrapped.message)",
                hint: wrapped.hint)
        }
    }

    private func finishWithRetries(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?) async throws {
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                try await store.finish(taskID: taskID, status: status, message: message, error: error, at: wallClock())
                return
            } catch {
                lastError = error
            }
        }
        throw Self.storeError(lastError ?? BackupError(.storeFailed, "unknown"))
    }

    // MARK: - Helpers

    private func storeCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.storeError(error)
        }
    }

    private static func storeError(_ error: any Error) -> BackupError {
        let wrapped = BackupError.wrapping(error)
        switch wrapped.code {
        case .storeFailed, .taskNotFound, .invalidRequest, .taskAlreadyFinished, .shuttingDown: return wrapped
        default: return BackupError(.storeFailed, "The task store failed: \(wrapped.message)", hint: "Check the store's disk and permissions.")
        }
    }

    private func snapshotEvent(_ task: BackupTask) -> BackupEvent {
        BackupEvent(taskID: task.taskID, sequence: 0, timestamp: wallClock(), progress: Self.progress(of: task.summary), kind: .snapshot(task))
    }

    static func progress(of summary: BackupTaskSummary) -> BackupProgress {
        BackupProgress(total: summary.total, completed: summary.completed, successCount: summary.successCount, failedCount: summary.failedCount)
    }

    static func cancelledResult(_ ref: DeviceRef, attempts: Int, at date: Date, startedAt: Date? = nil, executionTime: Double = 0) -> DeviceBackupResult {
        .failure(
            ref, BackupError(.cancelled, attempts == 0 ? "Not backed up: the task was cancelled." : "Cancelled while backing up."),
            attempts: attempts, startedAt: startedAt, finishedAt: date, executionTime: executionTime)
    }

    static func cancelMessage(_ summary: BackupTaskSummary) -> String {
        let finished = summary.successCount
        return "Cancelled: \(finished) of \(summary.total) devices were backed up before cancellation."
    }

    static func select(_ devices: [Device], filter: BackupFilter) -> (selected: [Device], missing: [DeviceID]) {
        var candidates = devices
        if let status = filter.filterStatus { candidates = candidates.filter { $0.status == status } }
        if let vendor = filter.filterVendor { candidates = candidates.filter { $0.vendor == vendor } }
        guard let ids = filter.deviceIDs else { return (candidates, []) }
        let byID = Dictionary(candidates.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var seen: Set<DeviceID> = []
        var selected: [Device] = []
        var missing: [DeviceID] = []
        for id in ids where seen.insert(id).inserted {
            if let device = byID[id] { selected.append(device) } else { missing.append(id) }
        }
        return (selected, missing)
    }

    /// Replaces any of `secrets` in an error's text with `<redacted>`. Secrets shorter than four
    /// characters are left alone: replacing every "p" of a message would only garble it.
    static func scrub(_ error: BackupError, secrets: [String]) -> BackupError {
        let secrets = secrets.filter { $0.count >= 4 }
        guard !secrets.isEmpty else { return error }
        var scrubbed = error
        for secret in secrets {
            scrubbed.message = scrubbed.message.replacingOccurrences(of: secret, with: "<redacted>")
            scrubbed.hint = scrubbed.hint?.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return scrubbed
    }
}

extension BackupPriority {
    var rank: Int {
        switch self {
        case .low: 0
        case .normal: 1
        case .high: 2
        }
    }
}

/// An archive's refusal in ``BackupExecutor``'s preparation step, kept apart from store failures.
private struct ArchivePreparationError: Error {
    let error: BackupError
}
