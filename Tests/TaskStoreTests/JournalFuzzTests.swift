import BackupModels
import BackupSupport
import Foundation
import Testing

@testable import TaskStore

/// A bounded property test of journal replay: random valid journals (written by a real store: changes,
/// compactions, prunes), then random corruptions — flipped bits, replaced bytes, truncation, duplicated and moved
/// lines, garbage lines, checksummed records with huge numbers or deep JSON nesting. Replay must never crash, must
/// rebuild every task whose records are intact exactly, and must report every damaged line.
///
/// Bounded by time and iterations with a fixed seed, so a run is reproducible. Run it longer with, for example:
///
///     JOURNAL_FUZZ_SECONDS=600 JOURNAL_FUZZ_SEED=7 swift test --filter JournalFuzz
///
/// (`JOURNAL_FUZZ_JOURNALS` raises the number of journals; a failure prints the seed, the journal and the
/// mutation that broke the property.)
@Suite("Journal replay fuzzing")
struct JournalFuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds = Double(environment["JOURNAL_FUZZ_SECONDS"] ?? "") ?? 6
    static let seed = UInt64(environment["JOURNAL_FUZZ_SEED"] ?? "") ?? 0x5EED_0011
    static let maxJournals = Int(environment["JOURNAL_FUZZ_JOURNALS"] ?? "") ?? (environment["JOURNAL_FUZZ_SECONDS"] == nil ? 60 : .max)
    static let mutationsPerJournal = 40
    static let minJournals = 5

    @Test("replay of randomly corrupted journals never crashes, keeps intact tasks, reports every damaged line")
    func fuzzReplay() async throws {
        var random = SplitMix64(seed: Self.seed)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(Self.seconds * 1000))
        var journals = 0
        var replays = 0
        var storeOpens = 0
        // At least `minJournals` whatever the machine's load (no timing margin), then until the deadline.
        while journals < Self.maxJournals, journals < Self.minJournals || clock.now < deadline {
            let directory = try TemporaryDirectory("fuzz")
            defer { directory.remove() }
            let original = try await Self.randomJournal(&random, directory: directory)
            let reference = try Self.reference(original)
            for m in 0..<Self.mutationsPerJournal {
                let mutation = Mutation.random(&random, journal: original)
                let mutated = mutation.apply(to: original)
                let context = "seed \(Self.seed), journal \(journals), mutation \(m): \(mutation)"
                for strict in [true, false] {
                    Self.check(
                        original: original, reference: reference, mutated: mutated, mutation: mutation, strict: strict,
                        context: context)
                    replays += 1
                }
                // Now and then through the whole store: open (repairing), reopen clean, same state.
                if m % 10 == 0 {
                    try await Self.checkStore(mutated, reference: reference, original: original, context: context)
                    storeOpens += 1
                }
            }
            journals += 1
        }
        print("journal fuzz: \(journals) journals, \(replays) replays, \(storeOpens) store opens, seed \(Self.seed)")
    }

    // MARK: The oracle

    /// The state replay rebuilds from an undamaged journal.
    struct Reference {
        var tasks: [String: BackupTask]
        var quarantined: Set<String>
        /// Each line's bytes (newline included) and the tasks its record names.
        var lines: [(bytes: [UInt8], tasks: Set<String>)]
    }

    static func reference(_ bytes: [UInt8]) throws -> Reference {
        let lines = JournalReplay.parse(bytes)
        let replay = try JournalReplay.replay(lines, bytes: bytes, path: "journal", strictTail: true)
        #expect(replay.damaged.isEmpty, "the generated journal is damaged: \(replay.damaged)")
        return Reference(
            tasks: replay.index.tasks.mapValues(\.task), quarantined: Set(replay.quarantine.keys),
            lines: lines.map { line in (Array(bytes[line.offset..<line.end]), named(by: line.record)) })
    }

    static func named(by record: JournalRecord?) -> Set<String> {
        guard let record else { return [] }
        var ids = Set(record.taskIDs ?? [])
        if let id = record.summary?.taskID { ids.insert(id) }
        if let id = record.taskID { ids.insert(id) }
        if let id = record.damage?.taskID { ids.insert(id) }
        return ids
    }

    /// Splits bytes into lines (newline included; a last line may lack it) with their offsets and numbers.
    static func physicalLines(_ bytes: [UInt8]) -> [(offset: Int, bytes: ArraySlice<UInt8>, number: Int)] {
        var out: [(Int, ArraySlice<UInt8>, Int)] = []
        var start = 0
        var number = 1
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let stop = min(end + 1, bytes.count)
            out.append((start, bytes[start..<stop], number))
            start = stop
            number += 1
        }
        return out
    }

    static func check(
        original: [UInt8], reference: Reference, mutated: [UInt8], mutation: Mutation, strict: Bool, context: String
    ) {
        let context = "\(context), strict tail \(strict)"
        let lines = JournalReplay.parse(mutated)
        let replay: JournalReplay.Result
        do {
            replay = try JournalReplay.replay(lines, bytes: mutated, path: "journal", strictTail: strict)
        } catch {
            // Refusing is allowed only when the journal no longer starts with its header line (or has no readable
            // record at all): then the file is not recognisably a journal, and nothing is changed.
            let first = physicalLines(mutated).first.map { Array($0.bytes) }
            #expect(first != reference.lines.first?.bytes || lines.allSatisfy { $0.record == nil }, "\(context): \(error)")
            return
        }
        let physical = physicalLines(mutated)
        let originalTasks = Dictionary(reference.lines.map { ($0.bytes, $0.tasks) }, uniquingKeysWith: { a, _ in a })
        let reported = Set(replay.damaged.map(\.line))
        var count: [[UInt8]: Int] = [:]
        for line in physical { count[Array(line.bytes), default: 0] += 1 }

        // Every line that is not an original line is reported; of a repeated line, at least one occurrence.
        var repeatedReported: [[UInt8]: Bool] = [:]
        for line in physical {
            let bytes = Array(line.bytes)
            if originalTasks[bytes] == nil || bytes.last != UInt8(ascii: "\n") {
                #expect(
                    reported.contains(line.number),
                    "\(context): damaged line \(line.number) not reported: \(String(decoding: line.bytes.prefix(120), as: UTF8.self)); reported: \(replay.damaged)")
            } else if count[bytes]! > 1 {
                repeatedReported[bytes, default: false] = repeatedReported[bytes, default: false] || reported.contains(line.number)
            }
        }
        for (bytes, wasReported) in repeatedReported where !wasReported {
            Issue.record(Comment(rawValue: "\(context): a repeated line is not reported: \(String(decoding: bytes.prefix(120), as: UTF8.self))"))
        }
        // A change record moved among the others is reported (it is applied in lsn order all the same).
        if case .moveLine(let from, let before) = mutation, before != from, before != from + 1,
            String(decoding: reference.lines[from].bytes, as: UTF8.self).contains("\"lsn\":")
        {
            #expect(!replay.damaged.isEmpty, "\(context): a moved change record is not reported")
        }

        // Tasks whose records are all intact — and, with the lenient tail, before the cut — are rebuilt exactly. A
        // snapshot line (no lsn to order it by) that is moved or repeated may reorder its task's results (which
        // copy of a repeated line is the right one cannot be told): that task keeps its summary and results, in
        // some order.
        var affected = Set<String>()
        var reordered = Set<String>()
        for line in reference.lines where count[line.bytes] == nil { affected.formUnion(line.tasks) }
        for line in reference.lines where (count[line.bytes] ?? 0) > 1 && !String(decoding: line.bytes, as: UTF8.self).contains("\"lsn\":") {
            reordered.formUnion(line.tasks)
        }
        if case .moveLine(let from, _) = mutation, !String(decoding: reference.lines[from].bytes, as: UTF8.self).contains("\"lsn\":") {
            reordered.formUnion(reference.lines[from].tasks)
        }
        if !strict {
            for line in physical where line.offset + line.bytes.count > replay.keepBytes {
                if let tasks = originalTasks[Array(line.bytes)] { affected.formUnion(tasks) }
            }
        }
        for (id, task) in reference.tasks where !affected.contains(id) && reordered.contains(id) {
            let rebuilt = replay.index.tasks[id]?.task
            #expect(rebuilt?.summary == task.summary, "\(context): task \(id) of a moved snapshot line differs or is lost")
            #expect(
                rebuilt?.results.sorted { $0.deviceID < $1.deviceID } == task.results.sorted { $0.deviceID < $1.deviceID },
                "\(context): task \(id) of a moved snapshot line lost results")
        }
        for (id, task) in reference.tasks where !affected.contains(id) && !reordered.contains(id) {
            #expect(replay.index.tasks[id]?.task == task, "\(context): intact task \(id) differs or is lost")
            #expect(replay.quarantine[id] == nil, "\(context): intact task \(id) was quarantined")
        }
        for id in reference.quarantined where !affected.contains(id) {
            #expect(replay.quarantine[id] != nil, "\(context): quarantined task \(id) was released")
        }
        // Nothing invented: every task replay rebuilt is one the journal had.
        for id in replay.index.tasks.keys {
            #expect(reference.tasks[id] != nil || affected.contains(id), "\(context): task \(id) appeared from nowhere")
        }
    }

    /// Opens the mutated journal as a store (quarantine policy): no crash; unaffected tasks readable; a second
    /// open finds nothing left to repair and the same state.
    static func checkStore(_ mutated: [UInt8], reference: Reference, original: [UInt8], context: String) async throws {
        let directory = try TemporaryDirectory("fuzz-open")
        defer { directory.remove() }
        try directory.writeJournal(mutated)
        let store: FileTaskStore
        do {
            store = try await FileTaskStore.open(directory: directory.path, options: .init(durability: .unsynced))
        } catch let error as BackupError {
            #expect(error.code == .storeFailed, "\(context): \(error)")
            #expect(try directory.journalBytes() == mutated, "\(context): a refused journal was modified")
            return
        }
        // Appends after the repair must land on a clean line boundary.
        _ = try await store.create(makeTask("appended-after-repair", devices: 1, createdAt: at(10_000)))
        let first = try await dump(store, devices: 1...6)
        let damage = store.damage
        try await store.close()
        let reopened = try await FileTaskStore.open(directory: directory.path, options: .init(durability: .unsynced))
        #expect(reopened.recoveryReport.isClean, "\(context): the repaired journal is still damaged: \(reopened.recoveryReport.damagedRecords)")
        #expect(try await dump(reopened, devices: 1...6) == first, "\(context): state changed across a reopen")
        #expect(reopened.damage == damage, "\(context): the damage list changed across a reopen")
        #expect(try await reopened.task(id: "appended-after-repair") != nil, "\(context): the append after the repair was lost")
        try await reopened.close()
    }

    // MARK: Random journals

    /// A journal written by a real store: a few tasks with distinct ids, state changes, sometimes a compaction or
    /// a prune in between.
    static func randomJournal(_ random: inout SplitMix64, directory: TemporaryDirectory) async throws -> [UInt8] {
        let store = try await FileTaskStore.open(directory: directory.path, options: .init(durability: .unsynced))
        var ids: [String] = []
        let operations = Int(random.next(upTo: 30)) + 5
        for step in 0..<operations {
            let choice = random.next(upTo: 10)
            if ids.isEmpty || choice == 0 {
                let id = "task-\(String(random.next() & 0xFF_FFFF, radix: 16))"
                guard !ids.contains(id) else { continue }
                var task = makeTask(id, key: random.next(upTo: 2) == 0 ? "key-\(id)" : nil, devices: 4, createdAt: at(step))
                if random.next(upTo: 4) == 0 { task.results = [success(1, at: at(step))] }
                _ = try await store.create(task)
                ids.append(id)
                continue
            }
            let id = ids[Int(random.next(upTo: UInt64(ids.count)))]
            guard let summary = try await store.summary(id: id) else { continue }
            switch choice {
            case 1, 2:
                try await store.markRunning(taskID: id, at: at(step), resumed: summary.status == .running)
            case 3, 4, 5:
                let device = Int(random.next(upTo: 4)) + 1
                try await store.record([random.next(upTo: 3) == 0 ? failure(device, at: at(step)) : success(device, at: at(step))], taskID: id)
            case 6:
                try await store.finish(taskID: id, status: .completed, message: "done \(step)", error: nil, at: at(step))
            case 7:
                try await store.compact()
            case 8:
                _ = try await store.prune(RetentionPolicy(maxFinishedTasks: Int(random.next(upTo: 3))), now: at(step))
            default:
                try await store.record([success(Int(random.next(upTo: 4)) + 1, at: at(step))], taskID: id)
            }
        }
        try await store.close()
        return try directory.journalBytes()
    }
}

