public import BackupModels
public import Foundation
public import Logging
import BackupSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A crash-safe ``TaskStore`` in a directory of your choice: the embedded default for durable tasks, no database
/// needed.
///
/// ```swift
/// let store = try await FileTaskStore.open(directory: "/var/lib/netbackup/tasks", logger: logger)
/// if !store.recoveryReport.isClean { … }   // what a crash or a damaged disk left behind, also logged
/// let executor = BackupExecutor(…, store: store, …)
/// …
/// try await store.close()
/// ```
///
/// ## Files
/// - `journal.jsonl` — an append-only journal, one JSON record per line per change (create, running, a batch of
///   device results, finish, prune), each line prefixed with the CRC-32 of its JSON (`<crc32 hex> <json>`), so
///   it stays readable with `jq`/`grep` and checkable with any zlib. Recording a device result appends one short
///   line: it never rewrites the task. The journal starts with a snapshot of the state; when the appended part
///   grows past ``Options/compactionThreshold`` (and is larger than the snapshot), and after a ``prune(_:now:)``
///   that removed tasks, the store rewrites the journal as a fresh snapshot (write a temporary file, fsync,
///   rename over the journal, fsync the directory), so the journal stays proportional to what is kept.
/// - `LOCK` — held with `flock` while the store is open; it names the holder's pid.
/// - `journal.jsonl.damaged-…` — a copy of a journal that had damaged records, kept before it was repaired.
///
/// Every file the store creates (journal snapshots and compaction temporaries, damaged-journal copies, `LOCK`) is
/// created with mode 0600 — never `chmod`ed afterwards — and a directory it creates with mode 0700: task history
/// names devices and carries error messages.
///
/// ## Durability: what a crash can lose
/// With ``Options/Durability/synced`` (the default) a call that changes the store returns only after its record
/// is written *and* `fdatasync`ed; concurrent callers share one write + sync (group commit), so throughput grows
/// with concurrency. A crash at any moment — `kill -9`, an OS crash or a power loss — therefore loses **nothing
/// that was acknowledged**: at most the changes whose calls had not yet returned, which may each be present or
/// absent after a restart (never half-applied: a torn last write is detected by its checksum and cut off when the
/// store is opened again). Compaction is write-new-then-rename, so a crash during it leaves the old journal or the
/// new one, both complete.
///
/// Reads never show a change before it is durable: a query waits for the sync of any change it could observe.
/// A call that throws `STORE_FAILED` because a write or sync failed may or may not have persisted its change; the
/// store then refuses every further call (after a failed `fsync` the kernel's page cache cannot be trusted) —
/// open the directory again, which replays the journal exactly as after a crash.
///
/// With ``Options/Durability/unsynced`` the records reach the operating system before the call returns but are not
/// synced: a process crash (`kill -9`) still loses nothing acknowledged; an OS crash or power loss can lose the
/// most recent changes (never the store as a whole).
///
/// ## Damage
/// When it opens, the store replays the journal and reports what it found in ``recoveryReport`` (and logs it):
/// - A torn tail — the last write, cut short by a crash — is cut off: the journal is truncated back to the last
///   good record, so appends continue cleanly (reported as ``DamagedRecord/Kind/tornTail``). With
///   ``Options/CorruptRecordPolicy/refuse`` only an incomplete last line (no newline: never synced, so never
///   acknowledged) is a torn tail; a complete line that fails to parse is damage, and opening fails without
///   truncating anything. With ``Options/CorruptRecordPolicy/quarantine`` damaged lines within the last
///   group-commit batch count as torn too; when that cuts complete lines a copy of the journal is kept first and
///   the cut is listed in ``damage``.
/// - A corrupt record among good ones (damage to data that was acknowledged: a bad disk, an edited file) is
///   reported with the file, line and byte offset, and skipped; the rest of the store stays usable. The task the
///   record belonged to — when its id can still be read from the damaged line — is *quarantined*: reading or
///   changing it throws `STORE_FAILED` naming the damaged record, it is left out of listings, history and
///   ``unfinishedTasks()``, and its idempotency key stays taken. Records that then make no sense (changes to a
///   task whose creation was lost) are reported as ``DamagedRecord/Kind/inconsistent`` and quarantine their task.
///   A copy of the damaged journal is kept beside it and the journal is rewritten without the damage (the
///   quarantine is kept in the new journal). ``forgetDamagedTask(id:)`` drops a quarantined task for good.
///   With ``Options/CorruptRecordPolicy/refuse`` opening fails instead, with the same description, and nothing
///   is changed.
/// - Repeated or misplaced lines are reported as ``DamagedRecord/Kind/inconsistent``; changes are applied in lsn
///   order, so they cannot drop or reorder the changes around them.
///
/// Nothing vanishes silently: the damage found (now or by an earlier open) stays in a damage list kept in the
/// journal — ``damage``, and ``TaskPage/damage`` on every listing — naming each damaged record's file, line,
/// byte offset, task (when still readable) and the copy of the journal, until ``acknowledgeDamage()`` or
/// ``forgetDamagedTask(id:)``.
/// - A file that is not a task journal, or one from a newer version, is never modified: opening fails.
///
/// ## One process per directory
/// A second process — or a second ``open(directory:createIfMissing:options:logger:)`` in the same process — on a directory in use
/// fails with `STORE_FAILED` ("…is locked: another process (pid 1234) holds it") and writes nothing. The lock dies
/// with its process, so a crashed process never blocks the next start. Use a local file system: `flock` over NFS
/// is not reliable.
///
/// Blocking file I/O and `fsync` run on a `BlockingIOPool`, never on Swift's cooperative threads. Task records
/// hold no secrets: the models carry none.
public final class FileTaskStore: TaskStore {
    /// How a ``FileTaskStore`` writes and repairs its journal.
    public struct Options: Sendable, Hashable {
        /// When a change counts as stored.
        public enum Durability: Sendable, Hashable {
            /// Written and `fdatasync`ed before the call returns (group commit): survives power loss.
            case synced
            /// Written to the OS before the call returns, not synced: survives a process crash, not an OS crash.
            case unsynced
        }

