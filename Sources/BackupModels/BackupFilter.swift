public import Foundation

/// The priority of a backup task; waiting work starts high → normal → low.
public enum BackupPriority: String, Sendable, Codable, CaseIterable, Hashable, Comparable {
    /// Runs after normal and high priority work.
    case low
    /// The default.
    case normal
    /// Runs before normal and low priority work.
    case high

    var rank: Int {
        switch self {
        case .low: 0
        case .normal: 1
        case .high: 2
        }
    }

    public static func < (lhs: BackupPriority, rhs: BackupPriority) -> Bool { lhs.rank < rhs.rank }
}

/// The allowed ranges for a ``BackupFilter``'s numeric fields and the size of its device list.
///
/// The default is the seed review's policy: `max_concurrent` 1–10, `timeout` 60–3600 s, `retry_count`
/// 0–5, plus at most ``defaultMaxDeviceIDs`` (10,000) entries in `device_ids`. An executor may widen it (a
/// large fleet wants hundreds of concurrent sessions); values outside the policy are rejected, never
/// silently clamped.
public struct BackupPolicy: Sendable, Hashable, Codable {
    /// Allowed `max_concurrent` (devices of one task backed up at once); 1–10 by default.
    public var maxConcurrent: ClosedRange<Int>
    /// Allowed `timeout` per attempt, in seconds; 60–3600 by default.
    public var timeoutSeconds: ClosedRange<Int>
    /// Allowed `retry_count`; 0–5 by default.
    public var retryCount: ClosedRange<Int>
    /// The most entries `device_ids` may list; ``defaultMaxDeviceIDs`` (10,000) by default.
    ///
    /// It bounds what one request can ask for (memory, the size of the task record, the work queued). It is
    /// checked when a filter is built, validated, or decoded with ``BackupFilter/DecodingMode/request``;
    /// lenient decoding (stored records) does not re-check it, so a task accepted under a wider policy
    /// still reads back.
    public var maxDeviceIDs: Int

    /// The default bound on `device_ids`: 10,000 entries.
    public static let defaultMaxDeviceIDs = 10_000

    /// Creates a policy; the defaults are the seed's ranges.
    public init(
        maxConcurrent: ClosedRange<Int> = 1...10,
        timeoutSeconds: ClosedRange<Int> = 60...3600,
        retryCount: ClosedRange<Int> = 0...5,
        maxDeviceIDs: Int = BackupPolicy.defaultMaxDeviceIDs
    ) {
        self.maxConcurrent = maxConcurrent
        self.timeoutSeconds = timeoutSeconds
        self.retryCount = retryCount
        self.maxDeviceIDs = maxDeviceIDs
    }

    /// The seed's policy.
    public static let `default` = BackupPolicy()

    /// The seed's policy with `max_concurrent` allowed up to `limit`.
    public static func widened(maxConcurrent limit: Int) -> BackupPolicy {
        BackupPolicy(maxConcurrent: 1...max(1, limit))
    }

    enum CodingKeys: String, CodingKey {
        case maxConcurrent, timeoutSeconds, retryCount, maxDeviceIDs
    }

    /// Decodes a policy; one encoded before ``maxDeviceIDs`` existed gets the default bound.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxConcurrent = try c.decode(ClosedRange<Int>.self, forKey: .maxConcurrent)
        timeoutSeconds = try c.decode(ClosedRange<Int>.self, forKey: .timeoutSeconds)
        retryCount = try c.decode(ClosedRange<Int>.self, forKey: .retryCount)
        maxDeviceIDs = try c.decodeIfPresent(Int.self, forKey: .maxDeviceIDs) ?? Self.defaultMaxDeviceIDs
    }
}

/// One field of a request that is out of its allowed range or not one of its allowed values.
public struct FieldViolation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The wire name of the field, such as `max_concurrent`.
    public var field: String
    /// The rejected value, as text.
    public var value: String
    /// What is allowed, such as `1...10` or `online, offline, maintenance`.
    public var allowed: String

    /// Creates a violation.
    public init(field: String, value: String, allowed: String) {
        self.field = field
        self.value = value
        self.allowed = allowed
    }

    public var description: String { "\(field)=\(value) is not allowed (allowed: \(allowed))" }
}

