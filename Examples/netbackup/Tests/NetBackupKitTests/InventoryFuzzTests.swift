import BackupModels
import Foundation
import NetBackupKit
import Testing

/// A bounded property test of inventory parsing: random and mutated YAML, JSON and CSV inventories (fixed seed,
/// about 5 seconds) never crash, never hang, and either load or fail with an `InventoryError` naming the file and a
/// line or field, on one line.
@Suite("Inventory fuzzing")
struct InventoryFuzzTests {
    /// SplitMix64: small, fast, and the same sequence on every machine.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let secret = "S3CRET-never-in-errors"
    static let fields = [
        "id", "name", "host", "port", "vendor", "status", "group", "groups", "username", "password", "password_env",
        "password_file", "enable_password", "enable_secret", "private_key_file", "passphrase", "colour", "<<",
    ]
    static let fragments = [
        "", "~", "null", "1", "0", "-1", "70000", "22", "linux", "cisco_ios", "acme", "online", "broken", "core", "edge",
        "sw1", "a b", "10.0.0.1", "::1", "\"quoted\"", "'single'", "[a, b]", "{x: 1}", "&anchor v", "*anchor", "!!str 5",
        "yes", "1e3", "0x1F", "\u{FEFF}", "路由器1", "交换机1", "core/sw1", "core_sw1", "\t", "\u{2028}", "\\n",
        String(repeating: "n", count: 250), "#comment", "- x", ": y", "\"unterminated", "MISSING_VAR",
    ]
    static let interesting: [[UInt8]] = [
        "[", "]", "{", "}", ":", "-", "- ", "\"", "'", "\n", "\r\n", "\r", ",", "#", "~", "&a ", "*a", "!!str ", "\t", "\0",
        "\u{FEFF}", "\u{2028}", "---\n", "...\n", "? ", "|\n", ">\n", "%YAML 1.1\n", "\\", "\u{FF}", "null", "  ",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xED, 0xA0, 0x80]]

    func pick<T>(_ items: [T], _ rng: inout SeededGenerator) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }

    func randomValue(_ rng: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return String(Int.random(in: -5...70_000, using: &rng))
        case 1: return pick(Self.fragments, &rng)
        default:
            let scalars = (0..<Int.random(in: 0...12, using: &rng)).map { _ -> Character in
                let choice = Int.random(in: 0..<10, using: &rng)
                let value: UInt32 = choice < 7 ? UInt32.random(in: 0x61...0x7A, using: &rng)
                    : choice < 8 ? UInt32.random(in: 0x00...0x7F, using: &rng) : UInt32.random(in: 0xA0...0xD7FF, using: &rng)
                return Character(Unicode.Scalar(value) ?? "x")
            }
            return String(scalars)
        }
    }

    /// A device's fields: mostly valid, sometimes broken.
    func randomDevice(_ index: Int, _ rng: inout SeededGenerator) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("id", String(index)), ("host", "10.0.0.\(index % 250)"), ("vendor", pick(["linux", "cisco_ios"], &rng)),
            ("username", "netops"), ("password", Self.secret),
        ]
        if Bool.random(using: &rng) { fields.append(("name", "dev-\(index)")) }
        for _ in 0..<Int.random(in: 0...2, using: &rng) {
            let field = pick(Self.fields, &rng)
            let value = randomValue(&rng)
            if Bool.random(using: &rng), let at = fields.firstIndex(where: { $0.0 == field }) {
                fields[at].1 = value
            } else {
                fields.append((field, value))
            }
        }
        return fields
    }

    func yamlScalar(_ text: String, _ rng: inout SeededGenerator) -> String {
        if Int.random(in: 0..<3, using: &rng) == 0 { return text }
        let escaped = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case "\n": return "\\n"
            default: return scalar.value < 0x20 ? String(format: "\\x%02X", scalar.value) : String(scalar)
            }
        }.joined()
        return "\"" + escaped + "\""
    }

    func generate(_ rng: inout SeededGenerator) -> (text: String, format: String) {
        let devices = (1...Int.random(in: 1...6, using: &rng)).map { randomDevice($0, &rng) }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            var text = ""
            if Bool.random(using: &rng) { text += "defaults: { port: 22, status: online }\n" }
            if Bool.random(using: &rng) { text += "groups:\n  core: { vendor: linux }\n  edge:\n    port: 2222\n" }
            text += "devices:\n"
            for device in devices {
                text += "  - " + device.enumerated().map { offset, field in
                    (offset == 0 ? "" : "    ") + "\(field.0): \(yamlScalar(field.1, &rng))"
                }.joined(separator: "\n") + "\n"
            }
            return (text, "yaml")
        case 1:
            let text = "devices: [" + devices.map { device in
                "{" + device.map { "\($0.0): \(yamlScalar($0.1, &rng))" }.joined(separator: ", ") + "}"
            }.joined(separator: ",\n  ") + "]\n"
            return (text, "yml")
        case 2:
            let objects = devices.map { device -> String in
                "{" + device.map { field -> String in
                    let data = try? JSONSerialization.data(withJSONObject: field.1, options: .fragmentsAllowed)
                    return "\"\(field.0)\": " + (data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\"")
                }.joined(separator: ", ") + "}"
            }
            return ("{\"devices\": [" + objects.joined(separator: ", ") + "]}", "json")
        default:
            var columns: [String] = []
            for device in devices { for (field, _) in device where !columns.contains(field) { columns.append(field) } }
            let newline = pick(["\n", "\r\n", "\r"], &rng)
            var text = (Bool.random(using: &rng) ? "\u{FEFF}" : "") + columns.joined(separator: ",") + newline
            for device in devices {
                text += columns.map { column -> String in
                    let value = device.last { $0.0 == column }?.1 ?? ""
                    return value.contains(",") || value.contains("\"") || Bool.random(using: &rng)
                        ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
                }.joined(separator: ",") + newline
            }
            return (text, "csv")
        }
    }

    func mutate(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes.insert(contentsOf: pick(Self.interesting, &rng), at: at)
            case 2 where !bytes.isEmpty:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &rng)))
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &rng))
                let chunk = Array(bytes[at..<end])
                bytes.insert(contentsOf: chunk, at: Int.random(in: 0...bytes.count, using: &rng))
            case 4 where !bytes.isEmpty: bytes.removeSubrange(at...)
            default:
                let piece = pick(Self.interesting, &rng)
                bytes.insert(contentsOf: Array(repeating: piece, count: Int.random(in: 2...80, using: &rng)).joined(), at: at)
            }
        }
        return bytes
    }

    /// Parses one input and checks the property; returns how long it took.
    func check(_ bytes: [UInt8], format: String, mutated: Bool, label: String) -> Duration {
        let file = "fuzz.\(format)"
        let text = String(decoding: bytes, as: UTF8.self)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let inventory = try InventoryFile.parse(text, format: format, file: file, knownVendors: ["linux", "cisco_ios"], environment: [:])
            #expect(!inventory.devices.isEmpty, "\(label)")
            for device in inventory.devices {
                #expect(!device.name.isEmpty && device.name.utf8.count <= InventoryFile.maxNameBytes, "\(label)")
                #expect(!device.id.rawValue.contains(where: { $0.isNewline }), "\(label)")
            }
        } catch {
            #expect(error.file == file, "\(label)")
            #expect(error.line != nil || error.field != nil, "\(label): no line or field in \(error)")
            if let line = error.line {
                // Every line break the parser may count (LF, CR, CRLF, NEL, LS, PS) ends a line; at the end of a text
                // without a final line break the parser adds one, so "end of file" may be the line after the last.
                let lines = text.reduce(1) { $0 + ($1.isNewline ? 1 : 0) }
                #expect((1...lines + 1).contains(line), "\(label): line \(line) of \(lines) in \(error)")
            }
            #expect(!error.message.isEmpty, "\(label)")
            #expect(!error.description.contains("\n"), "\(label): \(error.description.debugDescription)")
            if !mutated { #expect(!error.description.contains(Self.secret), "\(label): \(error)") }
        }
        return clock.now - start
    }

    @Test("random and mutated inventories never crash or hang, and fail with file and line or field", .timeLimit(.minutes(2)))
    func fuzz() throws {
        var rng = SeededGenerator(state: 0x6E65_7462_6163_6B75)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        var cases = 0
        var loaded = 0
        var slowest = Duration.zero
        while clock.now < deadline || cases < 200 {
            let (text, format) = generate(&rng)
            let mutated = cases % 4 != 0
            let bytes = mutated ? mutate(Array(text.utf8), &rng) : Array(text.utf8)
            let took = check(bytes, format: format, mutated: mutated, label: "case \(cases) (\(format))")
            slowest = max(slowest, took)
            if (try? InventoryFile.parse(String(decoding: bytes, as: UTF8.self), format: format, knownVendors: ["linux", "cisco_ios"], environment: [:])) != nil {
                loaded += 1
            }
            cases += 1
        }
        print("inventory fuzzing: \(cases) cases, \(loaded) loaded, slowest \(slowest)")
        #expect(slowest < .seconds(2), "one input took \(slowest)")
        #expect(loaded > cases / 20, "the generator should produce loadable inventories too")
    }

    @Test("raw bytes from disk: invalid UTF-8, BOMs and truncations fail cleanly")
    func bytesFromDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inv-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SeededGenerator(state: 42)
        for index in 0..<150 {
            let (text, format) = generate(&rng)
            let bytes = mutate(Array(text.utf8), &rng)
            let path = dir + "/\(index).\(format)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try InventoryFile.load(path: path, knownVendors: ["linux", "cisco_ios"], environment: [:])
            } catch {
                #expect(error.file == path)
                #expect(!error.description.contains("\n"), "\(error.description.debugDescription)")
                if String(validating: bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes, as: UTF8.self) != nil {
                    #expect(error.line != nil || error.field != nil, "\(error)")
                } else {
                    #expect(error.message.contains("not UTF-8"), "\(error)")
                }
            }
        }
    }
}
