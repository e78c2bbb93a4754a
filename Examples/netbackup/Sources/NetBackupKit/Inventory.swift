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
        if let field { text += "field '\(field)': " }
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
/// one device per row; groups and defaults come from `groups`/`defaults` given to the loader.
///
/// Secrets come from `password`, `password_env` (an environment variable) or `password_file` (a file whose
/// first line is the secret), and likewise `enable_password…` and `passphrase…`; `private_key_file` names a
/// key file. Unknown fields, missing hosts, bad ports, statuses or vendors, duplicate ids and unset
/// environment variables are errors naming the file, the line and the field.
public struct InventoryFile: DeviceInventory {
    public let devices: [Device]
    private let credentialsByID: [DeviceID: Credentials]

    public init(devices: [Device], credentials: [DeviceID: Credentials]) {
        self.devices = devices
        self.credentialsByID = credentials
    }

    public func devices() async throws -> [Device] { devices }

    public func credentials(for device: Device) async throws -> Credentials {
        guard let credentials = credentialsByID[device.id] else {
            throw BackupError(.authFailed, "The inventory has no credentials for device \(device.name).", hint: "Set username and password (or a key) for it, its group or the defaults.")
        }
        return credentials
    }

    /// Loads `path` (format by extension: .yaml/.yml, .json, .csv).
    ///
    /// - Parameters:
    ///   - knownVendors: vendor profile names accepted; `nil` accepts any.
    ///   - environment: where `*_env` fields are looked up.
    public static func load(
        path: String, knownVendors: Set<String>? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(InventoryError) -> InventoryFile {
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InventoryError(file: path, line: nil, field: nil, message: "cannot read the file (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InventoryError(file: path, line: nil, field: nil, message: "the file is not UTF-8 text")
        }
        let raw: RawInventory
        switch (name as NSString).pathExtension.lowercased() {
        case "csv": raw = try RawInventory.parseCSV(text, file: path)
        case "yaml", "yml", "json": raw = try RawInventory.parseYAML(text, file: path)
        default:
            throw InventoryError(file: path, line: nil, field: nil, message: "unknown inventory format; use .yaml, .yml, .json or .csv")
        }
        return try raw.resolve(file: path, knownVendors: knownVendors, environment: environment)
    }

    /// Parses inventory text in the given format ("yaml", "json" or "csv").
    public static func parse(
        _ text: String, format: String, file: String = "<inventory>", knownVendors: Set<String>? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(InventoryError) -> InventoryFile {
        let raw = format.lowercased() == "csv" ? try RawInventory.parseCSV(text, file: file) : try RawInventory.parseYAML(text, file: file)
        return try raw.resolve(file: file, knownVendors: knownVendors, environment: environment)
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
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InventoryError(file: file, line: Self.line(of: error), field: nil, message: "not valid YAML/JSON: \(Self.describe(error))")
        } catch {
            throw InventoryError(file: file, line: nil, field: nil, message: "not valid YAML/JSON: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw InventoryError(file: file, line: root?.mark?.line, field: nil, message: "expected a mapping with 'devices' (and optional 'defaults', 'groups')")
        }
        var inventory = RawInventory()
        for (keyNode, value) in top {
            let key = keyNode.string ?? ""
            switch key {
            case "defaults":
                inventory.defaults = try entry(value, file: file, context: "defaults", allowed: inheritable)
            case "groups":
                guard let groups = value.mapping else {
                    throw InventoryError(file: file, line: value.mark?.line, field: "groups", message: "expected a mapping of group name to settings")
                }
                for (nameNode, groupNode) in groups {
                    let name = nameNode.string ?? ""
                    inventory.groups[name] = try entry(groupNode, file: file, context: "group \(name)", allowed: inheritable)
                }
            case "devices":
                guard let list = value.sequence else {
                    throw InventoryError(file: file, line: value.mark?.line, field: "devices", message: "expected a list of devices")
                }
                for node in list {
                    inventory.devices.append(try entry(node, file: file, context: "device", allowed: inheritable.union(deviceOnly)))
                }
            default:
                throw InventoryError(file: file, line: keyNode.mark?.line, field: key, message: "unknown top-level key (expected defaults, groups, devices)")
            }
        }
        return inventory
    }

    private static func entry(_ node: Node, file: String, context: String, allowed: Set<String>) throws(InventoryError) -> RawEntry {
        guard let mapping = node.mapping else {
            throw InventoryError(file: file, line: node.mark?.line, field: nil, message: "\(context): expected a mapping of fields")
        }
        var fields: [String: RawValue] = [:]
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            guard allowed.contains(key) else {
                throw InventoryError(file: file, line: keyNode.mark?.line, field: key, message: "unknown field in \(context) (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            if key == "groups", let list = value.sequence {
                fields[key] = RawValue(text: list.compactMap(\.string).joined(separator: ","), line: value.mark?.line)
                continue
            }
            guard let scalar = value.scalar else {
                throw InventoryError(file: file, line: value.mark?.line, field: key, message: "expected a single value")
            }
            fields[key] = RawValue(text: scalar.string, line: value.mark?.line)
        }
        return RawEntry(fields: fields, line: node.mark?.line)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }

    // MARK: CSV

    static func parseCSV(_ text: String, file: String) throws(InventoryError) -> RawInventory {
        var rows: [(line: Int, cells: [String])] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            rows.append((index + 1, try cells(of: String(line), file: file, line: index + 1)))
        }
        guard let header = rows.first else { throw InventoryError(file: file, line: nil, field: nil, message: "the file is empty") }
        let allowed = inheritable.union(deviceOnly)
        for name in header.cells where !allowed.contains(name) {
            throw InventoryError(file: file, line: header.line, field: name, message: "unknown column (allowed: \(allowed.sorted().joined(separator: ", ")))")
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
        var iterator = Array(line).makeIterator()
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
            } else if char == "\"" && current.isEmpty {
                quoted = true
            } else if char == "," {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(char)
            }
        }
        if quoted { throw InventoryError(file: file, line: number, field: nil, message: "unterminated quoted field") }
        cells.append(current.trimmingCharacters(in: .whitespaces))
        return cells
    }