        /// What opening does about corrupt records among good ones (a torn tail is always repaired).
        public enum CorruptRecordPolicy: Sendable, Hashable {
            /// Skip and report them, quarantine their tasks, keep a copy of the journal and rewrite it.
            case quarantine
            /// Fail to open, naming the first damaged record; change nothing.
            case refuse
        }

        /// When a change counts as stored; `.synced` by default.
        public var durability: Durability
        /// Compact when the journal is at least this many bytes and its appended part is larger than its snapshot.
        public var compactionThreshold: Int
        /// What opening does about corrupt records among good ones; `.quarantine` by default.
        public var corruptRecordPolicy: CorruptRecordPolicy

        /// - Parameters:
        ///   - durability: `.synced` by default.
        ///   - compactionThreshold: 64 MiB by default (a 10,000-device task is about 4 MB of journal).
        ///   - corruptRecordPolicy: `.quarantine` by default.
        public init(
            durability: Durability = .synced, compactionThreshold: Int = 64 << 20,
            corruptRecordPolicy: CorruptRecordPolicy = .quarantine
        ) {
            self.durability = durability
            self.compactionThreshold = compactionThreshold
            self.corruptRecordPolicy = corruptRecordPolicy
        }
    }

    /// The directory holding the store's files.
    public let directory: String
    /// The journal's path.
    public let journalPath: String
    /// What opening found and repaired: torn tail, damaged records, quarantined tasks.
    public let recoveryReport: RecoveryReport

    private let options: Options
    private let logger: Logger
    private let pool: BlockingIOPool
    private let state: Mutex<State>

    enum WaitOutcome: Sendable {
        case durable
        case lead
        case failed(BackupError)
    }

    struct State {
        var index: TaskIndex
        var quarantine: [String: QuarantinedTask]
        var damage: DamageList
        var commit: GroupCommit<CheckedContinuation<WaitOutcome, Never>>
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var journalFD: Int32
        var lockFD: Int32
        var journalBytes: Int
        var snapshotBytes: Int
        var compactionRequested = false
        var closing = false
        var closed = false
        var compactions = 0
        var batches = 0
        var recordsWritten = 0
        var preservedCopy: String?

        var usable: BackupError? {
            if closed || closing { return FileTaskStore.closedError }
            return commit.failure
        }
    }

    private init(directory: String, options: Options, logger: Logger, pool: BlockingIOPool, opened: Opened) {
        self.directory = directory
        journalPath = opened.journalPath
        self.options = options
        self.logger = logger
        self.pool = pool
        recoveryReport = opened.report
        state = Mutex(
            State(
                index: opened.index, quarantine: opened.quarantine, damage: opened.damage, commit: GroupCommit(lsn: opened.lastLSN),
                journalFD: opened.journalFD, lockFD: opened.lockFD, journalBytes: opened.journalBytes,
                snapshotBytes: opened.snapshotBytes, preservedCopy: opened.report.preservedCopy))
    }

    deinit {
        // Every caller holds the store while it waits, so nothing is in flight here; `close()` is the orderly way.
        state.withLock { state in
            if !state.closed {
                closeDescriptor(state.journalFD)
                StoreLock.release(state.lockFD)
                state.closed = true
            }
        }
    }

    // MARK: Opening

