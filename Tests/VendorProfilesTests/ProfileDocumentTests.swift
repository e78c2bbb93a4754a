import BackupModels
import DeviceTransport
import Foundation
import Testing

@testable import VendorProfiles

@Suite("Profiles as data, registry, retriever preparation")
struct ProfileDocumentTests {
    static let userJSON = #"""
        {
          "name": "acme_os",
          "description": "ACME switch OS",
          "prompt": "^(?<hostname>[\\w.-]+)[>#] ?$",
          "session_commands": ["no paging"],
          "pagers": [{ "pattern": "^\\s*<more>\\s*$", "send": " " }],
          "commands": [
            { "command": "show config", "timeout_seconds": 90 },
            { "command": "show serial", "kind": "comment", "optional": true }
          ],
          "error_patterns": ["^% "],
          "volatile_lines": ["^# generated at "],
          "secret_rules": [{ "pattern": "^secret (?<secret>\\S+)", "replacement": "<hidden>" }],
          "truncation_guard": { "last_line": "^# end$", "minimum_lines": 2 },
          "comment_prefix": "# ",
          "algorithms": { "kex": ["diffie-hellman-group14-sha1"], "ciphers": ["aes128-cbc"] },
          "logout_commands": ["logout"]
        }
        """#

    static let userYAML = #"""
        - name: acme_yaml
          prompt: '^(?<hostname>[\w.-]+)> ?$'
          commands:
            - show config
          volatile_lines:
            - '^# generated at '
          comment_prefix: '# '
        """#

    static func acmeScript() -> DeviceScript {
        var script = DeviceScript()
        script.send("ACME OS 2.1\r\nacme1#")
        script.command("no paging", reply: "acme1#")
        script.command(
            "show config",
            reply: crlf("# generated at 2024-01-01 10:00\nhostname acme1\nsecret Hunter2\n# end\n") + "acme1#")
        script.command("show serial", reply: "SN 1234\r\nacme1#")
        return script
    }

    @Test func userProfileFromJSONFileBacksUpADevice() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("acme.json")
        try Data(Self.userJSON.utf8).write(to: file)

        let registry = VendorProfileRegistry()
        #expect(try registry.registerProfiles(fromFile: file.path) == ["acme_os"])
        #expect(registry.names.contains("acme_os"))
        #expect(registry.names.contains("cisco_ios"))
        let profile = try #require(registry.profile(named: "acme_os"))
        #expect(profile.commands[0].timeoutSeconds == 90)
        #expect(profile.commands[1].kind == .comment)
        #expect(profile.enable == nil)
        #expect(profile.mode == .shell)
        #expect(profile.echoesCommands)

        let run = await Harness.shell(vendor: "acme_os", script: Self.acmeScript(), scrub: true, registry: registry)
        #expect(try run.config == "hostname acme1\nsecret <hidden>\n# end\n# SN 1234\n")
        #expect(try #require(run.shell).writesAfterScript == "logout\n")
        #expect(try #require(run.shell).idleTimeouts.contains(.seconds(90)))
    }

    @Test func sectionedSecretRuleAppliesOnlyInsideItsSection() async throws {
        let json = #"""
            {
              "name": "acme_sections",
              "prompt": "^(?<hostname>[\\w.-]+)[>#] ?$",
              "commands": ["show config"],
              "secret_rules": [
                { "pattern": "name=(?<secret>\\S+)", "section_start": "^/snmp community$", "section_end": "^/" }
              ]
            }
            """#
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        try registry.registerProfiles(from: Data(json.utf8), format: .json)
        var script = DeviceScript()
        script.send("acme1#")
        script.command(
            "show config",
            reply: crlf("/port\nset 0 name=serial0\n/snmp community\nadd addresses=0.0.0.0/0 name=Comm-S3cret\nset [ find default=yes ] name=Other-S3cret\n/system identity\nset name=acme1\n") + "acme1#")
        let run = await Harness.shell(vendor: "acme_sections", script: script, scrub: true, registry: registry)
        #expect(
            try run.config
                == "/port\nset 0 name=serial0\n/snmp community\nadd addresses=0.0.0.0/0 name=<removed>\nset [ find default=yes ] name=<removed>\n/system identity\nset name=acme1\n")

        var invalid = VendorProfile.ciscoIOS
        invalid.secretRules = [SecretRule("key (?<secret>\\S+)", sectionEnd: "^exit$")]
        #expect(throws: VendorProfileError.self) { try registry.register(invalid) }
        let encoded = try JSONEncoder().encode(SecretRule("x", sectionStart: "^a$", sectionEnd: "^b$"))
        #expect(try JSONDecoder().decode(SecretRule.self, from: encoded) == SecretRule("x", sectionStart: "^a$", sectionEnd: "^b$"))
        #expect(String(decoding: encoded, as: UTF8.self).contains("section_start"))
    }

    @Test func userProfilesFromYAML() throws {
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        #expect(try registry.registerProfiles(from: Data(Self.userYAML.utf8), format: .yaml) == ["acme_yaml"])
        let profile = try #require(registry.profile(named: "acme_yaml"))
        #expect(profile.prompt == #"^(?<hostname>[\w.-]+)> ?$"#)
        #expect(profile.commands == [BackupCommand("show config")])
        #expect(profile.volatileLines == ["^# generated at "])
        #expect(profile.commentPrefix == "# ")
        #expect(VendorProfile.DocumentFormat(path: "x.yml") == .yaml)
        #expect(VendorProfile.DocumentFormat(path: "x.JSON") == .json)
        #expect(VendorProfile.DocumentFormat(path: "x.txt") == nil)
    }

    /// The YAML example of ``VendorProfile``'s documentation decodes as documented.
    @Test func documentedYAMLExampleDecodes() throws {
        let yaml = #"""
            name: acme_os
            prompt: '^(?<hostname>[\w.-]+)[>#] ?$'
            session_commands: ['terminal length 0']
            pagers: [{ pattern: '^\s*--More--\s*$', send: ' ' }]
            commands: ['show running-config']
            volatile_lines: ['^! Last configuration change at ']
            truncation_guard: { last_line: '^end$', minimum_lines: 3 }
            """#
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        try registry.registerProfiles(from: Data(yaml.utf8), format: .yaml)
        let profile = try #require(registry.profile(named: "acme_os"))
        #expect(profile.pagers == [Interaction(pattern: #"^\s*--More--\s*$"#, send: " ")])
        #expect(profile.truncationGuard == TruncationGuard(lastLine: "^end$", minimumLines: 3))
        #expect(profile.sessionCommands == ["terminal length 0"])
    }

    @Test func unknownKeysAreRejected() throws {
        let json = ##"{ "name": "x", "prompt": "#$", "commands": ["show"], "volatile_line": ["a"] }"##
        #expect {
            try VendorProfile.decodeDocument(Data(json.utf8), format: .json)
        } throws: { error in
            String(describing: error).contains("volatile_line")
        }
        let nested = ##"{ "name": "x", "prompt": "#$", "commands": [{ "command": "show", "optinal": true }] }"##
        #expect(throws: DecodingError.self) { try VendorProfile.decodeDocument(Data(nested.utf8), format: .json) }
    }

    @Test func invalidProfilesNameTheField() throws {
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        var profile = VendorProfile(name: "bad", prompt: "#$", commands: [BackupCommand("show")])
        profile.volatileLines = ["ok", "(unclosed"]
        #expect(throws: VendorProfileError(profile: "bad", field: "volatile_lines[1]", message: "invalid regular expression (unclosed")) {
            try registry.register(profile)
        }
        profile.volatileLines = []
        profile.commands = []
        #expect(throws: VendorProfileError.self) { try registry.register(profile) }
        profile.commands = [BackupCommand("show")]
        profile.prompt = ""
        #expect(throws: VendorProfileError.self) { try registry.register(profile) }
        profile.mode = .exec
        try registry.register(profile)  // exec profiles need no prompt
        // A document with one bad profile registers nothing.
        let document = ##"[{ "name": "good", "prompt": "#$", "commands": ["a"] }, { "name": "worse", "prompt": "(", "commands": ["a"] }]"##
        #expect(throws: VendorProfileError.self) {
            try registry.registerProfiles(from: Data(document.utf8), format: .json)
        }
        #expect(registry.profile(named: "good") == nil)
    }

    @Test func builtInNamesAreTheOnesInventoriesUse() {
        let expected = [
            "cisco_ios", "cisco_nxos", "cisco_iosxr", "cisco_asa", "juniper_junos", "arista_eos", "huawei_vrp",
            "h3c_comware", "hp_procurve", "aruba_aoscx", "mikrotik_routeros", "fortinet_fortios", "paloalto_panos",
            "dell_os6", "ruijie_rgos", "linux",
        ]
        #expect(VendorProfile.builtIn.map(\.name) == expected)
        #expect(VendorProfileRegistry().names == expected.sorted())
        #expect(VendorProfileRegistry(includingBuiltIns: false).names == [])
    }

    @Test(arguments: VendorProfile.builtIn.map(\.name))
    func builtInsRoundTripThroughJSONAndYAML(name: String) throws {
        let profile = try #require(VendorProfile.builtIn.first { $0.name == name })
        for format in VendorProfile.DocumentFormat.allCases {
            let data = try profile.encodedDocument(format: format)
            let decoded = try VendorProfile.decodeDocument(data, format: format)
            #expect(decoded == [profile], "\(format)")
        }
    }

    @Test func unknownVendorListsKnownNames() throws {
        let retriever = ProfileConfigRetriever()
        var target = ConnectionTarget(device: Harness.device(vendor: "acme_os"), hostKeyPolicy: .acceptAnyUnsafe)
        #expect {
            try retriever.prepare(&target, for: Harness.device(vendor: "acme_os"))
        } throws: { error in
            guard let error = error as? BackupError else { return false }
            return error.code == .unknownVendor && error.message.contains("acme_os")
                && error.hint?.contains("cisco_ios") == true && error.hint?.contains("linux") == true
        }
    }

    @Test func unknownVendorAtRetrievalToo() async throws {
        let run = await Harness.shell(vendor: "no_such_os", script: DeviceScript())
        #expect(run.error?.code == .unknownVendor)
    }

    @Test func prepareFillsAlgorithmsTheTargetLeavesUnset() throws {
        var legacy = VendorProfile.ciscoIOS
        legacy.name = "cisco_ios_legacy"
        legacy.algorithms = .legacyNetworkGear
        let registry = VendorProfileRegistry()
        try registry.register(legacy)
        let retriever = ProfileConfigRetriever(registry: registry)
        let device = Harness.device(vendor: "cisco_ios_legacy")

        var target = ConnectionTarget(device: device, hostKeyPolicy: .acceptAnyUnsafe)
        target.algorithms.ciphers = ["aes256-ctr"]  // set per device: kept
        try retriever.prepare(&target, for: device)
        #expect(target.algorithms.keyExchange?.contains("diffie-hellman-group14-sha1") == true)
        #expect(target.algorithms.hostKey?.contains("ssh-rsa") == true)
        #expect(target.algorithms.ciphers == ["aes256-ctr"])
        #expect(target.algorithms.macs?.contains("hmac-sha1") == true)

        var modern = ConnectionTarget(device: Harness.device(vendor: "cisco_ios"), hostKeyPolicy: .acceptAnyUnsafe)
        try retriever.prepare(&modern, for: Harness.device(vendor: "cisco_ios"))
        #expect(modern.algorithms == AlgorithmPreferences())
    }

    @Test func registeringUnderAnExistingNameReplacesIt() async throws {
        let registry = VendorProfileRegistry()
        var custom = VendorProfile.ciscoIOS
        custom.commands = [BackupCommand("show running-config view full")]
        try registry.register(custom)
        #expect(registry.profile(named: "cisco_ios")?.commands == [BackupCommand("show running-config view full")])
        #expect(registry.remove(named: "cisco_ios"))
        #expect(registry.profile(named: "cisco_ios") == nil)
    }

    @Test func learntPromptPatterns() {
        #expect(
            PromptLearning.learntPattern(from: #"^(?<hostname>[\w.-]+)(?:\([^)]*\))?[>#] ?$"#, hostname: "sw.lab")
                == #"(?<hostname>sw\.lab)(?:\([^)]*\))?[>#] ?$"#)
        #expect(
            PromptLearning.learntPattern(from: #"^<(?<hostname>[\w.@/:-]{1,63})>\s?$"#, hostname: "HUAWEI")
                == #"<(?<hostname>HUAWEI)>\s?$"#)
        // Character classes holding parentheses and escaped brackets do not confuse the group's end.
        #expect(
            PromptLearning.learntPattern(from: #"\[(?<hostname>[^\])(]+)\]\s*>\s*$"#, hostname: "admin@MikroTik")
                == #"\[(?<hostname>admin@MikroTik)\]\s*>\s*$"#)
        #expect(PromptLearning.learntPattern(from: #"^[\w.-]+[>#]$"#, hostname: "x") == nil)
    }
}
