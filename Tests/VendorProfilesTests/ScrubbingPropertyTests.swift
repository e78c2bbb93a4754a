import BackupSupport
import Foundation
import Testing

@testable import VendorProfiles


/// Secret rules remove secrets and nothing else: random configuration lines that hold no secret — key
/// numbers, descriptions that merely mention passwords, interface names, key-chain names, URLs with a port —
/// come out of every built-in profile's scrubbing (stored backups, with sections) and of the quoting of
/// error messages (all rules, no sections) unchanged.
@Suite("Secret rules never touch lines without secrets")
struct ScrubbingPropertyTests {
    /// A line template; `vendors` limits it to the profiles whose syntax it belongs to (`nil`: every one).
    struct Template {
        let text: String
        let vendors: Set<String>?

        init(_ text: String, only vendors: Set<String>? = nil) {
            self.text = text
            self.vendors = vendors
        }
    }

    static let templates: [Template] = [
        Template("hostname {name}"), Template("sysname {name}"), Template("interface {if}"),
        Template("{indent}description password-reset-portal"), Template("{indent}description {desc}"),
        Template("{indent}description uplink to {name} {if}"), Template("{indent}key {n}"), Template("key chain {NAME}"),
        Template("{indent}key-chain {NAME}"), Template("{indent}ip address {ip} 255.255.255.0"),
        Template("{indent}ipv4 address {ip}/{len}"), Template("{indent}switchport access vlan {n}"),
        Template("{indent}switchport mode trunk"), Template("vlan {n}"), Template("ntp server {ip} key {n}"),
        Template("ntp trusted-key {n}"), Template("ntp authenticate"), Template("snmp-server location {word}"),
        Template("snmp-server contact noc@example.net"), Template("snmp-server host {ip} use-vrf management", only: ["cisco_nxos"]),
        Template("snmp-server enable traps {word}"), Template("{indent}standby {n} ip {ip}"),
        Template("{indent}standby {n} priority {n}"), Template("{indent}standby {n} authentication md5 key-chain {NAME}"),
        Template("{indent}vrrp {n} ip {ip}"), Template("{indent}vrrp {n} authentication md5 key-chain {NAME}"),
        Template("{indent}ip ospf authentication message-digest"), Template("{indent}ip ospf cost {n}"),
        Template("router ospf {n}"), Template("{indent}network {ip} 0.0.0.255 area {n}"),
        Template("{indent}ppp authentication chap"), Template("{indent}ppp chap hostname {name}"),
        Template("{indent}ip nhrp network-id {n}"), Template("{indent}ip nhrp nhs {ip}"),
        Template("mpls ldp router-id Loopback0 force"), Template("mpls ldp neighbor {ip} targeted ldp"),
        Template("{indent}authentication key-chain {NAME} level-2"), Template("{indent}authentication mode md5 level-2"),
        Template("{indent}authentication key-management wpa version 2"), Template("service password-encryption"),
        Template("aaa new-model"), Template("aaa authentication login default group tacacs+ local"),
        Template("ip ftp username {name}"), Template("ip ftp source-interface Loopback{n}"), Template("ip scp server enable"),
        Template("crypto isakmp policy {n}"), Template("{indent}authentication pre-share"),
        Template("crypto isakmp keepalive {n}"), Template("logging host {ip}"), Template("ip domain-name example.net"),
        Template("{indent}url http://{ip}:{n}/{word}"), Template("{indent}url https://{name}.example.net:{n}/{word}@{word}"),
        Template("{indent}url scp://{name}@{ip}/{word}"), Template("archive path flash:{word}"),
        Template("stp mode rstp"), Template("{indent}port link-type trunk"), Template("user-interface vty 0 4"),
        Template("{indent}protocol inbound ssh"), Template("{indent}authentication-mode aaa"),
        Template("{indent}set allowaccess ping https ssh"), Template("{indent}set alias \"{word}\""),
        Template("{indent}edit \"port{n}\""), Template("next"), Template("!"), Template("#"), Template(""),
        Template("nameserver {ip}"), Template("127.0.0.1 localhost {name}"), Template("{name}:x:{n}:{n}::/home/{name}:/bin/sh"),
        Template("{indent}from community {NAME};", only: ["juniper_junos"]),
        Template("{indent}community add {NAME};", only: ["juniper_junos"]),
        Template("{indent}community {NAME} members 65000:{n};", only: ["juniper_junos"]),
        Template("{indent}then accept;", only: ["juniper_junos", "paloalto_panos"]),
    ]

    /// Lines that are secret-free only with their section in view: stored backups only.
    static let sectionTemplates: [Template] = [
        Template("{indent}community {NAME};", only: ["juniper_junos"]),
        Template("set [ find default-name=ether{n} ] comment={word}", only: ["mikrotik_routeros"]),
        Template("{indent}set name \"{word}\"", only: ["fortinet_fortios"]),
    ]

