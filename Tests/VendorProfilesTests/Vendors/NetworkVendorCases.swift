import BackupModels
import Foundation

// Realistic sessions of the other shell profiles. Each quirk names where it is recorded.

extension ShellVendorCase {
    // MARK: juniper_junos

    /// Modelled on Oxidized's recorded SRX session (spec/model/data/junos#srx300_22.4): "## Last commit",
    /// "## SECRET-DATA" markers; on a chassis cluster each prompt is preceded by "{primary:node0}".
    static func junosConfiguration(_ variant: Int) -> String {
        crlf(
            """
            ## Last commit: \(variant == 1 ? "2024-12-06 11:41:05 UTC by root" : "2024-12-09 07:02:44 UTC by backup")
            version 22.4R3-S2.11;
            system {
                host-name srx1;
                root-authentication {
                    encrypted-password "$6$rootHashValue$abcdef"; ## SECRET-DATA
                }
                login {
                    user backup {
                        uid 2002;
                        class super-user;
                        authentication {
                            encrypted-password "$6$userHash$ghijkl"; ## SECRET-DATA
                        }
                    }
                }
                services {
                    ssh;
                }
            }
            snmp {
                community Jun0sComm {
                    authorization read-only;
                }
            }
            interfaces {
                ge-0/0/0 {
                    unit 0 {
                        family inet {
                            address 192.0.2.1/24;
                        }
                    }
                }
            }

            {primary:node0}

            """)
    }

