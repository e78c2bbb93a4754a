import BackupModels
import Foundation

/// A task the store cannot serve because records of it were damaged: reading or changing it throws, its
/// idempotency key stays taken. Kept across compactions as `damaged` records.
struct QuarantinedTask: Sendable, Hashable {
    var damage: DamagedRecord
    var idempotencyKey: String?
}

/// Rebuilds a store's state from its journal and says what, if anything, must be repaired. Pure: no I/O.
enum JournalReplay {
    struct Line {
        var offset: Int
        /// Bytes including the newline, when there is one.
        var length: Int
        var number: Int
        var terminated: Bool
        var record: JournalRecord?
        var reason: String?

        var end: Int { offset + length }
    }

    struct Result {
        var index = TaskIndex()
        var quarantine: [String: QuarantinedTask] = [:]
        /// The lsn of the last change in the kept journal (the next record gets `lastLSN + 1`).
        var lastLSN: UInt64 = 0
        var recordsReplayed = 0
        /// Damage found now, in file order.
        var damaged: [DamagedRecord] = []
        /// How many bytes of the journal to keep: less than its size when a torn tail must be cut off.
        var keepBytes = 0
        /// Whether the discarded tail held complete, readable records (then a copy is kept before truncating).
        var discardsCompleteRecords = false
        /// Whether corrupt or inconsistent records were found before the kept end (the journal gets rewritten).
        var hasCorruption: Bool { damaged.contains { $0.kind != .tornTail } }
        /// Size of the snapshot part of the journal.
        var snapshotBytes = 0
    }

