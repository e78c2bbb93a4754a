import BackupModels
import BackupServerKit
import Foundation
import Testing

/// The server's devices file is checked strictly at start (issue 11).
@Suite struct ServerInventoryTests {
    static let environment = ["BACKUP_PASSWORD": "s3cret-default", "CORE_PASSWORD": "s3cret-core"]

    func load(_ text: String, name: String = "devices.yaml") throws -> (ServerInventory, String) {
        let directory = try temporaryDirectory()
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (try ServerInventory.load(path: path, environment: Self.environment), path)
    }

    func loadError(_ text: String) throws -> (String, String) {
        let directory = try temporaryDirectory()
        let path = directory + "/devices.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: InventoryLoadError.self) { try ServerInventory.load(path: path, environment: Self.environment) }
        let message = error?.description ?? ""
        #expect(!message.contains("s3cret"), "no secret in errors")
        return (message, path)
    }

    static let credentials = """
        credentials:
          default: { username: backup, password_env: BACKUP_PASSWORD }
          core: { username: admin, password_env: CORE_PASSWORD }

        """

    @Test func aValidFileLoadsAndEachDeviceGetsItsOwnCredentials() async throws {
        let (inventory, _) = try load(Self.credentials + """
            devices:
              - { id: 1, name: core-sw1, host: 192.0.2.10, port: 22, vendor: cisco_ios, status: online, groups: [core], credentials_ref: core }
              - { id: 2, name: edge-fw1, host: 192.0.2.11, vendor: fortinet_fortios }
            """)
        let devices = try await inventory.devices()
        #expect(devices.map(\.name) == ["core-sw1", "edge-fw1"])
        #expect(try await inventory.credentials(for: devices[0]).username == "admin")
        #expect(try await inventory.credentials(for: devices[1]).username == "backup")
    }

    /// Every field the library's `Device` writes is a field the file accepts (the allowed list cannot drift).
    @Test func everyDeviceFieldIsAccepted() throws {
        let device = Device(id: 7, name: "x", host: "192.0.2.7", port: 2222, vendor: "cisco_ios", status: .maintenance, groups: ["a"], credentialsRef: "core")
        let json = String(decoding: try JSONEncoder.deviceBackup().encode(device), as: UTF8.self)
        let (inventory, _) = try load(Self.credentials + "devices:\n  - " + json + "\n")
        #expect(inventory.deviceList == [device])
    }

    @Test(arguments: [
        ("  - { id: 1, name: core-sw1, host: h, vendor: cisco_ios, credential_ref: core }", "device core-sw1", "credential_ref"),
        ("  - { id: 1, name: core-sw1, host: h, vendor: cisco_ios, prot: 2222 }", "device core-sw1", "prot"),
    ])
    func unknownDeviceKeyIsRejectedNamingFileAndDevice(line: String, device: String, key: String) throws {
        let (message, path) = try loadError(Self.credentials + "devices:\n" + line + "\n")
        #expect(message.hasPrefix(path + ":"))
        #expect(message.contains(device) && message.contains("'\(key)'"), "\(message)")
    }

    @Test func unknownCredentialsAndTopLevelKeysAreRejected() throws {
        let (credentialsMessage, path) = try loadError("""
            credentials:
              default: { username: backup, pasword_env: BACKUP_PASSWORD }
            devices:
              - { id: 1, name: a, host: h, vendor: cisco_ios }
            """)
        #expect(credentialsMessage.hasPrefix(path + ":") && credentialsMessage.contains("credentials 'default'") && credentialsMessage.contains("'pasword_env'"))
        let (topMessage, _) = try loadError(Self.credentials + """
            device:
              - { id: 1, name: a, host: h, vendor: cisco_ios }
            devices: []
            """)
        #expect(topMessage.contains("'device'"), "\(topMessage)")
    }

    /// A typo in `credentials_ref` used to fall back to `default` silently: the device logged in with the
    /// wrong account.
    @Test func credentialsRefNamingNoCredentialsIsRejected() throws {
        let (message, path) = try loadError(Self.credentials + """
            devices:
              - { id: 1, name: core-sw1, host: h, vendor: cisco_ios, credentials_ref: coer }
            """)
        #expect(message.hasPrefix(path + ":"))
        #expect(message.contains("core-sw1") && message.contains("'coer'") && message.contains("core, default"), "\(message)")
        let (noDefault, _) = try loadError("""
            credentials:
              core: { username: admin, password_env: CORE_PASSWORD }
            devices:
              - { id: 1, name: edge-fw1, host: h, vendor: cisco_ios }
            """)
        #expect(noDefault.contains("edge-fw1") && noDefault.contains("default"))
    }
}
