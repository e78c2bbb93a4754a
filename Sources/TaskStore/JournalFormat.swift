import BackupModels
import Dispatch
import Foundation
import Synchronization

// The on-disk format of `FileTaskStore`'s journal (`journal.jsonl`).
//
// One record per line:
//
//     <crc32> <json>\n
//
// `<crc32>` is the CRC-32 (IEEE, as zlib's `crc32`) of the JSON bytes, as 8 lower-case hex digits; the JSON is a
// single object with an `op` field. A line whose checksum does not match, that is not newline-terminated or whose
// JSON does not decode is a damaged record.
//
// The file starts with a snapshot — a `header`, then the state as `task`, `results`, `damaged` (a quarantined
// task) and `damage_report` (an entry of the store's damage list) records, then `snapshot_end` — followed by
// change records (`create`, `running`, `results`, `finish`, `prune`, `forget_damaged`, `acknowledge_damage`,
// `checkpoint`). Change lsns are contiguous: the first change after a snapshot has `snapshot_lsn + 1`, each next
// one the lsn after it — which lets replay tell a duplicated or misplaced line from a gap left by a damaged one.
//
// Format version 2 added `damage_report` and `acknowledge_damage` (and `damage_omitted` on `snapshot_end`);
// version 1 journals are read as they are and rewritten as version 2 at their next compaction. Change records carry `lsn` (the record's sequence number, continuing across compactions) and
// `b` (the lsn of the first record of the group-commit batch they were written in), which lets replay tell a
// batch that a crash cut short (never acknowledged) from damage to acknowledged records.

/// CRC-32 (IEEE 802.3 polynomial, reflected), the checksum zlib and `cksum -a crc32b` compute.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    static func checksum<C: ContiguousBytes>(_ bytes: C) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}

enum JournalFormat {
    static let formatName = "DeviceBackup.TaskStore.journal"
    static let version = 2
    /// Larger lsns are not plausible (a store would need centuries at a million changes a second): a record
    /// claiming one is damaged, which keeps lsn arithmetic far from overflow.
    static let maxLSN: UInt64 = 1 << 62
    static let journalFileName = "journal.jsonl"
    static let lockFileName = "LOCK"

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Frames a JSON object as a journal line: checksum, space, JSON, newline.
    static func appendLine(json: some Collection<UInt8>, to out: inout [UInt8]) {
        let crc = CRC32.checksum(Array(json))
        for shift in stride(from: 28, through: 0, by: -4) { out.append(hexDigits[Int((crc >> UInt32(shift)) & 0xF)]) }
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: json)
        out.append(UInt8(ascii: "\n"))
    }

    /// Frames a change record encoded by ``encode(_:)``, adding its `lsn` and batch `b` in front of its fields.
    static func appendChangeLine(json: [UInt8], lsn: UInt64, batch: UInt64, to out: inout [UInt8]) {
        precondition(json.first == UInt8(ascii: "{") && json.count > 2, "a journal record is a non-empty JSON object")
        var framed: [UInt8] = []
        framed.reserveCapacity(json.count + 40)
        framed.append(contentsOf: "{\"b\":\(batch),\"lsn\":\(lsn),".utf8)
        framed.append(contentsOf: json[1...])
        appendLine(json: framed, to: &out)
    }

    /// The encoder for records: the library's wire format (ISO 8601 dates with milliseconds), without sorting
    /// keys (sorting costs time on every record and nothing reads the journal by key order).
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder.deviceBackup()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    /// The decoder for records: the wire format, accepting every filter a task was created with (the policy that
    /// validated a filter when the task was submitted is the executor's business, not the store's).
    static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder.deviceBackup(policy: storedPolicy)
        decoder.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            if let date = FastISO8601.parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "Expected an ISO 8601 date, got \(text)")
        }
        return decoder
    }

    static let storedPolicy = BackupPolicy(
        maxConcurrent: Int.min...Int.max, timeoutSeconds: Int.min...Int.max, retryCount: Int.min...Int.max)

    /// Best effort: the first `"task_id":"…"` in a (possibly damaged) line, to say which task a damaged record
    /// belonged to.
    static func guessTaskID(in line: UnsafeRawBufferPointer) -> String? {
        let needle = Array("\"task_id\":\"".utf8)
        guard line.count > needle.count else { return nil }
        var i = 0
        while i + needle.count <= line.count {
            var match = true
            for j in 0..<needle.count where line[i + j] != needle[j] {
                match = false
                break
            }
            if match {
                var end = i + needle.count
                var id: [UInt8] = []
                while end < line.count, line[end] != UInt8(ascii: "\""), id.count < 512 {
                    let byte = line[end]
                    guard byte >= 0x20, byte != UInt8(ascii: "\\") else { return nil }
                    id.append(byte)
                    end += 1
                }
                guard end < line.count, !id.isEmpty else { return nil }
                return String(validating: id, as: UTF8.self)
            }
            i += 1
        }
        return nil
    }
}

