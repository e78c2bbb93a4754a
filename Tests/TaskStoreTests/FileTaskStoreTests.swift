import BackupModels
import Foundation
import Testing

@testable import TaskStore

/// What only the file store promises: state survives reopening, damage is found and contained, the directory is
/// locked, compaction changes nothing visible, no secret reaches the disk.
@Suite("FileTaskStore")
struct FileTaskStoreTests {
    /// A store with a bit of everything: several tasks in every state, replaced results, interleaved history
    /// across tasks, idempotency keys, a resumed task.
    func populate(_ store: any TaskStore) async throws {
        _ = try await store.create(makeTask("a", key: "key-a", devices: 5, createdAt: at(1)))
        _ = try await store.create(makeTask("b", devices: 5, createdAt: at(2)))
        _ = try await store.create(makeTask("c", key: "key-c", devices: 3, createdAt: at(3)))
        _ = try await store.create(makeTask("d", devices: 2, createdAt: at(3)))
        try await store.markRunning(taskID: "a", at: at(4), resumed: false)
        try await store.markRunning(taskID: "b", at: at(4), resumed: false)
        // b records device 1 before a does; a records device 2 before b does (history order differs per device).
        try await store.record([success(1, at: at(20))], taskID: "b")
        try await store.record([success(1, at: at(20)), failure(2, at: at(21))], taskID: "a")
        try await store.record([success(2, at: at(21)), success(3, at: at(22))], taskID: "b")
        try await store.record([success(2, at: at(23))], taskID: "a")  // replaces a's failure
        try await store.record([success(3, at: at(24)), failure(4, at: at(24)), success(5, at: at(25))], taskID: "a")
        try await store.finish(taskID: "a", status: .partial, message: "1 failed", error: nil, at: at(30))
        try await store.markRunning(taskID: "c", at: at(31), resumed: false)
        try await store.record([failure(1, at: at(32))], taskID: "c")
        try await store.markRunning(taskID: "c", at: at(33), resumed: true)
        try await store.finish(
            taskID: "d", status: .failed, message: "store full", error: BackupError(.storeFailed, "disk full", hint: "free space"),
            at: at(34))
    }