    static let interfaces = [
        "GigabitEthernet{a}/{b}/{c}", "TenGigabitEthernet{a}/{b}", "Ethernet{a}/{b}", "Port-channel{n}", "Vlan{n}",
        "ge-{a}/{b}/{c}", "xe-{a}/{b}/{c}.{n}", "GigabitEthernet{a}/{b}/{c}/{c}", "10GE{a}/{b}/{c}", "Loopback{n}",
        "mgmt0", "Tunnel{n}", "Dialer{n}",
    ]
    static let words = [
        "password", "reset", "portal", "key", "secret", "community", "uplink", "core", "server", "backup", "lab", "ops",
        "7", "0", "md5", "text", "encrypted", "simple", "plain",
    ]

    static let placeholders = ["{indent}", "{name}", "{NAME}", "{desc}", "{word}", "{ip}", "{len}", "{n}", "{a}", "{b}", "{c}"]

    static func value(of placeholder: String, _ random: inout SplitMix64) -> String {
        func pick(_ options: [String]) -> String { options.randomElement(using: &random)! }
        func number(_ range: ClosedRange<Int>) -> String { String(Int.random(in: range, using: &random)) }
        switch placeholder {
        case "{indent}": return pick(["", " ", "  ", "    "])
        case "{name}": return pick(["core-sw", "r", "edge", "dc1-leaf", "fw"]) + number(1...99)
        case "{NAME}": return pick(["OSPF-KEYS", "HSRP", "ISIS-KEYS", "CUSTOMERS", "VRRP-KC", "BGP_PEERS"])
        case "{desc}": return (0..<Int.random(in: 1...4, using: &random)).map { _ in pick(words) }.joined(separator: "-")
        case "{word}": return pick(["DC1", "row4", "config", "backup.cfg", "uplink", "snmp", "portal"])
        case "{ip}": return "10.\(number(0...255)).\(number(0...255)).\(number(1...254))"
        case "{len}": return number(8...32)
        case "{n}": return number(0...65535)
        case "{a}", "{b}": return number(0...9)
        default: return number(0...48)
        }
    }

    static func fill(_ template: String, _ random: inout SplitMix64) -> String {
        var text = template
        // Interface names first: they hold placeholders of their own. Then in a fixed order, so a seed
        // always gives the same lines.
        while let range = text.range(of: "{if}") {
            text.replaceSubrange(range, with: interfaces.randomElement(using: &random)!)
        }
        for placeholder in placeholders {
            while let range = text.range(of: placeholder) {
                text.replaceSubrange(range, with: value(of: placeholder, &random))
            }
        }
        return text
    }

    static func lines(for vendor: String, from templates: [Template], count: Int, seed: UInt64) -> [String] {
        var random = SplitMix64(seed: seed)
        let usable = templates.filter { $0.vendors?.contains(vendor) ?? true }
        return (0..<count).map { _ in fill(usable.randomElement(using: &random)!.text, &random) }
    }

    static func seed(_ vendor: String) -> UInt64 { vendor.utf8.reduce(0x5EED) { $0 &* 31 &+ UInt64($1) } }

    @Test("stored backups: scrubbing leaves secret-free configurations byte for byte", arguments: VendorProfile.builtIn.map(\.name))
    func storedBackups(vendor: String) throws {
        let lines = Self.lines(
            for: vendor, from: Self.templates + Self.sectionTemplates, count: 3000, seed: Self.seed(vendor))
        let profile = try CompiledProfile(try #require(VendorProfile.builtIn.first { $0.name == vendor }))
        // 30 configurations of 100 lines; a non-blank first and last line, as trimming would drop blanks.
        for chunk in stride(from: 0, to: lines.count, by: 100) {
            let text = (["hostname start"] + lines[chunk..<min(chunk + 100, lines.count)] + ["end"]).joined(separator: "\n") + "\n"
            var scrubbed = ConfigAssembler(profile: profile, scrubSecrets: true, deviceName: "d1")
            scrubbed.add(text, of: ScrubbingRuleTests.configCommand)
            var kept = ConfigAssembler(profile: profile, scrubSecrets: false, deviceName: "d1")
            kept.add(text, of: ScrubbingRuleTests.configCommand)
            if scrubbed.text != kept.text {
                let changed = zip(ConfigAssembler.lines(kept.text), ConfigAssembler.lines(scrubbed.text)).first { $0 != $1 }
                Issue.record("\(vendor) altered a line without a secret: \(String(describing: changed))")
                return
            }
        }
    }

    /// Quotes ignore sections, so a sectioned rule may blank a word out of its context (a RouterOS `name=`)
    /// on purpose; every other rule must leave a secret-free line alone there too.
    @Test("error messages: quoting leaves secret-free lines unchanged", arguments: VendorProfile.builtIn.map(\.name))
    func quotedLines(vendor: String) throws {
        var unsectioned = try #require(VendorProfile.builtIn.first { $0.name == vendor })
        unsectioned.secretRules.removeAll { $0.sectionStart != nil }
        let profile = try CompiledProfile(unsectioned)
        for line in Self.lines(for: vendor, from: Self.templates, count: 1500, seed: Self.seed(vendor) ^ 0xABCD) {
            #expect(profile.scrubbedForQuoting(line) == line, "\(vendor): \(line)")
            #expect(
                profile.quote(line, credentials: nil, limit: .max) == line.trimmingCharacters(in: .whitespaces),
                "\(vendor): \(line)")
        }
        // The lines the issue names.
        for line in [" key 1", "  key 1", " description password-reset-portal", "key 1"] {
            #expect(profile.scrubbedForQuoting(line) == line, "\(vendor): \(line)")
        }
    }

