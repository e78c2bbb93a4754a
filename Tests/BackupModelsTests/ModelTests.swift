import BackupModels
import BackupSupport
import Foundation
import Testing

@Suite("Models")
struct ModelTests {
    @Test("device ids decode from numbers and strings and keep numbers numeric on the wire")
    func deviceIDs() throws {
        let ids = try JSONDecoder().decode([DeviceID].self, from: Data(#"[1, "core-sw1", "042"]"#.utf8))
        #expect(ids == [1, "core-sw1", "042"])
        #expect(String(decoding: try JSONEncoder().encode(ids), as: UTF8.self) == #"[1,"core-sw1","042"]"#)
        #expect([DeviceID("b"), 10, 2, "a"].sorted() == [2, 10, "a", "b"])
    }

    @Test("a device decodes with defaults and rejects a bad port")
    func device() throws {
        let device = try JSONDecoder().decode(Device.self, from: Data(#"{"id": 1, "name": "r1", "host": "192.0.2.1", "vendor": "cisco_ios"}"#.utf8))
        #expect(device.port == 22 && device.status == .online && device.groups.isEmpty)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Device.self, from: Data(#"{"id": 1, "name": "r1", "host": "h", "vendor": "v", "port": 70000}"#.utf8))
        }
    }

    @Test("credentials show no secret in description, debug description, dump or JSON")
    func credentialsRedacted() throws {
        let secret = "S3cret-RECOGNISABLE"
        let credentials = Credentials(username: "u", password: Secret(secret), privateKey: .inMemory(Secret(secret)), passphrase: Secret(secret), enableSecret: Secret(secret))
        var dumped = ""
        dump(credentials, to: &dumped)
        var text = "\(credentials) \(String(reflecting: credentials)) \(credentials.password!) \(String(reflecting: credentials.password!)) \(dumped)"
        text += String(decoding: try JSONEncoder().encode(credentials), as: UTF8.self)
        #expect(!text.contains(secret))
        #expect(text.contains("<redacted>"))
        #expect(credentials.password?.reveal() == secret)
        #expect(credentials.secretValues.count == 4)
    }

    @Test("task status of a finished task follows its counts")
    func finalStatus() {
        #expect(BackupTaskStatus.final(successCount: 5, failedCount: 0) == .completed)
        #expect(BackupTaskStatus.final(successCount: 3, failedCount: 2) == .partial)
        #expect(BackupTaskStatus.final(successCount: 0, failedCount: 2) == .failed)
        #expect(BackupTaskStatus.final(successCount: 0, failedCount: 0) == .completed)
        #expect(BackupTaskStatus.allCases.filter(\.isFinal) == [.completed, .partial, .failed, .cancelled])
    }

    @Test("error codes: retryable ones are the transient ones; custom codes can register")
    func errorCodes() {
        let retryable: Set<BackupError.Code> = [.connectionRefused, .connectionTimeout, .connectionLost, .hostUnreachable, .promptNotFound, .commandTimeout, .truncatedConfig, .deviceTimeout]
        for code in BackupError.Code.builtIn {
            #expect(code.isRetryable == retryable.contains(code), "\(code)")
        }
        #expect(BackupError.Code("VENDOR_BUSY", retryable: true).isRetryable)
        #expect(!BackupError.Code("VENDOR_BROKEN").isRetryable)
        let error = BackupError(.maxRetriesExceeded, "gave up", hint: "check it", cause: .connectionTimeout)
        #expect(error.description == "[MAX_RETRIES_EXCEEDED] gave up (last error: CONNECTION_TIMEOUT) — check it")
    }

    @Test("a task encodes flat with progress_percentage, errors and results, and decodes back")
    func taskJSON() throws {
        let summary = BackupTaskSummary(taskID: "t1", status: .partial, total: 3, completed: 2, successCount: 1, failedCount: 1, message: "m", createdAt: Date(timeIntervalSince1970: 1_800_000_000.123), priority: .high, filter: .default, idempotencyKey: "k")
        let results = [
            DeviceBackupResult(deviceID: 1, deviceName: "a", success: true, configID: "x", configSize: 1, finishedAt: Date(timeIntervalSince1970: 1_800_000_001)),
            .failure(DeviceRef(id: 2, name: "b", vendor: "v"), BackupError(.authFailed, "no"), attempts: 1, startedAt: nil, finishedAt: Date(timeIntervalSince1970: 1_800_000_002)),
        ]
        let task = BackupTask(summary: summary, devices: [DeviceRef(id: 1, name: "a", vendor: "v"), DeviceRef(id: 2, name: "b", vendor: "v"), DeviceRef(id: 3, name: "c", vendor: "v")], results: results)
        let data = try JSONEncoder.deviceBackup().encode(task)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(object["progress_percentage"] as? Double == 66.67)
        #expect(object["created_at"] as? String == "2027-01-15T08:00:00.123Z")
        #expect((object["errors"] as? [[String: Any]])?.first?["error_code"] as? String == "AUTH_FAILED")
        let decoded = try JSONDecoder.deviceBackup().decode(BackupTask.self, from: data)
        #expect(decoded == task)
        let plain = try JSONDecoder.deviceBackup().decode([Date].self, from: Data(#"["2027-01-15T08:00:00Z","2027-01-15T08:00:00.5Z"]"#.utf8))
        #expect(plain == [Date(timeIntervalSince1970: 1_800_000_000), Date(timeIntervalSince1970: 1_800_000_000.5)])
        #expect(decoded.remainingDevices.map(\.id) == [3])
    }

    @Test("SHA-256: a million 'a's (FIPS 180-2 vector) and any split into updates gives the one-shot hash")
    func sha256LongAndChunked() {
        #expect(SHA256Digest.hexHash([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4099] {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let oneShot = SHA256Digest.hash(data)
            #expect(SHA256Digest.hash(data.lazy.map { $0 }) == oneShot, "non-contiguous sequence, \(length) bytes")
            var digest = SHA256Digest()
            var rest = data[...]
            while !rest.isEmpty {
                let take = Int.random(in: 1...70, using: &generator)
                digest.update(Array(rest.prefix(take)))
                rest = rest.dropFirst(take)
            }
            #expect(digest.finalize() == oneShot, "\(length) bytes in random updates")
        }
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        #expect(SHA256Digest.hexHash("".utf8) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Digest.hexHash("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest.hexHash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var digest = SHA256Digest()
        for _ in 0..<1000 { digest.update(Array(repeating: UInt8(ascii: "a"), count: 1000)) }
        #expect(digest.finalize().hexString == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
