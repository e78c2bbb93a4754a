import BackupExecutor
import BackupModels
import Foundation
import Yams

/// A devices file for real devices (YAML or JSON), read once at start:
///
/// ```yaml
/// credentials:                       # by name; `default` is used by devices without credentials_ref
///   default: { username: backup, password_env: BACKUP_PASSWORD }
///   core:    { username: admin, private_key_file: /etc/backup/id_ed25519, enable_secret_env: CORE_ENABLE }
/// devices:                           # the library's Device fields
///   - { id: 1, name: core-sw1, host: 192.0.2.10, vendor: cisco_ios, credentials_ref: core }
///   - { id: 2, name: edge-fw1, host: edge-fw1.example.net, port: 2222, vendor: fortinet_fortios, status: online }
/// ```
///
/// Secrets never sit in the file: `password_env`, `passphrase_env` and `enable_secret_env` name environment
/// variables (or `*_file` a file whose first line is the secret). Errors name the file and the problem,
/// never a secret.
///
/// The file is checked strictly at start: an unknown key anywhere (a typo such as `credential_ref`) and a
/// `credentials_ref` that names no entry of `credentials` are errors naming the file and the device — a
/// typo never silently falls back to `default`. `default` is used only by devices without `credentials_ref`.
public struct ServerInventory: DeviceInventory {
    public let deviceList: [Device]
    private let credentialsByRef: [String: Credentials]

    public func devices() async throws -> [Device] { deviceList }

    public func credentials(for device: Device) async throws -> Credentials {
        if let credentials = credentialsByRef[device.credentialsRef ?? "default"] {
            return credentials
        }
        throw BackupError(
            .authFailed, "The inventory has no credentials for device \(device.name).",
            hint: "Add credentials '\(device.credentialsRef ?? "default")' to the inventory file.")
    }

    struct File: Decodable {
        var credentials: [String: CredentialsEntry]?
        var devices: [Device]

        static let keys: Set<String> = ["credentials", "devices"]
    }

    /// The keys a device entry may have: the library's `Device` fields.
    static let deviceKeys: Set<String> = ["id", "name", "host", "port", "vendor", "status", "groups", "credentials_ref"]

    struct CredentialsEntry: Decodable {
        var username: String
        var passwordEnv: String?
        var passwordFile: String?
        var privateKeyFile: String?
        var passphraseEnv: String?
        var passphraseFile: String?
        var enableSecretEnv: String?
        var enableSecretFile: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case username
            case passwordEnv = "password_env"
            case passwordFile = "password_file"
            case privateKeyFile = "private_key_file"
            case passphraseEnv = "passphrase_env"
            case passphraseFile = "passphrase_file"
            case enableSecretEnv = "enable_secret_env"
            case enableSecretFile = "enable_secret_file"
        }

        static let keys: Set<String> = Set(CodingKeys.allCases.map(\.rawValue))
    }

    /// Loads `path`; `environment` is where `*_env` names are looked up.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerInventory {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw InventoryLoadError("\(path): cannot read the file")
        }
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch {
            throw InventoryLoadError("\(path): \(error)")
        }
        try checkKeys(text, path: path)
        var ids: Set<DeviceID> = []
        for device in file.devices where !ids.insert(device.id).inserted {
            throw InventoryLoadError("\(path): device id \(device.id) appears twice")
        }
        var credentials: [String: Credentials] = [:]
        for (name, entry) in file.credentials ?? [:] {
            func secret(env: String?, file secretFile: String?, field: String) throws -> Secret? {
                if let env {
                    guard let value = environment[env], !value.isEmpty else {
                        throw InventoryLoadError("\(path): credentials '\(name)': \(field)_env names \(env), which is not set")
                    }
                    return Secret(value)
                }
                if let secretFile {
                    guard let data = FileManager.default.contents(atPath: secretFile),
                        let line = String(data: data, encoding: .utf8)?.split(separator: "\n", omittingEmptySubsequences: false).first
                    else {
                        throw InventoryLoadError("\(path): credentials '\(name)': cannot read \(field)_file \(secretFile)")
                    }
                    return Secret(String(line))
                }
                return nil
            }
            credentials[name] = Credentials(
                username: entry.username,
                password: try secret(env: entry.passwordEnv, file: entry.passwordFile, field: "password"),
                privateKey: entry.privateKeyFile.map { .file(path: $0) },
                passphrase: try secret(env: entry.passphraseEnv, file: entry.passphraseFile, field: "passphrase"),
                enableSecret: try secret(env: entry.enableSecretEnv, file: entry.enableSecretFile, field: "enable_secret"))
        }
        let defined = credentials.keys.sorted().joined(separator: ", ")
        for device in file.devices {
            if let ref = device.credentialsRef {
                if credentials[ref] == nil {
                    throw InventoryLoadError(
                        "\(path): device \(device.name) (id \(device.id)) has credentials_ref '\(ref)', which the file does not define"
                            + " (defined: \(defined.isEmpty ? "none" : defined))")
                }
            } else if credentials["default"] == nil {
                throw InventoryLoadError(
                    "\(path): device \(device.name) (id \(device.id)) has no credentials_ref and the file defines no 'default' credentials")
            }
        }
        return ServerInventory(deviceList: file.devices, credentialsByRef: credentials)
    }
}

extension ServerInventory {
    /// Rejects keys the decoder would silently ignore: at the top, in each credentials entry, in each device.
    fileprivate static func checkKeys(_ text: String, path: String) throws {
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw InventoryLoadError("\(path): \(error)")
        }
        func keys(_ node: Any?) -> [String]? {
            if let map = node as? [String: Any] { return Array(map.keys) }
            if let map = node as? [AnyHashable: Any] { return map.keys.map { ($0.base as? String) ?? "\($0.base)" } }
            return nil
        }
        func value(_ node: Any?, _ key: String) -> Any? {
            if let map = node as? [String: Any] { return map[key] }
            if let map = node as? [AnyHashable: Any] { return map[AnyHashable(key)] }
            return nil
        }
        func unknown(_ found: [String]?, allowed: Set<String>) -> String? {
            found?.filter { !allowed.contains($0) }.sorted().first
        }
        func known(_ allowed: Set<String>) -> String { allowed.sorted().joined(separator: ", ") }
        if let key = unknown(keys(root), allowed: File.keys) {
            throw InventoryLoadError("\(path): unknown top-level key '\(key)' (known: \(known(File.keys)))")
        }
        if let credentials = value(root, "credentials"), let names = keys(credentials) {
            for name in names.sorted() {
                if let key = unknown(keys(value(credentials, name)), allowed: CredentialsEntry.keys) {
                    throw InventoryLoadError("\(path): credentials '\(name)': unknown key '\(key)' (known: \(known(CredentialsEntry.keys)))")
                }
            }
        }
        if let devices = value(root, "devices") as? [Any] {
            for (index, device) in devices.enumerated() {
                if let key = unknown(keys(device), allowed: deviceKeys) {
                    let name = value(device, "name").map { "\($0)" } ?? "#\(index + 1)"
                    throw InventoryLoadError(
                        "\(path): device \(name) (devices[\(index)]): unknown key '\(key)' (known: \(known(deviceKeys)))")
                }
            }
        }
    }
}

/// An inventory file that cannot be used; the message names the file and never contains a secret.
public struct InventoryLoadError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
