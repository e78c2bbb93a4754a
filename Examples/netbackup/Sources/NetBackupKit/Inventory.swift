public import BackupExecutor
public import BackupModels
import Foundation
import Yams

/// A problem in an inventory file: where it is and what is wrong. Never contains a secret value.
public struct InventoryError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var field: String?
    public var message: String

    public init(file: String, line: Int?, field: String?, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let field { text += "field \(quoted(field)): " }
        return text + message
    }
}

/// A devices file (YAML, JSON or CSV) loaded and checked before anything connects.
///
/// YAML/JSON shape — `defaults` and named `groups` are inherited by devices (device beats group beats
/// defaults; with several `groups`, later ones win):
/// ```yaml
/// defaults: { username: netops, password_env: NET_PASSWORD, port: 22 }
/// groups:
///   core: { vendor: cisco_ios, enable_password_env: NET_ENABLE }
/// devices:
///   - { id: 1, name: core-sw1, host: core-sw1.example.net, group: core, status: online }
///   - { id: 2, name: edge-fw1, host: 192.0.2.7, port: 2222, vendor: fortinet_fortios, password: inline-ok-too }
/// ```
/// CSV: a header row naming the same fields (`id,name,host,port,vendor,status,group,username,password_env,…`),
/// one device per row; groups and defaults come from `groups`/`defaults` given to the loader. Line endings may
/// be LF, CRLF (as spreadsheets write them) or CR; a UTF-8 byte order mark is ignored (in every format).
///
/// Secrets come from `password`, `password_env` (an environment variable) or `password_file` (a file whose
/// first line is the secret), and likewise `enable_password…` and `passphrase…`; `private_key_file` names a
/// key file. Unknown fields, duplicate keys, empty (`~`) values, missing hosts or usernames, bad ports,
/// statuses or vendors, duplicate ids (and names, when files are named by device name), ids and names longer
/// than ``maxNameBytes`` or holding control characters, and unset environment variables are errors naming the
/// file, the line and the field. Files larger than ``defaultMaxBytes`` are refused before they are read.
public struct InventoryFile: DeviceInventory {
    /// The devices, in file order.
    public let devices: [Device]
    private let credentialsByID: [DeviceID: Credentials]

    /// The largest inventory file read by default: 16 MiB (about 150,000 devices in YAML). Larger files are
    /// refused before they are read; pass a larger `maxBytes` (`--max-inventory-bytes`) to accept them.
    public static let defaultMaxBytes = 16 << 20
    /// The longest device id or name, in UTF-8 bytes: names become file names (255 bytes at most on common
    /// file systems, with room for the archive's suffix and escaping).
    public static let maxNameBytes = 200
    /// The deepest nesting of lists and mappings accepted in YAML/JSON (the format needs 4).
    public static let maxNesting = 64

    /// An inventory of `devices` with their credentials (tests and the demo build one directly).
    public init(devices: [Device], credentials: [DeviceID: Credentials]) {
        self.devices = devices
        self.credentialsByID = credentials
    }

    /// The devices, in file order.
    public func devices() async throws -> [Device] { devices }

    /// The credentials of `device`; `AUTH_FAILED` if the inventory has none for it.
    public func credentials(for device: Device) async throws -> Credentials {
        guard let credentials = credentialsByID[device.id] else {
            throw BackupError(.authFailed, "The inventory has no credentials for device \(device.name).", hint: "Set username and password (or a key) for it, its group or the defaults.")
        }
        return credentials
    }

