import BackupModels
import Foundation
import Testing

@testable import TaskStore

/// The group-commit state machine, driven by hand: waiters are integers.
@Suite("GroupCommit")
struct GroupCommitTests {
    typealias Machine = GroupCommit<Int>

    func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("the first waiter leads; later ones wait and share the next batch")
    func leaderAndFollowers() throws {
        var machine = Machine(lsn: 10)
        let a = machine.append(json("a"))
        #expect(a == 11)
        guard case .lead = machine.wait(for: a, waiter: 1) else { Issue.record("first waiter must lead"); return }
        let taken = machine.takeBatch()
        let batch = try #require(taken)
        #expect((batch.first, batch.last, batch.records.map(\.lsn)) == (11, 11, [11]))

        // While the leader writes, two more records arrive and their callers wait.
        let b = machine.append(json("b"))
        let c = machine.append(json("c"))
        guard case .wait = machine.wait(for: c, waiter: 3) else { Issue.record("must wait"); return }
        guard case .wait = machine.wait(for: b, waiter: 2) else { Issue.record("must wait"); return }
        let released = machine.batchDurable(through: batch.last)
        #expect(released.isEmpty)
        // The leader hands over to a waiter, which writes b and c together.
        let nextLeader = machine.handOff()
        #expect(nextLeader == 3)
        let takenSecond = machine.takeBatch()
        let second = try #require(takenSecond)
        #expect(second.records.map(\.lsn) == [12, 13])
        #expect(second.first == 12)
        let releasedSecond = machine.batchDurable(through: second.last)
        #expect(Set(releasedSecond) == [2])
        let noLeader = machine.handOff()
        #expect(noLeader == nil)
        #expect(!machine.leading)
        #expect(machine.durableLSN == 13)
        guard case .durable = machine.wait(for: b, waiter: 9) else { Issue.record("already durable"); return }
    }

    @Test("a caller that appended but had not waited yet when the leader quit becomes the next leader")
    func lateWaiterLeads() throws {
        var machine = Machine(lsn: 0)
        let a = machine.append(json("a"))
        guard case .lead = machine.wait(for: a, waiter: 1) else { Issue.record("must lead"); return }
        let taken = machine.takeBatch()
        let batch = try #require(taken)
        let b = machine.append(json("b"))  // its caller has not called wait yet
        _ = machine.batchDurable(through: batch.last)
        let noLeader = machine.handOff()
        #expect(noLeader == nil)
        guard case .lead = machine.wait(for: b, waiter: 2) else { Issue.record("late caller must lead"); return }
        let next = machine.takeBatch()
        #expect(next?.records.map(\.lsn) == [2])
    }

    @Test("a reader waiting for an lsn written by a batch in flight is released by it")
    func readerWaits() throws {
        var machine = Machine(lsn: 0)
        let a = machine.append(json("a"))
        guard case .lead = machine.wait(for: a, waiter: 1) else { Issue.record("must lead"); return }
        let taken = machine.takeBatch()
        let batch = try #require(taken)
        guard case .wait = machine.wait(for: machine.lastLSN, waiter: 7) else { Issue.record("reader must wait"); return }
        let released = machine.batchDurable(through: batch.last)
        #expect(released == [7])
        let noLeader = machine.handOff()
        #expect(noLeader == nil)
    }

    @Test("a failed write fails every waiter and every later wait")
    func failure() {
        var machine = Machine(lsn: 0)
        let a = machine.append(json("a"))
        guard case .lead = machine.wait(for: a, waiter: 1) else { Issue.record("must lead"); return }
        _ = machine.takeBatch()
        let b = machine.append(json("b"))
        guard case .wait = machine.wait(for: b, waiter: 2) else { Issue.record("must wait"); return }
        let error = BackupError(.storeFailed, "disk gone")
        let failed = machine.fail(error)
        #expect(failed == [2])
        #expect(machine.pending.isEmpty && !machine.leading)
        guard case .failed(let seen) = machine.wait(for: b, waiter: 3) else { Issue.record("must fail"); return }
        #expect(seen == error)
    }

    @Test("an empty journal line frame carries lsn, batch and a checksum of the JSON")
    func framing() throws {
        var out: [UInt8] = []
        JournalFormat.appendChangeLine(json: Array(#"{"op":"checkpoint"}"#.utf8), lsn: 42, batch: 40, to: &out)
        let line = String(decoding: out, as: UTF8.self)
        let json = #"{"b":40,"lsn":42,"op":"checkpoint"}"#
        // zlib.crc32 of the JSON, as `python3 -c 'import zlib; print(hex(zlib.crc32(b"...")))'` prints it.
        #expect(line == String(format: "%08x", CRC32.checksum(Array(json.utf8))) + " " + json + "\n")
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        let lines = JournalReplay.parse(out)
        #expect(lines.count == 1 && lines[0].record?.op == .checkpoint && lines[0].record?.lsn == 42)
    }
}