    /// Opens the store in `directory` — creating it when `createIfMissing` (the default) — takes the lock, replays
    /// the journal, repairs a torn tail, quarantines damaged tasks. See ``recoveryReport`` for what was found.
    ///
    /// Reading tools (listing tasks, showing one) pass `createIfMissing: false`: then a directory that does not
    /// exist, or that holds no store (no journal), is a `STORE_FAILED` error naming the path, and nothing is
    /// created — no directory, no lock file, no journal. A directory the store creates gets mode 0700.
    ///
    /// - Parameters:
    ///   - directory: The store's directory.
    ///   - createIfMissing: Whether to create the directory and an empty store when there is none; `true` by default.
    ///   - options: How the journal is written and repaired.
    ///   - logger: Where recovery findings are logged.
    /// - Throws: `STORE_FAILED` when another process (or another open store in this process) holds the directory,
    ///   when there is no store and `createIfMissing` is `false`, when the journal is not one this version can
    ///   read, when it has corrupt records and ``Options/corruptRecordPolicy`` is `.refuse`, or on I/O errors.
    public static func open(
        directory: String, createIfMissing: Bool = true, options: Options = Options(),
        logger: Logger = Logger(label: "DeviceBackup.FileTaskStore", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> FileTaskStore {
        let pool = BlockingIOPool.shared
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let opened = try await pool.run { () throws(BackupError) -> Opened in
            try Opened.open(directory: directory, options: options, createIfMissing: createIfMissing)
        }
        let store = FileTaskStore(directory: directory, options: options, logger: logger, pool: pool, opened: opened)
        store.logRecovery()
        return store
    }

    private func logRecovery() {
        let report = recoveryReport
        for damage in report.damagedRecords {
            switch damage.kind {
            case .tornTail:
                logger.warning("task journal: discarded a torn last write", metadata: ["damage": "\(damage)"])
            case .corrupt, .inconsistent:
                logger.error("task journal: damaged record skipped", metadata: ["damage": "\(damage)"])
            }
        }
        if report.truncatedBytes > 0 {
            logger.warning(
                "task journal: truncated to the last good record",
                metadata: ["journal": "\(report.journal)", "bytes_removed": "\(report.truncatedBytes)"])
        }
        for (taskID, entry) in report.quarantinedTasks.sorted(by: { $0.key < $1.key }) {
            logger.error("task quarantined: its journal record is damaged", metadata: ["task_id": "\(taskID)", "damage": "\(entry)"])
        }
        if let copy = report.preservedCopy {
            logger.notice("task journal: kept a copy of the damaged journal", metadata: ["copy": "\(copy)"])
        }
        logger.debug(
            "task store opened",
            metadata: [
                "directory": "\(directory)", "records": "\(report.recordsReplayed)",
                "replay_ms": "\(report.replayDuration.components.seconds * 1000 + report.replayDuration.components.attoseconds / 1_000_000_000_000_000)",
            ])
    }

    // MARK: TaskStore

    public func create(_ task: BackupTask) async throws -> TaskCreation {
        let json = try encode(
            RecordPayload.Task(op: .create, summary: task.summary, devices: task.devices, results: task.results.isEmpty ? nil : task.results))
        let (creation, step) = try state.withLock { state throws(BackupError) -> (TaskCreation, Step) in
            if let error = state.usable { throw error }
            if let entry = state.quarantine[task.taskID] { throw Self.quarantined(task.taskID, entry) }
            if let key = task.idempotencyKey, let found = state.quarantine.first(where: { $0.value.idempotencyKey == key }) {
                throw Self.quarantined(found.key, found.value)
            }
            if let existing = state.index.existing(for: task) {
                return (.existing(existing), Self.observe(&state))
            }
            state.index.insert(task)
            return (.created(state.index.tasks[task.taskID]!.task), Self.append(json, &state))
        }
        try await complete(step)
        return creation
    }

    public func markRunning(taskID: String, at date: Date, resumed: Bool) async throws {
        let json = try encode(RecordPayload.Running(taskID: taskID, at: date, resumed: resumed))
        try await change(taskID: taskID, json: json) { index throws(BackupError) in
            try index.update(taskID) { $0.markRunning(at: date, resumed: resumed) }
        }
    }

    public func record(_ results: [DeviceBackupResult], taskID: String) async throws {
        let json = results.isEmpty ? nil : try encode(RecordPayload.Results(taskID: taskID, results: results))
        try await change(taskID: taskID, json: json) { index throws(BackupError) in
            try index.record(results, taskID: taskID)
        }
    }

    public func finish(taskID: String, status: BackupTaskStatus, message: String, error: BackupError?, at date: Date) async throws {
        let json = try encode(RecordPayload.Finish(taskID: taskID, status: status, message: message, error: error, at: date))
        try await change(taskID: taskID, json: json) { index throws(BackupError) in
            try index.update(taskID) { $0.finish(status: status, message: message, error: error, at: date) }
        }
    }

    public func task(id: String) async throws -> BackupTask? {
        try await read { state throws(BackupError) in
            if let entry = state.quarantine[id] { throw Self.quarantined(id, entry) }
            return state.index.tasks[id]?.task
        }
    }

    public func summary(id: String) async throws -> BackupTaskSummary? {
        try await read { state throws(BackupError) in
            if let entry = state.quarantine[id] { throw Self.quarantined(id, entry) }
            return state.index.tasks[id]?.summary
        }
    }

    public func task(idempotencyKey: String) async throws -> BackupTask? {
        try await read { state throws(BackupError) in
            if let found = state.quarantine.first(where: { $0.value.idempotencyKey == idempotencyKey }) {
                throw Self.quarantined(found.key, found.value)
            }
            return state.index.byIdempotencyKey[idempotencyKey].flatMap { state.index.tasks[$0]?.task }
        }
    }

    public func tasks(_ query: TaskQuery) async throws -> TaskPage {
        try await read { state throws(BackupError) in
            var page = state.index.page(query)
            page.damage = state.damage.view(quarantined: state.quarantine.keys)
            return page
        }
    }

    public func history(deviceID: DeviceID, limit: Int) async throws -> [DeviceHistoryEntry] {
        try await read { state throws(BackupError) in state.index.history(deviceID: deviceID, limit: limit) }
    }

    public func unfinishedTasks() async throws -> [BackupTask] {
        try await read { state throws(BackupError) in state.index.unfinished }
    }

    /// Removes finished tasks by `policy`, durably, and then compacts the journal so that their records are
    /// gone from the disk too.
    public func prune(_ policy: RetentionPolicy, now: Date) async throws -> Int {
        try policy.validate()
        let (count, step) = try state.withLock { state throws(BackupError) -> (Int, Step) in
            if let error = state.usable { throw error }
            let ids = state.index.idsToPrune(policy, now: now).sorted()
            guard !ids.isEmpty else { return (0, Self.observe(&state)) }
            let json = try Self.encodeThrowing(RecordPayload.Prune(taskIDs: ids))
            state.index.remove(ids)
            state.compactionRequested = true
            return (ids.count, Self.append(json, &state))
        }
        try await complete(step)
        return count
    }

    // MARK: Beyond the protocol

    /// Rewrites the journal as a snapshot of the current state now (it also happens by itself; see
    /// ``Options/compactionThreshold``). Returns when the new journal is in place and durable.
    public func compact() async throws {
        let (lsn, before) = try state.withLock { state throws(BackupError) -> (UInt64, Int) in
            if let error = state.usable { throw error }
            let json = try Self.encodeThrowing(RecordPayload.Checkpoint())
            state.compactionRequested = true
            let before = state.compactions
            let step = Self.append(json, &state)
            guard case .wait(let lsn) = step else { fatalError("append waits") }
            return (lsn, before)
        }
        try await complete(.wait(lsn))
        let done = state.withLock { $0.compactions > before }
        if !done {
            throw BackupError(
                .storeFailed, "Compacting the task journal \(journalPath) failed; the journal was kept as it was.",
                hint: "See the log for the cause (often a full disk).")
        }
    }

    /// Drops a quarantined task (see ``recoveryReport``) for good: its id and idempotency key become free again.
    /// Throws `TASK_NOT_FOUND` if no such task is quarantined.
    public func forgetDamagedTask(id: String) async throws {
        let json = try encode(RecordPayload.ForgetDamaged(taskID: id))
        let step = try state.withLock { state throws(BackupError) -> Step in
            if let error = state.usable { throw error }
            guard state.quarantine.removeValue(forKey: id) != nil else { throw BackupError.taskNotFound(id) }
            state.damage.forget(taskID: id)
            return Self.append(json, &state)
        }
        try await complete(step)
    }

    /// The damaged journal records this store knows of — found when it was opened now or earlier — and the tasks
    /// they quarantined; `nil` when there are none. Every listing carries the same as ``TaskPage/damage``. The
    /// entries stay (in the journal, across reopening) until ``acknowledgeDamage()`` or
    /// ``forgetDamagedTask(id:)`` removes them.
    public var damage: StoreDamage? {
        state.withLock { $0.damage.view(quarantined: $0.quarantine.keys) }
    }

    /// Clears the damage list (``damage``) but for the entries of tasks still quarantined (those go with
    /// ``forgetDamagedTask(id:)``), durably: once someone has looked at the damage and its copies, listings stop
    /// warning about it.
    public func acknowledgeDamage() async throws {
        let json = try encode(RecordPayload.AcknowledgeDamage())
        let step = try state.withLock { state throws(BackupError) -> Step in
            if let error = state.usable { throw error }
            state.damage.acknowledge(keeping: state.quarantine.keys)
            // Rewrite the journal at once: the record never reaches a journal an older version wrote.
            state.compactionRequested = true
            return Self.append(json, &state)
        }
        try await complete(step)
    }

    /// Counters of the journal since the store was opened.
    public struct Statistics: Sendable, Hashable {
        /// Group-commit batches written (each one write and, when synced, one `fdatasync`).
        public var batches: Int
        /// Change records written in those batches.
        public var records: Int
        /// Compactions (snapshots written over the journal).
        public var compactions: Int
        /// The journal's current size in bytes.
        public var journalBytes: Int

        /// Records per batch: how many changes shared one sync.
        public var recordsPerBatch: Double { batches == 0 ? 0 : Double(records) / Double(batches) }
    }

    /// Counters of the journal since the store was opened.
    public var statistics: Statistics {
        state.withLock {
            Statistics(batches: $0.batches, records: $0.recordsWritten, compactions: $0.compactions, journalBytes: $0.journalBytes)
        }
    }

    /// Tasks currently quarantined because records of theirs were damaged.
    public var quarantinedTasks: [String: DamagedRecord] {
        state.withLock { $0.quarantine.mapValues(\.damage) }
    }

    /// Finishes pending writes, closes the journal and releases the directory's lock. Later calls throw
    /// `STORE_FAILED`. Calling it again does nothing.
    public func close() async throws {
        let lsn: UInt64? = state.withLock { state in
            if state.closing || state.closed { return nil }
            state.closing = true
            return state.commit.lastLSN
        }
        guard let lsn else { return }
        var failure: BackupError?
        do { try await waitDurable(lsn) } catch { failure = error }
        // Wait until no leader is at work (it may still be compacting), then take the files away for good.
        while true {
            let closedNow: Bool = state.withLock { state in
                if state.commit.leading { return false }
                if !state.closed {
                    state.closed = true
                    closeDescriptor(state.journalFD)
                    StoreLock.release(state.lockFD)
                }
                return true
            }
            if closedNow { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { state in
                    guard state.commit.leading else { return false }
                    state.idleWaiters.append(continuation)
                    return true
                }
                if !registered { continuation.resume() }
            }
        }
        if let failure, failure != Self.closedError { throw failure }
    }

    // MARK: Changes and reads

    /// What a caller does after its critical section.
    enum Step {
        /// Return at once.
        case done
        /// Wait until this lsn is durable.
        case wait(UInt64)
    }

    private static func append(_ json: [UInt8], _ state: inout State) -> Step {
        .wait(state.commit.append(json))
    }

    /// A read saw the state up to the last appended change: it may return once that is durable.
    private static func observe(_ state: inout State) -> Step {
        let lsn = state.commit.lastLSN
        return lsn <= state.commit.durableLSN ? .done : .wait(lsn)
    }

    private func change(
        taskID: String, json: [UInt8]?, _ body: (inout TaskIndex) throws(BackupError) -> Void
    ) async throws(BackupError) {
        let step = try state.withLock { state throws(BackupError) -> Step in
            if let error = state.usable { throw error }
            if let entry = state.quarantine[taskID] { throw Self.quarantined(taskID, entry) }
            try body(&state.index)
            guard let json else { return Self.observe(&state) }
            return Self.append(json, &state)
        }
        try await complete(step)
    }

    private func read<T: Sendable>(_ body: (borrowing State) throws(BackupError) -> T) async throws(BackupError) -> T {
        let (value, step) = try state.withLock { state throws(BackupError) -> (T, Step) in
            if let error = state.usable { throw error }
            return (try body(state), Self.observe(&state))
        }
        try await complete(step)
        return value
    }

    private func complete(_ step: Step) async throws(BackupError) {
        if case .wait(let lsn) = step { try await waitDurable(lsn) }
    }

    /// Returns once `lsn` is durable, writing batches as the leader when it is this caller's turn.
    private func waitDurable(_ lsn: UInt64) async throws(BackupError) {
        let outcome: WaitOutcome = await withCheckedContinuation { continuation in
            let decision = state.withLock { $0.commit.wait(for: lsn, waiter: continuation) }
            switch decision {
            case .durable: continuation.resume(returning: .durable)
            case .lead: continuation.resume(returning: .lead)
            case .failed(let error): continuation.resume(returning: .failed(error))
            case .wait: break
            }
        }
        switch outcome {
        case .durable: return
        case .failed(let error): throw error
        case .lead: try await lead()
        }
    }

    // MARK: The leader

    private enum Work {
        case append(GroupCommit<CheckedContinuation<WaitOutcome, Never>>.Batch, fd: Int32)
        case compact(GroupCommit<CheckedContinuation<WaitOutcome, Never>>.Batch?, TaskIndex, [String: QuarantinedTask], DamageList, lsn: UInt64, fd: Int32)
    }

    /// Writes one batch (or a compaction), releases the callers it made durable, hands the leadership on.
    /// The caller's own record is in the batch: it is durable when this returns without throwing.
    private func lead() async throws(BackupError) {
        // Let the callers that the previous batch released append their next records first, so that they share
        // this batch instead of waiting for the one after it (a scheduling hop, not a delay).
        await Task.yield()
        let work: Work? = state.withLock { state in
            let batch = state.commit.takeBatch()
            let due = state.compactionRequested
                || (state.journalBytes >= options.compactionThreshold && state.journalBytes - state.snapshotBytes >= state.snapshotBytes)
            if due {
                state.compactionRequested = false
                return .compact(batch, state.index, state.quarantine, state.damage, lsn: state.commit.lastLSN, fd: state.journalFD)
            }
            guard let batch else { return nil }
            return .append(batch, fd: state.journalFD)
        }
        var failure: BackupError?
        switch work {
        case nil:
            break
        case .append(let batch, let fd):
            failure = await appendBatch(batch, fd: fd)
        case .compact(let batch, let index, let quarantine, let damage, let lsn, let fd):
            switch await writeSnapshot(index: index, quarantine: quarantine, damage: damage, lsn: lsn) {
            case .success(let (newFD, size)):
                closeDescriptor(fd)
                finishBatch(through: lsn) { state in
                    state.journalFD = newFD
                    state.journalBytes = size
                    state.snapshotBytes = size
                    state.compactions += 1
                }
                logger.debug("task journal compacted", metadata: ["bytes": "\(size)", "tasks": "\(index.tasks.count)"])
            case .failure(let compactionError) where compactionError.renamed:
                // The new journal replaced the old one but is not known durable (or cannot be appended to): the
                // old descriptor is stale. Only a reopen can tell what is on disk.
                failure = compactionError.error
            case .failure(let compactionError):
                // The old journal is untouched: append what the snapshot would have covered instead.
                logger.warning(
                    "task journal compaction failed; keeping the journal as it is",
                    metadata: ["journal": "\(journalPath)", "error": "\(compactionError.error)"])
                if let batch {
                    failure = await appendBatch(batch, fd: fd)
                } else {
                    finishBatch(through: lsn) { _ in }
                }
            }
        }
        if let failure {
            let (waiters, idle) = state.withLock { state in
                let waiters = state.commit.fail(failure)
                let idle = state.idleWaiters
                state.idleWaiters.removeAll()
                return (waiters, idle)
            }
            logger.error("task journal write failed; the store refuses further changes until reopened", metadata: ["error": "\(failure)"])
            for waiter in waiters { waiter.resume(returning: .failed(failure)) }
            for waiter in idle { waiter.resume() }
            throw failure
        }
        let (next, idle) = state.withLock { state in
            let next = state.commit.handOff()
            var idle: [CheckedContinuation<Void, Never>] = []
            if next == nil {
                idle = state.idleWaiters
                state.idleWaiters.removeAll()
            }
            return (next, idle)
        }
        next?.resume(returning: .lead)
        for waiter in idle { waiter.resume() }
    }

    /// Writes a batch to the journal and records it; returns the failure, if any.
    private func appendBatch(_ batch: GroupCommit<CheckedContinuation<WaitOutcome, Never>>.Batch, fd: Int32) async -> BackupError? {
        do {
            let written = try await writeBatch(batch, fd: fd)
            finishBatch(through: batch.last) { state in
                state.journalBytes += written
                state.batches += 1
                state.recordsWritten += batch.records.count
            }
            return nil
        } catch {
            return error
        }
    }

    private func finishBatch(through lsn: UInt64, _ update: (inout State) -> Void) {
        let waiters = state.withLock { state in
            update(&state)
            return state.commit.batchDurable(through: lsn)
        }
        for waiter in waiters { waiter.resume(returning: .durable) }
    }

    private func writeBatch(_ batch: GroupCommit<CheckedContinuation<WaitOutcome, Never>>.Batch, fd: Int32) async throws(BackupError) -> Int {
        let path = journalPath
        let sync = options.durability == .synced
        let records = batch.records
        let first = batch.first
        return try await runBlocking { () throws(BackupError) -> Int in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(records.reduce(0) { $0 + $1.json.count + 48 })
            for record in records {
                JournalFormat.appendChangeLine(json: record.json, lsn: record.lsn, batch: first, to: &bytes)
            }
            do {
                try FileIO.writeAll(fd, bytes, path: path)
                if sync, fdatasync(fd) != 0 { throw FileIOError("fdatasync", path: path, errno: errno) }
            } catch {
                throw BackupError(
                    .storeFailed, "Writing the task journal failed: \(error).",
                    hint: "Check the disk (space, permissions), then open the store again; it replays the journal.")
            }
            return bytes.count
        }
    }

    private func writeSnapshot(
        index: TaskIndex, quarantine: [String: QuarantinedTask], damage: DamageList, lsn: UInt64
    ) async -> Result<(Int32, Int), Opened.SnapshotWriteError> {
        let path = journalPath
        do {
            return try await pool.run { () -> Result<(Int32, Int), Opened.SnapshotWriteError> in
                do throws(Opened.SnapshotWriteError) {
                    return .success(try Opened.writeSnapshot(index: index, quarantine: quarantine, damage: damage, lsn: lsn, path: path))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            return .failure(Opened.SnapshotWriteError(error: BackupError.wrapping(error), renamed: false))
        }
    }

    private func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws(BackupError) -> T) async throws(BackupError) -> T {
        do {
            return try await pool.run { try body() }
        } catch {
            throw BackupError.wrapping(error)
        }
    }

    // MARK: Helpers

    static let closedError = BackupError(.storeFailed, "The task store is closed.", hint: "Open the directory again.")

    static func quarantined(_ taskID: String, _ entry: QuarantinedTask) -> BackupError {
        BackupError(
            .storeFailed,
            "Task \(taskID) cannot be read: its journal record \(entry.damage.file) line \(entry.damage.line) (byte offset "
                + "\(entry.damage.byteOffset)) is damaged: \(entry.damage.reason).",
            hint: "The store skipped the damaged record and quarantined this task; other tasks are unaffected. "
                + "See the store's recovery report; forgetDamagedTask(id:) removes the task for good.")
    }

    private func encode(_ value: some Encodable) throws(BackupError) -> [UInt8] {
        try Self.encodeThrowing(value)
    }

    static func encodeThrowing(_ value: some Encodable) throws(BackupError) -> [UInt8] {
        do {
            return Array(try JournalFormat.makeEncoder().encode(value))
        } catch {
            throw BackupError(.storeFailed, "Cannot encode a task journal record: \(error).")
        }
    }
}

// MARK: - Opening

/// The result of opening a store directory: replayed state, repaired journal, open descriptors.
struct Opened: Sendable {
    var journalPath: String
    var index: TaskIndex
    var quarantine: [String: QuarantinedTask]
    var damage = DamageList()
    var lastLSN: UInt64
    var journalFD: Int32
    var lockFD: Int32
    var journalBytes: Int
    var snapshotBytes: Int
    var report: RecoveryReport

    /// Blocking: run on a ``BlockingIOPool``.
    static func open(directory: String, options: FileTaskStore.Options, createIfMissing: Bool = true) throws(BackupError) -> Opened {
        let journalPath = directory + "/" + JournalFormat.journalFileName
        if createIfMissing {
            do {
                try StoreFiles.createDirectory(directory)
            } catch {
                throw BackupError(
                    .storeFailed, "Cannot create the task store directory \(directory): \(error).",
                    hint: "Check the path and the permissions of its parent directories.")
            }
        } else {
            try StoreFiles.checkExistingStore(directory: directory, journalPath: journalPath)
        }
        let lockFD = try StoreLock.acquire(directory: directory)
        do {
            var opened = try openLocked(
                directory: directory, journalPath: journalPath, options: options, createIfMissing: createIfMissing)
            opened.lockFD = lockFD
            return opened
        } catch {
            StoreLock.release(lockFD)
            throw error
        }
    }

    private static func openLocked(
        directory: String, journalPath: String, options: FileTaskStore.Options, createIfMissing: Bool
    ) throws(BackupError) -> Opened {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            // Leftovers of a compaction a crash interrupted (the journal itself is complete).
            for name in try FileIO.listDirectory(directory) where name.hasPrefix(JournalFormat.journalFileName + ".tmp-") {
                try FileIO.remove(directory + "/" + name)
            }
            let bytes = try FileIO.read(journalPath) ?? []
            if bytes.isEmpty, !createIfMissing {
                // Checked before taking the lock too; the journal vanished or was emptied since.
                throw StoreFiles.noStore(directory, journalPath: journalPath, why: "its journal is missing or empty")
            }
            if bytes.isEmpty {
                let (fd, size) = try writeSnapshotOrThrow(index: TaskIndex(), quarantine: [:], lsn: 0, path: journalPath)
                return Opened(
                    journalPath: journalPath, index: TaskIndex(), quarantine: [:], lastLSN: 0, journalFD: fd, lockFD: -1,
                    journalBytes: size, snapshotBytes: size,
                    report: RecoveryReport(journal: journalPath, replayDuration: clock.now - start))
            }
            let lines = JournalReplay.parse(bytes)
            let refuse = options.corruptRecordPolicy == .refuse
            var replay = try JournalReplay.replay(lines, bytes: bytes, path: journalPath, strictTail: refuse)
            if replay.hasCorruption, refuse {
                let damaged = replay.damaged.filter { $0.kind != .tornTail }
                throw BackupError(
                    .storeFailed, "The task journal has \(damaged.count) damaged record(s); the first: \(damaged[0]).",
                    hint: "Nothing was changed (no record was truncated). Open with corruptRecordPolicy .quarantine to "
                        + "skip damaged records (their tasks are quarantined; a copy of the journal is kept), or "
                        + "restore the journal from a backup.")
            }
            // Keep a copy of the journal as found before changing it in any way that drops complete lines.
            var copy: String?
            if replay.hasCorruption || replay.discardsCompleteRecords {
                copy = try preserveCopy(bytes, journalPath: journalPath)
                for (taskID, entry) in replay.quarantine where replay.damaged.contains(entry.damage) {
                    replay.quarantine[taskID]?.damage.copy = copy
                }
                for i in replay.damaged.indices { replay.damaged[i].copy = copy }
                for i in replay.reports.indices.dropFirst(replay.newReportsStart) { replay.reports[i].copy = copy }
            }
            var report = RecoveryReport(
                journal: journalPath, recordsReplayed: replay.recordsReplayed, damagedRecords: replay.damaged,
                quarantinedTasks: replay.quarantine.mapValues(\.damage))
            report.preservedCopy = copy
            let damage = DamageList(records: replay.reports, omitted: replay.reportsOmitted)
            let fd: Int32
            let size: Int
            var snapshotBytes = replay.snapshotBytes
            if replay.needsRewrite {
                // Rewrite without the damage; the quarantine and the damage list live on in the new snapshot.
                (fd, size) = try writeSnapshotOrThrow(
                    index: replay.index, quarantine: replay.quarantine, damage: damage, lsn: replay.lastLSN, path: journalPath)
                snapshotBytes = size
            } else {
                fd = try openForAppending(journalPath)
                if replay.keepBytes < bytes.count {
                    if ftruncate(fd, off_t(replay.keepBytes)) != 0 || fsync(fd) != 0 {
                        let code = errno
                        closeDescriptor(fd)
                        throw FileIOError("truncate", path: journalPath, errno: code)
                    }
                    report.truncatedBytes = bytes.count - replay.keepBytes
                }
                size = replay.keepBytes
            }
            report.replayDuration = clock.now - start
            return Opened(
                journalPath: journalPath, index: replay.index, quarantine: replay.quarantine, damage: damage, lastLSN: replay.lastLSN,
                journalFD: fd, lockFD: -1, journalBytes: size, snapshotBytes: snapshotBytes, report: report)
        } catch let error as FileIOError {
            throw BackupError(.storeFailed, "Cannot open the task store: \(error).", hint: "Check the directory's permissions and the disk.")
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError.wrapping(error)
        }
    }

    /// A failed snapshot write, and whether the journal was already replaced when it failed.
    struct SnapshotWriteError: Error {
        var error: BackupError
        /// `false`: the old journal is untouched and still the journal. `true`: the new one replaced it (its
        /// directory entry may not be durable, or it could not be opened), so the old descriptor is stale.
        var renamed: Bool
    }

    /// Writes a snapshot as the new journal (temp file, fsync, rename, directory fsync) and opens it for
    /// appending. Blocking.
    static func writeSnapshot(
        index: TaskIndex, quarantine: [String: QuarantinedTask], damage: DamageList = DamageList(), lsn: UInt64, path: String
    ) throws(SnapshotWriteError) -> (Int32, Int) {
        func failed(_ what: String, renamed: Bool) -> SnapshotWriteError {
            SnapshotWriteError(
                error: BackupError(
                    .storeFailed, "Writing a snapshot of the task journal failed: \(what).", hint: "Check the disk (space, permissions)."),
                renamed: renamed)
        }
        let bytes: [UInt8]
        do {
            bytes = try Snapshot.encode(index: index, quarantine: quarantine, damage: damage, snapshotLSN: lsn, now: Date())
        } catch {
            throw failed("\(error)", renamed: false)
        }
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tempFD = createForWriting(temp)
        if tempFD < 0 { throw failed("\(FileIOError("create", path: temp, errno: errno))", renamed: false) }
        do throws(FileIOError) {
            try FileIO.writeAll(tempFD, bytes, path: temp)
            if fsync(tempFD) != 0 { throw FileIOError("fsync", path: temp, errno: errno) }
            closeDescriptor(tempFD)
            if rename(temp, path) != 0 { throw FileIOError("rename", path: path, errno: errno) }
        } catch {
            closeDescriptor(tempFD)
            unlink(temp)
            throw failed("\(error)", renamed: false)
        }
        do throws(FileIOError) {
            try FileIO.syncDirectory(containing: path)
            return (try openForAppending(path), bytes.count)
        } catch {
            throw failed("\(error)", renamed: true)
        }
    }

    private static func writeSnapshotOrThrow(
        index: TaskIndex, quarantine: [String: QuarantinedTask], damage: DamageList = DamageList(), lsn: UInt64, path: String
    ) throws(BackupError) -> (Int32, Int) {
        do throws(SnapshotWriteError) {
            return try writeSnapshot(index: index, quarantine: quarantine, damage: damage, lsn: lsn, path: path)
        } catch {
            throw error.error
        }
    }

    /// Copies a damaged journal aside before it is repaired. Blocking.
    private static func preserveCopy(_ bytes: [UInt8], journalPath: String) throws -> String {
        let stamp = Int(Date().timeIntervalSince1970)
        var path = "\(journalPath).damaged-\(stamp)"
        var n = 1
        while true {
            // Created 0600 and exclusively (never over an earlier copy), never chmod'ed afterwards.
            let result = Result { () throws(FileIOError) in try StoreFiles.writeNewFile(path, bytes) }
            guard case .failure(let error) = result else { return path }
            guard error.errnoCode == EEXIST else { throw error }
            n += 1
            path = "\(journalPath).damaged-\(stamp)-\(n)"
        }
    }
}

/// `close(2)`, under a name that `FileTaskStore.close()` does not shadow.
func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// Opens a file for appending. Blocking.
func openForAppending(_ path: String) throws(FileIOError) -> Int32 {
    let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
    if fd < 0 { throw FileIOError("open", path: path, errno: errno) }
    return fd
}

/// Creates a new file for writing, readable by its owner only (task history names devices and carries error
/// messages); -1 on failure, with `errno` set. Blocking.
func createForWriting(_ path: String) -> Int32 {
    StoreFiles.createNew(path)
}
