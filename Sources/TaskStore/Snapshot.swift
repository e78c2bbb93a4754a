import BackupModels
import Foundation

/// Serializes a store's whole state as the snapshot that starts a compacted journal.
///
/// Layout: `header` (with the lsn the snapshot reflects), one `task` record per task (oldest first, results
/// left out), the results in `results` records of at most ``resultsPerRecord``, one `damaged` record per
/// quarantined task, one `damage_report` record per entry of the store's damage list, `snapshot_end` (with how
/// many damage entries were left out of the list). Replaying it rebuilds the same index: tasks keep their order, each task's
/// results their order, and each device's history its order — the results are written in an order consistent
/// with all of those (see ``historyPreservingOrder(_:)``).
enum Snapshot {
    static let resultsPerRecord = 1000

    static func encode(
        index: TaskIndex, quarantine: [String: QuarantinedTask], damage: DamageList = DamageList(), snapshotLSN: UInt64, now: Date
    ) throws -> [UInt8] {
        // The records, in order; encoded in parallel (JSON encoding is most of a compaction's cost).
        var records: [any Encodable & Sendable] = [RecordPayload.Header(snapshotLSN: snapshotLSN, createdAt: now)]
        let states = index.tasks.values.sorted { $0.sequence < $1.sequence }
        for state in states {
            records.append(RecordPayload.Task(op: .task, summary: state.summary, devices: state.devices, results: nil))
        }
        var run: [DeviceBackupResult] = []
        var runTask: String?
        func flush() {
            if let runTask, !run.isEmpty { records.append(RecordPayload.Results(taskID: runTask, results: run)) }
            run.removeAll(keepingCapacity: true)
        }
        for (taskID, result) in historyPreservingOrder(index) {
            if taskID != runTask || run.count == resultsPerRecord {
                flush()
                runTask = taskID
            }
            run.append(result)
        }
        flush()
        for (taskID, entry) in quarantine.sorted(by: { $0.key < $1.key }) {
            records.append(RecordPayload.Damaged(taskID: taskID, idempotencyKey: entry.idempotencyKey, damage: entry.damage))
        }
        for entry in damage.records { records.append(RecordPayload.DamageReport(damage: entry)) }
        records.append(RecordPayload.SnapshotEnd(tasks: states.count, damageOmitted: damage.omitted > 0 ? damage.omitted : nil))

        let frozen = records
        let chunks = max(1, min(frozen.count, 4 * ProcessInfo.processInfo.activeProcessorCount))
        let encoded = parallelMap(chunks) { chunk -> Result<[UInt8], EncodingFailure> in
            let encoder = JournalFormat.makeEncoder()
            var out: [UInt8] = []
            do {
                let range = (chunk * frozen.count / chunks)..<((chunk + 1) * frozen.count / chunks)
                for record in frozen[range] { JournalFormat.appendLine(json: try encoder.encode(record), to: &out) }
                return .success(out)
            } catch {
                return .failure(EncodingFailure(description: "\(error)"))
            }
        }
        var out: [UInt8] = []
        for part in encoded { out += try part.get() }
        return out
    }

    struct EncodingFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Every result of every task, in an order that keeps each task's results in their order *and* each
    /// device's history (the order in which tasks first recorded the device) in its order — both are
    /// projections of the order the results were first recorded in, so such an order exists. It is found by
    /// merging (a topological sort that keeps emitting from one task while it can, so runs stay long).
    static func historyPreservingOrder(_ index: TaskIndex) -> [(String, DeviceBackupResult)] {
        let states = index.tasks.values.sorted { $0.sequence < $1.sequence }
        var out: [(String, DeviceBackupResult)] = []
        out.reserveCapacity(states.reduce(0) { $0 + $1.results.count })
        var next: [String: Int] = [:]
        var deviceNext: [DeviceID: Int] = [:]
        func isReady(_ taskID: String) -> Bool {
            guard let state = index.tasks[taskID], let i = next[taskID], i < state.results.count else { return false }
            let device = state.results[i].deviceID
            guard let history = index.historyIndex[device] else { return true }
            let position = deviceNext[device, default: 0]
            return position < history.count && history[position] == taskID
        }
        var stack: [String] = []
        for state in states.reversed() where !state.results.isEmpty {
            next[state.summary.taskID] = 0
            stack.append(state.summary.taskID)
        }
        while let taskID = stack.popLast() {
            let state = index.tasks[taskID]!
            while isReady(taskID) {
                let result = state.results[next[taskID]!]
                out.append((taskID, result))
                next[taskID]! += 1
                let position = deviceNext[result.deviceID, default: 0] + 1
                deviceNext[result.deviceID] = position
                // The task next in this device's history may be ready now.
                if let history = index.historyIndex[result.deviceID], position < history.count, history[position] != taskID {
                    stack.append(history[position])
                }
            }
        }
        // Should the history be inconsistent with the results, write what is left in task order.
        for state in states {
            let taskID = state.summary.taskID
            if let i = next[taskID], i < state.results.count {
                for result in state.results[i...] { out.append((taskID, result)) }
            }
        }
        return out
    }
}

/// The store's list of damaged records (see ``StoreDamage``): kept in the journal's snapshot.
struct DamageList: Sendable, Hashable {
    /// At most ``StoreDamage/maxRecords``.
    var records: [DamagedRecord] = []
    /// Entries left out of `records` because of the limit.
    var omitted = 0

    var isEmpty: Bool { records.isEmpty && omitted == 0 }

    /// Removes the entries of `taskID`.
    mutating func forget(taskID: String) { records.removeAll { $0.taskID == taskID } }

    /// Removes the entries but those of quarantined tasks.
    mutating func acknowledge(keeping quarantined: some Collection<String>) {
        let keep = Set(quarantined)
        records.removeAll { entry in entry.taskID.map { !keep.contains($0) } ?? true }
        omitted = 0
    }

    /// The public view: the list, with the quarantined tasks.
    func view(quarantined: some Collection<String>) -> StoreDamage? {
        guard !isEmpty || !quarantined.isEmpty else { return nil }
        return StoreDamage(records: records, total: records.count + omitted, quarantinedTasks: quarantined.sorted())
    }
}
