import BackupModels
import Foundation
import Testing

@Suite("BackupFilter validation")
struct FilterValidationTests {
    func decode(_ json: String, policy: BackupPolicy = .default) throws -> BackupFilter {
        try JSONDecoder.deviceBackup(policy: policy).decode(BackupFilter.self, from: Data(json.utf8))
    }

    @Test("defaults follow the seed: async, normal, 3 at a time, 300 s, 2 retries")
    func defaults() throws {
        let filter = try decode("{}")
        #expect(filter.asyncExecute)
        #expect(!filter.notifyOnComplete)
        #expect(filter.priority == .normal)
        #expect(filter.maxConcurrent == 3)
        #expect(filter.timeout == 300)
        #expect(filter.retryCount == 2)
        #expect(filter.filterStatus == nil && filter.filterVendor == nil)
        #expect(filter == BackupFilter.default)
    }

    @Test("range edges are accepted", arguments: [(1, 60, 0), (10, 3600, 5)])
    func edges(values: (Int, Int, Int)) throws {
        let filter = try decode(#"{"max_concurrent": \#(values.0), "timeout": \#(values.1), "retry_count": \#(values.2)}"#)
        #expect(filter.maxConcurrent == values.0 && filter.timeout == values.1 && filter.retryCount == values.2)
    }

    @Test("each out-of-range field is rejected with its name and allowed range", arguments: [
        (#"{"max_concurrent": 0}"#, "max_concurrent", "1...10"),
        (#"{"max_concurrent": 11}"#, "max_concurrent", "1...10"),
        (#"{"timeout": 59}"#, "timeout", "60...3600"),
        (#"{"timeout": 3601}"#, "timeout", "60...3600"),
        (#"{"retry_count": -1}"#, "retry_count", "0...5"),
        (#"{"retry_count": 6}"#, "retry_count", "0...5"),
        (#"{"filter_status": "broken"}"#, "filter_status", "online, offline, maintenance"),
        (#"{"priority": "urgent"}"#, "priority", "low, normal, high"),
        (#"{"async_execute": "yes"}"#, "async_execute", "true, false"),
        (#"{"max_concurrent": "five"}"#, "max_concurrent", "1...10"),
    ])
    func rejected(json: String, field: String, allowed: String) throws {
        let error = #expect(throws: ValidationError.self) { try self.decode(json) }
        #expect(error?.violations.count == 1)
        #expect(error?.violations.first?.field == field)
        #expect(error?.violations.first?.allowed == allowed)
        #expect(error?.description.contains(field) == true)
    }

    @Test("every bad field is reported at once")
    func allAtOnce() throws {
        let error = #expect(throws: ValidationError.self) {
            try self.decode(#"{"max_concurrent": 50, "timeout": 5, "retry_count": 9, "filter_status": "gone", "priority": "x"}"#)
        }
        #expect(Set(error?.violations.map(\.field) ?? []) == ["max_concurrent", "timeout", "retry_count", "filter_status", "priority"])
        #expect(error?.backupError.code == .invalidRequest)
    }

    @Test("building in code validates too; a widened policy allows large fleets; values are never clamped")
    func building() throws {
        #expect(throws: ValidationError.self) { try BackupFilter(maxConcurrent: 200) }
        let wide = try BackupFilter(maxConcurrent: 200, policy: .widened(maxConcurrent: 500))
        #expect(wide.maxConcurrent == 200)
        let decoded = try decode(#"{"max_concurrent": 200}"#, policy: .widened(maxConcurrent: 500))
        #expect(decoded.maxConcurrent == 200)
        #expect(throws: ValidationError.self) { try BackupFilter(filterVendor: "") }
        #expect(throws: ValidationError.self) { try BackupFilter(deviceIDs: []) }
    }

    @Test("JSON round-trips with the seed's field names")
    func wireNames() throws {
        let filter = try BackupFilter(filterStatus: .online, filterVendor: "cisco_ios", asyncExecute: false, notifyOnComplete: true, priority: .high, maxConcurrent: 5, timeout: 120, retryCount: 1)
        let text = String(decoding: try JSONEncoder.deviceBackup().encode(filter), as: UTF8.self)
        for name in ["filter_status", "filter_vendor", "async_execute", "notify_on_complete", "priority", "max_concurrent", "timeout", "retry_count"] {
            #expect(text.contains("\"\(name)\""))
        }
        #expect(try decode(text) == filter)
    }

    @Test("device statuses and task statuses decode from the seed's strings; unknown ones fail")
    func enums() throws {
        #expect(try JSONDecoder().decode([DeviceStatus].self, from: Data(#"["online","offline","maintenance"]"#.utf8)) == [.online, .offline, .maintenance])
        #expect(try JSONDecoder().decode([BackupTaskStatus].self, from: Data(#"["pending","running","completed","partial","failed","cancelled"]"#.utf8)).count == 6)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(BackupTaskStatus.self, from: Data(#""done""#.utf8)) }
    }

    // MARK: Strict decoding of requests (issue 11)

    func decodeRequest(_ json: String, policy: BackupPolicy = .default) throws -> BackupFilter {
        try JSONDecoder.deviceBackupRequest(policy: policy).decode(BackupFilter.self, from: Data(json.utf8))
    }

    @Test("a request with an unknown key is rejected naming the key (a typo must not back up the whole fleet)")
    func unknownKeyRejectedInRequests() throws {
        let error = #expect(throws: ValidationError.self) { try self.decodeRequest(#"{"filter_vendr": "cisco_ios"}"#) }
        #expect(error?.violations.map(\.field) == ["filter_vendr"])
        #expect(error?.violations.first?.value == #""cisco_ios""#)
        #expect(error?.violations.first?.allowed.contains("filter_vendor") == true)
        // Reported together with the other problems of the same body.
        let both = #expect(throws: ValidationError.self) { try self.decodeRequest(#"{"max_concurrent": 99, "extra": {"a": 1}}"#) }
        #expect(Set(both?.violations.map(\.field) ?? []) == ["extra", "max_concurrent"])
        // Every known field is accepted, with the seed's explicit nulls for the optional strings.
        let full = try decodeRequest(
            #"{"filter_status": null, "filter_vendor": null, "device_ids": [1, "core-sw1"], "async_execute": false, "notify_on_complete": true, "priority": "high", "max_concurrent": 4, "timeout": 120, "retry_count": 1}"#)
        #expect(full.deviceIDs == [1, "core-sw1"] && full.maxConcurrent == 4 && full.filterStatus == nil)
    }

    @Test("stored records decode leniently: unknown keys are ignored and the device list bound is not re-checked")
    func storedRecordsStayReadable() throws {
        let filter = try decode(#"{"filter_vendr": "cisco_ios", "max_concurrent": 2}"#)
        #expect(filter.maxConcurrent == 2 && filter.filterVendor == nil)
        let ids = (1...(BackupPolicy.defaultMaxDeviceIDs + 1)).map(String.init).joined(separator: ",")
        let big = try decode(#"{"device_ids": [\#(ids)]}"#)
        #expect(big.deviceIDs?.count == BackupPolicy.defaultMaxDeviceIDs + 1)
        // What the encoder writes always reads back strictly too.
        let written = try JSONEncoder.deviceBackup().encode(try BackupFilter(filterStatus: .online, deviceIDs: [1, 2], priority: .low))
        #expect(try JSONDecoder.deviceBackupRequest().decode(BackupFilter.self, from: written).deviceIDs == [1, 2])
        #expect(!String(decoding: written, as: UTF8.self).contains("null"))
    }

    @Test("null is rejected where a list or value is expected, in requests and records", arguments: [
        "device_ids", "async_execute", "notify_on_complete", "priority", "max_concurrent", "timeout", "retry_count",
    ])
    func nullRejected(field: String) throws {
        for strict in [true, false] {
            let json = #"{"\#(field)": null}"#
            let error = #expect(throws: ValidationError.self) { try (strict ? self.decodeRequest(json) : self.decode(json)) }
            #expect(error?.violations.map(\.field) == [field])
            #expect(error?.violations.first?.value == "null")
        }
    }

    @Test("device_ids has a documented upper bound in the policy")
    func deviceListBound() throws {
        let limit = BackupPolicy.default.maxDeviceIDs
        #expect(limit == BackupPolicy.defaultMaxDeviceIDs && limit == 10_000)
        let atLimit = (1...limit).map(String.init).joined(separator: ",")
        #expect(try decodeRequest(#"{"device_ids": [\#(atLimit)]}"#).deviceIDs?.count == limit)
        let error = #expect(throws: ValidationError.self) { try self.decodeRequest(#"{"device_ids": [\#(atLimit),0]}"#) }
        #expect(error?.violations.map(\.field) == ["device_ids"])
        #expect(error?.violations.first?.allowed == "at most 10000 entries")
        // Building or validating in code checks it too; a policy may set another bound.
        #expect(throws: ValidationError.self) { try BackupFilter(deviceIDs: (0...limit).map { DeviceID($0) }) }
        let small = BackupPolicy(maxDeviceIDs: 2)
        #expect(throws: ValidationError.self) { try self.decodeRequest(#"{"device_ids": [1, 2, 3]}"#, policy: small) }
        #expect(try BackupFilter(deviceIDs: [1, 2], policy: small).deviceIDs?.count == 2)
    }

    @Test("a policy encoded before max_device_ids existed decodes with the default bound")
    func oldPolicyDecodes() throws {
        let old = #"{"maxConcurrent": [1, 10], "timeoutSeconds": [60, 3600], "retryCount": [0, 5]}"#
        let policy = try JSONDecoder().decode(BackupPolicy.self, from: Data(old.utf8))
        #expect(policy == .default)
        #expect(try JSONDecoder().decode(BackupPolicy.self, from: JSONEncoder().encode(BackupPolicy(maxDeviceIDs: 7))).maxDeviceIDs == 7)
    }
}
