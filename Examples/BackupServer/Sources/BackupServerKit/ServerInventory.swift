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
public struct ServerInventory: DeviceInventory {
    public let deviceList: [Device]
    private let credentialsByRef: [String: Credentials]

    public func devices() async throws -> [Device] { deviceList }

    public func credentials(for device: Device) async throws -> Credentials {
        if let credentials = credentialsByRef[device.credentialsRef ?? "default"] ?? credentialsByRef["default"] {
            return credentials
        }
        throw BackupError(
            .authFailed, "The inventory has no credentials for device \(device.name).",
            hint: "Add credentials '\(device.credentialsRef ?? "default")' to the inventory file.")
    }

    struct File: Decodable {
        var credentials: [String: CredentialsEntry]?
        var devices: [Device]
    }

    struct CredentialsEntry: Decodable {
        var username: String
        var passwordEnv: String?
        var passwordFile: String?
        var privateKeyFile: String?
        var passphraseEnv: String?
        var passphraseFile: String?
        var enableSecretEnv: String?
        var enableSecretFile: String?

        enum CodingKeys: String, CodingKey {
            case username
            case passwordEnv = "password_env"
            case passwordFile = "password_file"
            case privateKeyFile = "private_key_file"
            case passphraseEnv = "passphrase_env"
            case passphraseFile = "passphrase_file"
            case enableSecretEnv = "enable_secret_env"
            case enableSecretFile = "enable_secret_file"
        }
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
        for device in file.devices {
            let ref = device.credentialsRef ?? "default"
            if credentials[ref] == nil && credentials["default"] == nil {
                throw InventoryLoadError("\(path): device \(device.name) uses credentials '\(ref)', which the file does not define")
            }
        }
        return ServerInventory(deviceList: file.devices, credentialsByRef: credentials)
    }
}

/// An inventory file that cannot be used; the message names the file and never contains a secret.
public struct InventoryLoadError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
