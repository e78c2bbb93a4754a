import BackupModels
import Foundation

// Realistic Cisco sessions. Each quirk names where it is recorded.

extension ShellVendorCase {
    // MARK: cisco_ios

    static let iosSecret = "Ios-En4ble"

    /// `show running-config` of an IOS-XE switch, modelled on Oxidized's recorded C9200L session
    /// (spec/model/data/ios#C9200L-24P-4G_17.09.04a#simulation.yaml).
    static func iosRunningConfig(_ variant: Int) -> String {
        // Oxidized ios.rb and RANCID ios.pm: "Building configuration...", "Current configuration : N
        // bytes", "! Last configuration change at …", "! NVRAM config last updated at …" (RANCID) and
        // "ntp clock-period" (both) change without a configuration change.
        let header =
            variant == 1
            ? """
            Current configuration : 1834 bytes
            !
            ! Last configuration change at 09:37:40 CEST Tue Aug 20 2024 by admin
            ! NVRAM config last updated at 09:37:37 CEST Tue Aug 20 2024 by admin
            !
            """
            : """
            Current configuration : 1801 bytes
            !
            ! No configuration change since last restart
            !
            """
        return crlf(
            """
            Building configuration...

            \(header)
            version 17.9
            service timestamps debug datetime msec
            service timestamps log datetime msec
            service password-encryption
            !
            hostname LAB-SW1
            !
            enable secret 9 $9$Fk3lQmXo$AbCdEfGhIjKlMnOp
            !
            username admin privilege 15 secret 9 $9$zxcvbnm$QwErTyUiOp
            aaa new-model
            !
            interface GigabitEthernet1/0/1
             description uplink to core
             switchport mode trunk
            !
            interface Vlan10
             ip address 10.0.10.2 255.255.255.0
             standby 10 ip 10.0.10.1
             standby 10 authentication Hsrp3Key
            !
            router ospf 1
             network 10.0.10.0 0.0.0.255 area 0
            !
            snmp-server community Rea4Only RO
            snmp-server host 10.42.0.34 version 2c Tr4pComm
            ntp clock-period \(variant == 1 ? "36029056" : "36028797")
            ntp server 10.0.0.1
            tacacs server TAC1
             address ipv4 10.0.0.5
             key 7 0832494D1B1C11
            !
            line vty 0 4
             password 7 0822455D0A16
             transport input ssh
            !
            end


            """)
    }

    static let iosInventory = crlf(
        """
        NAME: "1", DESCR: "C9200L-24P-4G"
        PID: C9200L-24P-4G     , VID: V01  , SN: JAE24FFFFFF



        """)