/// A request that failed validation; lists every bad field (the seed expects a 422-style answer).
public struct ValidationError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Every field that broke the rules, in field order.
    public var violations: [FieldViolation]

    /// Creates an error listing `violations`.
    public init(violations: [FieldViolation]) { self.violations = violations }

    public var description: String {
        "Invalid request: " + violations.map(\.description).joined(separator: "; ")
    }

    /// The same problem as a ``BackupError`` with code `INVALID_REQUEST`.
    public var backupError: BackupError {
        BackupError(.invalidRequest, description, hint: "Correct the named fields and submit again.")
    }
}

/// Which devices to back up and how: the seed's `BackupFilter`.
///
/// JSON uses the seed's names (`filter_status`, `max_concurrent`, …). Building or decoding a filter
/// validates it against a ``BackupPolicy`` (the default unless the decoder's `userInfo` carries one under
/// ``BackupPolicy/userInfoKey``) and fails with a ``ValidationError`` naming every bad field.
///
/// Decoding has two modes (``DecodingMode``, chosen through the decoder's `userInfo` under
/// ``decodingModeKey``; `JSONDecoder.deviceBackupRequest(policy:)` sets the strict one):
/// - ``DecodingMode/request``, for anything that comes from outside (an API body, a file a user wrote): an
///   unknown key is a violation naming it — `{"filter_vendr": "cisco_ios"}` must never mean "every device" —
///   and the list bound ``BackupPolicy/maxDeviceIDs`` is checked;
/// - ``DecodingMode/lenient`` (the default), for records this library wrote itself: unknown keys are
///   ignored, so a task stored by a newer version (with a field this one does not know) still reads back.
///
/// In both modes `null` is accepted only where the seed allows `None` (`filter_status`, `filter_vendor`);
/// `null` for `device_ids` or any other field is a violation naming the field (the encoder never writes a
/// `null`: absent fields are left out).
public struct BackupFilter: Sendable, Hashable, Codable {
    /// Only devices with this status (`online`, `offline`, `maintenance`); `nil` for all.
    public var filterStatus: DeviceStatus?
    /// Only devices of this vendor profile; `nil` for all.
    public var filterVendor: String?
    /// Only these devices (an explicit list, as used by "retry failed devices"); `nil` for all.
    public var deviceIDs: [DeviceID]?
    /// `true`: submitting returns at once; `false`: submitting waits for the final task.
    public var asyncExecute: Bool
    /// Send a completion notification through the executor's notifier.
    public var notifyOnComplete: Bool
    /// Where waiting work of this task stands against other tasks.
    public var priority: BackupPriority
    /// The most devices of this task backed up at the same time.
    public var maxConcurrent: Int
    /// The time one attempt on one device may take, in seconds (connect, log in, fetch, close).
    public var timeout: Int
    /// Retries after the first attempt (0 means exactly one attempt).
    public var retryCount: Int

    /// Creates a filter and validates it against `policy`.
    public init(
        filterStatus: DeviceStatus? = nil,
        filterVendor: String? = nil,
        deviceIDs: [DeviceID]? = nil,
        asyncExecute: Bool = true,
        notifyOnComplete: Bool = false,
        priority: BackupPriority = .normal,
        maxConcurrent: Int = 3,
        timeout: Int = 300,
        retryCount: Int = 2,
        policy: BackupPolicy = .default
    ) throws(ValidationError) {
        self.filterStatus = filterStatus
        self.filterVendor = filterVendor
        self.deviceIDs = deviceIDs
        self.asyncExecute = asyncExecute
        self.notifyOnComplete = notifyOnComplete
        self.priority = priority
        self.maxConcurrent = maxConcurrent
        self.timeout = timeout
        self.retryCount = retryCount
        try validate(against: policy)
    }

    /// The seed's defaults: all devices, async, normal priority, 3 at a time, 300 s, 2 retries.
    public static let `default`: BackupFilter = try! BackupFilter()

    /// The per-attempt timeout as a `Duration`.
    public var timeoutDuration: Duration { .seconds(timeout) }

