import BackupModels
import Foundation
import NetBackupKit
import Testing

@Suite("Inventory files")
struct InventoryTests {
    let sample = """
    defaults: { username: netops, password_env: NET_PASSWORD, port: 22 }
    groups:
      core: { vendor: cisco_ios, enable_password_env: NET_ENABLE }
    devices:
      - { id: 1, name: core-sw1, host: core-sw1.example.net, group: core, status: online }
      - { id: 2, name: edge-fw1, host: edge-fw1.example.net, port: 2222, vendor: fortinet_fortios, password: inline-ok-too }
    """
    let env = ["NET_PASSWORD": "from-env", "NET_ENABLE": "enable-from-env"]

    @Test("the issue's YAML shape loads with defaults and groups inherited")
    func yamlShape() async throws {
        let inventory = try InventoryFile.parse(sample, format: "yaml", environment: env)
        let devices = try await inventory.devices()
        #expect(devices.map(\.id) == [1, 2])
        #expect(devices[0].vendor == "cisco_ios" && devices[0].port == 22 && devices[0].groups == ["core"])
        #expect(devices[1].vendor == "fortinet_fortios" && devices[1].port == 2222)
        let c1 = try await inventory.credentials(for: devices[0])
        #expect(c1.username == "netops" && c1.password?.reveal() == "from-env" && c1.enableSecret?.reveal() == "enable-from-env")
        let c2 = try await inventory.credentials(for: devices[1])
        #expect(c2.password?.reveal() == "inline-ok-too" && c2.enableSecret == nil)
    }

    @Test("JSON and CSV describe the same devices")
    func jsonAndCSV() async throws {
        let json = #"{"defaults": {"username": "u", "password": "p", "vendor": "linux"}, "devices": [{"id": "web1", "host": "192.0.2.1"}, {"id": 7, "host": "::1", "port": 2200}]}"#
        let fromJSON = try await InventoryFile.parse(json, format: "json").devices()
        #expect(fromJSON.map(\.id) == ["web1", 7])
        #expect(fromJSON[0].name == "192.0.2.1")
        let csv = "id,name,host,port,vendor,username,password\n1,r1,10.0.0.1,22,cisco_ios,admin,\"pa,ss\"\"word\"\n# comment\n2,r2,10.0.0.2,,juniper_junos,admin,x\n"
        let fromCSV = try InventoryFile.parse(csv, format: "csv")
        let devices = try await fromCSV.devices()
        #expect(devices.map(\.vendor) == ["cisco_ios", "juniper_junos"])
        #expect(try await fromCSV.credentials(for: devices[0]).password?.reveal() == "pa,ss\"word")
        #expect(devices[1].port == 22)
    }

    @Test("bad inventories are rejected with file, line and field", arguments: [
        ("devices:\n  - { id: 1, host: h, vendor: cisco_ios, prot: 22 }\n", 2, "prot", "unknown field"),
        ("devices:\n  - { id: 1, host: h, vendor: cisco_ios, username: u }\n  - { id: 2, host: h2, vendor: cisco_ios, port: 70000 }\n", 3, "port", "not a port"),
        ("devices:\n  - { id: 1, host: h, vendor: acme_os }\n", 2, "vendor", "unknown vendor 'acme_os'"),
        ("devices:\n  - { id: 1, host: h, vendor: cisco_ios, status: broken }\n", 2, "status", "not a status"),
        ("devices:\n  - { id: 1, vendor: cisco_ios }\n", 2, "host", "has no host"),
        ("devices:\n  - { id: 1, host: a, vendor: cisco_ios, username: u }\n  - { id: 1, host: b, vendor: cisco_ios }\n", 3, "id", "duplicate device id 1"),
        ("devices:\n  - { id: 1, host: a, vendor: cisco_ios, group: nope }\n", 2, "group", "unknown group 'nope'"),
        ("devices:\n  - { id: 1, host: a, vendor: cisco_ios, username: u, password_env: MISSING_VAR }\n", 2, "password_env", "MISSING_VAR is not set"),
        ("devices: [ { id: 1, host: a\n", 2, nil, "not valid YAML"),
    ] as [(String, Int, String?, String)])
    func rejected(text: String, line: Int, field: String?, message: String) throws {
        let error = #expect(throws: InventoryError.self) {
            try InventoryFile.parse(text, format: "yaml", file: "inv.yaml", knownVendors: ["cisco_ios", "juniper_junos"], environment: [:])
        }
        #expect(error?.file == "inv.yaml")
        #expect(error?.line == line)
        #expect(error?.field == field)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("errors never contain secret values")
    func noSecretInErrors() throws {
        let text = "devices:\n  - { id: 1, host: a, vendor: cisco_ios, username: u, password: SECRET-INLINE-77, port: x }\n"
        let error = #expect(throws: InventoryError.self) { try InventoryFile.parse(text, format: "yaml", environment: [:]) }
        #expect(error?.description.contains("SECRET-INLINE-77") == false)
    }

    @Test("CSV errors name the line and column")
    func csvErrors() throws {
        let error = #expect(throws: InventoryError.self) { try InventoryFile.parse("id,host,vendor,colour\n1,a,linux,red\n", format: "csv", file: "d.csv") }
        #expect(error?.line == 1 && error?.field == "colour")
        let short = #expect(throws: InventoryError.self) { try InventoryFile.parse("id,host,vendor\n1,a\n", format: "csv", file: "d.csv") }
        #expect(short?.line == 2)
    }
}