    /// Loads `path` (format by extension: .yaml/.yml, .json, .csv). Blocking: from async code use
    /// ``loadInBackground(path:knownVendors:requireUniqueNames:maxBytes:environment:)``.
    ///
    /// - Parameters:
    ///   - knownVendors: vendor profile names accepted; `nil` accepts any.
    ///   - requireUniqueNames: refuse two devices with the same name (an archive that names files by device
    ///     name needs this).
    ///   - maxBytes: refuse larger files before reading them.
    ///   - environment: where `*_env` fields are looked up.
    public static func load(
        path: String, knownVendors: Set<String>? = nil, requireUniqueNames: Bool = true, maxBytes: Int = defaultMaxBytes,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(InventoryError) -> InventoryFile {
        let name = (path as NSString).lastPathComponent
        let format = (name as NSString).pathExtension.lowercased()
        guard ["csv", "yaml", "yml", "json"].contains(format) else {
            throw InventoryError(file: path, line: nil, field: nil, message: "unknown inventory format; use .yaml, .yml, .json or .csv")
        }
        let data = try readLimited(path: path, maxBytes: maxBytes)
        guard let text = String(validatingUTF8Data: data) else {
            throw InventoryError(file: path, line: nil, field: nil, message: "the file is not UTF-8 text (save it as UTF-8)")
        }
        return try parse(text, format: format, file: path, knownVendors: knownVendors, requireUniqueNames: requireUniqueNames, environment: environment)
    }

    /// ``load(path:knownVendors:requireUniqueNames:maxBytes:environment:)`` on a thread of its own, so that reading
    /// and parsing never block Swift's cooperative threads.
    public static func loadInBackground(
        path: String, knownVendors: Set<String>? = nil, requireUniqueNames: Bool = true, maxBytes: Int = defaultMaxBytes,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(InventoryError) -> InventoryFile {
        let result: Result<InventoryFile, InventoryError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(InventoryError) {
                    continuation.resume(returning: .success(try load(
                        path: path, knownVendors: knownVendors, requireUniqueNames: requireUniqueNames, maxBytes: maxBytes,
                        environment: environment)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "netbackup.inventory"
            thread.start()
        }
        return try result.get()
    }

    /// Parses inventory text in the given format ("yaml", "yml", "json" or "csv").
    public static func parse(
        _ text: String, format: String, file: String = "<inventory>", knownVendors: Set<String>? = nil,
        requireUniqueNames: Bool = true, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(InventoryError) -> InventoryFile {
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        let raw = format.lowercased() == "csv" ? try RawInventory.parseCSV(text, file: file) : try RawInventory.parseYAML(text, file: file)
        return try raw.resolve(file: file, knownVendors: knownVendors, requireUniqueNames: requireUniqueNames, environment: environment)
    }

    /// Reads at most `maxBytes` (a larger regular file is refused before reading; a pipe or device is read up to the
    /// limit and refused past it).
    static func readLimited(path: String, maxBytes: Int) throws(InventoryError) -> Data {
        func failure(_ message: String) -> InventoryError { InventoryError(file: path, line: nil, field: nil, message: message) }
        let limitText = "the limit is \(byteCount(maxBytes)); --max-inventory-bytes raises it"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw failure("no such file (check the path)")
            case EACCES, EPERM: throw failure("permission denied (make the file readable for this user)")
            default: throw failure("cannot open the file: \(String(cString: strerror(code)))")
            }
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot read the file: \(String(cString: strerror(errno)))") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw failure("is a directory, not an inventory file") }
        if (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > maxBytes {
            throw failure("the file is \(byteCount(Int(info.st_size))), too large for an inventory (\(limitText))")
        }
        var data = Data()
        while data.count <= maxBytes {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: min(1 << 20, maxBytes + 1 - data.count))
            } catch {
                throw failure("cannot read the file: \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            data.append(chunk)
        }
        if data.count > maxBytes { throw failure("the input is larger than \(byteCount(maxBytes)) (\(limitText))") }
        return data
    }

    static func byteCount(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 20 { return String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) }
        return "\(bytes) bytes"
    }
}

extension String {
    /// The text of `data` if it is valid UTF-8 (a byte order mark is dropped), else `nil`.
    init?(validatingUTF8Data data: Data) {
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        self = text
    }
}

/// A value as written in the file, with its line.
struct RawValue {
    var text: String
    var line: Int?
}

struct RawEntry {
    var fields: [String: RawValue]
    var line: Int?
}

struct RawInventory {
    var defaults = RawEntry(fields: [:], line: nil)
    var groups: [String: RawEntry] = [:]
    var devices: [RawEntry] = []

    static let inheritable: Set<String> = [
        "port", "vendor", "status", "username", "password", "password_env", "password_file", "enable_password",
        "enable_password_env", "enable_password_file", "enable_secret", "enable_secret_env", "private_key_file",
        "passphrase", "passphrase_env", "passphrase_file",
    ]
    static let deviceOnly: Set<String> = ["id", "name", "host", "group", "groups"]

    // MARK: YAML / JSON

    static func parseYAML(_ text: String, file: String) throws(InventoryError) -> RawInventory {
        if let deep = nestingTooDeep(text, limit: InventoryFile.maxNesting) {
            throw InventoryError(
                file: file, line: deep, field: nil,
                message: "lists and mappings nested more than \(InventoryFile.maxNesting) levels deep (an inventory needs 4)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InventoryError(
                file: file, line: Self.line(of: error, in: text) ?? 1, field: nil, message: "not valid YAML/JSON: \(Self.describe(error))")
        } catch {
            throw InventoryError(file: file, line: 1, field: nil, message: "not valid YAML/JSON: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw InventoryError(
                file: file, line: root?.mark?.line ?? 1, field: nil,
                message: "expected a mapping with 'devices' (and optional 'defaults', 'groups')")
        }
        var inventory = RawInventory()
        var seenTop: [String: Int] = [:]
        for (keyNode, value) in top {
            let key = try Self.key(keyNode, file: file, context: "the top level", seen: &seenTop)
            switch key {
            case "defaults":
                inventory.defaults = try entry(value, file: file, context: "defaults", field: "defaults", allowed: inheritable)
            case "groups":
                guard let groups = value.mapping else {
                    throw InventoryError(file: file, line: value.mark?.line, field: "groups", message: "expected a mapping of group name to settings")
                }
                var seenGroups: [String: Int] = [:]
                for (nameNode, groupNode) in groups {
                    let name = try Self.key(nameNode, file: file, context: "groups", seen: &seenGroups, isGroupName: true)
                    inventory.groups[name] = try entry(groupNode, file: file, context: "group \(quoted(name))", field: "groups", allowed: inheritable)
                }
            case "devices":
                guard let list = value.sequence else {
                    throw InventoryError(file: file, line: value.mark?.line, field: "devices", message: "expected a list of devices")
                }
                for node in list {
                    inventory.devices.append(try entry(node, file: file, context: "device", field: "devices", allowed: inheritable.union(deviceOnly)))
                }
            default:
                throw InventoryError(file: file, line: keyNode.mark?.line, field: key, message: "unknown top-level key (expected defaults, groups, devices)")
            }
        }
        return inventory
    }

    /// A mapping key as text; refuses keys that are not plain text, control characters and duplicates.
    private static func key(
        _ node: Node, file: String, context: String, seen: inout [String: Int], isGroupName: Bool = false
    ) throws(InventoryError) -> String {
        let line = node.mark?.line
        guard let scalar = node.scalar, !isNull(node) else {
            throw InventoryError(file: file, line: line, field: nil, message: "\(context): a key must be a name (found \(kind(of: node)))")
        }
        let key = scalar.string
        if let problem = textProblem(key) {
            throw InventoryError(file: file, line: line, field: isGroupName ? "groups" : nil, message: "\(context): key \(quoted(key)) \(problem)")
        }
        if let first = seen[key] {
            throw InventoryError(
                file: file, line: line, field: isGroupName ? "groups" : key,
                message: "\(context): duplicate key \(quoted(key)) (first at line \(first)); each key may appear once")
        }
        seen[key] = line ?? 0
        return key
    }

    /// Whether a node is YAML's null (`~`, `null`, an empty value; not a quoted `""`).
    static func isNull(_ node: Node) -> Bool {
        node.tag.description == "tag:yaml.org,2002:null"
    }

    private static func kind(of node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar: isNull(node) ? "an empty value" : "a value"
        }
    }

    private static func entry(
        _ node: Node, file: String, context: String, field: String, allowed: Set<String>
    ) throws(InventoryError) -> RawEntry {
        guard let mapping = node.mapping else {
            throw InventoryError(file: file, line: node.mark?.line, field: field, message: "\(context): expected a mapping of fields, found \(kind(of: node))")
        }
        var fields: [String: RawValue] = [:]
        var seen: [String: Int] = [:]
        for (keyNode, value) in mapping {
            let key = try Self.key(keyNode, file: file, context: context, seen: &seen)
            guard allowed.contains(key) else {
                throw InventoryError(file: file, line: keyNode.mark?.line, field: key, message: "unknown field in \(context) (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            if key == "groups", let list = value.sequence {
                var names: [String] = []
                for item in list {
                    guard let name = item.scalar?.string, !isNull(item) else {
                        throw InventoryError(file: file, line: item.mark?.line ?? value.mark?.line, field: key, message: "\(context): expected group names, found \(kind(of: item))")
                    }
                    names.append(name)
                }
                fields[key] = RawValue(text: names.joined(separator: ","), line: value.mark?.line)
                continue
            }
            guard let scalar = value.scalar else {
                throw InventoryError(file: file, line: value.mark?.line, field: key, message: "\(context): expected a single value, found \(kind(of: value))")
            }
            if isNull(value) {
                throw InventoryError(
                    file: file, line: keyNode.mark?.line ?? value.mark?.line, field: key,
                    message: "\(context): the value is empty (~ or null); give a value or remove the field")
            }
            fields[key] = RawValue(text: scalar.string, line: value.mark?.line)
        }
        return RawEntry(fields: fields, line: node.mark?.line)
    }

    /// The line where YAML/JSON nesting first exceeds `limit`, or `nil`. Conservative (it may overcount, never
    /// undercount): block indentation levels, compact `- - ` lists and flow brackets outside quotes and comments.
    /// Run before the parser, whose recursion would otherwise follow any depth.
    static func nestingTooDeep(_ text: String, limit: Int) -> Int? {
        let space = UInt8(ascii: " "), dash = UInt8(ascii: "-"), question = UInt8(ascii: "?"), hash = UInt8(ascii: "#")
        let doubleQuote = UInt8(ascii: "\""), singleQuote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        enum Phase { case indent, indicators, indicatorPending, content, comment }
        var indents: [Int] = []
        var flow = 0
        var blockDepth = 0
        var lineNumber = 1
        var phase = Phase.indent
        var column = 0
        var dashes = 0
        var quote: UInt8? = nil
        var previous = space
        var escaped = false
        for byte in text.utf8 {
            if byte == lf || byte == cr {
                if byte == lf { lineNumber += 1 }
                phase = .indent
                column = 0
                quote = nil
                previous = space
                continue
            }
            switch phase {
            case .comment:
                continue
            case .indent:
                if byte == space {
                    column += 1
                    continue
                }
                if byte == hash {
                    phase = .comment
                    continue
                }
                if flow == 0 {
                    while let last = indents.last, last >= column { indents.removeLast() }
                    indents.append(column)
                    dashes = 0
                    blockDepth = indents.count
                    if blockDepth > limit { return lineNumber }
                    phase = .indicators
                } else {
                    phase = .content
                }
            case .indicatorPending:
                if byte == space {
                    // "- " or "? ": an indicator, which opens one more level on this line.
                    dashes += 1
                    blockDepth = indents.count + dashes
                    if blockDepth + flow > limit { return lineNumber }
                    phase = .indicators
                    previous = space
                    continue
                }
                phase = .content
            case .indicators:
                if byte == space { continue }
                if byte == dash || byte == question {
                    phase = .indicatorPending
                    previous = byte
                    continue
                }
                phase = .content
            case .content:
                break
            }
            if let open = quote {
                if escaped {
                    escaped = false
                } else if byte == backslash, open == doubleQuote {
                    escaped = true
                } else if byte == open {
                    quote = nil
                }
            } else if byte == doubleQuote || byte == singleQuote {
                if [space, UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ":"), dash].contains(previous) { quote = byte }
            } else if byte == hash, previous == space || previous == UInt8(ascii: "\t") {
                phase = .comment
            } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                flow += 1
                if blockDepth + flow > limit { return lineNumber }
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                flow = max(0, flow - 1)
            }
            previous = byte
        }
        return nil
    }

    private static func line(of error: YamlError, in text: String) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        case .reader(_, let offset?, _, _): return text.prefix(offset).reduce(1) { $0 + ($1.isNewline ? 1 : 0) }
        default: return nil
        }
    }

