/// A journal record that ``FileTaskStore`` could not use when it opened its directory.
public struct DamagedRecord: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What is wrong with the record, and so what the store did about it.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The record belongs to the last write, which a crash cut short. That write was never acknowledged
        /// (no call returned for it), so nothing acknowledged is lost; the journal was truncated before it.
        case tornTail = "torn_tail"
        /// An unreadable record (bad checksum, invalid JSON, missing fields) among good ones: acknowledged data
        /// was damaged on disk. The record was skipped and its task, when known, quarantined.
        case corrupt
        /// A readable record that does not fit the journal (a change to a task that does not exist, a second
        /// creation of a task, a record out of order), usually the consequence of a corrupt record before it.
        case inconsistent
    }

    /// What is wrong with the record.
    public var kind: Kind
    /// The journal file's path.
    public var file: String
    /// The 1-based line number in the journal as it was when the damage was found.
    public var line: Int
    /// The record's byte offset in the journal file.
    public var byteOffset: Int
    /// The record's length in bytes (including its newline, if it had one).
    public var length: Int
    /// What is wrong, in words.
    public var reason: String
    /// The task the record belonged to, when it could still be read.
    public var taskID: String?

    /// Describes a damaged record.
    public init(kind: Kind, file: String, line: Int, byteOffset: Int, length: Int, reason: String, taskID: String?) {
        self.kind = kind
        self.file = file
        self.line = line
        self.byteOffset = byteOffset
        self.length = length
        self.reason = reason
        self.taskID = taskID
    }

    /// `/dir/journal.jsonl line 17 (byte offset 5230, 312 bytes): checksum mismatch (task t-1)`.
    public var description: String {
        var text = "\(file) line \(line) (byte offset \(byteOffset), \(length) bytes): \(reason)"
        if let taskID { text += " (task \(taskID))" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case kind, file, line, reason
        case byteOffset = "byte_offset"
        case length
        case taskID = "task_id"
    }
}

/// What ``FileTaskStore`` found and repaired when it opened its directory.
public struct RecoveryReport: Sendable, Hashable {
    /// The journal's path.
    public var journal: String
    /// Records read from the journal (snapshot and changes).
    public var recordsReplayed: Int
    /// Records found damaged by this open: a torn tail (the last, unacknowledged write a crash cut short), corrupt
    /// records, and records inconsistent with the rest. Empty for a clean journal.
    public var damagedRecords: [DamagedRecord]
    /// Bytes cut off the end of the journal (a torn last write); 0 when none.
    public var truncatedBytes: Int
    /// Tasks that cannot be read because records of theirs were damaged (found by this open or an earlier one),
    /// keyed by task id. Reading or changing them throws `STORE_FAILED` naming the damaged record.
    public var quarantinedTasks: [String: DamagedRecord]
    /// Where a copy of the damaged journal was kept before the store rewrote it, when it had corrupt records.
    public var preservedCopy: String?
    /// How long reading and replaying the journal took.
    public var replayDuration: Duration

    /// A report; the store makes these when it opens.
    public init(
        journal: String, recordsReplayed: Int = 0, damagedRecords: [DamagedRecord] = [], truncatedBytes: Int = 0,
        quarantinedTasks: [String: DamagedRecord] = [:], preservedCopy: String? = nil, replayDuration: Duration = .zero
    ) {
        self.journal = journal
        self.recordsReplayed = recordsReplayed
        self.damagedRecords = damagedRecords
        self.truncatedBytes = truncatedBytes
        self.quarantinedTasks = quarantinedTasks
        self.preservedCopy = preservedCopy
        self.replayDuration = replayDuration
    }

    /// `true` when the journal had no damaged record at all.
    public var isClean: Bool { damagedRecords.isEmpty }

    /// Whether only a torn last write was found (the normal trace of a crash; nothing acknowledged was lost).
    public var onlyTornTail: Bool { !damagedRecords.isEmpty && damagedRecords.allSatisfy { $0.kind == .tornTail } }
}
