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

/// The allowed ranges for a ``BackupFilter``'s numeric fields.
///
/// The default is the seed review's policy: `max_concurrent` 1–10, `timeout` 60–3600 s, `retry_count`
/// 0–5. An executor may widen it (a large fleet wants hundreds of concurrent sessions); values outside the
/// policy are rejected, never silently clamped.
public struct BackupPolicy: Sendable, Hashable, Codable {
    /// Allowed `max_concurrent` (devices of one task backed up at once); 1–10 by default.
    public var maxConcurrent: ClosedRange<Int>
    /// Allowed `timeout` per attempt, in seconds; 60–3600 by default.
    public var timeoutSeconds: ClosedRange<Int>
    /// Allowed `retry_count`; 0–5 by default.
    public var retryCount: ClosedRange<Int>

    /// Creates a policy; the defaults are the seed's ranges.
    public init(
        maxConcurrent: ClosedRange<Int> = 1...10,
        timeoutSeconds: ClosedRange<Int> = 60...3600,
        retryCount: ClosedRange<Int> = 0...5
    ) {
        self.maxConcurrent = maxConcurrent
        self.timeoutSeconds = timeoutSeconds
        self.retryCount = retryCount
    }

    /// The seed's policy.
    public static let `default` = BackupPolicy()

    /// The seed's policy with `max_concurrent` allowed up to `limit`.
    public static func widened(maxConcurrent limit: Int) -> BackupPolicy {
        BackupPolicy(maxConcurrent: 1...max(1, limit))
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
        return found
    }

    /// Throws a ``ValidationError`` naming every field that breaks `policy`.
    public func validate(against policy: BackupPolicy = .default) throws(ValidationError) {
        let found = violations(of: policy)
        if !found.isEmpty { throw ValidationError(violations: found) }
    }

    enum CodingKeys: String, CodingKey {
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

    /// Decodes with the seed's defaults for absent fields, then validates. Wrongly typed fields, an
    /// unknown `filter_status` or `priority` and out-of-range numbers are all reported together in one
    /// ``ValidationError``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var found: [FieldViolation] = []
        func decodeField<T: Decodable>(_ type: T.Type, _ key: CodingKeys, allowed: String) -> T? {
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
        found.append(contentsOf: violations(of: policy).filter { v in !found.contains { $0.field == v.field } })
        if !found.isEmpty { throw ValidationError(violations: found) }
    }

    private static func rawText(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> String {
        if let v = try? c.decode(String.self, forKey: key) { return "\"\(v)\"" }
        if let v = try? c.decode(Double.self, forKey: key) { return String(v) }
        if let v = try? c.decode(Bool.self, forKey: key) { return String(v) }
        return "(wrong type)"
    }
}

extension BackupPolicy {
    /// Put a policy in a decoder's `userInfo` under this key to validate decoded filters against it.
    public static let userInfoKey = CodingUserInfoKey(rawValue: "DeviceBackup.BackupPolicy")!
}
