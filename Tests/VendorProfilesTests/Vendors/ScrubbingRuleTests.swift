import Foundation
import Testing

@testable import VendorProfiles

/// A configuration excerpt and what scrubbing must make of it: the same lines, only the secrets replaced.
struct ScrubCase: Sendable, CustomTestStringConvertible {
    let vendor: String
    let what: String
    let input: String
    let expected: String

    init(_ vendor: String, _ what: String, _ input: String, _ expected: String) {
        self.vendor = vendor
        self.what = what
        self.input = input
        self.expected = expected
    }

    var testDescription: String { "\(vendor): \(what)" }
}

/// Each secret form the built-in profiles once missed (issue 11), written as the platform shows it. The
/// syntax of each form is cited next to its rule in BuiltInProfiles.swift.
@Suite("Secret rules of the built-in profiles")
struct ScrubbingRuleTests {
    /// `text` as a scrubbed backup of one configuration command of `vendor` gives it.
    static func scrub(_ vendor: String, _ text: String, scrubSecrets: Bool = true) throws -> String {
        let profile = try CompiledProfile(try #require(VendorProfile.builtIn.first { $0.name == vendor }))
        var assembler = ConfigAssembler(profile: profile, scrubSecrets: scrubSecrets, deviceName: "d1")
        assembler.add(text + "\n", of: configCommand)
        return assembler.text
    }

    /// A configuration command without header or volatile lines of its own.
    static let configCommand = CompiledProfile.CompiledCommand(
        command: BackupCommand("show running-config"), volatileLines: [], timeout: nil)

    static let cases: [ScrubCase] = [
        // Cisco IOS / IOS-XE
        ScrubCase(
            "cisco_ios", "crypto isakmp key with type 6: the key, not the type",
            "crypto isakmp key 6 Ik3SecretKeyValue address 192.0.2.1",
            "crypto isakmp key 6 <removed> address 192.0.2.1"),
        ScrubCase(
            "cisco_ios", "crypto isakmp key without a type",
            "crypto isakmp key Ik3Plain address 0.0.0.0 0.0.0.0\ncrypto isakmp key 0 Ik3Zero hostname peer.example.net",
            "crypto isakmp key <removed> address 0.0.0.0 0.0.0.0\ncrypto isakmp key 0 <removed> hostname peer.example.net"),
        ScrubCase(
            "cisco_ios", "ppp chap password",
            "interface Dialer1\n ppp authentication chap callin\n ppp chap hostname branch1\n ppp chap password 7 0822455D0A16",
            "interface Dialer1\n ppp authentication chap callin\n ppp chap hostname branch1\n ppp chap password 7 <removed>"),
        ScrubCase(
            "cisco_ios", "ppp pap sent-username … password",
            "interface Dialer1\n ppp pap sent-username branch1 password 0 PapS3cret",
            "interface Dialer1\n ppp pap sent-username branch1 password 0 <removed>"),
        ScrubCase(
            "cisco_ios", "wpa-psk",
            "dot11 ssid CORP\n authentication key-management wpa version 2\n wpa-psk ascii 7 070C285F4D06",
            "dot11 ssid CORP\n authentication key-management wpa version 2\n wpa-psk ascii 7 <removed>"),
        ScrubCase(
            "cisco_ios", "ntp authentication-key (type after the key)",
            "ntp authentication-key 1 md5 104D000A0618 7\nntp trusted-key 1\nntp server 10.0.0.1 key 1",
            "ntp authentication-key 1 md5 <removed> 7\nntp trusted-key 1\nntp server 10.0.0.1 key 1"),
        ScrubCase(
            "cisco_ios", "ip ftp password", "ip ftp username backup\nip ftp password 7 0822455D0A16",
            "ip ftp username backup\nip ftp password 7 <removed>"),
        ScrubCase(
            "cisco_ios", "server-private … key",
            "aaa group server radius ISE\n server-private 10.0.0.5 auth-port 1812 acct-port 1813 key 7 0822455D0A16\n server-private 10.0.0.6 key Pr1vKey",
            "aaa group server radius ISE\n server-private 10.0.0.5 auth-port 1812 acct-port 1813 key 7 <removed>\n server-private 10.0.0.6 key <removed>"),
        ScrubCase(
            "cisco_ios", "mpls ldp neighbor … password",
            "mpls ldp neighbor 10.0.0.2 password 7 0822455D0A16\nmpls ldp neighbor vrf RED 10.0.0.3 password LdpPlain",
            "mpls ldp neighbor 10.0.0.2 password 7 <removed>\nmpls ldp neighbor vrf RED 10.0.0.3 password <removed>"),
        ScrubCase(
            "cisco_ios", "vrrp … authentication (key-chain names kept)",
            "interface Vlan20\n vrrp 1 ip 10.0.20.1\n vrrp 1 authentication text Vr3pKey\n vrrp 2 authentication md5 key-string 7 0822455D0A16\n vrrp 3 authentication md5 key-chain VRRP-KEYS",
            "interface Vlan20\n vrrp 1 ip 10.0.20.1\n vrrp 1 authentication text <removed>\n vrrp 2 authentication md5 key-string 7 <removed>\n vrrp 3 authentication md5 key-chain VRRP-KEYS"),
        ScrubCase(
            "cisco_ios", "standby authentication text (the word after 'text' is the key)",
            "interface Vlan30\n standby 1 authentication text Hsrp7extKey\n standby 2 authentication md5 key-chain HSRP-KEYS",
            "interface Vlan30\n standby 1 authentication text <removed>\n standby 2 authentication md5 key-chain HSRP-KEYS"),
        ScrubCase(
            "cisco_ios", "IS-IS area-password / domain-password",
            "router isis CORE\n net 49.0001.0000.0000.0001.00\n area-password Ar3aPw authenticate snp validate\n domain-password D0mainPw",
            "router isis CORE\n net 49.0001.0000.0000.0001.00\n area-password <removed> authenticate snp validate\n domain-password <removed>"),
        ScrubCase(
            "cisco_ios", "ip nhrp authentication",
            "interface Tunnel0\n ip nhrp authentication NhrpK3y\n ip nhrp network-id 1",
            "interface Tunnel0\n ip nhrp authentication <removed>\n ip nhrp network-id 1"),
        ScrubCase(
            "cisco_ios", "scp:// credentials",
            "archive\n path scp://backup:Arch1vePw@192.0.2.9/configs/$h\nip http client source-interface Vlan1",
            "archive\n path scp://backup:<removed>@192.0.2.9/configs/$h\nip http client source-interface Vlan1"),
        ScrubCase(
            "cisco_ios", "key chain: ' key 1' is a key number and stays",
            "key chain OSPF-KEYS\n key 1\n  key-string 7 0822455D0A16\n key 2\n  key-string PlainK3y\n key 12345",
            "key chain OSPF-KEYS\n key 1\n  key-string 7 <removed>\n key 2\n  key-string <removed>\n key 12345"),
        ScrubCase(
            "cisco_ios", "tacacs server: typed, plain and numeric keys",
            "tacacs server TAC1\n address ipv4 10.0.0.5\n key 7 0832494D1B1C11\n!\ntacacs server TAC2\n key T4cPlain\n!\nradius server R1\n key 12345\n!\nkey chain K\n key 3",
            "tacacs server TAC1\n address ipv4 10.0.0.5\n key 7 <removed>\n!\ntacacs server TAC2\n key <removed>\n!\nradius server R1\n key <removed>\n!\nkey chain K\n key 3"),
        // Cisco NX-OS
        ScrubCase(
            "cisco_nxos", "key-chain key-string 7",
            "key chain KC1\n  key 1\n    key-string 7 070c285f4d06\n  key 2\n    key-string Plain2Key",
            "key chain KC1\n  key 1\n    key-string 7 <removed>\n  key 2\n    key-string <removed>"),
        ScrubCase(
            "cisco_nxos", "OSPF keys",
            "interface Ethernet1/1\n  ip ospf authentication-key 3 3b9a3d2d8a1b\n  ip ospf message-digest-key 1 md5 3 4c0a1d2e3f\n  ip ospf authentication message-digest",
            "interface Ethernet1/1\n  ip ospf authentication-key 3 <removed>\n  ip ospf message-digest-key 1 md5 3 <removed>\n  ip ospf authentication message-digest"),
        ScrubCase(
            "cisco_nxos", "HSRP authentication",
            "interface Vlan10\n  hsrp 10\n    authentication md5 key-string Hsrp5Key\n  hsrp 20\n    authentication text HsrpTxt\n  hsrp 30\n    authentication md5 key-chain HSRP-KC",
            "interface Vlan10\n  hsrp 10\n    authentication md5 key-string <removed>\n  hsrp 20\n    authentication text <removed>\n  hsrp 30\n    authentication md5 key-chain HSRP-KC"),
        ScrubCase(
            "cisco_nxos", "snmp-server host … 2c COMMUNITY (use-vrf lines and v3 users kept)",
            "snmp-server host 10.0.0.1 traps version 2c Tr4pComm udp-port 162\nsnmp-server host 10.0.0.1 use-vrf management\nsnmp-server host 10.0.0.2 informs version 3 priv monitor",
            "snmp-server host 10.0.0.1 traps version 2c <removed> udp-port 162\nsnmp-server host 10.0.0.1 use-vrf management\nsnmp-server host 10.0.0.2 informs version 3 priv monitor"),
        // Cisco IOS-XR
        ScrubCase(
            "cisco_iosxr", "password encrypted",
            "router bgp 65000\n neighbor 10.0.0.2\n  remote-as 65001\n  password encrypted 13061E010803",
            "router bgp 65000\n neighbor 10.0.0.2\n  remote-as 65001\n  password encrypted <removed>"),
        ScrubCase(
            "cisco_iosxr", "authentication-key encrypted",
            "router ospf 1\n area 0\n  interface GigabitEthernet0/0/0/0\n   authentication-key encrypted 1511021F0725\n   message-digest-key 1 md5 encrypted 0822455D0A16",
            "router ospf 1\n area 0\n  interface GigabitEthernet0/0/0/0\n   authentication-key encrypted <removed>\n   message-digest-key 1 md5 encrypted <removed>"),
        ScrubCase(
            "cisco_iosxr", "key-string password (key number kept)",
            "key chain ISIS-KEYS\n key 1\n  key-string password 08701E1D5D4C53404A52\n  cryptographic-algorithm HMAC-MD5",
            "key chain ISIS-KEYS\n key 1\n  key-string password <removed>\n  cryptographic-algorithm HMAC-MD5"),
        ScrubCase(
            "cisco_iosxr", "SNMPv3 encrypted keys",
            "snmp-server user monitor ops v3 auth sha encrypted 1402181E0A17 priv aes 128 encrypted 0822455D0A16",
            "snmp-server user monitor ops v3 auth sha encrypted <removed> priv aes 128 encrypted <removed>"),
        // Juniper Junos
        ScrubCase(
            "juniper_junos", "community without a block, only in the snmp stanza",
            """
            snmp {
                location "DC1";
                community public;
                community "ops team";
                community private {
                    authorization read-write;
                }
            }
            policy-options {
                community CUSTOMERS members 65000:100;
                policy-statement P {
                    term t {
                        from {
                            protocol bgp;
                            community CUSTOMERS;
                        }
                        then accept;
                    }
                }
            }
            """,
            """
            snmp {
                location "DC1";
                community <removed>;
                community <removed>;
                community <removed> {
                    authorization read-write;
                }
            }
            policy-options {
                community CUSTOMERS members 65000:100;
                policy-statement P {
                    term t {
                        from {
                            protocol bgp;
                            community CUSTOMERS;
                        }
                        then accept;
                    }
                }
            }
            """),
        // Huawei VRP
        ScrubCase(
            "huawei_vrp", "password simple",
            "aaa\n local-user admin password simple Hu4weiPw\n local-user admin service-type ssh",
            "aaa\n local-user admin password simple <removed>\n local-user admin service-type ssh"),
        ScrubCase(
            "huawei_vrp", "pre-shared-key simple", "ike peer HQ\n pre-shared-key simple Ik3Psk\n remote-address 192.0.2.1",
            "ike peer HQ\n pre-shared-key simple <removed>\n remote-address 192.0.2.1"),
        ScrubCase(
            "huawei_vrp", "super password … simple", "super password level 3 simple SuperPw1",
            "super password level 3 simple <removed>"),
        ScrubCase(
            "huawei_vrp", "OSPF plain",
            "interface GigabitEthernet0/0/1\n ospf authentication-mode md5 1 plain Osp4Key\n#\nospf 1\n area 0.0.0.0\n  authentication-mode simple plain AreaPw\n  network 10.0.0.0 0.0.0.255",
            "interface GigabitEthernet0/0/1\n ospf authentication-mode md5 1 plain <removed>\n#\nospf 1\n area 0.0.0.0\n  authentication-mode simple plain <removed>\n  network 10.0.0.0 0.0.0.255"),
        // Arista EOS
        ScrubCase(
            "arista_eos", "ntp authentication-key", "ntp authentication-key 1 md5 7 0207165218120E\nntp trusted-key 1",
            "ntp authentication-key 1 md5 7 <removed>\nntp trusted-key 1"),
        ScrubCase(
            "arista_eos", "ip ospf authentication-key 7",
            "interface Ethernet1\n   ip ospf authentication-key 7 asdfASDF==\n   ip ospf message-digest-key 1 md5 7 qwerQWER==\n   ip ospf network point-to-point",
            "interface Ethernet1\n   ip ospf authentication-key 7 <removed>\n   ip ospf message-digest-key 1 md5 7 <removed>\n   ip ospf network point-to-point"),
    ]

    @Test(arguments: cases)
    func scrubsTheSecretOnly(_ scrubCase: ScrubCase) throws {
        let scrubbed = try Self.scrub(scrubCase.vendor, scrubCase.input)
        #expect(scrubbed == scrubCase.expected + "\n")
        // Unscrubbed backups keep every byte.
        #expect(try Self.scrub(scrubCase.vendor, scrubCase.input, scrubSecrets: false) == scrubCase.input + "\n")
    }

    @Test("URL credentials are scrubbed by every built-in profile", arguments: VendorProfile.builtIn.map(\.name))
    func urlCredentials(vendor: String) throws {
        let lines = [
            ("copy scp://backup:UrlS3cret@192.0.2.9/cfg.txt flash:", "copy scp://backup:<removed>@192.0.2.9/cfg.txt flash:"),
            ("boot system ftp://admin:F7pPass@10.0.0.9/image.bin", "boot system ftp://admin:<removed>@10.0.0.9/image.bin"),
            // A port after the host is no password; a URL without credentials is left alone.
            ("ip http url https://portal.example.net:8443/login@home", "ip http url https://portal.example.net:8443/login@home"),
            ("ip http url http://10.0.0.1:8080/path", "ip http url http://10.0.0.1:8080/path"),
        ]
        for (input, expected) in lines {
            #expect(try Self.scrub(vendor, input) == expected + "\n", "\(vendor): \(input)")
        }
    }
}