    /// The parser's problem, without its quote of the line (which may hold a secret, and spans lines).
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        case .reader(let problem, _, let value, _):
            return value >= 0 ? "\(problem) (U+\(String(value, radix: 16, uppercase: true).leftPadded(to: 4)))" : problem
        case .memory: return "out of memory"
        default: return "the parser failed"
        }
    }

    // MARK: CSV

    /// The lines of `text` with their 1-based numbers; a line break is LF, CRLF or a lone CR.
    static func csvLines(_ text: String) -> [(number: Int, text: String)] {
        var lines: [(Int, String)] = []
        var current: [UInt8] = []
        var number = 1
        var afterCR = false
        for byte in text.utf8 {
            if afterCR {
                afterCR = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                lines.append((number, String(decoding: current, as: UTF8.self)))
                current.removeAll(keepingCapacity: true)
                number += 1
                afterCR = byte == UInt8(ascii: "\r")
            } else {
                current.append(byte)
            }
        }
        lines.append((number, String(decoding: current, as: UTF8.self)))
        return lines
    }

    static func parseCSV(_ text: String, file: String) throws(InventoryError) -> RawInventory {
        var rows: [(line: Int, cells: [String])] = []
        for (number, line) in csvLines(text) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            rows.append((number, try cells(of: line, file: file, line: number)))
        }
        guard let header = rows.first else { throw InventoryError(file: file, line: 1, field: nil, message: "the file is empty (expected a header row)") }
        let allowed = inheritable.union(deviceOnly)
        var seen: Set<String> = []
        for name in header.cells {
            guard allowed.contains(name) else {
                throw InventoryError(file: file, line: header.line, field: name, message: "unknown column (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else {
                throw InventoryError(file: file, line: header.line, field: name, message: "duplicate column; each column may appear once")
            }
        }
        var inventory = RawInventory()
        for row in rows.dropFirst() {
            guard row.cells.count == header.cells.count else {
                throw InventoryError(file: file, line: row.line, field: nil, message: "expected \(header.cells.count) columns, found \(row.cells.count)")
            }
            var fields: [String: RawValue] = [:]
            for (name, value) in zip(header.cells, row.cells) where !value.isEmpty {
                fields[name] = RawValue(text: value, line: row.line)
            }
            inventory.devices.append(RawEntry(fields: fields, line: row.line))
        }
        return inventory
    }

    /// Splits one CSV line (RFC 4180 quoting; a field may not span lines).
    private static func cells(of line: String, file: String, line number: Int) throws(InventoryError) -> [String] {
        var cells: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let char = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if char == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(char)
                }
            } else if char == "\"" && current.trimmingCharacters(in: .whitespaces).isEmpty {
                current = ""
                quoted = true
            } else if char == "," {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(char)
            }
        }
        if quoted { throw InventoryError(file: file, line: number, field: nil, message: "unterminated quoted field (a field may not span lines)") }
        cells.append(current.trimmingCharacters(in: .whitespaces))
        return cells
    }

    // MARK: Resolution

    func resolve(
        file: String, knownVendors: Set<String>?, requireUniqueNames: Bool, environment: [String: String]
    ) throws(InventoryError) -> InventoryFile {
        if devices.isEmpty { throw InventoryError(file: file, line: 1, field: "devices", message: "no devices") }
        // Group names and settings that are not secrets must be plain text (secrets are never quoted in errors).
        for (name, group) in groups {
            if let problem = textProblem(name) {
                throw InventoryError(file: file, line: group.line, field: "groups", message: "group name \(quoted(name)) \(problem)")
            }
            try Self.checkPlainFields(group, file: file, context: "group \(quoted(name))")
        }
        try Self.checkPlainFields(defaults, file: file, context: "defaults")
        var result: [Device] = []
        result.reserveCapacity(devices.count)
        var credentials: [DeviceID: Credentials] = [:]
        var seen: [DeviceID: Int?] = [:]
        var seenNames: [String: (id: DeviceID, line: Int?)] = [:]
        for entry in devices {
            try Self.checkPlainFields(entry, file: file, context: "device")
            var effective = defaults.fields
            let groupNames = (entry.fields["groups"]?.text ?? entry.fields["group"]?.text ?? "")
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for name in groupNames {
                guard let group = groups[name] else {
                    let field = entry.fields["groups"] != nil ? "groups" : "group"
                    throw InventoryError(file: file, line: entry.fields[field]?.line ?? entry.line, field: field,
                                         message: "unknown group \(quoted(name)) (defined: \(groups.keys.sorted().map { quoted($0) }.joined(separator: ", ")))")
                }
                effective.merge(group.fields) { _, new in new }
            }
            effective.merge(entry.fields) { _, new in new }
            func value(_ key: String) -> RawValue? { effective[key] }
            func fail(_ key: String?, _ message: String) -> InventoryError {
                InventoryError(file: file, line: key.flatMap { effective[$0]?.line } ?? entry.line, field: key, message: message)
            }
            guard let idText = value("id")?.text else { throw fail("id", "device without 'id'") }
            if let problem = nameProblem(idText) { throw fail("id", "device id \(quoted(idText)) \(problem)") }
            let id = DeviceID(idText)
            if let previous = seen[id] {
                throw fail("id", "duplicate device id \(idText) (first at line \(previous.map(String.init) ?? "?"))")
            }
            seen[id] = value("id")?.line
            guard let host = value("host")?.text, !host.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail("host", "device \(quoted(idText)) has no host")
            }
            if host.utf8.count > 253 || host.contains(where: \.isWhitespace) {
                throw fail("host", "\(quoted(host)) is not a host name or address (no spaces, at most 253 bytes)")
            }
            let name: String
            if let given = value("name")?.text {
                if let problem = nameProblem(given) { throw fail("name", "device name \(quoted(given)) \(problem)") }
                name = given
            } else {
                if let problem = nameProblem(host) {
                    throw fail("host", "the host \(quoted(host)), used as the device name when 'name' is not given, \(problem)")
                }
                name = host
            }
            if requireUniqueNames {
                if let previous = seenNames[name] {
                    throw fail(
                        value("name") != nil ? "name" : "host",
                        "duplicate device name \(quoted(name)) (also device \(quoted(previous.id.rawValue)) at line \(previous.line.map(String.init) ?? "?")); "
                            + "the archive names each device's file after its name, so names must be unique")
                }
                seenNames[name] = (id, entry.line)
            }
            var port = 22
            if let text = value("port")?.text {
                guard let parsed = Int(text), (1...65535).contains(parsed) else { throw fail("port", "\(quoted(text)) is not a port (1–65535)") }
                port = parsed
            }
            guard let vendor = value("vendor")?.text, !vendor.isEmpty else {
                throw fail("vendor", "device \(quoted(idText)) has no vendor (set it on the device, its group or the defaults)")
            }
            if let knownVendors, !knownVendors.contains(vendor) {
                throw fail("vendor", "unknown vendor \(quoted(vendor)) (known: \(knownVendors.sorted().joined(separator: ", ")))")
            }
            var status = DeviceStatus.online
            if let text = value("status")?.text {
                guard let parsed = DeviceStatus(rawValue: text) else { throw fail("status", "\(quoted(text)) is not a status (online, offline, maintenance)") }
                status = parsed
            }
            guard let username = value("username")?.text, !username.isEmpty else {
                throw fail("username", "device \(quoted(name)) has no username (set 'username' on the device, its group or the defaults)")
            }
            result.append(Device(id: id, name: name, host: host, port: port, vendor: vendor, status: status, groups: groupNames))

            func secret(_ base: String, aliases: [String] = []) throws(InventoryError) -> Secret? {
                for key in [base] + aliases {
                    if let inline = effective[key] { return Secret(inline.text) }
                    if let env = effective[key + "_env"] {
                        guard let found = environment[env.text], !found.isEmpty else {
                            throw fail(key + "_env", "environment variable \(env.text) is not set (needed by device \(quoted(name)))")
                        }
                        return Secret(found)
                    }
                    if let path = effective[key + "_file"] {
                        guard let data = FileManager.default.contents(atPath: path.text) else {
                            throw fail(key + "_file", "cannot read \(quoted(path.text)) (needed by device \(quoted(name))); check the path and its permissions")
                        }
                        let first = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
                        return Secret(String(first.hasSuffix("\r") ? first.dropLast() : first))
                    }
                }
                return nil
            }
            credentials[id] = Credentials(
                username: username, password: try secret("password"),
                privateKey: value("private_key_file").map { .file(path: $0.text) }, passphrase: try secret("passphrase"),
                enableSecret: try secret("enable_password", aliases: ["enable_secret"]))
        }
        return InventoryFile(devices: result, credentials: credentials)
    }

    /// Fields whose values are never secrets: checked for control characters (secrets are not checked, so they are
    /// never quoted in an error).
    static let plainFields: Set<String> = [
        "id", "name", "host", "port", "vendor", "status", "group", "groups", "username", "password_env", "password_file",
        "enable_password_env", "enable_password_file", "enable_secret_env", "private_key_file", "passphrase_env", "passphrase_file",
    ]

    private static func checkPlainFields(_ entry: RawEntry, file: String, context: String) throws(InventoryError) {
        for (key, value) in entry.fields where plainFields.contains(key) {
            if let problem = textProblem(value.text) {
                throw InventoryError(file: file, line: value.line ?? entry.line, field: key, message: "\(context): the value \(quoted(value.text)) \(problem)")
            }
        }
    }
}

/// What is wrong with a value used as a device id or name, or `nil`.
func nameProblem(_ text: String) -> String? {
    if text.trimmingCharacters(in: .whitespaces).isEmpty { return "is empty" }
    if let problem = textProblem(text) { return problem }
    if text.utf8.count > InventoryFile.maxNameBytes {
        return "is \(text.utf8.count) bytes long; the limit is \(InventoryFile.maxNameBytes) (it becomes a file name)"
    }
    return nil
}

/// "holds a control character …" when `text` has a newline, tab, other control character or line separator.
func textProblem(_ text: String) -> String? {
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator:
            return "holds a control character (U+\(String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4))); remove it"
        default:
            continue
        }
    }
    return nil
}

/// `text` in single quotes for a message: control characters escaped, long values shortened.
func quoted(_ text: String) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == 80 {
            out += "…"
            break
        }
        count += 1
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "'": out += "\\'"
        default:
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator, .format:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return "'" + out + "'"
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
