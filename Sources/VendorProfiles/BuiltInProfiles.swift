public import DeviceTransport

// The built-in profiles. The vendor facts behind them (prompts, pager marks, paging commands, enable
// behaviour, error strings, volatile lines) are public record in Oxidized's models, RANCID's device
// scripts, Netmiko's and Scrapli's platform classes and the NOC project's profiles; the tests name the
// source of each quirk. The patterns and rules themselves are written for this library.

extension AlgorithmPreferences {
    /// Preferences that reach old network gear (SHA-1 key exchange, CBC ciphers, `ssh-rsa` host keys)
    /// while still preferring modern algorithms. Use it in a profile's ``VendorProfile/algorithms`` or on
    /// a device's connection target.
    public static let legacyNetworkGear = AlgorithmPreferences(
        keyExchange: [
            "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256",
            "diffie-hellman-group-exchange-sha256", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1",
            "diffie-hellman-group1-sha1",
        ],
        hostKey: ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss"],
        ciphers: ["aes128-ctr", "aes256-ctr", "aes128-cbc", "aes256-cbc", "3des-cbc"],
        macs: ["hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"]
    )
}

/// Shared pieces of Cisco-like CLIs.
private enum CiscoLike {
    /// `host>`, `host#`, `host(config)#`, with an optional space.
    static let prompt = #"^(?<hostname>[\w.@/:-]{1,63})(?:\([\w.@/:+-]{0,32}\))?[>#]\s?$"#
    static let morePager = Interaction(pattern: #"^\s*--More--\s*$"#, send: " ")
    static let errors = [
        #"^% ?Invalid input"#, #"^% ?Incomplete command"#, #"^% ?Ambiguous command"#, #"^% ?Unknown command"#,
        #"(?i)command authorization failed"#, #"^% ?Authorization failed"#,
    ]
    static let snmpCommunity = SecretRule(#"^snmp-server community (?<secret>\S+)"#)
    /// `ntp authentication-key N md5 KEY [7]` on IOS (IOS Basic System Management Command Reference: the
    /// encryption type follows the key) and `ntp authentication-key N md5 [0|7|8a] KEY` on EOS (EOS User
    /// Manual, NTP): one rule skips a type digit before the key, never a key that merely starts with one.
    static let ntpAuthenticationKey = SecretRule(#"^ntp authentication-key \d+ \S+(?: (?:[078]|8a))? (?<secret>\S+)"#)
}

/// Rules every built-in profile carries.
private enum CommonRules {
    /// Credentials in a URL — `scp://user:pass@host/file`, `ftp://…`, `https://…` — in archive paths, boot,
    /// copy and backup commands of any vendor: the password is RFC 3986's userinfo after the first `:`,
    /// up to the `@`. A `host:port/…` (a port, then the path) is not a password.
    static let urlCredentials = SecretRule(
        #"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:"']+:(?<secret>(?![0-9]+(?:/|$))[^@\s"']+)@"#)
}

extension VendorProfile {
    /// Every built-in profile: Cisco IOS, NX-OS, IOS-XR and ASA, Junos, EOS, VRP, Comware, ProCurve, AOS-CX,
    /// RouterOS, FortiOS, PAN-OS, Dell OS6, RGOS and Linux. Encode one (``encodedDocument(format:)``) to
    /// start a custom profile from it.
    public static let builtIn: [VendorProfile] = [
        ciscoIOS, ciscoNXOS, ciscoIOSXR, ciscoASA, juniperJunos, aristaEOS, huaweiVRP, h3cComware, hpProCurve,
        arubaAOSCX, mikrotikRouterOS, fortinetFortiOS, paloAltoPANOS, dellOS6, ruijieRGOS, linux,
    ]

    /// `cisco_ios`: Cisco IOS and IOS-XE.
    public static let ciscoIOS = VendorProfile(
        name: "cisco_ios",
        description: "Cisco IOS / IOS-XE",
        prompt: CiscoLike.prompt,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0", "terminal width 0"],
        pagers: [CiscoLike.morePager],
        commands: [
            BackupCommand("show inventory", kind: .comment, optional: true),
            BackupCommand("show running-config", timeoutSeconds: 120),
        ],
        errorPatterns: CiscoLike.errors,
        volatileLines: [
            #"^Building configuration\.\.\.\s*$"#,
            #"^Current configuration\s*:\s*\d+ bytes\s*$"#,
            #"^! (Last|No) configuration change (at|since) "#,
            #"^! NVRAM config last updated at "#,
            #"^ntp clock-period \d+"#,
        ],
        secretRules: [
            CiscoLike.snmpCommunity,
            SecretRule(
                #"^snmp-server host \S+(?: vrf \S+)?(?: informs| traps)?(?: version (?:1|2c|3 (?:auth|noauth|priv)))? (?<secret>(?!(?:vrf|informs|traps|version)\b)\S+)"#
            ),
            SecretRule(#"^username \S+ .*?(?:password|secret)(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"^enable (?:password|secret)(?: level \d+)?(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"^\s+(?:password|secret)(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"^(?:tacacs-server|radius-server)\b.*? key(?: \d+)? (?<secret>\S+)"#),
            // `key [0|6|7] KEY` in `tacacs server`/`radius server` blocks, `server-key` under `aaa server radius
            // dynamic-author` (IOS-XE Security Command Reference). A key chain's `key 1` is the key's number,
            // not a secret (IOS key chain: `key chain NAME` / ` key 1` / `  key-string …`): a lone number is
            // left alone, except inside a server block, where it can only be the key.
            SecretRule(#"^\s+(?:key|server-key) [067] (?<secret>\S+)"#),
            SecretRule(#"^\s+(?:key|server-key) (?<secret>(?![0-9]+\s*$)\S+)\s*$"#),
            SecretRule(#"^\s+key (?<secret>\S+)\s*$"#, sectionStart: #"^(?:tacacs|radius) server \S"#, sectionEnd: #"^\S"#),
            SecretRule(#"^\s+key-string(?: \d+)? (?<secret>\S+)"#),
            // `crypto isakmp key [0|6] KEY {address|hostname} …` (IOS Security Command Reference): the key is the
            // word before `address`/`hostname`, not the type digit before it.
            SecretRule(#"^crypto isakmp key (?:[06] )?(?<secret>\S+) (?:address|hostname)\b"#),
            SecretRule(#"^\s+ip ospf (?:message-digest-key \d+ md5|authentication-key)(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"^\s+neighbor \S+ password(?: \d+)? (?<secret>\S+)"#),
            // HSRP and VRRP: `standby [N] authentication {text KEY | md5 key-string [0|7] KEY | KEY}`, `vrrp N
            // authentication {text KEY | md5 key-string [0|7] KEY}` (IOS First Hop Redundancy Protocols Command
            // Reference); `md5 key-chain NAME` names a key chain, not a secret.
            SecretRule(#"^\s+standby(?: \d+)? authentication (?:text |md5 key-string (?:[07] )?)?(?<secret>(?!(?:md5|text)\b)\S+)"#),
            SecretRule(#"^\s+vrrp \d+ authentication (?:text |md5 key-string (?:[07] )?)?(?<secret>(?!(?:md5|text)\b)\S+)"#),
            SecretRule(#"^\s+pre-shared-key(?: \S+)*? (?<secret>\S+)$"#),
            // PPP on an interface: `ppp chap password [0|7] SECRET`, `ppp pap sent-username NAME password [0|7]
            // SECRET` (IOS Dial Technologies Command Reference); `ppp chap hostname NAME` is not secret.
            SecretRule(#"^\s+ppp (?:chap|ms-chap|ms-chap-v2) password(?: [07])? (?<secret>\S+)"#),
            SecretRule(#"^\s+ppp pap sent-username \S+ password(?: [07])? (?<secret>\S+)"#),
            // `dot11 ssid NAME` / ` wpa-psk {ascii|hex} [0|7] KEY` (IOS wireless; Oxidized ios.rb hides it too).
            SecretRule(#"^\s+wpa-psk (?:ascii|hex)(?: [07])? (?<secret>\S+)"#),
            CiscoLike.ntpAuthenticationKey,
            // `ip ftp password [0|7] PASSWORD` (IOS Configuration Fundamentals Command Reference).
            SecretRule(#"^ip ftp password(?: [07])? (?<secret>\S+)"#),
            // `aaa group server {radius|tacacs+} NAME` / ` server-private ADDRESS [auth-port …] [timeout …] key
            // [0|6|7] KEY` (IOS Security Command Reference).
            SecretRule(#"^\s+server-private \S+(?: .*?)? key(?: [067])? (?<secret>\S+)"#),
            // `mpls ldp neighbor [vrf NAME] ADDRESS password [0|7] PASSWORD` (IOS MPLS Command Reference).
            SecretRule(#"^mpls ldp neighbor (?:vrf \S+ )?\S+ password(?: [07])? (?<secret>\S+)"#),
            // IS-IS: ` area-password PASSWORD [authenticate snp …]`, ` domain-password PASSWORD …` under `router
            // isis`, ` isis password PASSWORD [level-N]` on an interface (IOS IS-IS Command Reference).
            SecretRule(#"^\s+(?:area|domain)-password (?<secret>\S+)"#),
            SecretRule(#"^\s+isis password (?<secret>\S+)"#),
            // DMVPN: ` ip nhrp authentication STRING` on a tunnel interface (IOS NHRP Command Reference).
            SecretRule(#"^\s+ip nhrp authentication (?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^end$"#, minimumLines: 3)
    )

    /// `cisco_nxos`: Cisco NX-OS.
    public static let ciscoNXOS = VendorProfile(
        name: "cisco_nxos",
        description: "Cisco NX-OS",
        prompt: #"^(?<hostname>[\w.-]{1,63})(?:\(maint-mode\))?(?:\([\w.@/:+-]{0,32}\))?[>#]\s?$"#,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0", "terminal width 511"],
        pagers: [CiscoLike.morePager],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors + [
            #"^% ?Invalid command at"#, #"^% ?Invalid parameter"#, #"^% ?Invalid number at"#, #"^% ?Permission denied"#,
        ],
        volatileLines: [#"^!Time: "#, #"^!Running configuration last done at: "#],
        secretRules: [
            SecretRule(#"^snmp-server community (?<secret>\S+)"#),
            SecretRule(#"^snmp-server user \S+ .*?\bauth \S+ (?<secret>\S+)"#),
            SecretRule(#"^snmp-server user \S+ .*?\bpriv (?:aes-128 |3des |des )?(?<secret>\S+)"#),
            SecretRule(#"\bpassword \d+ (?<secret>\S+)"#),
            SecretRule(#"^(?:radius-server|tacacs-server) .*?key(?: \d+)? (?<secret>"[^"]*"|\S+)"#),
            // `key chain NAME` / `  key 1` / `    key-string [0|7] KEY` (NX-OS Security Configuration Guide,
            // keychain management); the key's number is not a secret.
            SecretRule(#"^\s+key-string(?: [037])? (?<secret>\S+)"#),
            // OSPF: ` ip ospf authentication-key [0|3|7] KEY`, ` ip ospf message-digest-key N md5 [0|3|7] KEY`, and
            // the same keys on virtual links (NX-OS Unicast Routing Configuration Guide, OSPFv2).
            SecretRule(#"\b(?:authentication-key|message-digest-key \d+ md5)(?: [037])? (?<secret>\S+)"#),
            // HSRP/VRRP groups: `authentication text KEY`, `authentication md5 key-string [0|7] KEY` (NX-OS HSRP
            // and VRRP configuration); `authentication md5 key-chain NAME` names a key chain.
            SecretRule(#"^\s+authentication (?:text |md5 key-string (?:[07] )?)(?<secret>\S+)"#),
            // `snmp-server host ADDRESS {traps|informs} [version {1|2c}] COMMUNITY [udp-port N]` (NX-OS System
            // Management Configuration Guide, SNMP); with `version 3` the word names a user, not a secret.
            SecretRule(#"^snmp-server host \S+ (?:traps|informs)(?: version (?:1|2c))? (?<secret>(?!version\b)\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 5)
    )

    /// `cisco_iosxr`: Cisco IOS-XR.
    public static let ciscoIOSXR = VendorProfile(
        name: "cisco_iosxr",
        description: "Cisco IOS-XR",
        prompt: #"^(?<hostname>[\w.@/:-]{1,63})(?:\([\w.@/:+-]{0,32}\))?#\s?$"#,
        sessionCommands: ["terminal length 0", "terminal width 0", "terminal exec prompt no-timestamp"],
        pagers: [CiscoLike.morePager],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors + [#"^syntax error: "#],
        volatileLines: [
            #"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d{2}:\d{2}\.\d{3} \S+$"#,
            #"^Building configuration\.\.\.\s*$"#,
            #"^!! Last configuration change at "#,
            #"^! (Last|No) configuration change"#,
        ],
        secretRules: [
            SecretRule(#"^snmp-server community (?<secret>\S+)"#),
            SecretRule(#"\b(?:secret|password) \d+ (?<secret>\S+)"#),
            SecretRule(#"^\s*key \d+ (?<secret>\S+)"#),
            // IOS XR shows stored keys as `encrypted KEY`: `password encrypted KEY` (BGP neighbors, MPLS LDP),
            // `authentication-key encrypted KEY` and `message-digest-key N md5 encrypted KEY` (OSPF),
            // `lsp-password hmac-md5 encrypted KEY` (IS-IS), SNMPv3 `auth sha encrypted KEY priv aes 128
            // encrypted KEY` (IOS XR routing and system management command references).
            SecretRule(#"\bencrypted (?<secret>\S+)"#),
            SecretRule(#"\b(?:password|authentication-key|md5|lsp-password(?: \S+)?) clear (?<secret>\S+)"#),
            // `key chain NAME` / ` key 1` / `  key-string password KEY` (or `clear KEY`) (IOS XR System Security
            // Command Reference, keychain management).
            SecretRule(#"^\s*key-string(?: password| clear)? (?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^end$"#, minimumLines: 3)
    )

    /// `cisco_asa`: Cisco ASA (single context).
    public static let ciscoASA = VendorProfile(
        name: "cisco_asa",
        description: "Cisco ASA",
        prompt: #"^(?<hostname>[\w.@-]{1,63}(?:/[\w.-]+)?)(?:\([\w.@/:+-]{0,32}\))?[>#]\s?$"#,
        enable: EnableSettings(),
        sessionCommands: ["terminal pager 0"],
        pagers: [Interaction(pattern: #"^\s*<--- More --->\s*$"#, send: " ")],
        commands: [BackupCommand("more system:running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors + [#"^ERROR: "#],
        volatileLines: [#"^: Written by "#, #"^: Saved\s*$"#],
        secretRules: [
            SecretRule(#"^enable password (?<secret>\S+)"#),
            SecretRule(#"^passwd (?<secret>\S+)"#),
            SecretRule(#"^username \S+ password (?<secret>\S+)"#),
            SecretRule(#"pre-shared-key(?: hex)? (?<secret>\S+)"#),
            // ` key KEY` under `aaa-server NAME (IF) host ADDRESS` (ASA CLI configuration guide, AAA servers); a
            // lone number elsewhere is a key chain's key number, inside the server block it is the key.
            SecretRule(#"^\s+key (?<secret>(?![0-9]+\s*$)\S+)"#),
            SecretRule(#"^\s+key (?<secret>\S+)\s*$"#, sectionStart: #"^aaa-server \S+ .*\bhost\b"#, sectionEnd: #"^\S"#),
            SecretRule(#"ldap-login-password (?<secret>\S+)"#),
            SecretRule(#"^snmp-server host .*? community (?<secret>\S+)"#),
            SecretRule(#"^snmp-server community (?<secret>\S+)"#),
            SecretRule(#"^failover key (?<secret>.+)$"#),
            SecretRule(#"^\s+(?:ospf message-digest-key \d+ md5|ospf authentication-key|neighbor \S+ password) (?<secret>.+)$"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^: end$"#, minimumLines: 3)
    )

    /// `juniper_junos`: Juniper Junos (operational-mode CLI in a shell).
    public static let juniperJunos = VendorProfile(
        name: "juniper_junos",
        description: "Juniper Junos",
        prompt: #"^(?<hostname>[\w.@-]{1,63})>\s?$"#,
        sessionCommands: ["set cli screen-length 0", "set cli screen-width 0", "set cli complete-on-space off"],
        pagers: [Interaction(pattern: #"^\s*---\(more(?: \d+%)?\)---\s*$"#, send: " ")],
        commands: [BackupCommand("show configuration | display omit", timeoutSeconds: 120)],
        errorPatterns: [#"^error: "#, #"^\s*syntax error"#, #"^\s*unknown command"#, #"is ambiguous\.?$"#],
        volatileLines: [
            #"^## Last (?:commit|changed): "#,
            #"^\{(?:master|backup|linecard|primary|secondary)(?::(?:node)?\d+)?\}$"#,
        ],
        secretRules: [
            SecretRule(#""(?<secret>[^"]*)"; ## SECRET-DATA$"#),
            SecretRule(#"\bcommunity (?<secret>\S+) \{"#),
            // `snmp { community public; }`: a community without clients or authorization has no block and ends
            // in `;` (Junos SNMP configuration statements, `community`). Only inside the `snmp` stanza: elsewhere
            // (`policy-options`, a term's `from { community NAME; }`) `community` names BGP communities.
            SecretRule(
                #"^\s*community (?<secret>"[^"]*"|[^\s;{"]+)\s*;"#, sectionStart: #"^\s*snmp \{"#, sectionEnd: #"^\}"#),
            // `url "scp://user:pass@host/…";` (archival, `system archival configuration archive-sites`).
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(
            minimumLines: 3, blockOpen: #"\{\s*(?:##.*)?$"#, blockClose: #"^\s*\}\s*(?:##.*)?$"#),
        commentPrefix: "# "
    )

    /// `arista_eos`: Arista EOS.
    public static let aristaEOS = VendorProfile(
        name: "arista_eos",
        description: "Arista EOS",
        prompt: CiscoLike.prompt,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0", "terminal width 32767"],
        pagers: [CiscoLike.morePager],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors + [#"^% ?Error"#, #"^% ?Unavailable command"#],
        volatileLines: [#"^! Time: "#],
        secretRules: [
            CiscoLike.snmpCommunity,
            // `snmp-server host 10.1.2.4 version 2c string456` (Oxidized's 7050SX3 recording; eos.rb hides it).
            SecretRule(
                #"^snmp-server host \S+(?: vrf \S+)?(?: informs?| traps?)?(?: version (?:1|2c|3 (?:auth|noauth|priv)))? (?<secret>(?!(?:vrf|informs?|traps?|version)\b)\S+)"#
            ),
            SecretRule(#"\bsecret (?:sha512|\d+) (?<secret>\S+)"#),
            SecretRule(#"\bpassword \d+ (?<secret>\S+)"#),
            SecretRule(#"^enable (?:secret|password)(?: \S+)? (?<secret>\S+)$"#),
            SecretRule(#"^(?:tacacs-server|radius-server)\b.*? key(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"\b(?:auth (?:md5|sha\d{0,3})|priv (?:des|aes\d{0,3})|localized) (?<secret>\S+)"#),
            CiscoLike.ntpAuthenticationKey,
            // Interface ` ip ospf authentication-key [0|7|8a] KEY`, ` ip ospf message-digest-key N md5 [0|7|8a] KEY`
            // (EOS User Manual, OSPFv2 authentication).
            SecretRule(#"^\s+ip ospf (?:authentication-key|message-digest-key \d+ \S+)(?: (?:[078]|8a))? (?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^end$"#, minimumLines: 3)
    )

    /// `huawei_vrp`: Huawei VRP.
    public static let huaweiVRP = VendorProfile(
        name: "huawei_vrp",
        description: "Huawei VRP",
        prompt: #"^(?:HRP_[AMS])?<(?<hostname>[\w.@/:-]{1,63})>\s?$"#,
        loginInteractions: [Interaction(pattern: #"Change now\? ?\[Y/N\]:?\s*$"#, send: "N\n", maxCount: 1)],
        sessionCommands: ["screen-length 0 temporary"],
        pagers: [Interaction(pattern: #"^\s*---- More ----\s*$"#, send: " ")],
        commands: [BackupCommand("display current-configuration", timeoutSeconds: 120)],
        errorPatterns: [
            #"^Error:"#, #"^\s*% ?(?:Unrecognized command|Wrong parameter|Incomplete command|Too many parameters|Ambiguous command) found at"#,
        ],
        volatileLines: [#"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{3})?\s?(?:[+-]\d{2}:\d{2})?(?: DST)?$"#],
        secretRules: [
            SecretRule(#"(?<secret>%\^%#.*?%\^%#)"#),
            SecretRule(#"\b(?:irreversible-cipher|cipher) (?<secret>\S+)"#),
            SecretRule(#"^\s*snmp-agent community (?:read|write) (?!cipher\b)(?<secret>\S+)"#),
            SecretRule(#"\bpin verify (?:auto )?(?<secret>\S+)"#),
            // Plain-text forms the configuration may still show: `local-user NAME password simple X`,
            // `pre-shared-key simple X` (IKE peer), `super password [level N] simple X` (VRP command
            // references: `super password level 3 simple …`).
            SecretRule(#"\b(?:password|pre-shared-key)(?: level \d+)? simple (?<secret>\S+)"#),
            // OSPF/IS-IS keys given `plain`: `ospf authentication-mode {md5|hmac-md5|hmac-sha256} N plain X`,
            // `authentication-mode simple plain X`, `area-authentication-mode md5 plain X` (VRP OSPF and IS-IS
            // command references).
            SecretRule(#"\bauthentication-mode\b.*? plain (?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^return$"#, minimumLines: 3),
        commentPrefix: "# ",
        logoutCommands: ["quit"]
    )

    /// `h3c_comware`: H3C / HPE Comware.
    public static let h3cComware = VendorProfile(
        name: "h3c_comware",
        description: "H3C / HPE Comware",
        prompt: #"^<(?<hostname>[\w.@/:-]{1,63})>\s?$"#,
        enable: EnableSettings(command: "super", privilegedPrompt: nil),
        sessionCommands: ["screen-length disable", "undo terminal monitor"],
        pagers: [Interaction(pattern: #"^\s*---- More ----\s*$"#, send: " ")],
        commands: [BackupCommand("display current-configuration", timeoutSeconds: 120)],
        errorPatterns: [
            #"^\s*% ?(?:Unrecognized command|Too many parameters|Incomplete command|Wrong parameter|Ambiguous command) found at"#,
        ],
        secretRules: [
            SecretRule(#"^\s*snmp-agent community (?:read|write) (?:simple |cipher )?(?<secret>\S+)"#),
            SecretRule(#"\bpassword (?:hash|cipher|simple) (?<secret>\S+)"#),
            SecretRule(#"\bkey (?:authentication |accounting )?(?:cipher|simple) (?<secret>\S+)"#),
            SecretRule(#"\b(?:authentication-mode|privacy-mode) \S+ (?:cipher |simple )?(?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^return$"#, minimumLines: 3),
        commentPrefix: "# ",
        logoutCommands: ["quit"]
    )

    /// `hp_procurve`: HPE ProCurve / ArubaOS-Switch.
    public static let hpProCurve = VendorProfile(
        name: "hp_procurve",
        description: "HPE ProCurve / ArubaOS-Switch",
        prompt: #"^(?<hostname>[\w.-][\w .-]{0,62}?)(?:\([\w.-]+\))?[>#] ?$"#,
        loginInteractions: [Interaction(pattern: #"Press any key to continue"#, send: " ", maxCount: 3)],
        enable: EnableSettings(usernamePrompt: #"(?i)(?:user ?name|login name):\s*$"#),
        sessionCommands: ["no page", "terminal width 511"],
        pagers: [Interaction(pattern: #"^\s*-- MORE --"#, send: " ")],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: [#"^Invalid input: "#, #"^Not authorized to run this command"#],
        secretRules: [
            SecretRule(#"^snmp-server community (?<secret>"[^"]*"|\S+)"#),
            SecretRule(#"^(?:radius|tacacs)-server (?:host \S+ )?key (?<secret>"[^"]*"|\S+)"#),
            SecretRule(#"^password (?:manager|operator)(?: user-name \S+)? (?:plaintext|sha1|sha256) (?<secret>"[^"]*"|\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 3),
        logoutCommands: ["logout", "y", "n"]
    )

    /// `aruba_aoscx`: HPE Aruba AOS-CX.
    public static let arubaAOSCX = VendorProfile(
        name: "aruba_aoscx",
        description: "HPE Aruba AOS-CX",
        prompt: #"^(?<hostname>[\w.-]{1,63})(?:\([\w.@/:+-]{0,32}\))?[>#]\s?$"#,
        loginInteractions: [Interaction(pattern: #"Press any key to continue"#, send: " ", maxCount: 3)],
        enable: EnableSettings(),
        sessionCommands: ["no page"],
        pagers: [Interaction(pattern: #"^\s*-- MORE --"#, send: " ")],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: [#"^\s*Invalid input: "#, #"^\s*% ?Command incomplete"#, #"^\s*% ?Unknown command"#],
        secretRules: [
            SecretRule(#"^user \S+ group \S+ password (?:ciphertext |plaintext )?(?<secret>\S+)"#),
            SecretRule(#"^snmp-server community (?<secret>\S+)"#),
            SecretRule(#"^snmpv3 user .*?\bauth-pass (?:ciphertext |plaintext )?(?<secret>\S+)"#),
            SecretRule(#"^snmpv3 user .*?\bpriv-pass (?:ciphertext |plaintext )?(?<secret>\S+)"#),
            SecretRule(#"^(?:radius|tacacs)-server (?:host \S+ )?key (?:ciphertext |plaintext )?(?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 3)
    )

    /// `mikrotik_routeros`: MikroTik RouterOS, on exec channels.
    ///
    /// `/export` hides sensitive values by default on RouterOS 7 and shows them on RouterOS 6.
    public static let mikrotikRouterOS = VendorProfile(
        name: "mikrotik_routeros",
        description: "MikroTik RouterOS",
        mode: .exec,
        prompt: #"\[(?<hostname>[^\]@]+@[^\]]+)\]\s*>\s*$"#,
        commands: [BackupCommand("/export", timeoutSeconds: 120)],
        errorPatterns: [#"^bad command name"#, #"^syntax error"#, #"^expected end of command"#, #"^failure: "#],
        volatileLines: [
            #"^# \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} by RouterOS"#,
            #"^# [a-z]{3}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} by RouterOS"#,
            #"^# inactive time$"#,
            #"^# received packet from \S+ bad format$"#,
            #"^# poe-out status: "#,
            #"^# \S+ not ready$"#,
            #"^# .+ please restart the device in order to apply the new setting$"#,
            #"^# Firmware upgraded successfully"#,
        ],
        secretRules: [
            // `trap-community=` (`/snmp set`) names the community traps are sent with.
            SecretRule(
                #"\b(?:password|passphrase|secret|authentication-key|wpa-pre-shared-key|wpa2-pre-shared-key|private-key|psk|trap-community)=(?<secret>"[^"]*"|\S+)"#
            ),
            // An SNMP community's name is its secret: `/snmp community` then `add addresses=… name=…` or
            // `set [ find default=yes ] name=…` (Oxidized's L009UiGS recording; MikroTik manual, SNMP). Elsewhere
            // `name=` names interfaces, so the rule stays inside the section (up to the next `/menu` line).
            SecretRule(#"\bname=(?<secret>"[^"]*"|\S+)"#, sectionStart: #"^/snmp community\s*$"#, sectionEnd: #"^/"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 1),
        commentPrefix: "# ",
        logoutCommands: ["quit"]
    )

    /// `fortinet_fortios`: Fortinet FortiOS (FortiGate).
    ///
    /// Paging is not disabled: on FortiOS that changes the device's configuration (`config system
    /// console`); the `--More--` pager is answered instead.
    public static let fortinetFortiOS = VendorProfile(
        name: "fortinet_fortios",
        description: "Fortinet FortiOS",
        prompt: #"^(?:\(\w\) )?(?<hostname>[\w.~-]{1,63})(?:\(\w+\))?(?: \([\w.-]+\))?~? ?[#$] ?$"#,
        loginInteractions: [Interaction(pattern: #"\(Press 'a' to accept\):\s*$"#, send: "a", maxCount: 2)],
        pagers: [Interaction(pattern: #"^\s*--More--\s*$"#, send: " ")],
        commands: [BackupCommand("show", timeoutSeconds: 180)],
        errorPatterns: [#"^Command fail\."#, #"^Unknown action"#, #"^command parse error"#],
        volatileLines: [#"^#config-version="#, #"^#conf_file_ver="#],
        secretRules: [
            SecretRule(#"^#private-encryption-key=(?<secret>.+)$"#),
            SecretRule(#"\bENC (?<secret>\S+)"#),
            SecretRule(
                #"^\s*set (?:passwd|password|psksecret|secret|key|group-password|auth-password\S*|priv-password\S*|auth-pwd|priv-pwd|md5-key \d+) (?<secret>(?!ENC\b).+)$"#
            ),
            // A v1/v2c community's name is its secret: `config system snmp community` / `edit 1` /
            // `set name "public"` (FortiOS CLI reference); elsewhere `set name` names objects. The section ends
            // with the top-level `end`.
            SecretRule(#"^\s*set name (?<secret>.+)$"#, sectionStart: #"^\s*config system snmp community\s*$"#, sectionEnd: #"^end\s*$"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(
            lastLine: #"^end$"#, minimumLines: 3, blockOpen: #"^\s*config "#, blockClose: #"^\s*end\s*$"#),
        commentPrefix: "# "
    )

    /// `paloalto_panos`: Palo Alto Networks PAN-OS.
    public static let paloAltoPANOS = VendorProfile(
        name: "paloalto_panos",
        description: "Palo Alto Networks PAN-OS",
        prompt: #"^(?<hostname>[\w.-]+@[\w.()-]+)>\s?$"#,
        sessionCommands: ["set cli pager off"],
        pagers: [
            Interaction(pattern: #"(?i)^\s*--\s*more\s*--\s*$"#, send: " "),
            Interaction(pattern: #"^lines \d+-\d+(?: \(END\))?\s*$"#, send: " "),
        ],
        commands: [BackupCommand("show config running", timeoutSeconds: 180)],
        errorPatterns: [#"^Unknown command: "#, #"^Invalid [Ss]yntax\."#, #"^Server error"#, #"^Validation Error:"#],
        secretRules: [
            // `snmp-community-string` is the v2c community under `deviceconfig system snmp-setting
            // access-setting version v2c`; `authpwd`/`privpwd` are SNMPv3 users' passwords (PAN-OS config schema).
            SecretRule(
                #"^\s*(?:phash|password|secret|pre-shared-key|authentication-key|auth-password|priv-password|authpwd|privpwd|community|snmp-community-string|key) (?<secret>[^;]+);"#
            ),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 3, blockOpen: #"\{\s*$"#, blockClose: #"^\s*\}\s*$"#),
        commentPrefix: "# "
    )

    /// `dell_os6`: Dell PowerConnect / Dell EMC Networking OS6.
    public static let dellOS6 = VendorProfile(
        name: "dell_os6",
        description: "Dell PowerConnect / Dell EMC Networking OS6",
        prompt: CiscoLike.prompt,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0"],
        pagers: [Interaction(pattern: #"^\s*--More--(?: or \(q\)uit)?\s*$"#, send: " ")],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors,
        secretRules: [
            SecretRule(#"\bpassword (?:encrypted )?(?<secret>\S+)"#),
            SecretRule(#"^snmp-server community (?<secret>\S+)"#),
            SecretRule(#"^(?:tacacs-server|radius-server)\b.*? key (?<secret>\S+)"#),
            // `tacacs-server host 10.0.0.5` opens a mode whose `key [7] "…"` line holds the shared secret, up to
            // its `exit` (Dell EMC Networking N-Series CLI reference, TACACS+ and RADIUS server modes).
            SecretRule(
                #"^\s*key(?: \d+)? (?<secret>"[^"]*"|\S+)"#,
                sectionStart: #"^(?:tacacs-server|radius-server|radius server)\b.*\bhost\b"#, sectionEnd: #"^\s*exit\s*$"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(minimumLines: 3),
        logoutCommands: ["exit", "exit"]
    )

    /// `ruijie_rgos`: Ruijie RGOS.
    public static let ruijieRGOS = VendorProfile(
        name: "ruijie_rgos",
        description: "Ruijie RGOS",
        prompt: CiscoLike.prompt,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0", "terminal width 256"],
        pagers: [CiscoLike.morePager],
        commands: [BackupCommand("show running-config", timeoutSeconds: 120)],
        errorPatterns: CiscoLike.errors,
        volatileLines: [#"^Building configuration\.\.\.\s*$"#, #"^Current configuration\s*:\s*\d+ bytes\s*$"#],
        secretRules: [
            CiscoLike.snmpCommunity,
            SecretRule(#"^username \S+ .*?(?:password|secret)(?: \d+)? (?<secret>\S+)"#),
            SecretRule(#"^enable (?:password|secret)(?: level \d+)?(?: \d+)? (?<secret>\S+)"#),
            CommonRules.urlCredentials,
        ],
        truncationGuard: TruncationGuard(lastLine: #"^end$"#, minimumLines: 3)
    )

    /// `linux`: a generic Linux host, on exec channels.
    public static let linux = VendorProfile(
        name: "linux",
        description: "Generic Linux host",
        mode: .exec,
        prompt: #"^(?<hostname>[\w.-]+@[\w.-]+)(?::[^$#]*)?[$#] ?$"#,
        commands: [
            BackupCommand("cat /etc/hostname", header: "/etc/hostname"),
            BackupCommand("cat /etc/hosts", header: "/etc/hosts"),
            BackupCommand("cat /etc/resolv.conf", optional: true, header: "/etc/resolv.conf"),
            BackupCommand("cat /etc/fstab", optional: true, header: "/etc/fstab"),
            BackupCommand("cat /etc/passwd", header: "/etc/passwd"),
            BackupCommand("cat /etc/group", header: "/etc/group"),
        ],
        secretRules: [SecretRule(#"^[\w.-]+:(?<secret>\$[^:]+):\d+:\d+:"#), CommonRules.urlCredentials],
        truncationGuard: TruncationGuard(minimumLines: 1),
        commentPrefix: "# "
    )
}