/// Runs `body` for `0..<count` on every core and returns the results in order. Blocking: call it from a
/// ``BlockingIOPool`` (replay and compaction do), never from the cooperative pool.
func parallelMap<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    guard count > 1 else { return count == 1 ? [body(0)] : [] }
    let slots = Mutex<[T?]>(Array(repeating: nil, count: count))
    DispatchQueue.concurrentPerform(iterations: count) { i in
        let value = body(i)
        slots.withLock { $0[i] = value }
    }
    return slots.withLock { $0.map { $0! } }
}

/// Parses exactly the dates the encoder writes (`2025-01-02T03:04:05.678Z`) without a formatter; `nil` for any
/// other spelling (the caller falls back to the general parser).
enum FastISO8601 {
    static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { utf8 -> Date? in
            guard utf8.count == 24 || utf8.count == 20 else { return nil }
            func digits(_ start: Int, _ count: Int) -> Int? {
                var value = 0
                for i in start..<(start + count) {
                    let d = Int(utf8[i]) - 48
                    guard (0...9).contains(d) else { return nil }
                    value = value * 10 + d
                }
                return value
            }
            guard utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"), utf8[10] == UInt8(ascii: "T"),
                utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"), utf8[utf8.count - 1] == UInt8(ascii: "Z"),
                let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
                let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            var millis = 0
            if utf8.count == 24 {
                guard utf8[19] == UInt8(ascii: "."), let ms = digits(20, 3) else { return nil }
                millis = ms
            }
            // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
            let y = month <= 2 ? year - 1 : year
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let mp = (month + 9) % 12
            let doy = (153 * mp + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            let days = era * 146_097 + doe - 719_468
            let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second) + Double(millis) / 1000
            return Date(timeIntervalSince1970: seconds)
        }
    }
}

// MARK: - Records

/// What a journal line holds, decoded. Fields are optional because each `op` uses a few of them; ``validated()``
/// checks that the ones the `op` needs are present.
struct JournalRecord: Decodable {
    enum Op: String, Codable {
        case header
        case task
        case snapshotEnd = "snapshot_end"
        case damaged
        case create
        case running
        case results
        case finish
        case prune
        case forgetDamaged = "forget_damaged"
        /// Asks for a compaction; changes nothing.
        case checkpoint
        /// Snapshot: one entry of the store's list of damaged records.
        case damageReport = "damage_report"
        /// Change: clears the damage list but for entries of quarantined tasks.
        case acknowledgeDamage = "acknowledge_damage"
    }

    var op: Op
    var lsn: UInt64?
    var b: UInt64?
    // header
    var format: String?
    var version: Int?
    var snapshotLSN: UInt64?
    // task, create
    var summary: BackupTaskSummary?
    var devices: [DeviceRef]?
    // running, results, finish, damaged, forget_damaged
    var taskID: String?
    var results: [DeviceBackupResult]?
    var at: Date?
    var resumed: Bool?
    var status: BackupTaskStatus?
    var message: String?
    var error: BackupError?
    // prune
    var taskIDs: [String]?
    // checkpoint: nothing
    // snapshot_end
    var tasks: Int?
    var damageOmitted: Int?
    // damaged
    var damage: DamagedRecord?
    var idempotencyKey: String?

    enum CodingKeys: String, CodingKey {
        case op, lsn, b, format, version
        case snapshotLSN = "snapshot_lsn"
        case summary, devices
        case taskID = "task_id"
        case results, at, resumed, status, message, error
        case taskIDs = "task_ids"
        case tasks, damage
        case idempotencyKey = "idempotency_key"
        case damageOmitted = "damage_omitted"
    }