    // MARK: Resolution

    func resolve(file: String, knownVendors: Set<String>?, environment: [String: String]) throws(InventoryError) -> InventoryFile {
        if devices.isEmpty { throw InventoryError(file: file, line: nil, field: "devices", message: "no devices") }
        var result: [Device] = []
        var credentials: [DeviceID: Credentials] = [:]
        var seen: [DeviceID: Int?] = [:]
        for entry in devices {
            var effective = defaults.fields
            let groupNames = (entry.fields["groups"]?.text ?? entry.fields["group"]?.text ?? "")
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for name in groupNames {
                guard let group = groups[name] else {
                    let field = entry.fields["groups"] != nil ? "groups" : "group"
                    throw InventoryError(file: file, line: entry.fields[field]?.line ?? entry.line, field: field,
                                         message: "unknown group '\(name)' (defined: \(groups.keys.sorted().joined(separator: ", ")))")
                }
                effective.merge(group.fields) { _, new in new }
            }
            effective.merge(entry.fields) { _, new in new }
            func value(_ key: String) -> RawValue? { effective[key] }
            func fail(_ key: String?, _ message: String) -> InventoryError {
                InventoryError(file: file, line: key.flatMap { effective[$0]?.line } ?? entry.line, field: key, message: message)
            }
            guard let idText = value("id")?.text, !idText.isEmpty else { throw fail(nil, "device without 'id'") }
            let id = DeviceID(idText)
            guard let host = value("host")?.text, !host.isEmpty else { throw fail("host", "device \(id) has no host") }
            if let previous = seen[id] {
                throw fail("id", "duplicate device id \(id) (first at line \(previous.map(String.init) ?? "?"))")
            }
            seen[id] = value("id")?.line
            var port = 22
            if let text = value("port")?.text {
                guard let parsed = Int(text), (1...65535).contains(parsed) else { throw fail("port", "'\(text)' is not a port (1–65535)") }
                port = parsed
            }
            guard let vendor = value("vendor")?.text, !vendor.isEmpty else {
                throw fail("vendor", "device \(id) has no vendor (set it on the device, its group or the defaults)")
            }
            if let knownVendors, !knownVendors.contains(vendor) {
                throw fail("vendor", "unknown vendor '\(vendor)' (known: \(knownVendors.sorted().joined(separator: ", ")))")
            }
            var status = DeviceStatus.online
            if let text = value("status")?.text {
                guard let parsed = DeviceStatus(rawValue: text) else { throw fail("status", "'\(text)' is not a status (online, offline, maintenance)") }
                status = parsed
            }
            let name = value("name")?.text ?? host
            result.append(Device(id: id, name: name, host: host, port: port, vendor: vendor, status: status, groups: groupNames))

            func secret(_ base: String, aliases: [String] = []) throws(InventoryError) -> Secret? {
                for key in [base] + aliases {
                    if let inline = effective[key] { return Secret(inline.text) }
                    if let env = effective[key + "_env"] {
                        guard let found = environment[env.text], !found.isEmpty else {
                            throw fail(key + "_env", "environment variable \(env.text) is not set (needed by device \(name))")
                        }
                        return Secret(found)
                    }
                    if let path = effective[key + "_file"] {
                        guard let data = FileManager.default.contents(atPath: path.text) else {
                            throw fail(key + "_file", "cannot read \(path.text) (needed by device \(name))")
                        }
                        let first = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
                        return Secret(String(first))
                    }
                }
                return nil
            }
            if let username = value("username")?.text {
                credentials[id] = Credentials(
                    username: username, password: try secret("password"),
                    privateKey: value("private_key_file").map { .file(path: $0.text) }, passphrase: try secret("passphrase"),
                    enableSecret: try secret("enable_password", aliases: ["enable_secret"]))
            }
        }
        return InventoryFile(devices: result, credentials: credentials)
    }
}