    static func junosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "backup@srx1> "
        let cluster = "\r\n{primary:node0}\r\n" + prompt
        var s = DeviceScript()
        s.send(
            "Last login: \(variant == 1 ? "Fri Dec  6 11:32:31 2024" : "Mon Dec  9 07:00:02 2024") from 192.0.2.99\r\n"
                + "--- JUNOS 22.4R3-S2.11 built 2024-05-10 20:45:39 UTC\r\n" + cluster)
        // Oxidized junos.rb: 'set cli screen-length 0', 'set cli screen-width 0'; Netmiko juniper.py
        // expects "Screen length set to" and sends 'set cli complete-on-space off'.
        s.command(
            "set cli screen-length 0",
            reply: (pagingRefused ? "                ^\r\nsyntax error, expecting <command>.\r\n" : "Screen length set to 0\r\n")
                + cluster)
        s.command("set cli screen-width 0", reply: "Screen width set to 0\r\n" + cluster)
        s.command("set cli complete-on-space off", reply: "Disabling complete-on-space\r\n" + cluster)
        // NOC Juniper.JUNOS profile: pager "---(more …)---".
        s.backupCommand(
            "show configuration | display omit", body: config ?? junosConfiguration(variant), prompt: prompt,
            paged: pagingRefused, mark: "---(more 45%)---", erase: "\r                                        \r")
        return s
    }

    static let juniperJunos = ShellVendorCase(
        vendor: "juniper_junos",
        build: { junosScript($0, pagingRefused: $1) },
        // RANCID junos.pm drops "## Last commit: " and "{master|backup|primary|secondary…}" lines.
        expected: """
            version 22.4R3-S2.11;
            system {
                host-name srx1;
                root-authentication {
                    encrypted-password "$6$rootHashValue$abcdef"; ## SECRET-DATA
                }
                login {
                    user backup {
                        uid 2002;
                        class super-user;
                        authentication {
                            encrypted-password "$6$userHash$ghijkl"; ## SECRET-DATA
                        }
                    }
                }
                services {
                    ssh;
                }
            }
            snmp {
                community Jun0sComm {
                    authorization read-only;
                }
            }
            interfaces {
                ge-0/0/0 {
                    unit 0 {
                        family inet {
                            address 192.0.2.1/24;
                        }
                    }
                }
            }

            """,
        secrets: ["$6$rootHashValue$abcdef", "$6$userHash$ghijkl", "Jun0sComm"],
        // Junos has no end marker: the guard checks that the braces balance.
        truncated: { junosScript(1, pagingRefused: false, config: cutShort(junosConfiguration(1), keeping: 0.75)) }
    )

    // MARK: arista_eos

    static func eosRunningConfig(_ variant: Int) -> String {
        // Oxidized eos.rb: 'show running-config | no-more | exclude ! Time:' — the "! Time:" header line
        // changes on every run.
        crlf(
            """
            ! Command: show running-config
            ! device: eos-lab1 (DCS-7050SX3-48YC8, EOS-4.29.2F)
            ! Time: \(variant == 1 ? "Mon Jan  6 10:00:05 2025" : "Tue Jan  7 23:59:59 2025")
            !
            no aaa root
            !
            username admin privilege 15 role network-admin secret sha512 $6$eosHash$abcdefg
            !
            hostname eos-lab1
            !
            snmp-server community Eos5nmpRO ro
            !
            spanning-tree mode mstp
            !
            interface Ethernet1
               description uplink
            !
            interface Management1
               ip address 192.0.2.10/24
            !
            ip routing
            !
            end

            """)
    }

    static func eosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        var s = DeviceScript()
        s.send(
            "Last login: \(variant == 1 ? "Mon Jan  6 09:58:00 2025" : "Tue Jan  7 23:58:12 2025") from 192.0.2.99\r\n"
                + "eos-lab1>")
        // User mode: 'enable' without a password prompt (Oxidized eos.rb: "enable: true means we won't be
        // prompted for a password").
        s.command("enable", reply: "eos-lab1#")
        // Netmiko arista.py waits for "Pagination disabled" after 'terminal length 0'; here the message has
        // no newline and the prompt follows on the same line (ENGINEERING.md §4: `Pagination disabled.sw#`).
        s.command(
            "terminal length 0",
            reply: pagingRefused ? "% Invalid input\r\neos-lab1#" : "Pagination disabled.eos-lab1#")
        // Scrapli arista_eos.yaml: 'term width 32767'; Netmiko expects "Width set to".
        s.command("terminal width 32767", reply: "Width set to 32767 columns.\r\neos-lab1#")
        // NOC Arista.EOS profile: pager "^ --More--".
        s.backupCommand(
            "show running-config", body: config ?? eosRunningConfig(variant), prompt: "eos-lab1#", paged: pagingRefused,
            mark: " --More-- ", erase: "\r          \r")
        return s
    }

    static let aristaEOS = ShellVendorCase(
        vendor: "arista_eos",
        build: { eosScript($0, pagingRefused: $1) },
        expected: """
            ! Command: show running-config
            ! device: eos-lab1 (DCS-7050SX3-48YC8, EOS-4.29.2F)
            !
            no aaa root
            !
            username admin privilege 15 role network-admin secret sha512 $6$eosHash$abcdefg
            !
            hostname eos-lab1
            !
            snmp-server community Eos5nmpRO ro
            !
            spanning-tree mode mstp
            !
            interface Ethernet1
               description uplink
            !
            interface Management1
               ip address 192.0.2.10/24
            !
            ip routing
            !
            end

            """,
        secrets: ["$6$eosHash$abcdefg", "Eos5nmpRO"],
        truncated: { eosScript(1, pagingRefused: false, config: cutShort(eosRunningConfig(1), keeping: 0.6)) }
    )

    // MARK: huawei_vrp

    static func vrpConfiguration(_ variant: Int) -> String {
        // Oxidized vrp.rb removes timestamp lines like "2025-01-06 10:00:03.123+00:00" from
        // 'display current-configuration'.
        crlf(
            """
            \(variant == 1 ? "2025-01-06 10:00:03.123+00:00" : "2025-01-07 18:20:41.987+00:00")
            !Software Version V200R019C10SPC800
            #
             sysname HUAWEI-CORE1
            #
            aaa
             local-user admin password irreversible-cipher $1c$Hu4weiHash$abc$
             local-user admin privilege level 15
            #
            snmp-agent community read cipher %^%#Snmp5ecretCipher%^%#
            #
            interface GigabitEthernet0/0/1
             description uplink
             ip address 192.0.2.30 255.255.255.0
            #
            return

            """)
    }

    static func vrpScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "<HUAWEI-CORE1>"
        var s = DeviceScript()
        s.send(
            crlf(
                """

                Info: The max number of VTY users is 10, and the number
                      of current VTY users on line is 1.
                      The current login time is \(variant == 1 ? "2025-01-06 10:00:00+00:00" : "2025-01-07 18:20:38+00:00").

                """) + prompt)
        // Oxidized vrp.rb, Netmiko huawei.py and NOC: 'screen-length 0 temporary'; NOC's syntax errors
        // include "Error: Unrecognized command found at '^' position.".
        s.command(
            "screen-length 0 temporary",
            reply: pagingRefused
                ? "                ^\r\nError: Unrecognized command found at '^' position.\r\n" + prompt
                : "Info: The configuration takes effect on the current user terminal interface only.\r\n" + prompt)
        // NOC Huawei.VRP profile: pager "  ---- More ----", erased with ESC[42D, spaces, ESC[42D.
        let erase = "\u{1B}[42D" + String(repeating: " ", count: 42) + "\u{1B}[42D"
        s.backupCommand(
            "display current-configuration", body: config ?? vrpConfiguration(variant), prompt: prompt,
            paged: pagingRefused, mark: "  ---- More ----", erase: erase)
        return s
    }

    static let huaweiVRP = ShellVendorCase(
        vendor: "huawei_vrp",
        build: { vrpScript($0, pagingRefused: $1) },
        expected: """
            !Software Version V200R019C10SPC800
            #
             sysname HUAWEI-CORE1
            #
            aaa
             local-user admin password irreversible-cipher $1c$Hu4weiHash$abc$
             local-user admin privilege level 15
            #
            snmp-agent community read cipher %^%#Snmp5ecretCipher%^%#
            #
            interface GigabitEthernet0/0/1
             description uplink
             ip address 192.0.2.30 255.255.255.0
            #
            return

            """,
        secrets: ["$1c$Hu4weiHash$abc$", "Snmp5ecretCipher"],
        logout: "quit\n",
        // A VRP configuration ends with "return".
        truncated: { vrpScript(1, pagingRefused: false, config: cutShort(vrpConfiguration(1), keeping: 0.7)) }
    )

    // MARK: h3c_comware

    static let comwareSecret = "Sup3r-Secret"

    static func comwareConfiguration() -> String {
        // Oxidized's recorded 5130 session (spec/model/data/h3c#5130-48G_7.1.070) and configuration layout.
        crlf(
            """
            #
             version 7.1.070, Release 3208P10
            #
             sysname H3C-SW1
            #
             irf mac-address persistent timer
            #
            vlan 10
            #
            interface GigabitEthernet1/0/43
             port link-mode bridge
             description VER-NIC2-[TRUNK]
            #
             snmp-agent community read simple H3cR3ad
            #
            local-user admin class manage
             password hash $h$6$H3cHashVal==
             service-type ssh
            #
            return

            """)
    }

    static func comwareScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        // Oxidized comware.rb: "sometimes the prompt might have a leading nul or trailing ASCII Bell".
        let prompt = "\u{0}<H3C-SW1>"
        var s = DeviceScript()
        s.send(
            crlf(
                """
                ******************************************************************************
                * Copyright (c) 2004-\(variant == 1 ? "2023" : "2024") New H3C Technologies Co., Ltd. All rights reserved.*
                * Without the owner's prior written consent,                                 *
                * no decompiling or reverse-engineering shall be allowed.                    *
                ******************************************************************************

                """) + "<H3C-SW1>\u{7}")
        // Oxidized comware.rb: enable is 'super' followed by the password.
        s.command("super", reply: "Password:")
        s.expect(comwareSecret + "\n")
        s.send(
            "\r\nUser privilege level is 15, and only those commands that can be used by users with privilege level equal to or less than this level can be used.\r\nPrivilege note: 0-VISIT, 1-MONITOR, 2-SYSTEM, 3-MANAGE\r\n"
                + prompt)
        // Oxidized comware.rb: 'screen-length disable', 'undo terminal monitor'; Scrapli hp_comware: "%
        // Unrecognized command found at '^' position.".
        s.command(
            "screen-length disable",
            reply: pagingRefused ? "                ^\r\n % Unrecognized command found at '^' position.\r\n" + prompt : prompt)
        s.command("undo terminal monitor", reply: "Info: Current terminal monitor is off.\r\n" + prompt)
        // NOC HP.Comware profile: pager "---- More ----", erased with ESC[16D, spaces, ESC[16D.
        let erase = "\u{1B}[16D" + String(repeating: " ", count: 16) + "\u{1B}[16D"
        s.backupCommand(
            "display current-configuration", body: config ?? comwareConfiguration(), prompt: prompt,
            paged: pagingRefused, mark: "  ---- More ----", erase: erase)
        return s
    }

    static let h3cComware = ShellVendorCase(
        vendor: "h3c_comware",
        credentials: Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(comwareSecret)),
        build: { comwareScript($0, pagingRefused: $1) },
        expected: """
            #
             version 7.1.070, Release 3208P10
            #
             sysname H3C-SW1
            #
             irf mac-address persistent timer
            #
            vlan 10
            #
            interface GigabitEthernet1/0/43
             port link-mode bridge
             description VER-NIC2-[TRUNK]
            #
             snmp-agent community read simple H3cR3ad
            #
            local-user admin class manage
             password hash $h$6$H3cHashVal==
             service-type ssh
            #
            return

            """,
        secrets: ["H3cR3ad", "$h$6$H3cHashVal=="],
        logout: "quit\n",
        truncated: { comwareScript(1, pagingRefused: false, config: cutShort(comwareConfiguration(), keeping: 0.6)) }
    )

    // MARK: hp_procurve

    /// Oxidized procurve.rb: ProCurve paints its screen with VT100 sequences (`ESC[24;1H`, `ESC[2K`, …),
    /// prompts "HOST# " and asks "Press any key to continue" after login.
    static let procurvePrompt = "\u{1B}[24;1H\u{1B}[2K\u{1B}[24;1HPROCURVE-SW1# \u{1B}[24;15H"

    static func procurveConfiguration() -> String {
        crlf(
            """

            Running configuration:

            ; J9727A Configuration Editor; Created on release #WB.16.10.0009
            ; Ver #14:01.4f.f8.1d.9b.3f.bf.bb.ef.7c.59.fc.6b.fb.9f.fc.ff.ff.37.ef:05
            hostname "PROCURVE-SW1"
            module 1 type j9727a
            snmp-server community "Pr0cPublic" unrestricted
            vlan 1
               name "DEFAULT_VLAN"
               untagged 1-24
               ip address dhcp-bootp
               exit
            password manager user-name "admin" sha1 "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

            """)
    }

    static func procurveScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        var s = DeviceScript()
        s.send(
            "\u{1B}[2J\u{1B}[?7l\u{1B}[3;23r\u{1B}[?6l\u{1B}[1;1H\u{1B}[?25l\u{1B}[1;1HHP J9727A 2920-24G Switch\r\n"
                + "Software revision WB.16.10.0009\r\n\r\n"
                + (variant == 1 ? "" : "Last login: Tue Jan  7 10:02:11 2025\r\n")
                + "Press any key to continue\u{1B}[13;1H\u{1B}[?25h\u{1B}[24;0H\u{1B}[?6l\u{1B}[1;24r\u{1B}[24;1H")
        s.expect(" ")
        s.send("\u{1B}[2J\u{1B}[?7h\u{1B}[1;24r\u{1B}[?6l" + procurvePrompt)
        // Oxidized procurve.rb and NOC HP.ProCurve: 'no page'; NOC's syntax error "Invalid input: ".
        s.command(
            "no page", reply: (pagingRefused ? "Invalid input: page\r\n" : "") + procurvePrompt)
        // Netmiko hp_procurve.py: 'terminal width 511'.
        s.command("terminal width 511", reply: procurvePrompt)
        // NOC HP.ProCurve profile: "-- MORE --, next page: Space, next line: Enter, quit: Control-C".
        s.backupCommand(
            "show running-config", body: config ?? procurveConfiguration(), prompt: procurvePrompt,
            paged: pagingRefused, mark: "-- MORE --, next page: Space, next line: Enter, quit: Control-C",
            erase: "\u{1B}[24;1H\u{1B}[2K")
        return s
    }

    static let hpProCurve = ShellVendorCase(
        vendor: "hp_procurve",
        build: { procurveScript($0, pagingRefused: $1) },
        expected: """
            Running configuration:

            ; J9727A Configuration Editor; Created on release #WB.16.10.0009
            ; Ver #14:01.4f.f8.1d.9b.3f.bf.bb.ef.7c.59.fc.6b.fb.9f.fc.ff.ff.37.ef:05
            hostname "PROCURVE-SW1"
            module 1 type j9727a
            snmp-server community "Pr0cPublic" unrestricted
            vlan 1
               name "DEFAULT_VLAN"
               untagged 1-24
               ip address dhcp-bootp
               exit
            password manager user-name "admin" sha1 "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

            """,
        secrets: ["Pr0cPublic", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"],
        // Oxidized procurve.rb: pre_logout "logout\ny\nn" (confirm logout, don't save).
        logout: "logout\ny\nn\n",
        truncated: { procurveScript(1, pagingRefused: false, config: "\r\nRunning configuration:\r\n\r\n") }
    )

    // MARK: aruba_aoscx

    static func aoscxConfiguration() -> String {
        // Oxidized's recorded AOS-CX session (spec/model/data/aoscx#6100-48G_PL.10.10.1090).
        crlf(
            """
            Current configuration:
            !
            !Version ArubaOS-CX PL.10.10.1090
            !export-password: default
            hostname TEST-CX1
            user admin group administrators password ciphertext AQBapUserCipherText==
            snmp-server community Cx5nmpPub
            interface 1/1/1
                description TEST
                no shutdown
                vlan access 1
            interface vlan 1
            !
            https-server vrf default

            """)
    }

    static func aoscxScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        // The recorded prompt ends in a space: "TEST-SW1235# ".
        let prompt = "TEST-CX1# "
        var s = DeviceScript()
        s.send(
            "\r\nLast login: \(variant == 1 ? "2025-01-06 10:00:00" : "2025-01-07 11:11:11") from 192.0.2.99\r\n"
                + "User \"backup\" has logged in \(variant == 1 ? 3 : 4) times in the past 30 days\r\n" + prompt)
        // Oxidized aoscx.rb and Netmiko aruba_aoscx.py: 'no page'.
        s.command("no page", reply: (pagingRefused ? "Invalid input: page\r\n" : "") + prompt)
        // NOC's HP.Aruba profile pages with "-- MORE --, next page: Space, next line: Enter, quit: q".
        s.backupCommand(
            "show running-config", body: config ?? aoscxConfiguration(), prompt: prompt, paged: pagingRefused,
            mark: "-- MORE --, next page: Space, next line: Enter, quit: q", erase: "\r" + String(repeating: " ", count: 56) + "\r")
        return s
    }

    static let arubaAOSCX = ShellVendorCase(
        vendor: "aruba_aoscx",
        build: { aoscxScript($0, pagingRefused: $1) },
        expected: """
            Current configuration:
            !
            !Version ArubaOS-CX PL.10.10.1090
            !export-password: default
            hostname TEST-CX1
            user admin group administrators password ciphertext AQBapUserCipherText==
            snmp-server community Cx5nmpPub
            interface 1/1/1
                description TEST
                no shutdown
                vlan access 1
            interface vlan 1
            !
            https-server vrf default

            """,
        secrets: ["AQBapUserCipherText==", "Cx5nmpPub"],
        truncated: { aoscxScript(1, pagingRefused: false, config: "Current configuration:\r\n!\r\n") }
    )

    // MARK: fortinet_fortios

    static func fortiosConfiguration(_ variant: Int) -> String {
        // Oxidized's recorded FortiGate-91G session (spec/model/data/fortigate#FortiGate-91G_7.4.7): the
        // header lines "#config-version=…:user=…" (fortios.rb) and "#conf_file_ver=…" (fortigate.rb,
        // RANCID fortigate.pm) change without a configuration change.
        crlf(
            """
            #config-version=FGT91G-7.4.7-FW-build2731-250120:opmode=1:vdom=0:user=\(variant == 1 ? "backup" : "admin")
            #conf_file_ver=\(variant == 1 ? "440000000000001" : "440000000000177")
            #buildno=2731
            #global_vdom=1
            config system global
                set admin-restrict-local enable
                set alias "FortiGate-91G"
                set hostname "TEST-FW1"
                set timezone "Europe/Berlin"
            end
            config system admin
                edit "admin"
                    set accprofile "super_admin"
                    set password ENC SH2FortiHashValue0123456789=
                next
            end
            config user local
                edit "vpnuser"
                    set type password
                    set passwd ENC FortiUserEnc==
                next
            end
            config vpn ipsec phase1-interface
                edit "to-branch"
                    set psksecret ENC Ps3kEncValue==
                next
            end

            """)
    }

    static func fortiosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        let prompt = "TEST-FW1 # "
        var s = DeviceScript()
        // Oxidized fortios.rb / Netmiko fortinet_ssh.py: with a post-login banner the device waits for 'a'.
        s.send("Authorised access only. \(variant == 1 ? "Ticket 1234" : "Ticket 5678")\r\n(Press 'a' to accept):")
        s.expect("a")
        s.send("\r\n" + prompt)
        // No paging command: FortiOS only pages through 'config system console / set output standard',
        // which changes the configuration (Netmiko fortinet_ssh.py restores it afterwards). The pager is
        // answered instead (Oxidized fortios.rb: "^--More--\s$" → space; the junk after it is "\r +\r").
        // The echo ends with "\r\r\n" as recorded.
        let body = config ?? fortiosConfiguration(variant)
        if pagingRefused || variant == 1 {
            s.pagedCommand("show", body: body, prompt: prompt, mark: "--More-- ", erase: "\r         \r", linesPerPage: 7)
        } else {
            s.expect("show\n")
            s.send("show\r\r\n" + body + prompt)
        }
        return s
    }

    static let fortinetFortiOS = ShellVendorCase(
        vendor: "fortinet_fortios",
        build: { fortiosScript($0, pagingRefused: $1) },
        expected: """
            #buildno=2731
            #global_vdom=1
            config system global
                set admin-restrict-local enable
                set alias "FortiGate-91G"
                set hostname "TEST-FW1"
                set timezone "Europe/Berlin"
            end
            config system admin
                edit "admin"
                    set accprofile "super_admin"
                    set password ENC SH2FortiHashValue0123456789=
                next
            end
            config user local
                edit "vpnuser"
                    set type password
                    set passwd ENC FortiUserEnc==
                next
            end
            config vpn ipsec phase1-interface
                edit "to-branch"
                    set psksecret ENC Ps3kEncValue==
                next
            end

            """,
        secrets: ["SH2FortiHashValue0123456789=", "FortiUserEnc==", "Ps3kEncValue=="],
        logout: "exit\n",
        // "config" blocks must be closed by "end", and the configuration ends with one.
        truncated: { fortiosScript(2, pagingRefused: false, config: cutShort(fortiosConfiguration(2), keeping: 0.55)) }
    )

    // MARK: paloalto_panos

    static func panosConfiguration() -> String {
        crlf(
            """
            config {
              mgt-config {
                users {
                  admin {
                    phash $5$paloHashValue$0123456789;
                    permissions {
                      role-based {
                        superuser yes;
                      }
                    }
                  }
                }
              }
              shared {
                log-settings {
                  snmptrap {
                    trap-profile {
                      version {
                        v2c {
                          server {
                            nms {
                              community Pa5nmpComm;
                              manager 10.0.0.9;
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
              devices {
                localhost.localdomain {
                  deviceconfig {
                    system {
                      hostname PA-VM1;
                      ip-address 192.0.2.40;
                    }
                  }
                }
              }
            }

            """)
    }

    static func panosScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        // Scrapli paloalto_panos: prompt "user@host> ".
        let prompt = "backup@PA-VM1> "
        var s = DeviceScript()
        s.send(
            "Last login: \(variant == 1 ? "Mon Jan  6 10:00:00 2025" : "Tue Jan  7 12:00:00 2025") from 192.0.2.99\r\n\r\n"
                + "Number of failed attempts since last successful login: 0\r\n\r\n\r\n" + prompt)
        // Oxidized panos.rb, Netmiko and Scrapli: 'set cli pager off'; Scrapli's failure text "Unknown command:".
        s.command("set cli pager off", reply: (pagingRefused ? "Unknown command: pager\r\n" : "") + prompt)
        // The paged form here ("--more--") is not verified against a real PAN-OS recording.
        s.backupCommand(
            "show config running", body: config ?? panosConfiguration(), prompt: prompt, paged: pagingRefused,
            mark: "--more--", erase: "\r        \r", linesPerPage: 10)
        return s
    }

    static let paloAltoPANOS = ShellVendorCase(
        vendor: "paloalto_panos",
        build: { panosScript($0, pagingRefused: $1) },
        expected: """
            config {
              mgt-config {
                users {
                  admin {
                    phash $5$paloHashValue$0123456789;
                    permissions {
                      role-based {
                        superuser yes;
                      }
                    }
                  }
                }
              }
              shared {
                log-settings {
                  snmptrap {
                    trap-profile {
                      version {
                        v2c {
                          server {
                            nms {
                              community Pa5nmpComm;
                              manager 10.0.0.9;
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
              devices {
                localhost.localdomain {
                  deviceconfig {
                    system {
                      hostname PA-VM1;
                      ip-address 192.0.2.40;
                    }
                  }
                }
              }
            }

            """,
        secrets: ["$5$paloHashValue$0123456789", "Pa5nmpComm"],
        truncated: { panosScript(1, pagingRefused: false, config: cutShort(panosConfiguration(), keeping: 0.5)) }
    )

    // MARK: dell_os6

    static let dellSecret = "D3ll-En4ble"

    static func dellConfiguration() -> String {
        // Oxidized os6.rb drops the first lines of 'show running-config' ("!Current Configuration:", the
        // system description and software version); here they are kept as they are stable.
        crlf(
            """
            !Current Configuration:
            !System Description "Dell Networking N2048, 6.3.3.10, Linux 3.7.10-e54ffa5c"
            !System Software Version 6.3.3.10
            !Cut-through mode is configured as disabled
            !
            configure
            hostname "dell-n2048"
            slot 1/0 5    ! Dell Networking N2048
            stack
            member 1 4    ! N2048
            exit
            interface vlan 1
            exit
            snmp-server community "D3llComm" ro
            username "admin" password 5f4dcc3b5aa765d61d8327deb882cf99 privilege 15 encrypted
            enable password 0a1b2c3d4e5f encrypted
            !
            exit

            """)
    }

    static func dellScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        var s = DeviceScript()
        s.send("\r\n\(variant == 1 ? "" : "Unit 1 - Master\r\n")dell-n2048>")
        // Oxidized os6.rb / Netmiko dell_dnos6.py: 'enable' with a secret, then 'terminal length 0'.
        s.command("enable", reply: "Password:")
        s.expect(dellSecret + "\n")
        s.send("\r\ndell-n2048#")
        s.command(
            "terminal length 0",
            reply: pagingRefused ? "                 ^\r\n% Invalid input detected at '^' marker.\r\n\r\ndell-n2048#" : "dell-n2048#")
        // Oxidized netgear.rb (same OS family) pages with "--More-- or (q)uit"; NOC Powerconnect62xx "--More--".
        s.backupCommand(
            "show running-config", body: config ?? dellConfiguration(), prompt: "dell-n2048#", paged: pagingRefused,
            mark: "--More-- or (q)uit", erase: backspaces(18) + String(repeating: " ", count: 18) + backspaces(18))
        return s
    }

    static let dellOS6 = ShellVendorCase(
        vendor: "dell_os6",
        credentials: Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(dellSecret)),
        build: { dellScript($0, pagingRefused: $1) },
        expected: """
            !Current Configuration:
            !System Description "Dell Networking N2048, 6.3.3.10, Linux 3.7.10-e54ffa5c"
            !System Software Version 6.3.3.10
            !Cut-through mode is configured as disabled
            !
            configure
            hostname "dell-n2048"
            slot 1/0 5    ! Dell Networking N2048
            stack
            member 1 4    ! N2048
            exit
            interface vlan 1
            exit
            snmp-server community "D3llComm" ro
            username "admin" password 5f4dcc3b5aa765d61d8327deb882cf99 privilege 15 encrypted
            enable password 0a1b2c3d4e5f encrypted
            !
            exit

            """,
        secrets: ["D3llComm", "5f4dcc3b5aa765d61d8327deb882cf99", "0a1b2c3d4e5f"],
        // Oxidized os6.rb: pre_logout 'exit' twice (leave enable, then log out).
        logout: "exit\nexit\n",
        truncated: { dellScript(1, pagingRefused: false, config: "!Current Configuration:\r\n!\r\n") }
    )

    // MARK: ruijie_rgos

    static let ruijieSecret = "Ru1jie-En4ble"

    static func ruijieConfiguration(_ variant: Int) -> String {
        // Oxidized rgos.rb removes "Building configuration..." and "Current configuration : N bytes".
        crlf(
            """

            Building configuration...
            Current configuration : \(variant == 1 ? "1652" : "1660") bytes

            version RGOS 10.4(3b17)p2 Release(209498)
            hostname Ruijie-SW1
            !
            enable secret 5 $1$RuijieEn$abcdef
            !
            username admin privilege 15 password 7 0b2c3d4e5f
            !
            snmp-server community Ru1jieComm ro
            !
            interface GigabitEthernet 0/1
             description uplink
            !
            end

            """)
    }

    static func ruijieScript(_ variant: Int, pagingRefused: Bool, config: String? = nil) -> DeviceScript {
        var s = DeviceScript()
        s.send("\r\n\(variant == 1 ? "" : "Welcome\r\n")Ruijie-SW1>")
        // Netmiko ruijie_os.py: enable first, then 'terminal width 256' and 'terminal length 0'.
        s.command("enable", reply: "Password: ")
        s.expect(ruijieSecret + "\n")
        s.send("\r\nRuijie-SW1#")
        s.command(
            "terminal length 0",
            reply: pagingRefused ? "                 ^\r\n% Invalid input detected at '^' marker.\r\n\r\nRuijie-SW1#" : "Ruijie-SW1#")
        s.command("terminal width 256", reply: "Ruijie-SW1#")
        s.backupCommand(
            "show running-config", body: config ?? ruijieConfiguration(variant), prompt: "Ruijie-SW1#",
            paged: pagingRefused, mark: " --More-- ", erase: backspaces(10) + String(repeating: " ", count: 10) + backspaces(10))
        return s
    }

    static let ruijieRGOS = ShellVendorCase(
        vendor: "ruijie_rgos",
        credentials: Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(ruijieSecret)),
        build: { ruijieScript($0, pagingRefused: $1) },
        expected: """
            version RGOS 10.4(3b17)p2 Release(209498)
            hostname Ruijie-SW1
            !
            enable secret 5 $1$RuijieEn$abcdef
            !
            username admin privilege 15 password 7 0b2c3d4e5f
            !
            snmp-server community Ru1jieComm ro
            !
            interface GigabitEthernet 0/1
             description uplink
            !
            end

            """,
        secrets: ["$1$RuijieEn$abcdef", "0b2c3d4e5f", "Ru1jieComm"],
        truncated: { ruijieScript(1, pagingRefused: false, config: cutShort(ruijieConfiguration(1), keeping: 0.6)) }
    )

    /// Every shell case.
    static let all: [ShellVendorCase] = [
        ciscoIOS, ciscoNXOS, ciscoIOSXR, ciscoASA, juniperJunos, aristaEOS, huaweiVRP, h3cComware, hpProCurve,
        arubaAOSCX, fortinetFortiOS, paloAltoPANOS, dellOS6, ruijieRGOS,
    ]
}
