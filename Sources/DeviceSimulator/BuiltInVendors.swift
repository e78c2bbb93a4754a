// The built-in vendor emulations. Every quirk follows the public record of the real OS; the comment next to
// it names where it is recorded:
// - Oxidized: ytti/oxidized, lib/oxidized/model/<model>.rb, and the recorded sessions of real devices in
//   spec/model/data/<model>#<hardware>_<release>#simulation.yaml;
// - Netmiko: ktbyers/netmiko, netmiko/<vendor>/*.py (paging commands, expected replies);
// - Scrapli: carlmontanari/scrapli and scrapli_community platform definitions (prompts, failure strings);
// - RANCID: the <vendor>.pm device scripts (the lines they filter as volatile);
// - NOC: the NOC project's sa/profiles/<Vendor>/<OS>/profile.py (pager marks, syntax-error strings).
// Nothing here is copied: the strings are what the devices print, the tables are ours.

extension VendorEmulation {
    /// Every built-in emulation, one per profile name the library supports.
    public static let builtIn: [VendorEmulation] = [
        ciscoIOS, ciscoNXOS, ciscoIOSXR, ciscoASA, juniperJunos, aristaEOS, huaweiVRP, h3cComware, hpProCurve,
        arubaAOSCX, mikrotikRouterOS, fortinetFortiOS, paloAltoPANOS, dellOS6, ruijieRGOS, linux,
    ]

    /// IOS's reply to an unknown command: a caret under the bad word, the message, an empty line
    /// (Oxidized ios.rb strips "% Invalid input detected at '^' marker."; the same text on IOS-XE recordings).
    static let iosInvalidInput = "{caret}\n% Invalid input detected at '^' marker.\n\n"

    // MARK: - Cisco IOS / IOS-XE

    /// `cisco_ios`: Cisco IOS / IOS-XE. User mode `r1>`, `enable` + `Password: ` → `r1#`.
    public static let ciscoIOS = VendorEmulation(
        name: "cisco_ios",
        sources: [
            "Oxidized lib/oxidized/model/ios.rb", "Oxidized spec/model/data/ios#C9200L-24P-4G_17.09.04a#simulation.yaml",
            "RANCID ios.pm", "Netmiko cisco/cisco_ios.py", "Scrapli cisco_iosxe", "NOC Cisco.IOS profile",
        ],
        // A `banner motd` as printed after login (the recorded C9200L session starts with its banner lines).
        banner: [
            "", "***************************************************",
            "* {hostname} - authorised access only", "***************************************************", "",
        ],
        userPrompt: "{hostname}>",
        privilegedPrompt: "{hostname}#",
        // `enable` asks "Password: " (Oxidized ios.rb enable macro, Scrapli cisco_iosxe); a wrong secret asks
        // again, three failures end with "% Bad secrets".
        enable: EnableBehavior(failureMessage: "% Bad secrets\n\n"),
        commands: [
            // Oxidized ios.rb post_login: 'terminal length 0', 'terminal width 0' (IOS prints nothing).
            CommandSpec("terminal length {n}", aliases: ["term len {n}", "terminal len {n}", "term length {n}"],
                        action: .setPageLength(reply: "")),
            CommandSpec("terminal width {n}", aliases: ["term width {n}"], action: .text("")),
            CommandSpec("terminal no monitor", action: .text("")),
            // 'show running-config' needs privilege 15: in user mode IOS answers "% Invalid input".
            CommandSpec("show running-config", aliases: ["sh run", "show run", "sh running-config", "write terminal"],
                        action: .showConfig(.native), privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(ciscoIOSVersion)),
            // Oxidized ios.rb runs 'show inventory' (recorded C9200L output).
            CommandSpec("show inventory", aliases: ["sh inv"], action: .text(
                "NAME: \"1\", DESCR: \"C9200L-24P-4G\"\nPID: C9200L-24P-4G     , VID: V01  , SN: JAE24FFFFFF\n\n\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
            CommandSpec("quit", action: .logout),
        ],
        // NOC Cisco.IOS: pager " --More-- " answered with space; IOS erases it with backspaces, spaces,
        // backspaces (Oxidized ios.rb's commented pager example strips "\cH+\s{8}").
        pager: .backspaced(" --More-- "),
        unknownCommand: iosInvalidInput,
        pipes: [.include, .exclude, .begin, .count],
        // IOS answers an SSH exec request ('ssh r1 show version') with that one command's output.
        supportsExec: true,
        // 'exit' / 'logout' from user or privileged EXEC ends the vty session.
        logout: LogoutBehavior(),
        // The recorded C9200L configuration ends with "end" and an empty line before the prompt.
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                // RANCID ios.pm and Oxidized ios.rb drop "Building configuration...", "Current configuration :
                // N bytes", "! Last configuration change at …", "! NVRAM config last updated at …".
                "~Building configuration...", "", "~Current configuration : {bytes} bytes", "!",
                "~! Last configuration change at {ios_clock} by {username}",
                "~! NVRAM config last updated at {ios_clock} by {username}", "!",
                "version 17.9", "service timestamps debug datetime msec", "service timestamps log datetime msec",
                "service password-encryption", "!", "hostname {hostname}", "!", "boot-start-marker", "boot-end-marker",
                "!", "enable secret 9 $9${secret}${b64}", "!",
                "username {username} privilege 15 secret 9 $9${secret}${b64}", "aaa new-model", "!",
                "aaa authentication login default group tacacs+ local",
                "aaa authorization exec default group tacacs+ local", "!", "ip domain name example.net", "!",
                "spanning-tree mode rapid-pvst", "!",
            ],
            block: [
                "interface GigabitEthernet{slot}/0/{port}", " description access port {n} - user segment {vlan}",
                " switchport access vlan {vlan}", " switchport mode access", " switchport port-security maximum 2",
                " spanning-tree portfast", " spanning-tree bpduguard enable", "!",
            ],
            footer: [
                "interface Vlan1", " ip address 10.0.0.2 255.255.255.0", "!",
                "ip access-list standard MGMT", " permit 10.0.0.0 0.0.0.255", "!",
                "router ospf 1", " router-id 10.255.0.1", " network 10.0.0.0 0.255.255.255 area 0", "!",
                "snmp-server community {secret} RO MGMT", "snmp-server host 10.42.0.34 version 2c {secret}",
                // RANCID ios.pm and Oxidized ios.rb: "ntp clock-period" changes without a configuration change.
                "~ntp clock-period {rand}", "ntp server 10.0.0.1",
                "tacacs server TAC1", " address ipv4 10.0.0.5", " key 7 {hex}", "!",
                "line con 0", " logging synchronous", "line vty 0 4", " password 7 {hex}", " transport input ssh",
                "!", "end",
            ]
        )
    )

