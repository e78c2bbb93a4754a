import BackupModels
import Foundation
import Testing

@testable import TaskStore

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11 for the file store: opening only an existing store, file modes, damage that stays visible, the
/// refuse policy never truncating acknowledged records.
@Suite("FileTaskStore hardening")
struct FileTaskStoreHardeningTests {
    @Test("createIfMissing: false never creates a store: a missing directory or one without a journal is a clear error")
    func openExistingOnly() async throws {
        let parent = try TemporaryDirectory("existing")
        defer { parent.remove() }

        // A path that does not exist: an error naming it, and nothing created along the way.
        let typo = parent.path + "/typo/a/b"
        let missing = await backupError { _ = try await FileTaskStore.open(directory: typo, createIfMissing: false) }
        #expect(missing?.isStoreFailed(mentioning: typo, "no task store", "does not exist") == true)
        #expect(!FileManager.default.fileExists(atPath: parent.path + "/typo"))

        // A file where the directory should be.
        let file = parent.path + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let notDirectory = await backupError { _ = try await FileTaskStore.open(directory: file, createIfMissing: false) }
        #expect(notDirectory?.isStoreFailed(mentioning: file, "not a directory") == true)

        // An existing directory without a store: refused, and left empty (no LOCK, no journal).
        let empty = parent.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let noStore = await backupError { _ = try await FileTaskStore.open(directory: empty, createIfMissing: false) }
        #expect(noStore?.isStoreFailed(mentioning: empty, "no task store", "no journal") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)

        // An empty journal is no store either; it is left as it is.
        _ = FileManager.default.createFile(atPath: empty + "/journal.jsonl", contents: Data())
        let emptyJournal = await backupError { _ = try await FileTaskStore.open(directory: empty, createIfMissing: false) }
        #expect(emptyJournal?.isStoreFailed(mentioning: empty, "no task store", "empty") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == ["journal.jsonl"])

        // A real store opens without being created, with its tasks.
        let real = try TemporaryDirectory("existing-real")
        defer { real.remove() }
        try await withFileStore(real) { store async throws in _ = try await store.create(makeTask("t")) }
        let store = try await FileTaskStore.open(directory: real.path, createIfMissing: false)
        #expect(try await store.task(id: "t") != nil)
        try await store.close()

        // The default still creates the directory and its parents, owner-only.
        let created = parent.path + "/new/store"
        try await FileTaskStore.open(directory: created).close()
        #expect(FileManager.default.fileExists(atPath: created + "/journal.jsonl"))
        #expect(try mode(of: created) == 0o700)
        #expect(try mode(of: parent.path + "/new") == 0o700)
    }
}


extension FileTaskStoreHardeningTests {
    /// Flips one bit of the byte at `offset` in the journal.
    static func flip(_ directory: TemporaryDirectory, at offset: Int) throws {
        var bytes = try directory.journalBytes()
        bytes[offset] ^= 0x01
        try directory.writeJournal(bytes)
    }

    /// The UTF-8 offset of the first `needle` in `text` (the journal's key order is not fixed: find, never count).
    static func offset(of needle: String, in text: String) throws -> Int {
        let range = try #require(text.range(of: needle))
        return text.utf8.distance(from: text.startIndex, to: range.lowerBound)
    }

    /// The byte offset of the first line that contains every one of `parts`, and its 1-based number.
    static func line(in directory: TemporaryDirectory, containing parts: String...) throws -> (offset: Int, number: Int, text: String) {
        let lines = try directory.journalLines()
        let index = try #require(lines.firstIndex { line in parts.allSatisfy { line.contains($0) } })
        return (lines[..<index].reduce(0) { $0 + $1.utf8.count + 1 }, index + 1, lines[index])
    }