    /// Whether the fields `op` needs are present and the sequence numbers are plausible.
    var isWellFormed: Bool {
        if let lsn, lsn == 0 || lsn > JournalFormat.maxLSN { return false }
        if let b, b == 0 || b > (lsn ?? 0) { return false }
        if let snapshotLSN, snapshotLSN > JournalFormat.maxLSN { return false }
        return switch op {
        case .header: format != nil && version != nil && snapshotLSN != nil && lsn == nil
        case .task: summary != nil && devices != nil && lsn == nil
        case .snapshotEnd: tasks != nil && lsn == nil
        case .damaged: taskID != nil && damage != nil && lsn == nil
        case .create: lsn != nil && b != nil && summary != nil && devices != nil
        case .running: lsn != nil && b != nil && taskID != nil && at != nil && resumed != nil
        case .results: (lsn != nil) == (b != nil) && taskID != nil && results != nil
        case .finish: lsn != nil && b != nil && taskID != nil && status != nil && message != nil && at != nil
        case .prune: lsn != nil && b != nil && taskIDs != nil
        case .forgetDamaged: lsn != nil && b != nil && taskID != nil
        case .checkpoint: lsn != nil && b != nil
        case .damageReport: damage != nil && lsn == nil
        case .acknowledgeDamage: lsn != nil && b != nil
        }
    }
}

/// Encodable shapes of the records (decoding goes through ``JournalRecord``).
enum RecordPayload {
    struct Header: Encodable {
        var op = JournalRecord.Op.header
        var format = JournalFormat.formatName
        var version = JournalFormat.version
        var snapshotLSN: UInt64
        var createdAt: Date
        enum CodingKeys: String, CodingKey {
            case op, format, version
            case snapshotLSN = "snapshot_lsn"
            case createdAt = "created_at"
        }
    }

    /// `create` (a change) or `task` (a task's state in a snapshot, results following in `results` records).
    struct Task: Encodable {
        var op: JournalRecord.Op
        var summary: BackupTaskSummary
        var devices: [DeviceRef]
        /// Only for a `create` of a task that arrives with results.
        var results: [DeviceBackupResult]?
    }

    struct Running: Encodable {
        var op = JournalRecord.Op.running
        var taskID: String
        var at: Date
        var resumed: Bool
        enum CodingKeys: String, CodingKey {
            case op, at, resumed
            case taskID = "task_id"
        }
    }

    struct Results: Encodable {
        var op = JournalRecord.Op.results
        var taskID: String
        var results: [DeviceBackupResult]
        enum CodingKeys: String, CodingKey {
            case op, results
            case taskID = "task_id"
        }
    }

    struct Finish: Encodable {
        var op = JournalRecord.Op.finish
        var taskID: String
        var status: BackupTaskStatus
        var message: String
        var error: BackupError?
        var at: Date
        enum CodingKeys: String, CodingKey {
            case op, status, message, error, at
            case taskID = "task_id"
        }
    }

    struct Prune: Encodable {
        var op = JournalRecord.Op.prune
        var taskIDs: [String]
        enum CodingKeys: String, CodingKey {
            case op
            case taskIDs = "task_ids"
        }
    }

    struct Damaged: Encodable {
        var op = JournalRecord.Op.damaged
        var taskID: String
        var idempotencyKey: String?
        var damage: DamagedRecord
        enum CodingKeys: String, CodingKey {
            case op, damage
            case taskID = "task_id"
            case idempotencyKey = "idempotency_key"
        }
    }

    struct ForgetDamaged: Encodable {
        var op = JournalRecord.Op.forgetDamaged
        var taskID: String
        enum CodingKeys: String, CodingKey {
            case op
            case taskID = "task_id"
        }
    }

    struct Checkpoint: Encodable {
        var op = JournalRecord.Op.checkpoint
    }

    struct DamageReport: Encodable {
        var op = JournalRecord.Op.damageReport
        var damage: DamagedRecord
    }

    struct AcknowledgeDamage: Encodable {
        var op = JournalRecord.Op.acknowledgeDamage
    }

    struct SnapshotEnd: Encodable {
        var op = JournalRecord.Op.snapshotEnd
        var tasks: Int
        var damageOmitted: Int?
        enum CodingKeys: String, CodingKey {
            case op, tasks
            case damageOmitted = "damage_omitted"
        }
    }
}