    @Test("reopening keeps everything; idempotency keys still resolve; appends continue")
    func reopenKeepsEverything() async throws {
        let directory = try TemporaryDirectory("reopen")
        defer { directory.remove() }
        let reference = InMemoryTaskStore()
        try await populate(reference)
        let expected = try await dump(reference)

        let before = try await withFileStore(directory) { store async throws in
            try await populate(store)
            #expect(store.recoveryReport.isClean)
            return try await dump(store)
        }
        #expect(before == expected)
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            #expect(store.recoveryReport.recordsReplayed > 0)
            #expect(try await dump(store) == expected)
            // The same idempotency key after a restart: the same task.
            let again = try await store.create(makeTask("a-again", key: "key-a"))
            #expect(again == .existing(try #require(try await store.task(id: "a"))))
            try await store.record([success(4, at: at(50))], taskID: "b")
            try await reference.record([success(4, at: at(50))], taskID: "b")
        }
        try await withFileStore(directory) { store async throws in
            #expect(try await dump(store) == (try await dump(reference)))
            #expect(try await store.unfinishedTasks().map(\.taskID) == ["b", "c"])
        }
    }

    @Test("a task left running by a process that died is unfinished after reopening, with its results")
    func unfinishedAfterReopen() async throws {
        let directory = try TemporaryDirectory("unfinished")
        defer { directory.remove() }
        // No close(): the store is abandoned as a dead process would (the lock goes with its descriptor).
        do {
            let store = try await FileTaskStore.open(directory: directory.path)
            _ = try await store.create(makeTask("t", devices: 4))
            try await store.markRunning(taskID: "t", at: at(1), resumed: false)
            try await store.record([success(1), success(2)], taskID: "t")
        }
        try await withFileStore(directory) { store async throws in
            let unfinished = try await store.unfinishedTasks()
            #expect(unfinished.map(\.taskID) == ["t"])
            #expect(unfinished.first?.status == .running)
            #expect(unfinished.first?.remainingDevices.map(\.id) == [3, 4])
        }
    }

    @Test("a torn last record is reported and cut off; everything before it is kept; appends continue cleanly")
    func tornLastRecord() async throws {
        let directory = try TemporaryDirectory("torn")
        defer { directory.remove() }
        let reference = InMemoryTaskStore()
        try await withFileStore(directory) { store async throws in
            for s in [store, reference] as [any TaskStore] {
                _ = try await s.create(makeTask("t", devices: 3))
                try await s.record([success(1)], taskID: "t")
            }
            try await store.record([success(2)], taskID: "t")  // the record the crash cuts in half
        }
        let intact = try directory.journalBytes()
        let lines = try directory.journalLines()
        let last = try #require(lines.last)
        let cut = intact.count - 1 - last.utf8.count / 2
        try directory.writeJournal(Array(intact[..<cut]))

        try await withFileStore(directory) { store async throws in
            let report = store.recoveryReport
            #expect(report.damagedRecords.count == 1)
            let damage = try #require(report.damagedRecords.first)
            #expect(damage.kind == .tornTail)
            #expect(damage.file == directory.journal)
            #expect(damage.line == lines.count)
            #expect(damage.byteOffset == intact.count - last.utf8.count - 1)
            #expect(report.onlyTornTail)
            #expect(report.truncatedBytes == cut - damage.byteOffset)
            #expect(report.quarantinedTasks.isEmpty)
            #expect(report.preservedCopy == nil)
            #expect(try directory.journalBytes() == Array(intact[..<damage.byteOffset]))
            #expect(try await dump(store) == (try await dump(reference)))
            try await store.record([success(3)], taskID: "t")
            try await reference.record([success(3)], taskID: "t")
        }
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            #expect(try await dump(store) == (try await dump(reference)))
        }
    }

    @Test("damage inside the last group-commit batch is a torn write, not corruption")
    func tornFinalBatch() async throws {
        let directory = try TemporaryDirectory("batch")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("t", devices: 4))
            try await store.record([success(1)], taskID: "t")
        }
        // One batch (b = 3) of three records, as a crash may leave it: pages written out of order, the middle
        // record's page never. lsn 1 is the create, 2 the first result.
        var bytes = try directory.journalBytes()
        let keep = bytes.count
        for (lsn, device) in [(3, 2), (4, 3), (5, 4)] {
            let json = Array(try JournalFormat.makeEncoder().encode(RecordPayload.Results(taskID: "t", results: [success(device)])))
            var line: [UInt8] = []
            JournalFormat.appendChangeLine(json: json, lsn: UInt64(lsn), batch: 3, to: &line)
            if lsn == 4 { line = line.map { $0 == UInt8(ascii: "\n") ? $0 : 0 } }
            bytes += line
        }
        try directory.writeJournal(bytes)
        try await withFileStore(directory) { store async throws in
            let report = store.recoveryReport
            #expect(report.damagedRecords.map(\.kind) == [.tornTail])
            #expect(report.damagedRecords.first?.reason.contains("1 complete record(s)") == true)
            #expect(report.quarantinedTasks.isEmpty)
            // The prefix before the hole is kept; the rest of the unacknowledged batch is dropped.
            #expect(try await store.task(id: "t")?.results.map(\.deviceID) == [1, 2])
            // Complete records were discarded: a copy of the journal as found is kept.
            let copy = try #require(report.preservedCopy)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: copy))) == bytes)
            #expect(try directory.journalBytes().count < bytes.count)
            #expect(try directory.journalBytes().count > keep)
        }
    }

    @Test("a corrupt record in the middle: clear error naming file and position, task quarantined, others readable")
    func corruptMiddleRecord() async throws {
        let directory = try TemporaryDirectory("corrupt")
        defer { directory.remove() }
        let reference = InMemoryTaskStore()
        try await withFileStore(directory) { store async throws in
            for s in [store, reference] as [any TaskStore] {
                _ = try await s.create(makeTask("a", devices: 2, createdAt: at(1)))
                _ = try await s.create(makeTask("b", key: "key-b", devices: 2, createdAt: at(2)))
                _ = try await s.create(makeTask("c", devices: 2, createdAt: at(3)))
                try await s.record([success(1)], taskID: "a")
                try await s.record([success(1)], taskID: "c")
            }
            try await store.record([success(1)], taskID: "b")  // the record that gets damaged
            for s in [store, reference] as [any TaskStore] {
                try await s.record([success(2)], taskID: "a")
                try await s.finish(taskID: "a", status: .completed, message: "ok", error: nil, at: at(9))
            }
        }
        var lines = try directory.journalLines()
        let damagedLine = try #require(lines.firstIndex { $0.contains("\"op\":\"results\"") && $0.contains("\"task_id\":\"b\"") })
        let offset = lines[..<damagedLine].reduce(0) { $0 + $1.utf8.count + 1 }
        lines[damagedLine] = lines[damagedLine].replacingOccurrences(of: "\"success\":true", with: "\"success\":fals")
        let damagedBytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        try directory.writeJournal(damagedBytes)

        // Refusing to open: a clear error, nothing changed.
        let refused = await backupError {
            _ = try await FileTaskStore.open(directory: directory.path, options: .init(corruptRecordPolicy: .refuse))
        }
        #expect(refused?.isStoreFailed(mentioning: directory.journal, "line \(damagedLine + 1)", "byte offset \(offset)", "checksum") == true)
        #expect(try directory.journalBytes() == damagedBytes)
        #expect(try Set(directory.contents().keys) == ["journal.jsonl", "LOCK"])

        let expected = try await dump(reference)
        try await withFileStore(directory) { store async throws in
            let report = store.recoveryReport
            #expect(report.damagedRecords.count == 1)
            let damage = try #require(report.damagedRecords.first)
            #expect(damage.kind == .corrupt)
            #expect((damage.file, damage.line, damage.byteOffset, damage.taskID) == (directory.journal, damagedLine + 1, offset, "b"))
            #expect(damage.reason.contains("checksum mismatch"))
            #expect(report.quarantinedTasks == ["b": damage])
            let copy = try #require(report.preservedCopy)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: copy))) == damagedBytes)

            // The damaged task: a clear error naming the file and the position, on every way to reach it.
            for call in [
                { _ = try await store.task(id: "b") },
                { _ = try await store.summary(id: "b") },
                { _ = try await store.task(idempotencyKey: "key-b") },
                { try await store.record([success(2)], taskID: "b") },
                { _ = try await store.create(makeTask("b2", key: "key-b")) },
            ] as [() async throws -> Void] {
                let error = await backupError(call)
                #expect(error?.isStoreFailed(mentioning: "Task b", directory.journal, "line \(damagedLine + 1)", "byte offset \(offset)") == true)
            }
            // Every other task is intact and the store takes changes.
            let visible = try await dump(store)
            #expect(visible.tasks == expected.tasks.filter { $0.taskID != "b" })
            #expect(try await store.unfinishedTasks().map(\.taskID) == ["c"])
            try await store.record([success(2)], taskID: "c")
        }
        // The journal was rewritten without the damage; the quarantine and its explanation survive.
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            #expect(store.recoveryReport.quarantinedTasks["b"]?.line == damagedLine + 1)
            let error = await backupError { _ = try await store.task(id: "b") }
            #expect(error?.isStoreFailed(mentioning: "line \(damagedLine + 1)", "byte offset \(offset)") == true)
            #expect(try await store.task(id: "c")?.results.count == 2)
            try await store.forgetDamagedTask(id: "b")
            #expect(try await store.task(id: "b") == nil)
            #expect(await backupError { try await store.forgetDamagedTask(id: "b") }?.code == .taskNotFound)
            #expect(try await store.create(makeTask("b2", key: "key-b")).task.taskID == "b2")
        }
        try await withFileStore(directory) { store async throws in
            #expect(store.quarantinedTasks.isEmpty)
            #expect(try await store.task(idempotencyKey: "key-b")?.taskID == "b2")
        }
    }

    @Test("a lost creation record: the task's later records are reported inconsistent and the task quarantined")
    func unreadableCreateRecord() async throws {
        let directory = try TemporaryDirectory("orphan")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("a"))
            _ = try await store.create(makeTask("lost"))
            try await store.record([success(1)], taskID: "lost")
            try await store.record([success(1)], taskID: "a")
        }
        var lines = try directory.journalLines()
        let createLine = try #require(lines.firstIndex { $0.contains("\"op\":\"create\"") && $0.contains("\"task_id\":\"lost\"") })
        lines[createLine] = String(repeating: "#", count: lines[createLine].utf8.count)
        try directory.writeJournal(Array((lines.joined(separator: "\n") + "\n").utf8))

        try await withFileStore(directory) { store async throws in
            let damaged = store.recoveryReport.damagedRecords
            #expect(damaged.map(\.kind) == [.corrupt, .inconsistent])
            #expect(damaged.first?.taskID == nil)
            #expect(damaged.first?.line == createLine + 1)
            #expect(damaged.last?.taskID == "lost")
            #expect(damaged.last?.reason.contains("probably created by the damaged record at line \(createLine + 1)") == true)
            let error = await backupError { _ = try await store.task(id: "lost") }
            #expect(error?.isStoreFailed(mentioning: "Task lost", directory.journal) == true)
            #expect(try await store.task(id: "a")?.results.count == 1)
        }
    }

    @Test("records with a valid checksum but unusable content are damaged too; the lines around them still decode")
    func checksummedNonsense() async throws {
        let directory = try TemporaryDirectory("nonsense")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("a"))
            _ = try await store.create(makeTask("b"))
        }
        var lines = try directory.journalLines()
        func framed(_ json: String) -> String {
            var out: [UInt8] = []
            JournalFormat.appendLine(json: Array(json.utf8), to: &out)
            return String(decoding: out.dropLast(), as: UTF8.self)
        }
        // Between the snapshot and the first change (so not within the last write): an unknown op, then a
        // results record without its results.
        let first = try #require(lines.firstIndex { $0.contains("\"op\":\"snapshot_end\"") }) + 1
        lines.insert(framed(#"{"b":2,"lsn":2,"op":"explode"}"#), at: first)
        lines.insert(framed(#"{"b":2,"lsn":2,"op":"results","task_id":"a"}"#), at: first + 1)
        try directory.writeJournal(Array((lines.joined(separator: "\n") + "\n").utf8))

        try await withFileStore(directory) { store async throws in
            let damaged = store.recoveryReport.damagedRecords
            #expect(damaged.map(\.kind) == [.corrupt, .corrupt])
            #expect(damaged.map(\.line) == [first + 1, first + 2])
            #expect(damaged.first?.reason.contains("unreadable record") == true)
            #expect(damaged.last?.reason.hasPrefix("a results record without its required fields") == true)
            #expect(Set(store.recoveryReport.quarantinedTasks.keys) == ["a"])
            #expect(try await store.task(id: "b") != nil)
        }
    }

    @Test("a file that is not a task journal is never modified")
    func foreignFile() async throws {
        let directory = try TemporaryDirectory("foreign")
        defer { directory.remove() }
        let foreign = Array("{\"hello\": \"world\"}\nsomething else\n".utf8)
        try directory.writeJournal(foreign)
        let error = await backupError { _ = try await FileTaskStore.open(directory: directory.path) }
        #expect(error?.isStoreFailed(mentioning: directory.journal, "not a task journal") == true)
        #expect(try directory.journalBytes() == foreign)
    }

    @Test("a second open of a directory in use fails clearly and writes nothing")
    func secondOpenInProcess() async throws {
        let directory = try TemporaryDirectory("lock")
        defer { directory.remove() }
        let first = try await FileTaskStore.open(directory: directory.path)
        _ = try await first.create(makeTask("t"))
        let before = try directory.contents()
        // A second open: a separate open file description of LOCK, so flock conflicts as with another process.
        let error = await backupError { _ = try await FileTaskStore.open(directory: directory.path) }
        #expect(error?.isStoreFailed(mentioning: "locked", "this process (pid \(getpid()))", directory.path) == true)
        #expect(try directory.contents() == before)
        try await first.close()
        try await withFileStore(directory) { store async throws in
            #expect(try await store.task(id: "t") != nil)
        }
    }

    @Test("a closed store refuses calls; closing twice is fine")
    func closedStore() async throws {
        let directory = try TemporaryDirectory("closed")
        defer { directory.remove() }
        let store = try await FileTaskStore.open(directory: directory.path)
        try await store.close()
        try await store.close()
        let error = await backupError { _ = try await store.task(id: "t") }
        #expect(error?.isStoreFailed(mentioning: "closed") == true)
        #expect(await backupError { _ = try await store.create(makeTask("t")) }?.code == .storeFailed)
    }

    @Test("compaction keeps every visible detail, history order included, and bounds the journal")
    func compactionPreservesState() async throws {
        let directory = try TemporaryDirectory("compact")
        defer { directory.remove() }
        let reference = InMemoryTaskStore()
        try await populate(reference)
        let expected = try await dump(reference)
        try await withFileStore(directory) { store async throws in
            try await populate(store)
            let sizeBefore = try directory.journalBytes().count
            let changes = try directory.journalLines().filter { $0.contains("\"lsn\":") }.count
            try await store.compact()
            #expect(try await dump(store) == expected)
            let lines = try directory.journalLines()
            // The snapshot reflects every change and the checkpoint that asked for it.
            #expect(lines.first?.contains("\"snapshot_lsn\":\(changes + 1)") == true)
            #expect(lines.allSatisfy { !$0.contains("\"lsn\":") })
            #expect(try directory.journalBytes().count < sizeBefore)
            try await store.record([success(4, at: at(60))], taskID: "b")
            try await reference.record([success(4, at: at(60))], taskID: "b")
        }
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            #expect(try await dump(store) == (try await dump(reference)))
        }
        // Automatic compaction past the threshold keeps the journal bounded and the state exact.
        try await withFileStore(directory, options: .init(compactionThreshold: 4096)) { store async throws in
            for round in 0..<200 {
                let result = round % 2 == 0 ? success(5, at: at(100 + round)) : failure(5, at: at(100 + round))
                try await store.record([result], taskID: "b")
                try await reference.record([result], taskID: "b")
            }
            #expect(try directory.journalBytes().count < 3 * 4096)
            #expect(try await dump(store) == (try await dump(reference)))
        }
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            #expect(try await dump(store) == (try await dump(reference)))
        }
    }

    @Test("a snapshot keeps each task's result order and each device's history order")
    func snapshotOrderKeepsHistory() throws {
        var index = TaskIndex()
        for id in ["a", "b", "c"] { index.insert(makeTask(id, devices: 3)) }
        // Device 1: b then a. Device 2: a then c then b. Device 3: c then a.
        try index.record([success(1)], taskID: "b")
        try index.record([success(3)], taskID: "c")
        try index.record([success(1), success(2)], taskID: "a")
        try index.record([success(2)], taskID: "c")
        try index.record([success(3)], taskID: "a")
        try index.record([success(2)], taskID: "b")
        let order = Snapshot.historyPreservingOrder(index).map { "\($0.0)/\($0.1.deviceID)" }
        #expect(order.count == 7 && Set(order).count == 7)
        func before(_ x: String, _ y: String) -> Bool { order.firstIndex(of: x)! < order.firstIndex(of: y)! }
        #expect(before("a/1", "a/2") && before("a/2", "a/3") && before("c/3", "c/2") && before("b/1", "b/2"))
        #expect(before("b/1", "a/1") && before("a/2", "c/2") && before("c/2", "b/2") && before("c/3", "a/3"))

        // Replaying the snapshot rebuilds the same index.
        let bytes = try Snapshot.encode(index: index, quarantine: [:], snapshotLSN: 6, now: at(0))
        let replay = try JournalReplay.replay(JournalReplay.parse(bytes), bytes: bytes, path: "snapshot")
        #expect(replay.damaged.isEmpty)
        #expect(replay.lastLSN == 6)
        #expect(replay.index.historyIndex == index.historyIndex)
        #expect(replay.index.tasks.mapValues(\.task) == index.tasks.mapValues(\.task))
        #expect(replay.index.unfinished.map(\.taskID) == ["a", "b", "c"])
    }

    @Test("prune is durable and compacts the pruned tasks out of the journal")
    func prunePersisted() async throws {
        let directory = try TemporaryDirectory("prune")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("old-finished-task", createdAt: at(0)))
            try await store.record([success(1)], taskID: "old-finished-task")
            try await store.finish(taskID: "old-finished-task", status: .completed, message: "", error: nil, at: at(1))
            _ = try await store.create(makeTask("still-running", createdAt: at(0)))
            try await store.markRunning(taskID: "still-running", at: at(1), resumed: false)
            #expect(try await store.prune(RetentionPolicy(maxAge: .seconds(60)), now: at(3600)) == 1)
            #expect(!String(decoding: try directory.journalBytes(), as: UTF8.self).contains("old-finished-task"))
        }
        try await withFileStore(directory) { store async throws in
            #expect(try await store.task(id: "old-finished-task") == nil)
            #expect(try await store.unfinishedTasks().map(\.taskID) == ["still-running"])
        }
    }

    @Test("no secret reaches the store's files")
    func noSecretsOnDisk() async throws {
        let directory = try TemporaryDirectory("secrets")
        defer { directory.remove() }
        let secret = "Tr0ub4dor&3-very-secret"
        let credentials = Credentials(
            username: "netops", password: Secret(secret), privateKey: .inMemory(Secret("KEY-\(secret)")),
            passphrase: Secret("PP-\(secret)"), enableSecret: Secret("EN-\(secret)"))
        // A careless caller interpolates the credentials into messages: they must arrive redacted.
        let careless = "login as \(credentials) failed"
        try await withFileStore(directory) { store async throws in
            var task = makeTask("t", devices: 2)
            task.summary.message = careless
            _ = try await store.create(task)
            try await store.markRunning(taskID: "t", at: at(1), resumed: false)
            var failed = failure(1)
            failed.errorMessage = careless
            try await store.record([failed, success(2)], taskID: "t")
            try await store.finish(
                taskID: "t", status: .partial, message: careless, error: BackupError(.authFailed, careless), at: at(2))
            try await store.compact()
            try await store.record([failed], taskID: "t")
        }
        let files = try directory.contents()
        #expect(files.keys.contains("journal.jsonl"))
        for (name, data) in files {
            let text = String(decoding: data, as: UTF8.self)
            #expect(!text.contains(secret), "\(name) contains the secret")
        }
        // Task history names devices and carries error messages: only its owner may read it.
        let mode = try FileManager.default.attributesOfItem(atPath: directory.journal)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The messages did reach the store — redacted.
        #expect(String(decoding: files["journal.jsonl"]!, as: UTF8.self).contains("password: <redacted>"))
    }

    @Test("many concurrent writers share group commits and lose nothing")
    func concurrentDurableWriters() async throws {
        let directory = try TemporaryDirectory("group")
        defer { directory.remove() }
        let writers = 32
        let perWriter = 40
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("t", devices: writers * perWriter))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        for i in 0..<perWriter { try await store.record([success(w * perWriter + i + 1)], taskID: "t") }
                    }
                }
                try await group.waitForAll()
            }
        }
        let lines = try directory.journalLines()
        // One line per record call: header, snapshot end, create, results.
        #expect(lines.count == 3 + writers * perWriter)
        try await withFileStore(directory) { store async throws in
            let task = try #require(try await store.task(id: "t"))
            #expect(task.completed == writers * perWriter)
            #expect(Set(task.results.map(\.deviceID)).count == writers * perWriter)
        }
    }
}