/// One random corruption of a journal.
enum Mutation: CustomStringConvertible {
    case flipBits([(offset: Int, mask: UInt8)])
    case replaceByte(offset: Int, value: UInt8)
    case truncate(at: Int)
    case duplicateLine(line: Int, before: Int)
    case moveLine(line: Int, before: Int)
    case garbageLine(before: Int, bytes: [UInt8])
    case checksummed(before: Int, json: String)

    static func random(_ random: inout SplitMix64, journal: [UInt8]) -> Mutation {
        let lines = JournalFuzzTests.physicalLines(journal).count
        func offset() -> Int { Int(random.next(upTo: UInt64(journal.count))) }
        func line() -> Int { Int(random.next(upTo: UInt64(lines))) }
        switch random.next(upTo: 8) {
        case 0:
            return .flipBits((0..<(Int(random.next(upTo: 3)) + 1)).map { _ in (offset(), UInt8(1) << UInt8(random.next(upTo: 8))) })
        case 1:
            return .replaceByte(offset: offset(), value: UInt8(truncatingIfNeeded: random.next()))
        case 2:
            return .truncate(at: offset())
        case 3:
            return .duplicateLine(line: line(), before: Int(random.next(upTo: UInt64(lines + 1))))
        case 4:
            return .moveLine(line: line(), before: Int(random.next(upTo: UInt64(lines + 1))))
        case 5:
            let length = Int(random.next(upTo: 200)) + 1
            let printable = random.next(upTo: 2) == 0
            let bytes = (0..<length).map { _ -> UInt8 in
                let byte = UInt8(truncatingIfNeeded: random.next())
                return byte == UInt8(ascii: "\n") ? 0 : (printable ? 0x20 + byte % 0x5F : byte)
            }
            return .garbageLine(before: line(), bytes: bytes)
        default:
            let depth = Int(random.next(upTo: 20_000)) + 600
            let choices = [
                #"{"b":18446744073709551615,"lsn":18446744073709551615,"op":"checkpoint"}"#,
                #"{"b":1,"lsn":99999999999999999999999999,"op":"results","task_id":"x","results":[]}"#,
                #"{"b":1,"lsn":4611686018427387905,"op":"prune","task_ids":[]}"#,
                #"{"op":"header","format":"DeviceBackup.TaskStore.journal","version":1,"snapshot_lsn":1e400}"#,
                #"{"op":"snapshot_end","tasks":9223372036854775807,"damage_omitted":9223372036854775807}"#,
                #"{"op":"task","summary":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}",
                #"{"op":"damage_report","damage":"# + String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) + "}",
                #"{"b":3,"lsn":2,"op":"checkpoint"}"#,
            ]
            return .checksummed(before: line(), json: choices[Int(random.next(upTo: UInt64(choices.count)))])
        }
    }