    @Test("required literals of secret patterns", arguments: [
        (#"^\s+ip ospf (?:a|b) (?<secret>\S+)"#, "ip ospf "),
        (#"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:"']+:(?<secret>[^@]+)@"#, "://"),
        (#"^crypto isakmp key (?:[06] )?(?<secret>\S+) (?:address|hostname)\b"#, "crypto isakmp key "),
        (#"^ab?cdef"#, "cdef"), (#"^abc+d"#, "abc"), (#"x{2,3}yz"#, "yz"), (#"^enable\.secret\s"#, "enable.secret"),
        (#"[a-z]{1,5}key"#, "key"), (#"(?:aaaa)?bb"#, "bb"), (#"a[)(]bb"#, "bb"), (#"(?<secret>%\^%#.*?%\^%#)"#, "%^%#"),
        (#"ab(?:cd)ef"#, "abcdef"), (#"(?:x|yyyyyy)zz"#, "zz"), (#"(?=abcdef)ab"#, "ab"), (#"k(?:ey)+s"#, "key"),
    ])
    func requiredLiterals(source: String, literal: String) {
        #expect(Pattern.requiredLiteral(of: source) == Array(literal.utf8))
    }

    @Test("no required literal where none is certain", arguments: [#"a|b"#, #"(?i)password \S+"#, #"\d+"#, #"(?x) a b"#, #"\Qa b\E"#])
    func noRequiredLiteral(source: String) {
        #expect(Pattern.requiredLiteral(of: source) == nil)
    }

    /// The rule's regex on every line, without the literal prefilter.
    static func applyWithoutPrefilter(_ rule: CompiledProfile.CompiledSecretRule, _ line: String) -> String {
        let mutable = NSMutableString(string: line)
        for match in rule.pattern.regex.matches(in: line, range: NSRange(line.startIndex..., in: line)).reversed() {
            var range = match.range
            if rule.pattern.hasGroup(named: "secret") {
                range = match.range(withName: "secret")
                if range.location == NSNotFound { continue }
            }
            mutable.replaceCharacters(in: range, with: rule.replacement)
        }
        return String(mutable)
    }

    @Test("the literal prefilter never changes what a rule does", arguments: VendorProfile.builtIn.map(\.name))
    func prefilterAgrees(vendor: String) throws {
        let profile = try CompiledProfile(try #require(VendorProfile.builtIn.first { $0.name == vendor }))
        let secretLines = ScrubbingRuleTests.cases.flatMap { $0.input.split(separator: "\n").map(String.init) }
        let lines = Self.lines(for: vendor, from: Self.templates + Self.sectionTemplates, count: 500, seed: 7) + secretLines
        for rule in profile.secretRules {
            for line in lines {
                #expect(rule.apply(to: line) == Self.applyWithoutPrefilter(rule, line), "\(rule.pattern.source): \(line)")
            }
        }
        // Every built-in rule has a literal to skip most lines with (scrubbing stays cheap).
        for rule in profile.secretRules { #expect(rule.requiredLiteral != nil, "\(vendor): \(rule.pattern.source)") }
    }

    @Test("the generator is deterministic and varied")
    func generator() {
        let first = Self.lines(for: "cisco_ios", from: Self.templates, count: 200, seed: 42)
        #expect(first == Self.lines(for: "cisco_ios", from: Self.templates, count: 200, seed: 42))
        #expect(Set(first).count > 150)
        #expect(first.contains { $0.hasSuffix("key-chain OSPF-KEYS") || $0.contains(" key ") })
    }
}
