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
        /// The 1-based physical line number (parts of a line split by resynchronization share it).
        var number: Int
        /// Whether the record is complete: it ends with a newline, or it is a part of a damaged line that was
        /// followed by another record on the same line (a lost newline).
        var terminated: Bool
        /// Whether `length` includes a newline.
        var hasNewline: Bool
        var record: JournalRecord?
        var reason: String?

        var end: Int { offset + length }
        /// Where the record's content ends (before its newline).
        var contentEnd: Int { end - (hasNewline ? 1 : 0) }
    }

    struct Result {
        var index = TaskIndex()
        var quarantine: [String: QuarantinedTask] = [:]
        /// The lsn of the last change in the kept journal (the next record gets `lastLSN + 1`).
        var lastLSN: UInt64 = 0
        var recordsReplayed = 0
        /// Damage found now, in file order.
        var damaged: [DamagedRecord] = []
        /// The store's damage list after this replay: kept entries of earlier opens, then the ones found now
        /// from ``newReportsStart`` on. At most ``StoreDamage/maxRecords``; ``reportsOmitted`` counts the rest.
        var reports: [DamagedRecord] = []
        var reportsOmitted = 0
        var newReportsStart = 0
        /// How many bytes of the journal to keep: less than its size when a torn tail must be cut off.
        var keepBytes = 0
        /// Whether the discarded tail held complete lines (then a copy is kept before truncating).
        var discardsCompleteRecords = false
        /// Whether corrupt or inconsistent records were found before the kept end (the journal gets rewritten).
        var hasCorruption: Bool { damaged.contains { $0.kind != .tornTail } }
        /// Whether the journal must be rewritten: corruption, or damage entries found now to persist.
        var needsRewrite: Bool {
            hasCorruption || reports.count > newReportsStart || reportsOmitted > keptOmitted || keptEndsMidLine
        }
        /// Whether the kept bytes end without a newline (a record split off a damaged line): appending to them
        /// would glue the next record onto it, so the journal is rewritten instead of truncated.
        var keptEndsMidLine = false
        var keptOmitted = 0
        /// Size of the snapshot part of the journal.
        var snapshotBytes = 0
    }

    /// Splits `bytes` into lines and decodes them (in parallel: decoding JSON dominates reopening a large store).
    /// A damaged line that holds further records — a newline lost to a flipped byte merges two lines — is split
    /// so that those records are not lost with it.
    static func parse(_ bytes: [UInt8]) -> [Line] {
        var lines: [Line] = []
        var start = 0
        var number = 1
        bytes.withUnsafeBufferPointer { buffer in
            while start < buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != UInt8(ascii: "\n") { end += 1 }
                let terminated = end < buffer.count
                lines.append(
                    Line(
                        offset: start, length: end - start + (terminated ? 1 : 0), number: number, terminated: terminated,
                        hasNewline: terminated))
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
        let decoded = parallelMap(frozenBounds.count) { chunk -> [Line] in
            decodeLines(frozenLines[frozenBounds[chunk]], in: bytes)
        }
        return decoded.flatMap { $0 }
    }

    /// Checks each line's framing and checksum (splitting damaged lines that hold further records), then decodes
    /// the good ones — many per `JSONDecoder` call, as one JSON array (a call has a fixed cost about that of
    /// decoding one device result); a group that does not decode as a whole is decoded line by line to find the
    /// culprit.
    private static func decodeLines(_ input: ArraySlice<Line>, in bytes: [UInt8]) -> [Line] {
        var out: [Line] = []
        out.reserveCapacity(input.count)
        for line in input {
            switch verify(line, in: bytes) {
            case .success:
                out.append(line)
            case .failure(let reason):
                let parts = resynchronize(line, in: bytes)
                if parts.isEmpty {
                    var line = line
                    line.reason = reason.text
                    out.append(line)
                } else {
                    out += parts
                }
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
                array.append(contentsOf: bytes[json(of: out[i])])
            }
            array.append(UInt8(ascii: "]"))
            if let records = try? decoder.decode([JournalRecord].self, from: array), records.count == group.count {
                for (record, i) in zip(records, group) { check(record, &out[i]) }
                continue
            }
            for i in group {
                do {
                    check(try decoder.decode(JournalRecord.self, from: Data(bytes[json(of: out[i])])), &out[i])
                } catch {
                    out[i].reason = "unreadable record: \(shortDescription(of: error))"
                }
            }
        }
        return out
    }

    private static func check(_ record: JournalRecord, _ line: inout Line) {
        if record.isWellFormed {
            line.record = record
        } else {
            line.reason = "a \(record.op.rawValue) record without its required fields or with an implausible sequence number"
        }
    }

    /// The most record starts a damaged line is searched for (beyond that it stays one damaged line).
    private static let maxResyncCandidates = 64

    /// Splits a damaged line into the complete records it still holds and the damaged parts around them: a
    /// record starts with 8 hex digits, a space and `{`, and is complete when its checksum matches up to the next
    /// such start (or the line's end). Returns no parts when the line holds no complete record.
    private static func resynchronize(_ line: Line, in bytes: [UInt8]) -> [Line] {
        let contentEnd = line.contentEnd
        guard contentEnd - line.offset > 20 else { return [] }
        var points = [line.offset]
        bytes.withUnsafeBufferPointer { buffer in
            var p = line.offset + 1
            while p + 10 <= contentEnd, points.count <= maxResyncCandidates + 1 {
                if buffer[p + 8] == UInt8(ascii: " "), buffer[p + 9] == UInt8(ascii: "{"),
                    (0..<8).allSatisfy({ isHexDigit(buffer[p + $0]) })
                {
                    points.append(p)
                }
                p += 1
            }
        }
        guard points.count > 1, points.count <= maxResyncCandidates + 1 else { return [] }
        points.append(contentEnd)
        func fragment(_ from: Int, _ to: Int) -> Line {
            let last = to == contentEnd
            return Line(
                offset: from, length: to - from + (last && line.hasNewline ? 1 : 0), number: line.number,
                terminated: !last || line.terminated, hasNewline: last && line.hasNewline)
        }
        var parts: [Line] = []
        var badStart: Int?
        var i = 0
        var found = false
        while i < points.count - 1 {
            let start = points[i]
            var goodEnd: Int?
            for j in (i + 1)..<points.count {
                let candidate = fragment(start, points[j])
                if candidate.terminated, case .success = verify(candidate, in: bytes) {
                    goodEnd = j
                    break
                }
            }
            if let j = goodEnd {
                if let from = badStart { parts.append(fragment(from, start)) }
                badStart = nil
                parts.append(fragment(start, points[j]))
                found = true
                i = j
            } else {
                if badStart == nil { badStart = start }
                i += 1
            }
        }
        if let from = badStart { parts.append(fragment(from, contentEnd)) }
        guard found else { return [] }
        for k in parts.indices {
            if case .failure(let reason) = verify(parts[k], in: bytes) {
                parts[k].reason = reason.text + (parts.count > 1 ? " (part of a line that also holds other records)" : "")
            }
        }
        return parts
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }

    /// The JSON of a verified line.
    private static func json(of line: Line) -> Range<Int> { (line.offset + 9)..<line.contentEnd }

    private struct Reason: Error {
        var text: String
    }

    /// Checks a line's framing and checksum.
    private static func verify(_ line: Line, in bytes: [UInt8]) -> Swift.Result<Void, Reason> {
        guard line.terminated else { return .failure(Reason(text: "incomplete record: the file ends in the middle of it")) }
        let contentLength = line.contentEnd - line.offset
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
            let text = path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            return String(text.prefix(300))
        default:
            return String(String(describing: error).prefix(300))
        }
    }

    /// Replays `lines` (from ``parse(_:)``) of the journal at `path`. Throws when the file is not a journal this
    /// version can read; damage is reported in the result instead.
    ///
    /// What counts as a torn tail — the last write, cut short by a crash, never acknowledged, and so cut off
    /// without being called damage:
    /// - with `strictTail` (the refuse policy) only an incomplete last line, one without its newline: every
    ///   complete line was written whole and may have been acknowledged, so a complete line that fails to parse is
    ///   corruption, reported and never truncated;
    /// - otherwise (the quarantine policy) also damage within the last group-commit batch when the records before
    ///   it are continuous (a crash may persist a batch's pages out of order), and what follows it; a copy of the
    ///   journal is kept whenever complete lines are cut.
    static func replay(_ lines: [Line], bytes: [UInt8], path: String, strictTail: Bool = false) throws(BackupError) -> Result {
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

        let cut = strictTail ? strictCut(lines) : lenientCut(lines, lastValid: lastValid, snapshotLSN: snapshotLSN)
        result.keepBytes = cut < lines.count ? lines[cut].offset : (lines.last?.end ?? 0)
        result.keptEndsMidLine = result.keepBytes > 0 && bytes[result.keepBytes - 1] != UInt8(ascii: "\n")
        var discardedComplete = 0
        for line in lines[cut...] {
            if line.terminated { result.discardsCompleteRecords = true }
            if line.record != nil {
                discardedComplete += 1
            } else {
                result.damaged.append(damage(.tornTail, line, bytes: bytes, path: path,
                    reason: "\(line.reason ?? "damaged") — part of the last write, which was cut short and never acknowledged"))
            }
        }
        if discardedComplete > 0, let first = result.damaged.firstIndex(where: { $0.kind == .tornTail }) {
            result.damaged[first].reason += "; \(discardedComplete) complete record(s) of that write were discarded with it"
        }

        // Apply the kept records: the snapshot's by kind (tasks, then results, …; each kind in file order), then the
        // changes in lsn order — so a misplaced or repeated line is reported but cannot drop or reorder the records
        // around it.
        var state = ApplyState(path: path, lastLSN: snapshotLSN ?? 0, lines: lines[..<cut])
        var snapshot: [(rank: Int, position: Int)] = []
        var changes: [(lsn: UInt64, position: Int)] = []
        for (i, line) in lines[..<cut].enumerated() {
            guard let record = line.record else {
                let entry = damage(.corrupt, line, bytes: bytes, path: path, reason: line.reason ?? "damaged")
                state.damaged.append(entry)
                state.sawUnreadable = true
                if let taskID = entry.taskID { state.quarantine(taskID, entry) } else { state.lastUnattributed = entry }
                continue
            }
            if let lsn = record.lsn {
                changes.append((lsn, i))
            } else {
                snapshot.append((snapshotRank(record.op), i))
            }
        }
        snapshot.sort { ($0.rank, $0.position) < ($1.rank, $1.position) }
        for record in snapshot {
            state.apply(lines[record.position].record!, at: record.position, line: lines[record.position], bytes: bytes)
        }
        changes.sort { ($0.lsn, $0.position) < ($1.lsn, $1.position) }
        for change in changes {
            state.apply(lines[change.position].record!, at: change.position, line: lines[change.position], bytes: bytes)
        }
        // Damage is reported in file order.
        state.damaged.sort { ($0.byteOffset, $0.kind == .corrupt ? 0 : 1) < ($1.byteOffset, $1.kind == .corrupt ? 0 : 1) }
        result.snapshotBytes = lines[max(0, min(state.snapshotBoundary, cut) - 1)].end
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

        // The damage list: what earlier opens found (a quarantined task's entry always among it), then what this
        // one found — except a torn tail that cut only an incomplete line (the normal trace of a crash).
        var reports = state.reports
        for (_, entry) in state.quarantined.sorted(by: { $0.key < $1.key })
        where !reports.contains(entry.damage) && !result.damaged.contains(entry.damage) {
            reports.append(entry.damage)
        }
        result.keptOmitted = state.reportsOmitted
        result.reportsOmitted = state.reportsOmitted
        result.newReportsStart = min(reports.count, StoreDamage.maxRecords)
        for entry in result.damaged where entry.kind != .tornTail || result.discardsCompleteRecords {
            reports.append(entry)
        }
        if reports.count > StoreDamage.maxRecords {
            result.reportsOmitted += reports.count - StoreDamage.maxRecords
            reports.removeLast(reports.count - StoreDamage.maxRecords)
        }
        result.reports = reports
        return result
    }

    /// The order in which snapshot records apply: the order a snapshot writes them in.
    private static func snapshotRank(_ op: JournalRecord.Op) -> Int {
        switch op {
        case .header: 0
        case .task: 1
        case .results: 2
        case .damaged: 3
        case .damageReport: 4
        case .snapshotEnd: 5
        default: 6
        }
    }

    /// The refuse policy's torn tail: only an incomplete last line.
    private static func strictCut(_ lines: [Line]) -> Int {
        guard let last = lines.last, !last.terminated, last.record == nil else { return lines.count }
        return lines.count - 1
    }

    /// The quarantine policy's torn tail: everything after the last readable record, and damage inside the last
    /// group-commit batch (a crash mid-write may persist its pages out of order), as long as the records before
    /// it are continuous — then nothing of that batch was acknowledged.
    private static func lenientCut(_ lines: [Line], lastValid: Int, snapshotLSN: UInt64?) -> Int {
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
        return cut
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
        var reports: [DamagedRecord] = []
        var reportsOmitted = 0
        var lastUnattributed: DamagedRecord?
        var lastLSN: UInt64
        var applied = 0
        var seenSnapshotEnd = false
        var snapshotTasks = 0
        var sawUnreadable = false
        /// The file position of the change applied last.
        var lastChangePosition = -1
        /// Positions before it are the snapshot (records without lsn), from it on the changes (records with one).
        /// It is where the fewest readable records are on the wrong side — so that one repeated or misplaced
        /// line cannot end the snapshot early, or make it swallow the changes.
        let snapshotBoundary: Int

        init(path: String, lastLSN: UInt64, lines: ArraySlice<Line>) {
            self.path = path
            self.lastLSN = lastLSN
            // Boundary cost: change records before it plus snapshot records (but the header) from it on.
            var snapshotRecordsFrom = [Int](repeating: 0, count: lines.count + 1)
            for (i, line) in lines.enumerated().reversed() {
                snapshotRecordsFrom[i] = snapshotRecordsFrom[i + 1]
                if let record = line.record, record.lsn == nil, i > 0 { snapshotRecordsFrom[i] += 1 }
            }
            var best = (cost: Int.max, boundary: 0)
            var changesBefore = 0
            for (i, line) in lines.enumerated() {
                let cost = changesBefore + snapshotRecordsFrom[i]
                if cost < best.cost { best = (cost, i) }
                if line.record?.lsn != nil { changesBefore += 1 }
            }
            if changesBefore < best.cost { best = (changesBefore, lines.count) }
            snapshotBoundary = best.boundary
        }

        mutating func quarantine(_ taskID: String, _ entry: DamagedRecord) {
            if quarantined[taskID] == nil { quarantined[taskID] = QuarantinedTask(damage: entry, idempotencyKey: nil) }
        }

        private mutating func inconsistent(_ line: Line, bytes: [UInt8], _ reason: String, taskID: String?) {
            let entry = DamagedRecord(
                kind: .inconsistent, file: path, line: line.number, byteOffset: line.offset, length: line.length,
                reason: reason, taskID: taskID)
            damaged.append(entry)
            if let taskID { quarantine(taskID, entry) }
        }

        /// Reports a record that is applied anyway (it is in the wrong place, but its content is good).
        private mutating func report(_ line: Line, _ reason: String) {
            damaged.append(
                DamagedRecord(
                    kind: .inconsistent, file: path, line: line.number, byteOffset: line.offset, length: line.length,
                    reason: reason, taskID: nil))
        }

        private func missingTaskReason(_ taskID: String) -> String {
            var reason = "changes task \(taskID), which the journal does not contain"
            if let lastUnattributed {
                reason += " (probably created by the damaged record at line \(lastUnattributed.line))"
            }
            return reason
        }

        mutating func apply(_ record: JournalRecord, at position: Int, line: Line, bytes: [UInt8]) {
            let inSnapshot = position < snapshotBoundary
            if let lsn = record.lsn {
                // Called in lsn order.
                guard lsn > lastLSN else {
                    inconsistent(
                        line, bytes: bytes, "repeats lsn \(lsn) (a repeated record, or one the snapshot already holds); skipped",
                        taskID: nil)
                    return
                }
                // Lsns are contiguous: a gap no unreadable line explains means lines are missing.
                if lsn > lastLSN + 1, !sawUnreadable {
                    report(line, "follows lsn \(lastLSN): \(lsn - lastLSN - 1) change record(s) before it are missing")
                }
                if position < lastChangePosition {
                    report(line, "out of place: lsn \(lsn) stands before lsn \(lastLSN) in the file; applied in lsn order")
                } else if inSnapshot {
                    report(line, "a change record (lsn \(lsn)) inside the snapshot; applied in lsn order")
                }
                lastLSN = lsn
                lastChangePosition = position
            } else if !inSnapshot && position > 0 {
                // Displaced, not necessarily wrong: applied with the snapshot (a repeated one is caught below).
                report(line, "a snapshot \(record.op.rawValue) record after the snapshot ended; applied with the snapshot")
            }
            switch record.op {
            case .header:
                if line.number != 1 || position != 0 { inconsistent(line, bytes: bytes, "a second journal header", taskID: nil); return }
            case .snapshotEnd:
                if seenSnapshotEnd {
                    inconsistent(line, bytes: bytes, "a second snapshot end", taskID: nil)
                    return
                }
                if record.tasks != snapshotTasks {
                    inconsistent(
                        line, bytes: bytes, "a snapshot end counting \(record.tasks!) tasks after \(snapshotTasks) task records",
                        taskID: nil)
                    return
                }
                seenSnapshotEnd = true
                reportsOmitted = min(max(record.damageOmitted ?? 0, 0), Int(Int32.max))
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
                if record.op == .task { snapshotTasks += 1 }
            case .damaged:
                if quarantined[record.taskID!] != nil {
                    inconsistent(line, bytes: bytes, "quarantines task \(record.taskID!) a second time", taskID: nil)
                    return
                }
                var entry = record.damage!
                entry.taskID = entry.taskID ?? record.taskID
                quarantined[record.taskID!] = QuarantinedTask(damage: entry, idempotencyKey: record.idempotencyKey)
            case .damageReport:
                if reports.contains(record.damage!) {
                    inconsistent(line, bytes: bytes, "repeats a damage report", taskID: nil)
                    return
                }
                if reports.count < StoreDamage.maxRecords { reports.append(record.damage!) } else { reportsOmitted += 1 }
            case .acknowledgeDamage:
                reports.removeAll { entry in entry.taskID.map { quarantined[$0] == nil } ?? true }
                reportsOmitted = 0
            case .forgetDamaged:
                quarantined[record.taskID!] = nil
                reports.removeAll { $0.taskID == record.taskID! }
            case .prune:
                index.remove(record.taskIDs!)
            case .running, .results, .finish:
                let taskID = record.taskID!
                guard let state = index.tasks[taskID] else {
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
                    // A snapshot holds each result of a task once: a repeated one is a repeated line.
                    if record.lsn == nil, let repeated = record.results!.first(where: { state.resultIndex[$0.deviceID] != nil }) {
                        inconsistent(
                            line, bytes: bytes, "repeats the result of device \(repeated.deviceID) of task \(taskID) in the snapshot",
                            taskID: nil)
                        return
                    }
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