    /// The fields that break `policy`; empty when the filter is valid.
    public func violations(of policy: BackupPolicy) -> [FieldViolation] {
        violations(of: policy, checkingDeviceCount: true)
    }

    private func violations(of policy: BackupPolicy, checkingDeviceCount: Bool) -> [FieldViolation] {
        var found: [FieldViolation] = []
        func check(_ field: String, _ value: Int, _ range: ClosedRange<Int>) {
            if !range.contains(value) {
                found.append(FieldViolation(field: field, value: String(value), allowed: "\(range.lowerBound)...\(range.upperBound)"))
            }
        }
        check("max_concurrent", maxConcurrent, policy.maxConcurrent)
        check("timeout", timeout, policy.timeoutSeconds)
        check("retry_count", retryCount, policy.retryCount)
        if let filterVendor, filterVendor.isEmpty {
            found.append(FieldViolation(field: "filter_vendor", value: "\"\"", allowed: "a vendor profile name, or absent"))
        }
        if let deviceIDs, deviceIDs.isEmpty {
            found.append(FieldViolation(field: "device_ids", value: "[]", allowed: "a non-empty list, or absent"))
        }
        if checkingDeviceCount, let deviceIDs, deviceIDs.count > policy.maxDeviceIDs {
            found.append(FieldViolation(
                field: "device_ids", value: "\(deviceIDs.count) entries", allowed: "at most \(policy.maxDeviceIDs) entries"))
        }
        return found
    }

    /// Throws a ``ValidationError`` naming every field that breaks `policy`.
    public func validate(against policy: BackupPolicy = .default) throws(ValidationError) {
        let found = violations(of: policy)
        if !found.isEmpty { throw ValidationError(violations: found) }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case filterStatus = "filter_status"
        case filterVendor = "filter_vendor"
        case deviceIDs = "device_ids"
        case asyncExecute = "async_execute"
        case notifyOnComplete = "notify_on_complete"
        case priority
        case maxConcurrent = "max_concurrent"
        case timeout
        case retryCount = "retry_count"
    }

    /// How strictly ``init(from:)`` reads a filter; see ``BackupFilter``.
    public enum DecodingMode: Sendable, Hashable {
        /// For stored records: unknown keys are ignored.
        case lenient
        /// For requests from outside: unknown keys are violations and ``BackupPolicy/maxDeviceIDs`` is
        /// checked.
        case request
    }

    /// Put a ``DecodingMode`` in a decoder's `userInfo` under this key to choose how filters are decoded
    /// (``DecodingMode/lenient`` when absent).
    public static let decodingModeKey = CodingUserInfoKey(rawValue: "DeviceBackup.BackupFilter.decodingMode")!

    /// The wire names of every field, in the order the seed lists them.
    public static let fieldNames: [String] = CodingKeys.allCases.map(\.rawValue)

    /// Fields that may be `null` (the seed's `Optional[str] = None`); any other `null` is a violation.
    private static let nullableFields: Set<CodingKeys> = [.filterStatus, .filterVendor]