    func apply(to journal: [UInt8]) -> [UInt8] {
        var lines = JournalFuzzTests.physicalLines(journal).map { Array($0.bytes) }
        func joined() -> [UInt8] { lines.flatMap { $0 } }
        switch self {
        case .flipBits(let flips):
            var bytes = journal
            for flip in flips { bytes[flip.offset] ^= flip.mask }
            return bytes
        case .replaceByte(let offset, let value):
            var bytes = journal
            bytes[offset] = value == bytes[offset] ? value ^ 0x40 : value
            return bytes
        case .truncate(let at):
            return Array(journal[..<at])
        case .duplicateLine(let line, let before):
            lines.insert(lines[line], at: before)
            return joined()
        case .moveLine(let line, let before):
            let moved = lines.remove(at: line)
            lines.insert(moved, at: min(before, lines.count))
            return joined()
        case .garbageLine(let before, let bytes):
            lines.insert(bytes + [UInt8(ascii: "\n")], at: before)
            return joined()
        case .checksummed(let before, let json):
            var line: [UInt8] = []
            JournalFormat.appendLine(json: Array(json.utf8), to: &line)
            lines.insert(line, at: before)
            return joined()
        }
    }

    var description: String {
        switch self {
        case .flipBits(let flips): "flip bits \(flips.map { "\($0.offset)^\($0.mask)" })"
        case .replaceByte(let offset, let value): "replace byte \(offset) with \(value)"
        case .truncate(let at): "truncate at \(at)"
        case .duplicateLine(let line, let before): "duplicate line \(line + 1) before line \(before + 1)"
        case .moveLine(let line, let before): "move line \(line + 1) before line \(before + 1)"
        case .garbageLine(let before, let bytes): "\(bytes.count) garbage bytes as a line before line \(before + 1)"
        case .checksummed(let before, let json): "checksummed \(json.prefix(60))… before line \(before + 1)"
        }
    }
}