    /// Splits `bytes` into lines and decodes them (in parallel: decoding JSON dominates reopening a large store).
    static func parse(_ bytes: [UInt8]) -> [Line] {
        var lines: [Line] = []
        var start = 0
        var number = 1
        bytes.withUnsafeBufferPointer { buffer in
            while start < buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != UInt8(ascii: "\n") { end += 1 }
                let terminated = end < buffer.count
                lines.append(Line(offset: start, length: end - start + (terminated ? 1 : 0), number: number, terminated: terminated))
                start = end + 1
                number += 1
            }
        }
        // Chunks of about equal bytes (a snapshot has few, long lines; a journal many short ones).
        let chunkCount = max(1, min(lines.count, 4 * ProcessInfo.processInfo.activeProcessorCount))
        let target = max(1, bytes.count / chunkCount)
        var bounds: [Range<Int>] = []
        var lower = 0
        var size = 0
        for (i, line) in lines.enumerated() {
            size += line.length
            if size >= target || i == lines.count - 1 {
                bounds.append(lower..<(i + 1))
                lower = i + 1
                size = 0
            }
        }
        let frozenLines = lines
        let frozenBounds = bounds
        let decoded = parallelMap(frozenBounds.count) { chunk -> [DecodedLine] in
            decodeLines(frozenLines[frozenBounds[chunk]], in: bytes)
        }
        var i = 0
        for chunk in decoded {
            for line in chunk {
                lines[i].record = line.record
                lines[i].reason = line.reason
                i += 1
            }
        }
        return lines
    }

    private struct DecodedLine: Sendable {
        var record: JournalRecord?
        var reason: String?
    }

    /// Checks each line's framing and checksum, then decodes the good ones — many per `JSONDecoder` call, as one
    /// JSON array (a call has a fixed cost about that of decoding one device result); a group that does not
    /// decode as a whole is decoded line by line to find the culprit.
    private static func decodeLines(_ lines: ArraySlice<Line>, in bytes: [UInt8]) -> [DecodedLine] {
        var out = lines.map { line -> DecodedLine in
            switch verify(line, in: bytes) {
            case .success: DecodedLine(record: nil, reason: nil)
            case .failure(let reason): DecodedLine(record: nil, reason: reason.text)
            }
        }
        let decoder = JournalFormat.makeDecoder()
        let verified = out.indices.filter { out[$0].reason == nil }
        let groupSize = 256
        for groupStart in stride(from: 0, to: verified.count, by: groupSize) {
            let group = verified[groupStart..<min(verified.count, groupStart + groupSize)]
            var array = Data([UInt8(ascii: "[")])
            for (n, i) in group.enumerated() {
                if n > 0 { array.append(UInt8(ascii: ",")) }
                array.append(contentsOf: bytes[json(of: lines[lines.startIndex + i])])
            }
            array.append(UInt8(ascii: "]"))
            if let records = try? decoder.decode([JournalRecord].self, from: array), records.count == group.count {
                for (record, i) in zip(records, group) { out[i] = check(record) }
                continue
            }
            for i in group {
                do {
                    out[i] = check(try decoder.decode(JournalRecord.self, from: Data(bytes[json(of: lines[lines.startIndex + i])])))
                } catch {
                    out[i] = DecodedLine(record: nil, reason: "unreadable record: \(shortDescription(of: error))")
                }
            }
        }
        return out
    }

    private static func check(_ record: JournalRecord) -> DecodedLine {
        record.isWellFormed
            ? DecodedLine(record: record, reason: nil)
            : DecodedLine(record: nil, reason: "a \(record.op.rawValue) record without its required fields")
    }

    /// The JSON of a verified line.
    private static func json(of line: Line) -> Range<Int> { (line.offset + 9)..<(line.offset + line.length - 1) }

    private struct Reason: Error {
        var text: String
    }

    /// Checks a line's framing and checksum.
    private static func verify(_ line: Line, in bytes: [UInt8]) -> Swift.Result<Void, Reason> {
        guard line.terminated else { return .failure(Reason(text: "incomplete record: the file ends in the middle of it")) }
        let contentLength = line.length - 1
        guard contentLength >= 11 else { return .failure(Reason(text: "not a journal record (too short)")) }
        return bytes.withUnsafeBytes { raw -> Swift.Result<Void, Reason> in
            let content = UnsafeRawBufferPointer(rebasing: raw[line.offset..<(line.offset + contentLength)])
            var stored: UInt32 = 0
            for i in 0..<8 {
                let c = content[i]
                let digit: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                default: return .failure(Reason(text: "not a journal record (no checksum)"))
                }
                stored = stored << 4 | digit
            }
            guard content[8] == UInt8(ascii: " ") else { return .failure(Reason(text: "not a journal record (no checksum)")) }
            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: content[9...]))
            guard computed == stored else {
                return .failure(Reason(text: "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"))
            }
            return .success(())
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 8 - text.count) + text
    }

    private static func shortDescription(of error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
            DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }

    /// Replays `lines` (from ``parse(_:)``) of the journal at `path`. Throws when the file is not a journal this
    /// version can read; damage is reported in the result instead.
    static func replay(_ lines: [Line], bytes: [UInt8], path: String) throws(BackupError) -> Result {
        var result = Result()
        guard let lastValid = lines.lastIndex(where: { $0.record != nil }) else {
            throw BackupError(
                .storeFailed, "\(path) is not a task journal: none of its \(lines.count) lines is a readable record "
                    + "(line 1: \(lines.first?.reason ?? "empty")).",
                hint: "Point the store at its own directory, or move this file away.")
        }
        // The header.
        var snapshotLSN: UInt64?
        if let header = lines[0].record {
            guard header.op == .header, header.format == JournalFormat.formatName else {
                throw BackupError(
                    .storeFailed, "\(path) is not a task journal: line 1 is a \(header.op.rawValue) record, not its header.",
                    hint: "Point the store at its own directory, or move this file away.")
            }
            guard let version = header.version, version <= JournalFormat.version else {
                throw BackupError(
                    .storeFailed, "\(path) was written by a newer version (journal format \(header.version ?? -1); this "
                        + "version reads up to \(JournalFormat.version)).",
                    hint: "Open it with the newer version.")
            }
            snapshotLSN = header.snapshotLSN
        }

        // Where the kept journal ends: everything after the last readable record is a torn tail; so is damage
        // inside the last group-commit batch (a crash mid-write may persist its pages out of order), as long as
        // the records before it are continuous — then nothing of that batch was acknowledged.
        var cut = lastValid + 1
        if let finalBatch = lines[lastValid].record?.b {
            var i = lastValid
            var earliestBad: Int?
            while i >= 0 {
                if let record = lines[i].record {
                    guard let lsn = record.lsn, lsn >= finalBatch, record.b == finalBatch else { break }
                } else {
                    earliestBad = i
                }
                i -= 1
            }
            if let bad = earliestBad {
                let before = bad - 1
                let previousLSN: UInt64? = before < 0 ? nil : (lines[before].record?.lsn ?? snapshotLSN)
                if let previousLSN, previousLSN + 1 >= finalBatch {
                    cut = bad
                }
            }
        }
        result.keepBytes = cut < lines.count ? lines[cut].offset : (lines.last?.end ?? 0)
        for line in lines[cut...] {
            if line.record != nil {
                result.discardsCompleteRecords = true
            } else {
                result.damaged.append(damage(.tornTail, line, bytes: bytes, path: path,
                    reason: "\(line.reason ?? "damaged") — part of the last write, which was cut short and never acknowledged"))
            }
        }
        let discardedComplete = lines[cut...].filter { $0.record != nil }.count
        if discardedComplete > 0, let first = result.damaged.firstIndex(where: { $0.kind == .tornTail }) {
            result.damaged[first].reason += "; \(discardedComplete) complete record(s) of that write were discarded with it"
        }

        // Apply the kept records.
        var state = ApplyState(path: path, lastLSN: snapshotLSN ?? 0)
        for line in lines[..<cut] {
            guard let record = line.record else {
                let entry = damage(.corrupt, line, bytes: bytes, path: path, reason: line.reason ?? "damaged")
                state.damaged.append(entry)
                if let taskID = entry.taskID { state.quarantine(taskID, entry) } else { state.lastUnattributed = entry }
                continue
            }
            state.apply(record, line: line, bytes: bytes)
            if record.op == .snapshotEnd { result.snapshotBytes = line.end }
        }
        state.endSnapshot()
        if result.snapshotBytes == 0 { result.snapshotBytes = lines[0].end }
        // Quarantined tasks leave the index; their idempotency keys stay taken.
        for (taskID, entry) in state.quarantined {
            var entry = entry
            if let summary = state.index.tasks[taskID]?.summary { entry.idempotencyKey = summary.idempotencyKey }
            state.quarantined[taskID] = entry
        }
        if !state.quarantined.isEmpty { state.index.remove(Array(state.quarantined.keys)) }
        result.index = state.index
        result.quarantine = state.quarantined
        result.lastLSN = state.lastLSN
        result.recordsReplayed = state.applied
        result.damaged = state.damaged + result.damaged
        return result
    }

    private static func damage(_ kind: DamagedRecord.Kind, _ line: Line, bytes: [UInt8], path: String, reason: String) -> DamagedRecord {
        let taskID = bytes.withUnsafeBytes { raw in
            JournalFormat.guessTaskID(in: UnsafeRawBufferPointer(rebasing: raw[line.offset..<line.end]))
        }
        return DamagedRecord(
            kind: kind, file: path, line: line.number, byteOffset: line.offset, length: line.length, reason: reason,
            taskID: taskID)
    }

    /// Applies records in order, checking that each fits the state before it.
    private struct ApplyState {
        let path: String
        var index = TaskIndex()
        var quarantined: [String: QuarantinedTask] = [:]
        var damaged: [DamagedRecord] = []
        var lastUnattributed: DamagedRecord?
        var lastLSN: UInt64
        var applied = 0
        var inSnapshot = true

        init(path: String, lastLSN: UInt64) {
            self.path = path
            self.lastLSN = lastLSN
        }

        mutating func quarantine(_ taskID: String, _ entry: DamagedRecord) {
            if quarantined[taskID] == nil { quarantined[taskID] = QuarantinedTask(damage: entry, idempotencyKey: nil) }
        }

        mutating func endSnapshot() { inSnapshot = false }

        private mutating func inconsistent(_ line: Line, bytes: [UInt8], _ reason: String, taskID: String?) {
            let entry = DamagedRecord(
                kind: .inconsistent, file: path, line: line.number, byteOffset: line.offset, length: line.length,
                reason: reason, taskID: taskID)
            damaged.append(entry)
            if let taskID { quarantine(taskID, entry) }
        }

        private func missingTaskReason(_ taskID: String) -> String {
            var reason = "changes task \(taskID), which the journal does not contain"
            if let lastUnattributed {
                reason += " (probably created by the damaged record at line \(lastUnattributed.line))"
            }
            return reason
        }

        mutating func apply(_ record: JournalRecord, line: Line, bytes: [UInt8]) {
            if let lsn = record.lsn {
                if inSnapshot { endSnapshot() }
                guard lsn > lastLSN else {
                    inconsistent(line, bytes: bytes, "out of order: lsn \(lsn) after lsn \(lastLSN)", taskID: nil)
                    return
                }
                lastLSN = lsn
            } else if !inSnapshot && record.op != .header {
                inconsistent(line, bytes: bytes, "a snapshot \(record.op.rawValue) record after the snapshot ended", taskID: nil)
                return
            }
            switch record.op {
            case .header:
                if line.number != 1 { inconsistent(line, bytes: bytes, "a second journal header", taskID: nil); return }
            case .snapshotEnd:
                endSnapshot()
            case .checkpoint:
                break
            case .task, .create:
                var summary = record.summary!
                if record.op == .task {
                    // A snapshot's results follow in `results` records, which recount these.
                    summary.completed = 0
                    summary.successCount = 0
                    summary.failedCount = 0
                }
                let task = BackupTask(summary: summary, devices: record.devices!, results: record.results ?? [])
                // (A task quarantined by damage is still rebuilt: it leaves the index at the end, its key reserved.)
                if index.existing(for: task) != nil {
                    inconsistent(line, bytes: bytes, "creates task \(task.taskID) a second time", taskID: nil)
                    return
                }
                index.insert(task)
            case .damaged:
                var entry = record.damage!
                entry.taskID = entry.taskID ?? record.taskID
                quarantined[record.taskID!] = QuarantinedTask(damage: entry, idempotencyKey: record.idempotencyKey)
            case .forgetDamaged:
                quarantined[record.taskID!] = nil
            case .prune:
                index.remove(record.taskIDs!)
            case .running, .results, .finish:
                let taskID = record.taskID!
                guard index.tasks[taskID] != nil else {
                    // Changes to a task quarantined earlier are expected; anything else is damage.
                    if quarantined[taskID] == nil {
                        inconsistent(line, bytes: bytes, missingTaskReason(taskID), taskID: taskID)
                    }
                    return
                }
                switch record.op {
                case .running:
                    try? index.update(taskID) { $0.markRunning(at: record.at!, resumed: record.resumed!) }
                case .results:
                    try? index.record(record.results!, taskID: taskID)
                default:
                    try? index.update(taskID) {
                        $0.finish(status: record.status!, message: record.message!, error: record.error, at: record.at!)
                    }
                }
            }
            applied += 1
        }
    }
}