    @Test("one flipped byte in a record: the listing says which record is damaged, its task and where the copy is, across reopening")
    func flippedByteIsListed() async throws {
        let directory = try TemporaryDirectory("flip")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("a", createdAt: at(1)))
            _ = try await store.create(makeTask("b", createdAt: at(2)))
            try await store.record([success(1)], taskID: "b")
            try await store.finish(taskID: "b", status: .completed, message: "ok", error: nil, at: at(3))
            _ = try await store.create(makeTask("c", createdAt: at(4)))
        }
        let damaged = try Self.line(in: directory, containing: "\"op\":\"results\"", "\"task_id\":\"b\"")
        // A bit in the device's name in the result (the task id stays readable).
        try Self.flip(directory, at: damaged.offset + (try Self.offset(of: "\"dev-1\"", in: damaged.text)) + 2)

        try await withFileStore(directory) { store async throws in
            let page = try await store.tasks(TaskQuery())
            #expect(page.items.map(\.taskID) == ["c", "a"])
            let damage = try #require(page.damage)
            #expect(damage.total == 1 && damage.quarantinedTasks == ["b"])
            let record = try #require(damage.records.first)
            #expect(record.kind == .corrupt)
            #expect((record.file, record.line, record.byteOffset, record.taskID) == (directory.journal, damaged.number, damaged.offset, "b"))
            let copy = try #require(record.copy)
            #expect(copy == store.recoveryReport.preservedCopy)
            #expect(FileManager.default.fileExists(atPath: copy))
            #expect(try mode(of: copy) == 0o600)
            #expect(store.damage == damage)
            #expect("\(damage)".contains("line \(damaged.number)") && "\(damage)".contains(copy))
            // The same in JSON, as a server would send it.
            let json = String(decoding: try JSONEncoder().encode(page), as: UTF8.self)
            #expect(json.contains("\"damage\"") && json.contains("\"quarantined_tasks\""))
        }
        // Reopened (a new `tasks list`): the journal was rewritten, the damage is still listed.
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.isClean)
            let damage = try #require(try await store.tasks(TaskQuery()).damage)
            #expect(damage.records.map(\.line) == [damaged.number] && damage.quarantinedTasks == ["b"])
            // Acknowledging keeps what a quarantined task still needs; forgetting the task clears it.
            try await store.acknowledgeDamage()
            #expect(try await store.tasks(TaskQuery()).damage?.records.count == 1)
            try await store.forgetDamagedTask(id: "b")
            #expect(try await store.tasks(TaskQuery()).damage == nil)
        }
        try await withFileStore(directory) { store async throws in
            #expect(try await store.tasks(TaskQuery()).damage == nil)
            #expect(try await store.tasks(TaskQuery()).items.map(\.taskID) == ["c", "a"])
        }
        // A journal without damage never carries the field; neither does the memory store.
        let clean = String(decoding: try JSONEncoder().encode(try await InMemoryTaskStore().tasks(TaskQuery())), as: UTF8.self)
        #expect(!clean.contains("damage"))
    }

    @Test("a flipped byte in a task's creation record, later records intact: the task is named in the damage list, not gone")
    func damagedCreateRecordIsListed() async throws {
        let directory = try TemporaryDirectory("flip-create")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("a", createdAt: at(1)))
            _ = try await store.create(makeTask("lost-task", createdAt: at(2)))
            try await store.markRunning(taskID: "lost-task", at: at(3), resumed: false)
            try await store.record([success(1)], taskID: "lost-task")
            try await store.record([success(1)], taskID: "a")
        }
        let create = try Self.line(in: directory, containing: "\"op\":\"create\"", "\"task_id\":\"lost-task\"")
        // Flip a bit inside `"task_id"` itself: the id can no longer be read from the damaged record.
        try Self.flip(directory, at: create.offset + (try Self.offset(of: "\"task_id\"", in: create.text)) + 3)

        try await withFileStore(directory) { store async throws in
            let page = try await store.tasks(TaskQuery())
            #expect(page.items.map(\.taskID) == ["a"])
            let damage = try #require(page.damage)
            #expect(damage.quarantinedTasks == ["lost-task"])
            #expect(damage.records.map(\.kind) == [.corrupt, .inconsistent])
            #expect(damage.records[0].taskID == nil && damage.records[0].line == create.number)
            #expect(damage.records[1].taskID == "lost-task")
            #expect(damage.records[1].reason.contains("probably created by the damaged record at line \(create.number)"))
            #expect(damage.records.allSatisfy { $0.copy != nil })
            let error = await backupError { _ = try await store.task(id: "lost-task") }
            #expect(error?.isStoreFailed(mentioning: "lost-task", directory.journal) == true)
        }
        try await withFileStore(directory) { store async throws in
            let damage = try #require(try await store.tasks(TaskQuery(status: .completed)).damage)
            #expect(damage.records.count == 2 && damage.quarantinedTasks == ["lost-task"])
            // Acknowledging drops the unattributed entry, keeps the quarantined task's.
            try await store.acknowledgeDamage()
            #expect(store.damage?.records.map(\.taskID) == ["lost-task"])
        }
        try await withFileStore(directory) { store async throws in
            #expect(store.damage?.records.map(\.taskID) == ["lost-task"])
        }
    }

    @Test("refuse policy: a complete last record that fails its checksum is damage — opening fails, nothing is truncated")
    func refuseNeverTruncatesCompleteRecords() async throws {
        let directory = try TemporaryDirectory("refuse-tail")
        defer { directory.remove() }
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("t", devices: 3))
            try await store.record([success(1)], taskID: "t")
            try await store.finish(taskID: "t", status: .completed, message: "done", error: nil, at: at(9))  // acknowledged
        }
        let last = try Self.line(in: directory, containing: "\"op\":\"finish\"")
        #expect(try directory.journalLines().last == last.text)
        try Self.flip(directory, at: last.offset + 30)
        let damaged = try directory.journalBytes()

        let refuse = FileTaskStore.Options(corruptRecordPolicy: .refuse)
        let error = await backupError { _ = try await FileTaskStore.open(directory: directory.path, options: refuse) }
        #expect(error?.isStoreFailed(mentioning: directory.journal, "line \(last.number)", "byte offset \(last.offset)", "checksum") == true)
        #expect(error?.hint?.contains("no record was truncated") == true)
        #expect(try directory.journalBytes() == damaged)
        #expect(try Set(directory.contents().keys) == ["journal.jsonl", "LOCK"])

        // Only an incomplete last line — never newline-terminated, so never acknowledged — is a torn tail.
        let finish = Array(damaged[last.offset...])
        var restored = damaged
        restored[last.offset + 30] ^= 0x01
        try directory.writeJournal(restored + Array(finish.prefix(40)))
        try await withFileStore(directory, options: refuse) { store async throws in
            #expect(store.recoveryReport.onlyTornTail)
            #expect(store.recoveryReport.truncatedBytes == 40)
            #expect(try await store.summary(id: "t")?.status == .completed)
            #expect(store.damage == nil)
        }
        #expect(try directory.journalBytes() == restored)

        // The quarantine policy does not refuse, but keeps a copy and lists the damage.
        try directory.writeJournal(damaged)
        try await withFileStore(directory) { store async throws in
            let copy = try #require(store.recoveryReport.preservedCopy)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: copy))) == damaged)
            #expect(store.damage?.records.first?.line == last.number)
        }
    }

    @Test("every file the store creates is created 0600 (directory 0700) and never chmod'ed afterwards")
    func fileModes() async throws {
        let parent = try TemporaryDirectory("modes")
        defer { parent.remove() }
        let path = parent.path + "/store"
        let directory = TemporaryDirectory(existing: path)
        try await withFileStore(directory) { store async throws in
            _ = try await store.create(makeTask("a"))
            _ = try await store.create(makeTask("b"))
            try await store.record([success(1)], taskID: "b")
            try await store.compact()  // a compaction temporary renamed over the journal
            try await store.record([success(2)], taskID: "b")
        }
        let target = try Self.line(in: directory, containing: "\"op\":\"results\"", "\"task_id\":\"b\"")
        try Self.flip(directory, at: target.offset + (try Self.offset(of: "\"dev-", in: target.text)) + 2)

        // Watch the directory for attribute changes (chmod, chown) while the store repairs the journal: keeps a
        // copy of the damaged journal, writes a new snapshot, compacts.
        let watch = try AttributeWatch(directory: path)
        defer { watch.close() }
        try await withFileStore(directory) { store async throws in
            #expect(store.recoveryReport.preservedCopy != nil)
            try await store.record([success(3)], taskID: "a")
            try await store.compact()
        }
        #expect(watch.changedNames() == [], "files were chmod'ed or chown'ed after they were created")

        #expect(try mode(of: path) == 0o700)
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(names.count == 3, "journal, LOCK and one damaged copy: \(names)")
        for name in names {
            #expect(try mode(of: path + "/" + name) == 0o600, "\(name)")
        }
    }
}

/// Watches a directory with inotify for `IN_ATTRIB` (chmod, chown, …) on the files in it.
final class AttributeWatch: Sendable {
    let fd: Int32

    init(directory: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw POSIXError(.EIO) }
        guard inotify_add_watch(fd, directory, UInt32(IN_ATTRIB)) >= 0 else { throw POSIXError(.EIO) }
    }

    /// The names of the files whose attributes changed since the watch began.
    func changedNames() -> [String] {
        var names: [String] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let (length, name) = buffer.withUnsafeBytes { raw -> (Int, String) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    let start = offset + MemoryLayout<inotify_event>.size
                    let bytes = raw[start..<(start + Int(event.len))].prefix { $0 != 0 }
                    return (Int(event.len), String(decoding: bytes, as: UTF8.self))
                }
                names.append(name)
                offset += MemoryLayout<inotify_event>.size + length
            }
        }
        return names
    }

    func close() { _ = Glibc.close(fd) }
}

/// The permission bits of `path`.
func mode(of path: String) throws -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    return Int(info.st_mode & 0o7777)
}