    static let ciscoIOSVersion = """
        Cisco IOS XE Software, Version 17.09.04a
        Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_LITE_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)
        Technical Support: http://www.cisco.com/techsupport
        Copyright (c) 1986-2023 by Cisco Systems, Inc.

        {hostname} uptime is 44 weeks, 4 days, 1 hour, 16 minutes
        System image file is "flash:cat9k_lite_iosxe.17.09.04a.SPA.bin"

        """

    // MARK: - Cisco NX-OS

    /// `cisco_nxos`: Cisco NX-OS. Logs straight into `host#`.
    public static let ciscoNXOS = VendorEmulation(
        name: "cisco_nxos",
        sources: [
            "Oxidized lib/oxidized/model/nxos.rb", "Oxidized spec/model/data/nxos#C93180YC-FX3J_10.4.5#simulation.yaml",
            "RANCID nxos.pm", "Netmiko cisco/cisco_nxos_ssh.py", "Scrapli cisco_nxos", "NOC Cisco.NXOS profile",
        ],
        // The recorded C93180YC session's login text.
        banner: [
            "", "Cisco Nexus Operating System (NX-OS) Software", "TAC support: http://www.cisco.com/tac",
            "Copyright (C) 2002-2025, Cisco and/or its affiliates.", "All rights reserved.",
        ],
        // The recorded session shows the prompt as "\rHOST# ".
        promptPrefix: "\r",
        userPrompt: "{hostname}# ",
        commands: [
            // Oxidized nxos.rb: 'terminal length 0'; Netmiko cisco_nxos: 'terminal width 511'.
            CommandSpec("terminal length {n}", aliases: ["term len {n}"], action: .setPageLength(reply: "")),
            CommandSpec("terminal width {n}", aliases: ["term width {n}"], action: .text("")),
            CommandSpec("show running-config", aliases: ["sh run", "show run"], action: .showConfig(.native)),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Cisco Nexus Operating System (NX-OS) Software\n  NXOS: version 10.4(5)\n  cisco Nexus9000 C93180YC-FX3 Chassis\n")),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        // NOC Cisco.NXOS: pager "--More--".
        pager: .carriageReturned("--More--"),
        // Scrapli cisco_nxos failed_when_contains: "% Invalid command at '^' marker".
        unknownCommand: "{caret}\n% Invalid command at '^' marker.\n\n",
        pipes: [.noMore, .include, .exclude, .begin, .count],
        supportsExec: true,
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                // The recorded header; Oxidized nxos.rb and RANCID nxos.pm drop "!Time:"; "!Running configuration
                // last done at:" changes with every commit of anything.
                "", "!Command: show running-config", "~!Running configuration last done at: {unix_clock}",
                "~!Time: {unix_clock}", "", "version 10.4(5) Bios:version 01.11", "hostname {hostname}",
                "feature tacacs+", "feature interface-vlan", "feature lacp", "",
                "username {username} password 5 $5${secret}${b64}  role network-admin", "ip domain-lookup",
                "snmp-server user {username} network-admin auth md5 0x{hex} priv 0x{hex} localizedkey",
                "snmp-server community {secret} group network-operator", "tacacs-server key 7 \"{secret}\"", "",
                "vlan 1", "",
            ],
            block: [
                "interface Ethernet{slot}/{port}", "  description server port {n}", "  switchport access vlan {vlan}",
                "  spanning-tree port type edge", "  no shutdown", "",
            ],
            footer: [
                "interface mgmt0", "  vrf member management", "  ip address 192.0.2.10/24", "line console", "line vty",
                "boot nxos bootflash:/nxos64-cs.10.4.5.M.bin",
            ]
        )
    )

    // MARK: - Cisco IOS-XR

    /// `cisco_iosxr`: Cisco IOS-XR. Prompt `RP/0/RP0/CPU0:host#`; every command's output starts with a
    /// timestamp line until `terminal exec prompt no-timestamp`.
    public static let ciscoIOSXR = VendorEmulation(
        name: "cisco_iosxr",
        sources: [
            "Oxidized lib/oxidized/model/iosxr.rb", "RANCID iosxr.pm", "Netmiko cisco/cisco_xr.py",
            "Scrapli cisco_iosxr", "NOC Cisco.IOSXR profile",
        ],
        banner: [""],
        // RANCID iosxr.pm filters the command-line timestamp ("Mon Jan  6 10:00:03.456 UTC") that XR prints
        // before each command's output; Oxidized iosxr.rb sends 'terminal exec prompt no-timestamp'.
        commandTimestamp: "{xr_clock}",
        userPrompt: "RP/0/RP0/CPU0:{hostname}#",
        commands: [
            // Oxidized iosxr.rb post_login: 'terminal length 0', 'terminal width 0', 'terminal exec prompt no-timestamp'.
            CommandSpec("terminal length {n}", aliases: ["term len {n}"], action: .setPageLength(reply: "")),
            CommandSpec("terminal width {n}", aliases: ["term width {n}"], action: .text("")),
            CommandSpec("terminal exec prompt no-timestamp", action: .disableTimestamps(reply: "")),
            CommandSpec("show running-config", aliases: ["sh run", "show run"], action: .showConfig(.native)),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Cisco IOS XR Software, Version 7.3.2\nCopyright (c) 2013-2021 by Cisco Systems, Inc.\n")),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        pager: .backspaced(" --More-- "),
        unknownCommand: "{caret}\n% Invalid input detected at '^' marker.\n",
        pipes: [.include, .exclude, .begin, .count],
        supportsExec: true,
        logout: LogoutBehavior(),
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                // RANCID iosxr.pm drops "Building configuration..." and "!! Last configuration change at".
                "~Building configuration...", "!! IOS XR Configuration 7.3.2",
                "~!! Last configuration change at {unix_clock} by {username}", "!", "hostname {hostname}",
                "clock timezone UTC 0", "logging console disable", "domain name example.net",
                "username {username}", " group root-lr", " group cisco-support", " secret 10 $6${secret}${b64}", "!",
                "tacacs-server host 10.0.0.5 port 49", " key 7 {hex}", "!", "snmp-server community {secret} RO", "!",
            ],
            block: [
                "interface GigabitEthernet0/0/{slot}/{port}", " description core link {n}",
                " ipv4 address 10.{a}.{b}.1 255.255.255.252", " load-interval 30", "!",
            ],
            footer: [
                "router static", " address-family ipv4 unicast", "  0.0.0.0/0 10.0.0.1", " !", "!", "ssh server v2",
                "end",
            ]
        )
    )

    // MARK: - Cisco ASA

    /// `cisco_asa`: Cisco ASA (single context). `host>`, `enable` with a `*`-masked secret → `host#`.
    public static let ciscoASA = VendorEmulation(
        name: "cisco_asa",
        sources: [
            "Oxidized lib/oxidized/model/asa.rb", "Oxidized spec/model/data/asa#5512_9.12-4-67_single-context#simulation.yaml",
            "RANCID ios.pm (ASA)", "Netmiko cisco/cisco_asa_ssh.py", "NOC Cisco.ASA profile",
        ],
        // The recorded 5512 session: login statistics after login (they change on every login).
        banner: [
            "User {username} logged in to {hostname}",
            "Logins over the last 91 days: {run}.  Last login: {ios_clock} from 127.0.0.1",
            "Failed logins since the last login: 0.  ", "Type help or '?' for a list of available commands.",
        ],
        // The recorded prompts come as "\rHOST> " and "\rHOST# ".
        promptPrefix: "\r",
        userPrompt: "{hostname}> ",
        privilegedPrompt: "{hostname}# ",
        // The recording echoes the enable secret as '*'s ("Password: ******************").
        enable: EnableBehavior(
            maskCharacter: "*", retryMessage: "Invalid password\n", failureMessage: "Access denied.\n"),
        commands: [
            // Oxidized asa.rb / Netmiko cisco_asa_ssh: 'terminal pager 0'.
            CommandSpec("terminal pager {n}", aliases: ["term pager {n}"], action: .setPageLength(reply: "")),
            // Oxidized asa.rb backs up 'more system:running-config' (shows keys in clear); 'show running-config' too.
            CommandSpec("more system:running-config", action: .showConfig(.native), privileged: true),
            CommandSpec("show running-config", aliases: ["sh run", "show run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show mode", action: .text("Security context mode: single \n")),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Cisco Adaptive Security Appliance Software Version 9.12(4)67\n\n{hostname} up 42 days 3 hours\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
            CommandSpec("quit", action: .logout),
        ],
        // NOC Cisco.ASA: pager "<--- More --->".
        pager: .carriageReturned("<--- More --->"),
        // ASA prefixes IOS's message with "ERROR: ".
        unknownCommand: "{caret}\nERROR: % Invalid input detected at '^' marker.\n",
        pipes: [.include, .exclude, .begin, .count],
        logout: LogoutBehavior(farewell: "\nLogoff\n\n"),
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                // RANCID: ": Saved" and ": Written by … at …" change on every save (recorded 5512 header).
                "~: Saved", "", ": ", ": Serial Number: FCH1700A1B2",
                ": Hardware:   ASA5512, 4096 MB RAM, CPU Clarkdale 2800 MHz, 1 CPU (2 cores)",
                "~: Written by {username} at {asa_clock}", "!", "ASA Version 9.12(4)67 ", "!", "hostname {hostname}",
                "domain-name example.net", "enable password {b64} pbkdf2", "passwd {secret} encrypted", "names", "!",
            ],
            block: [
                "interface GigabitEthernet0/{n0}", " nameif inside{n}", " security-level 100",
                " ip address 10.{a}.{b}.1 255.255.255.0", "!",
            ],
            footer: [
                "ftp mode passive", "object network MGMT", " subnet 10.0.0.0 255.255.255.0",
                "access-list OUTSIDE extended permit icmp any any",
                "snmp-server host inside1 10.42.0.34 community {secret} version 2c", "snmp-server community {secret}",
                "username {username} password {b64} pbkdf2 privilege 15", "tunnel-group 192.0.2.1 type ipsec-l2l",
                "tunnel-group 192.0.2.1 ipsec-attributes", " ikev1 pre-shared-key {secret}",
                // The recorded configuration ends with ": end".
                ": end",
            ]
        )
    )

    // MARK: - Juniper Junos

    /// `juniper_junos`: Juniper Junos operational mode, prompt `user@host> `.
    public static let juniperJunos = VendorEmulation(
        name: "juniper_junos",
        sources: [
            "Oxidized lib/oxidized/model/junos.rb", "Oxidized spec/model/data/junos#srx300_22.4_wo_cluster#simulation.yaml",
            "RANCID junos.pm", "Netmiko juniper/juniper.py", "Scrapli juniper_junos", "NOC Juniper.JUNOS profile",
        ],
        // The recorded SRX300 login: "Last login: …" (changes per login) and the "--- JUNOS … built …" line.
        banner: ["Last login: {unix_clock} from 127.0.0.1", "--- JUNOS 22.4R3-S2.11 built 2024-05-10 20:45:39 UTC"],
        userPrompt: "{username}@{hostname}> ",
        commands: [
            // Oxidized junos.rb: 'set cli screen-length 0', 'set cli screen-width 0' — replies as recorded.
            CommandSpec("set cli screen-length {n}", action: .setPageLength(reply: "Screen length set to {n}\n\n")),
            CommandSpec("set cli screen-width {n}", action: .text("Screen width set to {n}\n\n")),
            // Netmiko juniper.py sends 'set cli complete-on-space off'.
            CommandSpec("set cli complete-on-space off", action: .text("Disabling complete-on-space\n\n")),
            CommandSpec("show configuration", action: .showConfig(.native)),
            CommandSpec("show version", action: .text(
                "Model: srx300\nJunos: 22.4R3-S2.11\nJUNOS Software Release [22.4R3-S2.11]\n\n")),
            CommandSpec("exit", action: .logout), CommandSpec("quit", action: .logout),
        ],
        // NOC Juniper.JUNOS: pager "---(more NN%)---".
        pager: .carriageReturned("---(more {percent}%)---"),
        // Junos: "unknown command." under a caret (Scrapli juniper_junos failed_when_contains "unknown command",
        // "syntax error").
        unknownCommand: "{caret}\nunknown command.\n",
        pipes: [.displaySet, .displayOmit, .noMore, .count],
        supportsExec: true,
        logout: LogoutBehavior(),
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                // RANCID junos.pm and the recorded SRX configuration: "## Last commit: … by user".
                "~## Last commit: {iso} UTC by {username}", "version 22.4R3-S2.11;", "system {",
                "    host-name {hostname};", "    root-authentication {",
                // The recorded "## SECRET-DATA" markers.
                "        encrypted-password \"$6${secret}${b64}\"; ## SECRET-DATA", "    }", "    login {",
                "        user {username} {", "            uid 2002;", "            class super-user;",
                "            authentication {",
                "                encrypted-password \"$6${secret}${b64}\"; ## SECRET-DATA", "            }",
                "        }", "    }", "    services {", "        ssh;", "        netconf {", "            ssh;",
                "        }", "    }", "    syslog {", "        file messages {", "            any notice;", "        }",
                "    }", "    ntp {", "        server 10.0.0.1;", "    }", "}", "snmp {", "    community {secret} {",
                "        authorization read-only;", "    }", "}", "interfaces {",
            ],
            block: [
                "    ge-0/{slot}/{port} {", "        description \"access port {n}\";", "        unit 0 {",
                "            family inet {", "                address 10.{a}.{b}.1/30;", "            }", "        }",
                "    }",
            ],
            footer: [
                "}", "routing-options {", "    static {", "        route 0.0.0.0/0 next-hop 10.0.0.1;", "    }", "}",
            ]
        )
    )

    // MARK: - Arista EOS

    /// `arista_eos`: Arista EOS. `host>`, `enable` (no password by default) → `host#`.
    public static let aristaEOS = VendorEmulation(
        name: "arista_eos",
        sources: [
            "Oxidized lib/oxidized/model/eos.rb", "Oxidized spec/model/data/eos#DCS-7050SX3-48YC8_4.29.2F#simulation.yaml",
            "Netmiko arista/arista.py", "Scrapli arista_eos", "NOC Arista.EOS profile",
        ],
        banner: [""],
        userPrompt: "{hostname}>",
        privilegedPrompt: "{hostname}#",
        // Oxidized eos.rb: "enable: true means we won't be prompted for a password".
        enable: EnableBehavior(failureMessage: "% Access denied\n"),
        commands: [
            // Netmiko arista.py waits for "Pagination disabled" after 'terminal length 0'; the message ends
            // without a newline, so the prompt follows on the same line (ENGINEERING.md §4).
            CommandSpec("terminal length 0", aliases: ["term len 0"], action: .disablePaging(reply: "Pagination disabled.")),
            CommandSpec("terminal length {n}", aliases: ["term len {n}"],
                        action: .setPageLength(reply: "Pagination set to {n} lines.\n")),
            // Scrapli arista_eos: 'terminal width 32767'; Netmiko expects "Width set to".
            CommandSpec("terminal width {n}", action: .text("Width set to {n} columns.\n")),
            CommandSpec("show running-config", aliases: ["sh run", "show run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Arista DCS-7050SX3-48YC8\nHardware version: 11.00\nSoftware image version: 4.29.2F\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        // NOC Arista.EOS: pager " --More-- ".
        pager: .carriageReturned(" --More-- "),
        // Netmiko arista / Scrapli arista_eos failed_when_contains: "% Invalid input".
        unknownCommand: "% Invalid input\n",
        // Oxidized eos.rb: 'show running-config | no-more | exclude ! Time:'.
        pipes: [.noMore, .include, .exclude, .begin, .count],
        supportsExec: true,
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                // Oxidized eos.rb excludes "! Time:", which changes on every run.
                "! Command: show running-config", "~! Time: {unix_clock}",
                "! device: {hostname} (DCS-7050SX3-48YC8, EOS-4.29.2F)", "!", "! boot system flash:/EOS-4.29.2F.swi",
                "!", "no aaa root", "!",
                "username {username} privilege 15 role network-admin secret sha512 $6${secret}${b64}", "!",
                "transceiver qsfp default-mode 4x10G", "!", "service routing protocols model multi-agent", "!",
                "hostname {hostname}", "!", "spanning-tree mode mstp", "!", "snmp-server community {secret} ro",
                // The recorded configuration has SNMP host communities ("snmp-server host 10.1.2.3 version 1 string123").
                "snmp-server host 10.1.2.3 version 2c {secret}", "!", "tacacs-server host 10.0.0.5 key 7 {hex}", "!",
            ],
            block: [
                "interface Ethernet{slot}/{port}", "   description server {n}", "   switchport access vlan {vlan}", "!",
            ],
            footer: ["interface Management1", "   ip address 192.0.2.10/24", "!", "ip routing", "!", "end"]
        )
    )

    // MARK: - Huawei VRP

    /// `huawei_vrp`: Huawei VRP. Prompt `<host>`.
    public static let huaweiVRP = VendorEmulation(
        name: "huawei_vrp",
        sources: [
            "Oxidized lib/oxidized/model/vrp.rb", "Netmiko huawei/huawei.py", "Scrapli huawei_vrp",
            "NOC Huawei.VRP profile",
        ],
        // VRP's VTY login notice (Netmiko huawei.py handles the login text before the first prompt).
        banner: [
            "", "Info: The max number of VTY users is 10, and the number",
            "      of current VTY users on line is 1.", "      The current login time is {iso}.",
        ],
        userPrompt: "<{hostname}>",
        commands: [
            // Oxidized vrp.rb, Netmiko huawei.py: 'screen-length 0 temporary'.
            CommandSpec("screen-length 0 temporary", action: .disablePaging(
                reply: "Info: The configuration takes effect on the current user terminal interface only.\n")),
            CommandSpec("display current-configuration", aliases: ["dis cur", "display current", "disp cur"],
                        action: .showConfig(.native)),
            CommandSpec("display version", aliases: ["dis ver"], action: .text(
                "Huawei Versatile Routing Platform Software\nVRP (R) software, Version 5.170 (S5720 V200R019C10SPC500)\n")),
            // Oxidized vrp.rb pre_logout 'quit'.
            CommandSpec("quit", action: .logout),
        ],
        // NOC Huawei.VRP: pager "  ---- More ----", erased with ESC[42D, spaces, ESC[42D.
        pager: .cursorLeft("  ---- More ----", columns: 42),
        // NOC Huawei.VRP syntax errors: "Error: Unrecognized command found at '^' position.".
        unknownCommand: "{caret}\nError: Unrecognized command found at '^' position.\n",
        pipes: [.include, .exclude, .begin, .count],
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                // Oxidized vrp.rb removes timestamp lines such as "2025-01-06 10:00:03.123+00:00".
                "~{iso_ms}+00:00", "!Software Version V200R019C10SPC500", "#", " sysname {hostname}", "#",
                " vlan batch 10 20", "#", "aaa", " local-user {username} password irreversible-cipher $1a${secret}${b64}$",
                " local-user {username} privilege level 15", " local-user {username} service-type ssh", "#",
                // Oxidized vrp.rb hides "%^%#…%^%#" ciphers.
                " snmp-agent community read cipher %^%#{b64}%^%#", "#",
            ],
            block: [
                "interface GigabitEthernet0/{slot}/{port}", " description access-{n}", " port link-type access",
                " port default vlan {vlan}", "#",
            ],
            footer: [
                "ip route-static 0.0.0.0 0.0.0.0 10.0.0.1", "#", " stelnet server enable",
                " ssh user {username} authentication-type password", " ssh user {username} service-type stelnet", "#",
                "user-interface vty 0 4", " authentication-mode aaa", " protocol inbound ssh", "#",
                // A VRP configuration ends with "return".
                "return",
            ]
        )
    )

    // MARK: - H3C Comware

    /// `h3c_comware`: H3C / HPE Comware. Prompt `<host>`; `super` + password raises the privilege.
    public static let h3cComware = VendorEmulation(
        name: "h3c_comware",
        sources: [
            "Oxidized lib/oxidized/model/comware.rb", "Oxidized spec/model/data/h3c#5130-48G_7.1.070#simulation.yaml",
            "Scrapli hp_comware", "NOC HP.Comware profile",
        ],
        // The recorded 5130 login box.
        banner: [
            "******************************************************************************",
            "* Copyright (c) 2010-2023 Hewlett Packard Enterprise Development LP          *",
            "* Without the owner's prior written consent,                                 *",
            "* no decompiling or reverse-engineering shall be allowed.                    *",
            "******************************************************************************", "",
        ],
        userPrompt: "<{hostname}>",
        // Oxidized comware.rb: enable is 'super' then the password at "Password:".
        enable: EnableBehavior(
            command: "super", passwordPrompt: "Password:", failureMessage: "Password is wrong.\n",
            disableCommand: nil),
        commands: [
            // Oxidized comware.rb: 'screen-length disable', 'undo terminal monitor'.
            CommandSpec("screen-length disable", action: .disablePaging(reply: "")),
            CommandSpec("undo terminal monitor", action: .text("Info: Current terminal monitor is off.\n")),
            CommandSpec("display current-configuration", aliases: ["dis cur", "display current"],
                        action: .showConfig(.native)),
            CommandSpec("display version", aliases: ["dis ver"], action: .text(
                "H3C Comware Software, Version 7.1.070, Release 3208P10\n")),
            CommandSpec("super", action: .enable),
            // Oxidized comware.rb pre_logout 'quit'.
            CommandSpec("quit", action: .logout),
        ],
        // NOC HP.Comware: pager "  ---- More ----", erased with ESC[16D, spaces, ESC[16D.
        pager: .cursorLeft("  ---- More ----", columns: 16),
        // Scrapli hp_comware failed_when_contains: "% Unrecognized command found at '^' position.".
        unknownCommand: "{caret}\n % Unrecognized command found at '^' position.\n",
        pipes: [.include, .exclude, .begin, .count],
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                "#", " version 7.1.070, Release 3208P10", "#", " sysname {hostname}", "#",
                " clock timezone UTC add 00:00:00", "#", " password-recovery enable", "#", "vlan 1", "#",
                "local-user {username} class manage", " password hash $h$6${secret}${b64}", " service-type ssh",
                " authorization-attribute user-role network-admin", "#",
                " snmp-agent community read simple {secret}", "#",
            ],
            block: [
                "interface GigabitEthernet1/{slot}/{port}", " port link-mode bridge", " description access-{n}",
                " port access vlan {vlan}", "#",
            ],
            footer: [
                " ip route-static 0.0.0.0 0 10.0.0.1", "#", "line vty 0 63", " authentication-mode scheme",
                " user-role network-operator", "#", " ssh server enable", "#", "return",
            ]
        )
    )

    // MARK: - HPE ProCurve / ArubaOS-Switch

    /// `hp_procurve`: HPE ProCurve / ArubaOS-Switch: "Press any key to continue", VT100 painting, `host# `.
    public static let hpProCurve = VendorEmulation(
        name: "hp_procurve",
        sources: [
            "Oxidized lib/oxidized/model/procurve.rb", "Netmiko hp/hp_procurve.py", "NOC HP.ProCurve profile",
        ],
        banner: [
            "", "HP J9773A 2530-24G-PoEP Switch", "Software revision YA.16.02.0012", "",
            "(C) Copyright 2017 Hewlett Packard Enterprise Development LP", "",
        ],
        // Oxidized procurve.rb: expect "Press any key to continue" → send ' '; the switch then paints its screen
        // with VT100 sequences that procurve.rb strips.
        anyKeyPrompt: "Press any key to continue",
        afterAnyKey: "\u{1B}[2J\u{1B}[?7h\u{1B}[1;24r\u{1B}[?6l\u{1B}[24;1H",
        // Oxidized procurve.rb prompt: "HOST# " (the prompt ends with a space).
        userPrompt: "{hostname}> ",
        privilegedPrompt: "{hostname}# ",
        enable: EnableBehavior(failureMessage: "Invalid password\n"),
        commands: [
            // Oxidized procurve.rb: 'no page'; Netmiko hp_procurve: 'terminal width 511'.
            CommandSpec("no page", action: .disablePaging(reply: "")),
            CommandSpec("page", action: .enablePaging(reply: "")),
            CommandSpec("terminal width {n}", action: .text("")),
            CommandSpec("terminal length {n}", action: .setPageLength(reply: "")),
            CommandSpec("show running-config", aliases: ["show run", "sh run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Image stamp:    /ws/swbuildm/rel_ukiah_qaoff/code/build/bom(swbuildm_rel_ukiah_qaoff_rel_ukiah)\n                 YA.16.02.0012\n")),
            CommandSpec("enable", action: .enable),
            // Oxidized procurve.rb pre_logout "logout\ny\nn": confirm logout, do not save.
            CommandSpec("logout", action: .logout), CommandSpec("exit", action: .logout),
        ],
        // NOC HP.ProCurve: "-- MORE --, next page: Space, next line: Enter, quit: Control-C".
        pager: PagerStyle(mark: "-- MORE --, next page: Space, next line: Enter, quit: Control-C", erase: "\r\u{1B}[2K"),
        // NOC HP.ProCurve syntax error "Invalid input: "; Oxidized procurve.rb strips "Invalid input: …" lines.
        unknownCommand: "Invalid input: {word}\n",
        pipes: [.include, .exclude, .begin],
        logout: LogoutBehavior(confirmations: [
            "Do you want to log out [y/n]? ", "Do you want to save current configuration [y/n/^C]? ",
        ]),
        config: ConfigTemplate(
            header: [
                "Running configuration:", "", "; J9773A Configuration Editor; Created on release #YA.16.02.0012",
                "; Ver #0e:01.b0.ee.34.5f.38.73.ff.fc.ff.ff.3f.ef:44", "hostname \"{hostname}\"",
                "module 1 type j9773a", "snmp-server community \"{secret}\" unrestricted",
                "radius-server host 10.0.0.5 key \"{secret}\"",
            ],
            block: [
                "vlan {vlan}", "   name \"VLAN{vlan}\"", "   untagged {port}",
                "   ip address 10.{a}.{b}.1 255.255.255.0", "   exit",
            ],
            footer: ["password manager user-name \"{username}\" sha1 \"{hex}\""]
        )
    )

    // MARK: - HPE Aruba AOS-CX

    /// `aruba_aoscx`: HPE Aruba AOS-CX: prompt `host# ` (with a trailing space).
    public static let arubaAOSCX = VendorEmulation(
        name: "aruba_aoscx",
        sources: [
            "Oxidized lib/oxidized/model/aoscx.rb", "Oxidized spec/model/data/aoscx#6100-48G_PL.10.10.1090#simulation.yaml",
            "Netmiko aruba/aruba_aoscx.py", "NOC HP.Aruba profile",
        ],
        banner: [""],
        // The recorded prompt ends with a space: "TEST-SW1235# ".
        userPrompt: "{hostname}> ",
        privilegedPrompt: "{hostname}# ",
        enable: EnableBehavior(failureMessage: "% Bad password\n"),
        commands: [
            // Oxidized aoscx.rb and Netmiko aruba_aoscx: 'no page' (recorded: no reply).
            CommandSpec("no page", action: .disablePaging(reply: "")),
            CommandSpec("page", action: .enablePaging(reply: "")),
            CommandSpec("show running-config", aliases: ["show run", "sh run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "-----------------------------------------------------------------------------\nArubaOS-CX\n(c) Copyright 2017-2022 Hewlett Packard Enterprise Development LP\n-----------------------------------------------------------------------------\nVersion      : PL.10.10.1090\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            CommandSpec("exit", action: .logout),
        ],
        pager: .carriageReturned("-- MORE --, next page: Space, next line: Enter, quit: q"),
        unknownCommand: "Invalid input: {word}\n",
        pipes: [.include, .exclude, .begin, .count],
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                // The recorded 6100 configuration's first lines.
                "Current configuration:", "!", "!Version ArubaOS-CX PL.10.10.1090", "!export-password: default",
                "hostname {hostname}", "user {username} group administrators password ciphertext {b64}",
                "snmp-server community {secret}", "radius-server host 10.0.0.5 key ciphertext {b64}",
                "ntp server 10.0.0.1", "!", "vlan 1",
            ],
            block: [
                "interface 1/{slot}/{port}", "    description access {n}", "    no shutdown", "    vlan access {vlan}",
            ],
            footer: ["interface vlan 1", "    ip dhcp", "!", "https-server vrf default"]
        )
    )

    // MARK: - MikroTik RouterOS

    /// `mikrotik_routeros`: MikroTik RouterOS; backups run on exec channels (`/export`).
    ///
    /// Emulates RouterOS 6, whose `/export` shows sensitive values (RouterOS 7 hides them unless
    /// `show-sensitive` is given).
    public static let mikrotikRouterOS = VendorEmulation(
        name: "mikrotik_routeros",
        sources: [
            "Oxidized lib/oxidized/model/routeros.rb", "Oxidized spec/model/data/routeros#CHR_7.16#simulation.yaml",
            "Netmiko mikrotik/mikrotik_ssh.py",
        ],
        banner: ["", "  MikroTik RouterOS 6.49.10 (c) 1999-2023       https://www.mikrotik.com/", ""],
        // MikroTik manual, "Console login options": 'admin+ct511w4098h' sets the terminal size, so a tall
        // terminal gets no pager (Netmiko's mikrotik driver adds such a suffix to the user name).
        loginOptionsSeparator: "+",
        // Oxidized routeros.rb prompt: "[user@host] > ".
        userPrompt: "[{username}@{hostname}] > ",
        commands: [
            CommandSpec("/export", action: .showConfig(.native)),
            CommandSpec("/export show-sensitive", action: .showConfig(.native)),
            CommandSpec("export", action: .showConfig(.native)),
            // Oxidized routeros.rb runs '/system routerboard print'.
            CommandSpec("/system routerboard print", action: .text(
                "       routerboard: yes\n             model: RB5009UPr+S+\n     serial-number: HF0000000001\n     firmware-type: 70x0\n  factory-firmware: 7.4beta4\n  current-firmware: 6.49.10\n")),
            // The recorded CHR session: 'quit' prints "interrupted".
            CommandSpec("quit", action: .logout), CommandSpec("/quit", action: .logout),
        ],
        pager: .carriageReturned("-- [Q quit|D dump|down]"),
        unknownCommand: "bad command name {word} (line 1 column 1)\n",
        // Oxidized routeros.rb: `cfg :ssh do exec true end`.
        supportsExec: true,
        logout: LogoutBehavior(farewell: "interrupted\n"),
        config: ConfigTemplate(
            header: [
                // Oxidized routeros.rb drops "# jan/02/2025 10:00:03 by RouterOS …" (RouterOS 6 date format).
                "~# {ros6_clock} by RouterOS 6.49.10", "# software id = AB12-CD34", "#", "# model = RB5009UPr+S+",
                "# serial number = HF0000000001", "/interface bridge", "add name=bridge1", "/ip address",
            ],
            block: ["add address=10.{a}.{b}.1/24 interface=ether{n} network=10.{a}.{b}.0"],
            footer: [
                "/ip ipsec peer", "add address=192.0.2.1/32 secret={secret}", "/ip route",
                "add distance=1 gateway=10.0.0.1", "/ppp secret", "add name=vpn-user password={secret} service=l2tp",
                "/snmp community", "set [ find default=yes ] addresses=10.0.0.0/24 name={secret}",
                "/system identity", "set name={hostname}",
            ]
        )
    )

    // MARK: - Fortinet FortiOS

    /// `fortinet_fortios`: Fortinet FortiOS (FortiGate): prompt `host # `; paging is changed through
    /// `config system console` / `set output standard` / `end`.
    public static let fortinetFortiOS = VendorEmulation(
        name: "fortinet_fortios",
        sources: [
            "Oxidized lib/oxidized/model/fortios.rb", "Oxidized spec/model/data/fortigate#FortiGate-91G_7.4.7#simulation.yaml",
            "RANCID fortigate.pm", "Netmiko fortinet/fortinet_ssh.py",
        ],
        // The recorded FortiGate-91G prompt: "TEST-FW1234 # ".
        userPrompt: "{hostname} # ",
        commands: [
            // Netmiko fortinet_ssh.py disables paging with 'config system console', 'set output standard', 'end'.
            CommandSpec("config system console", action: .enterMode("console", prompt: "{hostname} (console) # ")),
            CommandSpec("set output standard", action: .disablePaging(reply: ""), mode: "console"),
            CommandSpec("set output more", action: .enablePaging(reply: ""), mode: "console"),
            CommandSpec("end", action: .exitMode, mode: "console"),
            // Oxidized fortios.rb backs up 'show' (recorded as 'show | grep .'); 'show full-configuration' too.
            CommandSpec("show", action: .showConfig(.native)),
            CommandSpec("show full-configuration", action: .showConfig(.native)),
            CommandSpec("get system status", action: .text(
                "Version: FortiGate-91G v7.4.7,build2731,250120 (GA.M)\nSerial-Number: FG91GTK000000000\nHostname: {hostname}\n")),
            // Oxidized fortios.rb pre_logout 'exit'.
            CommandSpec("exit", action: .logout),
        ],
        // Oxidized fortios.rb: expect "^--More--\s$" → space; the erase junk is "\r +\r".
        pager: .carriageReturned("--More-- "),
        unknownCommand: "Unknown action 0\n",
        pipes: [.grep],
        logout: LogoutBehavior(),
        config: ConfigTemplate(
            header: [
                // Oxidized fortios.rb rejects "#config-version=" and RANCID fortigate.pm "#conf_file_ver=": both
                // change without a configuration change (recorded 91G header).
                "~#config-version=FGT91G-7.4.7-FW-build2731-250120:opmode=1:vdom=0:user={username}",
                "~#conf_file_ver={rand}{rand}", "#buildno=2731", "#global_vdom=1", "config system global",
                "    set admin-restrict-local enable", "    set alias \"FortiGate-91G\"", "    set hostname \"{hostname}\"",
                "    set timezone \"Europe/Berlin\"", "end", "config system admin", "    edit \"{username}\"",
                "        set accprofile \"super_admin\"", "        set password ENC SH2{b64}", "    next", "end",
                "config system snmp community", "    edit 1", "        set name \"{secret}\"", "    next", "end",
                "config vpn ipsec phase1-interface", "    edit \"to-hq\"", "        set psksecret ENC {b64}", "    next",
                "end", "config firewall address",
            ],
            block: ["    edit \"net-{n}\"", "        set subnet 10.{a}.{b}.0 255.255.255.0", "    next"],
            footer: [
                "end", "config router static", "    edit 1", "        set gateway 10.0.0.1",
                "        set device \"wan1\"", "    next", "end",
            ]
        )
    )

    // MARK: - Palo Alto PAN-OS

    /// `paloalto_panos`: Palo Alto Networks PAN-OS: prompt `user@host> `.
    public static let paloAltoPANOS = VendorEmulation(
        name: "paloalto_panos",
        sources: ["Oxidized lib/oxidized/model/panos.rb", "Netmiko paloalto/paloalto_panos.py", "Scrapli paloalto_panos"],
        banner: ["", "Number of failed attempts since last successful login: 0", ""],
        // Scrapli paloalto_panos: prompt "user@host> ".
        userPrompt: "{username}@{hostname}> ",
        commands: [
            // Oxidized panos.rb post_login 'set cli pager off'.
            CommandSpec("set cli pager off", action: .disablePaging(reply: "")),
            CommandSpec("set cli pager on", action: .enablePaging(reply: "")),
            CommandSpec("show config running", action: .showConfig(.native)),
            CommandSpec("show system info", action: .text(
                "hostname: {hostname}\nmodel: PA-VM\nsw-version: 10.2.4\n")),
            // Oxidized panos.rb pre_logout 'quit'.
            CommandSpec("quit", action: .logout), CommandSpec("exit", action: .logout),
        ],
        // PAN-OS pages through less: "lines 1-23 " (the vendor profile also accepts this form).
        pager: .carriageReturned("lines {from}-{to} "),
        // Scrapli paloalto_panos failure text: "Unknown command:".
        unknownCommand: "Unknown command: {word}\n",
        logout: LogoutBehavior(),
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                "config {", "  mgt-config {", "    users {", "      {username} {", "        phash $5${secret}${b64};",
                "        permissions {", "          role-based {", "            superuser yes;", "          }",
                "        }", "      }", "    }", "  }", "  devices {", "    localhost.localdomain {",
                "      deviceconfig {", "        system {", "          hostname {hostname};",
                "          snmp-setting {", "            access-setting {", "              version {",
                "                v2c {", "                  snmp-community-string {secret};", "                }",
                "              }", "            }", "          }", "        }", "      }", "      network {",
                "        interface {", "          ethernet {",
            ],
            block: [
                "            ethernet1/{n} {", "              layer3 {", "                ip {",
                "                  10.{a}.{b}.1/24;", "                }", "              }", "            }",
            ],
            footer: [
                "          }", "        }", "        ike {", "          gateway {", "            hq {",
                "              authentication {", "                pre-shared-key {",
                "                  key -AQ=={b64};", "                }", "              }", "            }",
                "          }", "        }", "      }", "    }", "  }", "}",
            ]
        )
    )

    // MARK: - Dell OS6

    /// `dell_os6`: Dell PowerConnect / Dell EMC Networking OS6. `host>`, `enable` → `host#`; `exit` in
    /// privileged mode returns to user mode.
    public static let dellOS6 = VendorEmulation(
        name: "dell_os6",
        sources: [
            "Oxidized lib/oxidized/model/os6.rb", "Oxidized lib/oxidized/model/netgear.rb (same OS family pager)",
            "Netmiko dell/dell_dnos6.py", "NOC Dell.DNOS6 profile",
        ],
        banner: [""],
        userPrompt: "{hostname}>",
        privilegedPrompt: "{hostname}#",
        enable: EnableBehavior(failureMessage: "% Bad passwords\n"),
        commands: [
            // Oxidized os6.rb / Netmiko dell_dnos6: 'terminal length 0'.
            CommandSpec("terminal length {n}", aliases: ["term len {n}"], action: .setPageLength(reply: "")),
            CommandSpec("show running-config", aliases: ["show run", "sh run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "Machine Description............... Dell Networking Switch\nSystem Model ID................... N2048\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            // Oxidized os6.rb pre_logout 'exit' twice: leave privileged mode, then log out.
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        // Oxidized netgear.rb (same OS family) pages with "--More-- or (q)uit".
        pager: .backspaced("--More-- or (q)uit"),
        // Oxidized os6.rb strips "% Invalid input detected at '^' marker." and the caret line.
        unknownCommand: iosInvalidInput,
        pipes: [.include, .exclude, .begin],
        logout: LogoutBehavior(leavesPrivilegeFirst: true),
        config: ConfigTemplate(
            header: [
                "!Current Configuration:", "!System Description \"Dell Networking N2048, 6.6.0.2, Linux 4.14.138\"",
                "!System Software Version 6.6.0.2", "!Cut-through mode is configured as disabled", "!", "configure",
                "hostname \"{hostname}\"", "slot 1/0 2    ! Dell Networking N2048", "stack", "member 1 2    ! N2048",
                "exit", "username \"{username}\" password {hex} privilege 15 encrypted",
                "enable password {hex} encrypted", "snmp-server community \"{secret}\" rw", "vlan 10,20", "exit",
            ],
            block: [
                "interface Gi{slot}/0/{port}", "description \"access {n}\"", "switchport access vlan {vlan}", "exit",
                "!",
            ],
            footer: ["tacacs-server host 10.0.0.5", "key {secret}", "exit", "exit"],
            endMarkerLines: 2
        )
    )

    // MARK: - Ruijie RGOS

    /// `ruijie_rgos`: Ruijie RGOS (IOS-like). `host>`, `enable` → `host#`.
    public static let ruijieRGOS = VendorEmulation(
        name: "ruijie_rgos",
        sources: ["Oxidized lib/oxidized/model/rgos.rb", "Netmiko ruijie/ruijie_os.py"],
        banner: [""],
        userPrompt: "{hostname}>",
        privilegedPrompt: "{hostname}#",
        // Netmiko ruijie_os.py: enable first (CiscoBaseConnection behaviour).
        enable: EnableBehavior(failureMessage: "% Access denied.\n"),
        commands: [
            // Oxidized rgos.rb: 'terminal length 0', 'terminal width 0'; Netmiko ruijie_os: 'terminal width 256'.
            CommandSpec("terminal length {n}", aliases: ["term len {n}"], action: .setPageLength(reply: "")),
            CommandSpec("terminal width {n}", action: .text("")),
            CommandSpec("show running-config", aliases: ["show run", "sh run"], action: .showConfig(.native),
                        privileged: true),
            CommandSpec("show version", aliases: ["sh ver"], action: .text(
                "System description      : Ruijie Gigabit Security & Intelligence Access Switch (S2910-24GT4XS-E)\nSystem software version : S29E_RGOS 11.4(1)B12P8\n")),
            CommandSpec("enable", action: .enable),
            CommandSpec("disable", action: .disable, privileged: true),
            // Oxidized rgos.rb pre_logout 'exit'.
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        pager: .backspaced(" --More-- "),
        // RGOS follows IOS here (Netmiko ruijie_os derives from the Cisco base class).
        unknownCommand: iosInvalidInput,
        pipes: [.include, .exclude, .begin],
        logout: LogoutBehavior(),
        afterConfig: "\n",
        config: ConfigTemplate(
            header: [
                // Oxidized rgos.rb removes "Building configuration..." and "Current configuration : N bytes".
                "~Building configuration...", "~Current configuration : {bytes} bytes", "",
                "version RGOS 11.4(1)B12P8", "hostname {hostname}", "!", "enable secret 5 $1${secret}${b64}",
                "username {username} privilege 15 password 7 {hex}", "!", "snmp-server community {secret} ro", "!",
            ],
            block: [
                "interface GigabitEthernet {slot}/{port}", " switchport access vlan {vlan}", " description access-{n}",
                "!",
            ],
            footer: ["line vty 0 4", " login local", "!", "end"]
        )
    )

    // MARK: - Linux

    /// `linux`: a generic Linux host: `cat` of system files on exec channels (and a plain shell).
    ///
    /// The configuration is `/etc/hosts`; `/etc/passwd` carries a legacy password hash for scrubbing tests.
    public static let linux = VendorEmulation(
        name: "linux",
        sources: ["Oxidized lib/oxidized/model/linuxgeneric.rb", "Netmiko linux/linux_ssh.py", "coreutils cat(1)"],
        lineEnding: "\n",
        userPrompt: "{username}@{hostname}:~$ ",
        commands: [
            CommandSpec("cat /etc/hosts", action: .showConfig(.native)),
            CommandSpec("cat /etc/hostname", action: .text("{hostname}\n")),
            CommandSpec("cat /etc/resolv.conf", action: .text("search example.net\nnameserver 10.0.0.53\n")),
            CommandSpec("cat /etc/fstab", action: .text(
                "UUID=0a1b2c3d-0000-4000-8000-000000000001 /     ext4 errors=remount-ro 0 1\nUUID=0a1b2c3d-0000-4000-8000-000000000002 none  swap sw                0 0\n")),
            CommandSpec("cat /etc/passwd", action: .text(
                "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n{username}:x:1000:1000:{username}:/home/{username}:/bin/bash\nlegacy:$6${secret}${b64}:1001:1001::/home/legacy:/bin/sh\n")),
            CommandSpec("cat /etc/group", action: .text(
                "root:x:0:\ndaemon:x:1:\nsudo:x:27:{username}\n{username}:x:1000:\nlegacy:x:1001:\n")),
            CommandSpec("cat /etc/shadow", action: .failure("cat: /etc/shadow: Permission denied\n", exitStatus: 1)),
            CommandSpec("hostname", action: .text("{hostname}\n")),
            CommandSpec("exit", action: .logout), CommandSpec("logout", action: .logout),
        ],
        pager: .carriageReturned(""),
        pageLength: 0,
        unknownCommand: "-bash: {word}: command not found\n",
        supportsExec: true,
        logout: LogoutBehavior(farewell: "logout\n"),
        config: ConfigTemplate(
            header: ["127.0.0.1\tlocalhost", "127.0.1.1\t{hostname}.example.net {hostname}", ""],
            block: ["10.{a}.{b}.10\tnode{n}.example.net node{n}"],
            footer: [
                "", "# The following lines are desirable for IPv6 capable hosts", "::1     localhost ip6-localhost ip6-loopback",
                "ff02::1 ip6-allnodes", "ff02::2 ip6-allrouters",
            ]
        )
    )
}