    static func iosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        var s = DeviceScript()
        s.send(
            crlf(
                """

                ***************************************************
                * LAB-SW1 - authorised access only (\(variant == 1 ? "maintenance window Sun" : "contact noc@example.net"))
                ***************************************************

                """) + "LAB-SW1>")
        // User mode ">" → "enable" → "Password: " (Oxidized ios.rb's enable macro; Scrapli cisco_iosxe.yaml).
        s.command("enable", reply: "Password: ")
        s.expect(iosSecret + "\n")
        s.send("\r\nLAB-SW1#")
        // Oxidized ios.rb: post_login 'terminal length 0', 'terminal width 0'. The refusal text is IOS's
        // (Oxidized ios.rb strips "% Invalid input detected at '^' marker.").
        s.command(
            "terminal length 0",
            reply: pagingRefused
                ? "                 ^\r\n% Invalid input detected at '^' marker.\r\n\r\nLAB-SW1#" : "LAB-SW1#")
        s.command("terminal width 0", reply: "LAB-SW1#")
        s.command("show inventory", reply: iosInventory + "LAB-SW1#")
        // NOC Cisco.IOS profile: pager "^ --More-- " answered with a space; IOS erases it with
        // backspaces and spaces (Oxidized ios.rb's commented pager example strips "\cH+\s{8}").
        s.backupCommand(
            "show running-config", body: config ?? iosRunningConfig(variant), prompt: "LAB-SW1#", paged: pagingRefused,
            mark: " --More-- ", erase: backspaces(10) + String(repeating: " ", count: 10) + backspaces(10))
        return s
    }

    static let ciscoIOS = ShellVendorCase(
        vendor: "cisco_ios",
        credentials: Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(iosSecret)),
        build: { iosScript($0, pagingRefused: $1) },
        expected: """
            ! NAME: "1", DESCR: "C9200L-24P-4G"
            ! PID: C9200L-24P-4G     , VID: V01  , SN: JAE24FFFFFF
            !
            !
            version 17.9
            service timestamps debug datetime msec
            service timestamps log datetime msec
            service password-encryption
            !
            hostname LAB-SW1
            !
            enable secret 9 $9$Fk3lQmXo$AbCdEfGhIjKlMnOp
            !
            username admin privilege 15 secret 9 $9$zxcvbnm$QwErTyUiOp
            aaa new-model
            !
            interface GigabitEthernet1/0/1
             description uplink to core
             switchport mode trunk
            !
            interface Vlan10
             ip address 10.0.10.2 255.255.255.0
             standby 10 ip 10.0.10.1
             standby 10 authentication Hsrp3Key
            !
            router ospf 1
             network 10.0.10.0 0.0.0.255 area 0
            !
            snmp-server community Rea4Only RO
            snmp-server host 10.42.0.34 version 2c Tr4pComm
            ntp server 10.0.0.1
            tacacs server TAC1
             address ipv4 10.0.0.5
             key 7 0832494D1B1C11
            !
            line vty 0 4
             password 7 0822455D0A16
             transport input ssh
            !
            end

            """,
        secrets: [
            "$9$Fk3lQmXo$AbCdEfGhIjKlMnOp", "$9$zxcvbnm$QwErTyUiOp", "Hsrp3Key", "Rea4Only", "Tr4pComm",
            "0832494D1B1C11", "0822455D0A16",
        ],
        // RANCID ios.pm and Oxidized: a complete IOS configuration ends with "end".
        truncated: { iosScript(1, pagingRefused: false, config: cutShort(iosRunningConfig(1), keeping: 0.7)) }
    )

    // MARK: cisco_nxos

    /// Modelled on Oxidized's recorded NX-OS session (spec/model/data/nxos#C93180YC-FX3J_10.4.5): the echo
    /// ends in "\r", the prompt comes as "\rHOST# ", lines keep trailing spaces.
    static func nxosRunningConfig(_ variant: Int) -> String {
        crlf(
            """

            !Command: show running-config
            !Running configuration last done at: \(variant == 1 ? "Tue Sep 30 09:02:26 2025" : "Wed Oct  1 17:45:10 2025")
            !Time: \(variant == 1 ? "Mon Dec  1 14:37:04 2025" : "Tue Dec  2 08:00:59 2025")

            version 10.4(5) Bios:version 01.11\u{20}
            hostname TEST-NX1
            feature tacacs+
            feature interface-vlan
            username admin password 5 $5$KJHDFK$abcdefghijklmnop  role network-admin
            snmp-server user admin network-admin auth md5 0x1a2b3c4d5e6f priv aes-128 0x7a8b9c0d1e2f localizedkey
            snmp-server community Publ1cNx group network-operator
            tacacs-server host 10.0.0.5 key 7 "Fwjsr7"

            interface Vlan10
              no shutdown
              ip address 10.0.10.3/24

            interface Ethernet1/1
              description uplink
              switchport mode trunk

            line console
            line vty
            boot nxos bootflash:/nxos64-cs.10.4.5.M.bin\u{20}


            """)
    }

    static func nxosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "\rTEST-NX1# "
        var s = DeviceScript()
        s.send(
            crlf(
                """

                Cisco Nexus Operating System (NX-OS) Software
                TAC support: http://www.cisco.com/tac
                Copyright (C) 2002-2025, Cisco and/or its affiliates.
                All rights reserved.

                """) + prompt)
        // Oxidized nxos.rb: post_login 'terminal length 0'; Netmiko cisco_nxos.py: 'terminal width 511'.
        // Refusal: "% Invalid command at '^' marker." (Scrapli cisco_nxos.yaml failure indicators).
        s.command(
            "terminal length 0",
            reply: pagingRefused ? "                 ^\r\n% Invalid command at '^' marker.\r\n\r\n" + prompt : prompt)
        s.command("terminal width 511", reply: prompt)
        // NOC Cisco.NXOS profile: pager "^--More--".
        s.backupCommand(
            "show running-config", body: config ?? nxosRunningConfig(variant), prompt: prompt, paged: pagingRefused,
            mark: "--More--", erase: "\r          \r")
        return s
    }

    static let ciscoNXOS = ShellVendorCase(
        vendor: "cisco_nxos",
        build: { nxosScript($0, pagingRefused: $1) },
        // Oxidized nxos.rb strips "!Time:"; RANCID nxos.pm kills "!Time: " too. "!Running configuration
        // last done at" changes like IOS's "Last configuration change" and goes as well.
        expected: """
            !Command: show running-config

            version 10.4(5) Bios:version 01.11\u{20}
            hostname TEST-NX1
            feature tacacs+
            feature interface-vlan
            username admin password 5 $5$KJHDFK$abcdefghijklmnop  role network-admin
            snmp-server user admin network-admin auth md5 0x1a2b3c4d5e6f priv aes-128 0x7a8b9c0d1e2f localizedkey
            snmp-server community Publ1cNx group network-operator
            tacacs-server host 10.0.0.5 key 7 "Fwjsr7"

            interface Vlan10
              no shutdown
              ip address 10.0.10.3/24

            interface Ethernet1/1
              description uplink
              switchport mode trunk

            line console
            line vty
            boot nxos bootflash:/nxos64-cs.10.4.5.M.bin\u{20}

            """,
        secrets: ["$5$KJHDFK$abcdefghijklmnop", "0x1a2b3c4d5e6f", "0x7a8b9c0d1e2f", "Publ1cNx", "Fwjsr7"],
        truncated: { nxosScript(1, pagingRefused: false, config: cutShort(nxosRunningConfig(1), keeping: 0.2)) }
    )

    // MARK: cisco_iosxr

    static func iosxrRunningConfig(_ variant: Int) -> String {
        // RANCID iosxr.pm filters "the bloody cmd-line timestamp" (`Mon Jan  6 10:00:03.456 UTC`) and
        // "Building configuration"; "!! Last configuration change at" is the XR form of IOS's line.
        crlf(
            """
            \(variant == 1 ? "Mon Jan  6 10:00:03.456 UTC" : "Tue Jan 14 21:13:58.012 UTC")
            Building configuration...
            !! IOS XR Configuration 7.3.2
            !! Last configuration change at \(variant == 1 ? "Fri Jan  3 22:52:53 2025" : "Sat Jan 11 08:01:02 2025") by admin
            !
            hostname lab-xr1
            clock timezone UTC 0
            username admin
             group root-lr
             group cisco-support
             secret 10 $6$Xy12AbCd$LongHashValue0123456789
            !
            aaa group server tacacs+ TAC
             server-private 10.0.0.5 port 49
              key 7 094F471A1A0A
             !
            !
            interface Loopback0
             ipv4 address 10.255.0.1 255.255.255.255
            !
            interface MgmtEth0/RP0/CPU0/0
             ipv4 address 192.0.2.21 255.255.255.0
            !
            snmp-server community Xr5nmpRO RO
            router isis CORE
             net 49.0001.0102.5500.0001.00
            !
            end


            """)
    }

    static func iosxrScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "RP/0/RP0/CPU0:lab-xr1#"
        var s = DeviceScript()
        s.send("\r\n\r\n" + prompt)
        // Oxidized iosxr.rb: post_login 'terminal length 0', 'terminal width 0',
        // 'terminal exec prompt no-timestamp'. This older release rejects the last one, so the
        // timestamp shows up in the output and must be filtered.
        let stamp = variant == 1 ? "Mon Jan  6 10:00:01.120 UTC\r\n" : "Tue Jan 14 21:13:56.871 UTC\r\n"
        s.command(
            "terminal length 0",
            reply: stamp + (pagingRefused ? "                 ^\r\n% Invalid input detected at '^' marker.\r\n" : "")
                + prompt)
        s.command("terminal width 0", reply: stamp + prompt)
        s.command(
            "terminal exec prompt no-timestamp",
            reply: stamp + "                       ^\r\n% Invalid input detected at '^' marker.\r\n" + prompt)
        // NOC Cisco.IOSXR profile: pager "^ --More--".
        s.backupCommand(
            "show running-config", body: config ?? iosxrRunningConfig(variant), prompt: prompt, paged: pagingRefused,
            mark: " --More-- ", erase: backspaces(10) + String(repeating: " ", count: 10) + backspaces(10))
        return s
    }

    static let ciscoIOSXR = ShellVendorCase(
        vendor: "cisco_iosxr",
        build: { iosxrScript($0, pagingRefused: $1) },
        expected: """
            !! IOS XR Configuration 7.3.2
            !
            hostname lab-xr1
            clock timezone UTC 0
            username admin
             group root-lr
             group cisco-support
             secret 10 $6$Xy12AbCd$LongHashValue0123456789
            !
            aaa group server tacacs+ TAC
             server-private 10.0.0.5 port 49
              key 7 094F471A1A0A
             !
            !
            interface Loopback0
             ipv4 address 10.255.0.1 255.255.255.255
            !
            interface MgmtEth0/RP0/CPU0/0
             ipv4 address 192.0.2.21 255.255.255.0
            !
            snmp-server community Xr5nmpRO RO
            router isis CORE
             net 49.0001.0102.5500.0001.00
            !
            end

            """,
        secrets: ["$6$Xy12AbCd$LongHashValue0123456789", "094F471A1A0A", "Xr5nmpRO"],
        truncated: { iosxrScript(1, pagingRefused: false, config: cutShort(iosxrRunningConfig(1), keeping: 0.6)) }
    )

    // MARK: cisco_asa

    static let asaSecret = "Asa-En4ble-Pw"

    /// Modelled on Oxidized's recorded ASA session (spec/model/data/asa#5512_9.12-4-67_single-context):
    /// login banner with login statistics, prompt "\rHOST> ", "Password: ******" echo after enable.
    static func asaRunningConfig(_ variant: Int) -> String {
        // RANCID ios.pm (used for ASA too): ": Saved" and ": Written by … at" change on every save.
        let header =
            variant == 1
            ? ": Saved\n\n:\u{20}\n: Serial Number: FCH17AAAAAA\n: Hardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)\n: Written by backup at 20:03:32.236 CEST Mon Oct 21 2024"
            : ":\u{20}\n: Serial Number: FCH17AAAAAA\n: Hardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)\n: Written by admin at 07:59:01.004 CEST Tue Oct 22 2024"
        return crlf(
            """
            \(header)
            !
            ASA Version 9.12(4)67\u{20}
            !
            hostname lab-asa1
            domain-name lab
            enable password $sha512$5000$AbCdEfGh$IjKlMnOp pbkdf2
            names
            !
            interface GigabitEthernet0/0
             nameif outside
             security-level 0
             ip address 198.51.100.2 255.255.255.0\u{20}
            !
            username admin password $sha512$5000$QwErTy$UiOpAsDf pbkdf2 privilege 15
            aaa-server TACACS protocol tacacs+
            aaa-server TACACS (inside) host 10.0.0.5
             key Tac4csKey
            tunnel-group 203.0.113.9 ipsec-attributes
             ikev1 pre-shared-key Ik3PskVal
            snmp-server host inside 10.0.0.9 community Asa5nmp version 2c
            failover key F4ilKey
            Cryptochecksum:dddddddddffffffffffffffeeeeeeeee
            : end

            """)
    }

    static func asaScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "\rlab-asa1# "
        var s = DeviceScript()
        s.send(
            crlf(
                """
                User backup logged in to lab-asa1
                Logins over the last \(variant == 1 ? "91 days: 21.  Last login: 20:01:14 CEST Oct 21 2024" : "91 days: 22.  Last login: 20:03:40 CEST Oct 21 2024") from 10.42.0.17
                Failed logins since the last login: 0. \u{20}
                Type help or '?' for a list of available commands.

                """) + "\rlab-asa1> ")
        // Oxidized asa.rb / Netmiko cisco_asa_ssh.py: enable with a secret; the ASA masks it with '*'.
        s.command("enable", reply: "Password: ")
        s.expect(asaSecret + "\n")
        s.send(String(repeating: "*", count: asaSecret.count) + "\r\n" + prompt)
        // Oxidized asa.rb, Netmiko and NOC: 'terminal pager 0'. ASA's refusal starts with "ERROR: ".
        s.command(
            "terminal pager 0",
            reply: pagingRefused ? "        ^\r\nERROR: % Invalid input detected at '^' marker.\r\n" + prompt : prompt)
        // NOC Cisco.ASA profile: pager "^<--- More --->".
        s.backupCommand(
            "more system:running-config", body: config ?? asaRunningConfig(variant), prompt: prompt,
            paged: pagingRefused, mark: "<--- More --->", erase: "\r              \r")
        return s
    }

    static let ciscoASA = ShellVendorCase(
        vendor: "cisco_asa",
        credentials: Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(asaSecret)),
        build: { asaScript($0, pagingRefused: $1) },
        expected: """
            :\u{20}
            : Serial Number: FCH17AAAAAA
            : Hardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)
            !
            ASA Version 9.12(4)67\u{20}
            !
            hostname lab-asa1
            domain-name lab
            enable password $sha512$5000$AbCdEfGh$IjKlMnOp pbkdf2
            names
            !
            interface GigabitEthernet0/0
             nameif outside
             security-level 0
             ip address 198.51.100.2 255.255.255.0\u{20}
            !
            username admin password $sha512$5000$QwErTy$UiOpAsDf pbkdf2 privilege 15
            aaa-server TACACS protocol tacacs+
            aaa-server TACACS (inside) host 10.0.0.5
             key Tac4csKey
            tunnel-group 203.0.113.9 ipsec-attributes
             ikev1 pre-shared-key Ik3PskVal
            snmp-server host inside 10.0.0.9 community Asa5nmp version 2c
            failover key F4ilKey
            Cryptochecksum:dddddddddffffffffffffffeeeeeeeee
            : end

            """,
        secrets: [
            "$sha512$5000$AbCdEfGh$IjKlMnOp", "$sha512$5000$QwErTy$UiOpAsDf", "Tac4csKey", "Ik3PskVal", "Asa5nmp",
            "F4ilKey",
        ],
        // The recorded ASA configuration ends with ": end".
        truncated: { asaScript(1, pagingRefused: false, config: cutShort(asaRunningConfig(1), keeping: 0.8)) }
    )
}