    /// Decodes with the seed's defaults for absent fields, then validates. Wrongly typed fields, `null`
    /// where it is not allowed, an unknown `filter_status` or `priority`, out-of-range numbers and (in
    /// ``DecodingMode/request`` mode) unknown keys are all reported together in one ``ValidationError``.
    public init(from decoder: any Decoder) throws {
        let mode = (decoder.userInfo[Self.decodingModeKey] as? DecodingMode) ?? .lenient
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var found: [FieldViolation] = []
        if mode == .request {
            let all = try decoder.container(keyedBy: AnyFieldKey.self)
            for key in all.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where CodingKeys(rawValue: key.stringValue) == nil {
                let text = Self.rawText(all, key)
                found.append(FieldViolation(
                    field: key.stringValue, value: text == "(wrong type)" ? "(a list or object)" : text,
                    allowed: "no such field (the fields are \(Self.fieldNames.joined(separator: ", ")))"))
            }
        }
        for key in CodingKeys.allCases where !Self.nullableFields.contains(key) {
            if c.contains(key), (try? c.decodeNil(forKey: key)) == true {
                let what = key == .deviceIDs ? "a non-empty list of device ids, or the field left out (all devices)" : "a value, or the field left out"
                found.append(FieldViolation(field: key.rawValue, value: "null", allowed: what))
            }
        }
        func decodeField<T: Decodable>(_ type: T.Type, _ key: CodingKeys, allowed: String) -> T? {
            if found.contains(where: { $0.field == key.rawValue }) { return nil }
            do {
                return try c.decodeIfPresent(T.self, forKey: key)
            } catch {
                found.append(FieldViolation(field: key.rawValue, value: Self.rawText(c, key), allowed: allowed))
                return nil
            }
        }
        let statusText = decodeField(String.self, .filterStatus, allowed: "online, offline, maintenance")
        if let statusText {
            if let status = DeviceStatus(rawValue: statusText) {
                filterStatus = status
            } else {
                filterStatus = nil
                found.append(FieldViolation(field: "filter_status", value: statusText, allowed: "online, offline, maintenance"))
            }
        } else {
            filterStatus = nil
        }
        filterVendor = decodeField(String.self, .filterVendor, allowed: "a vendor profile name")
        deviceIDs = decodeField([DeviceID].self, .deviceIDs, allowed: "a list of device ids")
        asyncExecute = decodeField(Bool.self, .asyncExecute, allowed: "true, false") ?? true
        notifyOnComplete = decodeField(Bool.self, .notifyOnComplete, allowed: "true, false") ?? false
        if let priorityText = decodeField(String.self, .priority, allowed: "low, normal, high") {
            if let value = BackupPriority(rawValue: priorityText) {
                priority = value
            } else {
                priority = .normal
                found.append(FieldViolation(field: "priority", value: priorityText, allowed: "low, normal, high"))
            }
        } else {
            priority = .normal
        }
        let policy = (decoder.userInfo[BackupPolicy.userInfoKey] as? BackupPolicy) ?? .default
        func range(_ r: ClosedRange<Int>) -> String { "\(r.lowerBound)...\(r.upperBound)" }
        maxConcurrent = decodeField(Int.self, .maxConcurrent, allowed: range(policy.maxConcurrent)) ?? 3
        timeout = decodeField(Int.self, .timeout, allowed: range(policy.timeoutSeconds)) ?? 300
        retryCount = decodeField(Int.self, .retryCount, allowed: range(policy.retryCount)) ?? 2
        let policyViolations = violations(of: policy, checkingDeviceCount: mode == .request)
        found.append(contentsOf: policyViolations.filter { v in !found.contains { $0.field == v.field } })
        if !found.isEmpty { throw ValidationError(violations: found) }
    }

    private static func rawText<Key: CodingKey>(_ c: KeyedDecodingContainer<Key>, _ key: Key) -> String {
        if let v = try? c.decode(String.self, forKey: key) { return "\"\(v)\"" }
        if let v = try? c.decode(Double.self, forKey: key) { return String(v) }
        if let v = try? c.decode(Bool.self, forKey: key) { return String(v) }
        if (try? c.decodeNil(forKey: key)) == true { return "null" }
        return "(wrong type)"
    }
}

/// Any key of a JSON object, to find the ones ``BackupFilter`` does not know.
private struct AnyFieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension BackupPolicy {
    /// Put a policy in a decoder's `userInfo` under this key to validate decoded filters against it.
    public static let userInfoKey = CodingUserInfoKey(rawValue: "DeviceBackup.BackupPolicy")!
}

extension JSONDecoder {
    /// A decoder for requests from outside (API bodies, files users write): like
    /// `deviceBackup(policy:)`, and ``BackupFilter``s are decoded in ``BackupFilter/DecodingMode/request``
    /// mode — unknown keys and too long `device_ids` lists are violations.
    public static func deviceBackupRequest(policy: BackupPolicy = .default) -> JSONDecoder {
        let decoder = JSONDecoder.deviceBackup(policy: policy)
        decoder.userInfo[BackupFilter.decodingModeKey] = BackupFilter.DecodingMode.request
        return decoder
    }
}
