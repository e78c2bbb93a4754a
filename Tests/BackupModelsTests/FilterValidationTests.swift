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
}
