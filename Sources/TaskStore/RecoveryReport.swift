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
        /// A readable record that does not fit the journal: a change to a task that does not exist (usually the
        /// consequence of a corrupt record before it — the task is quarantined), a repeated record (skipped), or
        /// a record out of its place or after a gap in the sequence numbers (applied in sequence order; the
        /// reason says which).
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
    /// The task the record belonged to, when it could still be read (best effort: read from the damaged bytes).
    public var taskID: String?
    /// Where a copy of the journal as it was found is kept — the damaged record is at the same ``line`` and
    /// ``byteOffset`` in it — or `nil` when no copy was needed (a torn, never acknowledged last line).
    public var copy: String?

    /// Describes a damaged record.
    public init(
        kind: Kind, file: String, line: Int, byteOffset: Int, length: Int, reason: String, taskID: String?, copy: String? = nil
    ) {
        self.kind = kind
        self.file = file
        self.line = line
        self.byteOffset = byteOffset
        self.length = length
        self.reason = reason
        self.taskID = taskID
        self.copy = copy
    }

    /// `/dir/journal.jsonl line 17 (byte offset 5230, 312 bytes): checksum mismatch (task t-1); copy kept at
    /// /dir/journal.jsonl.damaged-1750000000`.
    public var description: String {
        var text = "\(file) line \(line) (byte offset \(byteOffset), \(length) bytes): \(reason)"
        if let taskID { text += " (task \(taskID))" }
        if let copy { text += "; copy kept at \(copy)" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case kind, file, line, reason
        case byteOffset = "byte_offset"
        case length
        case taskID = "task_id"
        case copy
    }
}

/// The damaged journal records a store knows of — found when it was opened now or earlier, kept (in the journal)
/// until acknowledged — as ``TaskPage/damage`` carries them with every listing, so that a damaged record never
/// makes a task vanish silently.
///
/// Each entry names the journal file, the line and byte offset, the task when its id could still be read, and
/// where the copy of the damaged journal is (``DamagedRecord/copy``). A task whose records were damaged is
/// *quarantined* (see `FileTaskStore`): it is not in ``TaskPage/items``, and it is here. The list is cleared by
/// `FileTaskStore.forgetDamagedTask(id:)` (that task's entries) and `FileTaskStore.acknowledgeDamage()` (entries
/// of tasks not quarantined).
public struct StoreDamage: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The damaged records, oldest finding first; at most ``maxRecords``.
    public var records: [DamagedRecord]
    /// How many damaged records there are in all: more than `records.count` when some were left out.
    public var total: Int
    /// Tasks that cannot be read because records of theirs were damaged, sorted.
    public var quarantinedTasks: [String]

    /// The most records a listing carries (and a store keeps): 1,000. Further ones are only counted.
    public static let maxRecords = 1000

    /// Creates a damage list.
    public init(records: [DamagedRecord], total: Int, quarantinedTasks: [String]) {
        self.records = records
        self.total = max(total, records.count)
        self.quarantinedTasks = quarantinedTasks
    }

    /// A summary and one line per record: `2 damaged task journal records (quarantined tasks: t-1):` ….
    public var description: String {
        var text = "\(total) damaged task journal record\(total == 1 ? "" : "s")"
        if !quarantinedTasks.isEmpty { text += " (quarantined tasks: \(quarantinedTasks.joined(separator: ", ")))" }
        text += ":"
        for record in records { text += "\n  \(record)" }
        if total > records.count { text += "\n  … and \(total - records.count) more" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case records, total
        case quarantinedTasks = "quarantined_tasks"
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
    /// Where a copy of the damaged journal was kept before the store rewrote or truncated it: when it had corrupt
    /// or inconsistent records, or when complete lines were cut off with a torn tail.
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
