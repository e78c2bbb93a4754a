import BackupModels
import Foundation
import NetBackupKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Inventories that used to be accepted (and failed only after connecting, or never) are refused before anything
/// connects, naming the file, the line and the field.
@Suite("Inventory validation")
struct InventoryValidationTests {
    func rejected(_ text: String, format: String = "yaml", requireUniqueNames: Bool = true) -> InventoryError? {
        #expect(throws: InventoryError.self) {
            try InventoryFile.parse(
                text, format: format, file: "inv.\(format)", knownVendors: ["cisco_ios", "linux"], requireUniqueNames: requireUniqueNames,
                environment: [:])
        }
    }

    @Test("a CSV with CRLF line endings (as spreadsheets write it) and a byte order mark loads", arguments: ["\r\n", "\r", "\n"])
    func csvLineEndings(newline: String) async throws {
        let csv = "\u{FEFF}id,name,host,vendor,username,password" + newline
            + "1,r1,10.0.0.1,cisco_ios,admin,\"pa,ss\"" + newline + "# a comment" + newline + newline
            + "2,r2,10.0.0.2,linux,admin,x" + newline
        let inventory = try InventoryFile.parse(csv, format: "csv", environment: [:])
        let devices = try await inventory.devices()
        #expect(devices.map(\.name) == ["r1", "r2"])
        #expect(try await inventory.credentials(for: devices[0]).password?.reveal() == "pa,ss")
        #expect(try await inventory.credentials(for: devices[1]).password?.reveal() == "x")
        // Line numbers count CRLF as one line break.
        let bad = rejected("id,host,vendor,username" + newline + "1,a,linux,u" + newline + "2,b,acme,u" + newline, format: "csv")
        #expect(bad?.line == 3)
        #expect(bad?.field == "vendor")
    }

    @Test("a YAML or JSON file with a byte order mark loads, from disk too")
    func byteOrderMark() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inv-bom-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = #"{"devices": [{"id": 1, "host": "h", "vendor": "linux", "username": "u"}]}"#
        try (Data([0xEF, 0xBB, 0xBF]) + Data(json.utf8)).write(to: URL(fileURLWithPath: dir + "/inv.json"))
        #expect(try InventoryFile.load(path: dir + "/inv.json", environment: [:]).devices.count == 1)
        try (Data([0xEF, 0xBB, 0xBF]) + Data("id,host,vendor,username\r\n1,h,linux,u\r\n".utf8)).write(to: URL(fileURLWithPath: dir + "/inv.csv"))
        #expect(try InventoryFile.load(path: dir + "/inv.csv", environment: [:]).devices.count == 1)
    }

    @Test("bad ids, names and keys are refused with line and field", arguments: [
        // A 300-character name: refused here, not after the SSH fetch with "File name too long".
        ("devices:\n  - { id: 1, name: \(String(repeating: "n", count: 300)), host: h, vendor: linux, username: u }\n", 2, "name", "300 bytes"),
        ("devices:\n  - { id: \(String(repeating: "7", count: 201)), host: h, vendor: linux, username: u }\n", 2, "id", "201 bytes"),
        ("devices:\n  - { id: 1, name: '', host: h, vendor: linux, username: u }\n", 2, "name", "is empty"),
        ("devices:\n  - { id: 1, name: '   ', host: h, vendor: linux, username: u }\n", 2, "name", "is empty"),
        ("devices:\n  - { id: '', host: h, vendor: linux, username: u }\n", 2, "id", "is empty"),
        ("devices:\n  - { id: ~, host: h, vendor: linux, username: u }\n", 2, "id", "empty (~ or null)"),
        ("devices:\n  - id: null\n    host: h\n", 2, "id", "empty (~ or null)"),
        ("devices:\n  - id:\n    host: h\n", 2, "id", "empty (~ or null)"),
        ("devices:\n  - { id: \"a\\nb\", host: h, vendor: linux, username: u }\n", 2, "id", "control character (U+000A)"),
        ("devices:\n  - { id: 1, name: \"sw\\u0007\", host: h, vendor: linux, username: u }\n", 2, "name", "control character (U+0007)"),
        ("devices:\n  - { id: 1, name: \"sw\\tx\", host: h, vendor: linux, username: u }\n", 2, "name", "control character (U+0009)"),
        ("devices:\n  - id: 1\n    name: \"a\\u2028b\"\n    host: h\n", 3, "name", "control character (U+2028)"),
        ("devices:\n  - { id: 1, host: \"h\\n\", vendor: linux, username: u }\n", 2, "host", "control character"),
        ("devices:\n  - id: 1\n    host: a\n    host: b\n    vendor: linux\n    username: u\n", 4, "host", "duplicate key 'host' (first at line 3)"),
        ("devices:\n  - { id: 1, host: a, vendor: linux, username: u }\ndevices:\n  - { id: 2, host: b, vendor: linux, username: u }\n", 3, "devices", "duplicate key 'devices'"),
        ("groups:\n  core: { vendor: linux }\n  core: { vendor: cisco_ios }\ndevices:\n  - { id: 1, host: a, group: core, username: u }\n", 3, "groups", "duplicate key 'core'"),
        (#"{"devices": [{"id": 1, "id": 2, "host": "a", "vendor": "linux", "username": "u"}]}"#, 1, "id", "duplicate key 'id'"),
        ("devices:\n  - { id: 1, host: a, vendor: linux }\n", 2, "username", "has no username"),
        ("defaults: { username: '' }\ndevices:\n  - { id: 1, host: a, vendor: linux }\n", 1, "username", "has no username"),
        ("devices:\n  - { id: 1, host: a, vendor: linux, username: u }\n  - { id: 1, host: b, vendor: linux, username: u }\n", 3, "id", "duplicate device id 1 (first at line 2)"),
        ("devices:\n  - { id: 1, name: sw, host: a, vendor: linux, username: u }\n  - { id: 2, name: sw, host: b, vendor: linux, username: u }\n", 3, "name", "duplicate device name 'sw'"),
        ("devices:\n  - { id: 1, host: a, vendor: linux, username: u }\n  - { id: 2, host: a, vendor: linux, username: u }\n", 3, "host", "duplicate device name 'a'"),
        ("devices:\n  - { id: 1, host: a, vendor: linux, username: u, port: ~ }\n", 2, "port", "empty (~ or null)"),
        ("devices:\n  - { id: 1, host: a, vendor: linux, username: u, groups: [~] }\n", 2, "groups", "expected group names"),
        ("devices:\n  - { id: 1, host: a b, vendor: linux, username: u }\n", 2, "host", "not a host name"),
    ] as [(String, Int, String, String)])
    func refused(text: String, line: Int, field: String, message: String) throws {
        let error = rejected(text)
        #expect(error?.file == "inv.yaml")
        #expect(error?.line == line, "\(error?.description ?? "")")
        #expect(error?.field == field, "\(error?.description ?? "")")
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("\n") == false, "a message stays on one line")
    }

    @Test("duplicate names are allowed when the archive does not name files by name; CSV duplicate columns are not")
    func names() throws {
        let text = "devices:\n  - { id: 1, name: sw, host: a, vendor: linux, username: u }\n  - { id: 2, name: sw, host: b, vendor: linux, username: u }\n"
        #expect(try InventoryFile.parse(text, format: "yaml", requireUniqueNames: false, environment: [:]).devices.count == 2)
        let csv = rejected("id,host,vendor,host,username\n1,a,linux,b,u\n", format: "csv")
        #expect(csv?.line == 1 && csv?.field == "host" && csv?.message.contains("duplicate column") == true)
        #expect(rejected("", format: "csv")?.line == 1)
        #expect(rejected("", format: "yaml")?.line == 1)
    }

    @Test("deep nesting is refused before the parser recurses into it", arguments: [
        "devices: " + String(repeating: "[", count: 200_000),
        "devices:\n" + String(repeating: "- ", count: 200_000) + "x\n",
        (0..<300).map { String(repeating: " ", count: $0) + "- a:" }.joined(separator: "\n"),
        "devices: " + String(repeating: "{a: ", count: 100_000),
    ])
    func deepNesting(text: String) throws {
        let error = rejected(text)
        #expect(error?.message.contains("nested more than 64 levels") == true, "\(error?.description.prefix(300) ?? "")")
        #expect(error?.line != nil)
    }

    @Test("realistic nesting, brackets inside quotes and comments are not mistaken for depth")
    func shallowNesting() throws {
        let brackets = String(repeating: "[", count: 100)
        let text = """
            # \(brackets)
            defaults: { username: "u\(brackets)", password: '\(brackets)' }
            groups:
              core:
                vendor: linux   # \(brackets)
            devices:
              - id: 1
                name: "x\(brackets)"
                host: a
                groups:
                  - core
              - { id: 2, host: b, vendor: linux, name: 'y\(brackets)' }
            """
        let inventory = try InventoryFile.parse(text, format: "yaml", environment: [:])
        #expect(inventory.devices.map(\.id) == [1, 2])
    }

    @Test("a file over the size limit is refused before it is read; a device or pipe is read only up to the limit")
    func sizeLimit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inv-size-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 50 MB, sparse: reading it would take 50 MB (and parsing it far more); the limit refuses it unread.
        let big = dir + "/big.yaml"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: big))
        try handle.truncate(atOffset: 50 << 20)
        try handle.close()
        let error = #expect(throws: InventoryError.self) { try InventoryFile.load(path: big, environment: [:]) }
        #expect(error?.file == big)
        #expect(error?.message.contains("50 MiB") == true && error?.message.contains("16 MiB") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("--max-inventory-bytes") == true)
        // An endless device behind a .yaml name: read up to the limit, then refused (never a hang).
        try FileManager.default.createSymbolicLink(atPath: dir + "/zero.yaml", withDestinationPath: "/dev/zero")
        let endless = #expect(throws: InventoryError.self) { try InventoryFile.load(path: dir + "/zero.yaml", maxBytes: 1 << 20, environment: [:]) }
        #expect(endless?.message.contains("larger than 1 MiB") == true, "\(endless?.message ?? "")")
        // Missing file, directory: the path and what is wrong.
        let missing = #expect(throws: InventoryError.self) { try InventoryFile.load(path: dir + "/nope.yaml", environment: [:]) }
        #expect(missing?.file == dir + "/nope.yaml" && missing?.message.contains("no such file") == true)
        try FileManager.default.createDirectory(atPath: dir + "/d.yaml", withIntermediateDirectories: true)
        let directory = #expect(throws: InventoryError.self) { try InventoryFile.load(path: dir + "/d.yaml", environment: [:]) }
        #expect(directory?.message.contains("directory") == true)
        try Data([0x64, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: dir + "/bin.yaml"))
        let binary = #expect(throws: InventoryError.self) { try InventoryFile.load(path: dir + "/bin.yaml", environment: [:]) }
        #expect(binary?.message.contains("not UTF-8") == true)
    }

    @Test("a 16 MiB inventory (the default limit) loads with bounded memory", .timeLimit(.minutes(3)))
    func largeInventoryMemory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inv-mem-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = "defaults: { username: netops, password: pw, vendor: linux }\ndevices:\n"
        var index = 0
        while text.utf8.count < InventoryFile.defaultMaxBytes - 200 {
            text += "  - { id: \(index), name: device-\(index)-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, host: 10.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255) }\n"
            index += 1
        }
        try text.write(toFile: dir + "/inv.yaml", atomically: false, encoding: .utf8)
        text = ""
        let before = peakResidentBytes()
        let inventory = try InventoryFile.load(path: dir + "/inv.yaml", environment: [:])
        let after = peakResidentBytes()
        #expect(inventory.devices.count == index)
        let grown = after - before
        print("16 MiB inventory, \(index) devices: peak RSS grew by \(grown >> 20) MiB (to \(after >> 20) MiB)")
        #expect(grown < 600 << 20, "peak memory grew by \(grown >> 20) MiB")
    }
}

/// The process's peak resident set size (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return digits * 1024
    }
    return 0
}
