import BackupModels
import DeviceTransport
import Foundation
import Testing

@testable import VendorProfiles

@Suite("Built-in shell profiles on recorded-style sessions")
struct BuiltInShellProfileTests {
    @Test(arguments: ShellVendorCase.all)
    func sessionYieldsTheExactConfig(_ vendorCase: ShellVendorCase) async throws {
        let run = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, false), credentials: vendorCase.credentials)
        #expect(try run.config == vendorCase.expected)
        let shell = try #require(run.shell)
        #expect(shell.violations == [])
        #expect(shell.finished)
        #expect(shell.isClosed)
        #expect(shell.writesAfterScript == vendorCase.logout)
    }

    @Test(arguments: ShellVendorCase.all)
    func runsDifferingOnlyInVolatileLinesGiveTheSameConfig(_ vendorCase: ShellVendorCase) async throws {
        let first = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, false), credentials: vendorCase.credentials,
            chunkSize: 29)
        let second = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(2, false), credentials: vendorCase.credentials,
            chunkSize: 4)
        #expect(try first.config == second.config)
        #expect(try second.config == vendorCase.expected)
        #expect(try #require(second.shell).violations == [])
    }

    @Test(arguments: ShellVendorCase.all)
    func refusedPagingStillYieldsTheFullConfig(_ vendorCase: ShellVendorCase) async throws {
        let run = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, true), credentials: vendorCase.credentials,
            chunkSize: 11)
        #expect(try run.config == vendorCase.expected)
        let shell = try #require(run.shell)
        #expect(shell.violations == [])
        #expect(shell.finished)
    }

    @Test(arguments: ShellVendorCase.all)
    func secretScrubbingOnRequest(_ vendorCase: ShellVendorCase) async throws {
        let kept = try await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, false), credentials: vendorCase.credentials
        ).config
        let scrubbed = try await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, false), credentials: vendorCase.credentials,
            scrub: true
        ).config
        #expect(!vendorCase.secrets.isEmpty)
        for secret in vendorCase.secrets {
            #expect(kept.contains(secret), "kept: \(secret)")
            #expect(!scrubbed.contains(secret), "scrubbed: \(secret)")
        }
        #expect(scrubbed.contains("<removed>"))
        // Scrubbing touches secret lines only.
        #expect(
            ConfigAssembler.lines(kept).count == ConfigAssembler.lines(scrubbed).count)
    }

    @Test(arguments: ShellVendorCase.all)
    func truncatedConfigIsDetected(_ vendorCase: ShellVendorCase) async throws {
        let run = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.truncated(), credentials: vendorCase.credentials)
        #expect(run.error?.code == .truncatedConfig, "\(String(describing: run.error))")
        #expect(try #require(run.shell).isClosed)
    }

    @Test(arguments: ShellVendorCase.all)
    func silenceMidOutputIsCommandTimeout(_ vendorCase: ShellVendorCase) async throws {
        // Play the session up to the backup command's first output, then go silent.
        var steps = vendorCase.build(1, false).steps
        let lastExpect = try #require(steps.lastIndex { if case .expect = $0 { true } else { false } })
        steps = Array(steps[...lastExpect])
        steps.append(.output(Array("x\r\n".utf8)))
        steps.append(.silence)
        let run = await Harness.shell(
            vendor: vendorCase.vendor, script: DeviceScript(steps: steps), credentials: vendorCase.credentials)
        #expect(run.error?.code == .commandTimeout)
        let profile = try #require(VendorProfile.builtIn.first { $0.name == vendorCase.vendor })
        let timeout = try #require(profile.commands.last?.timeoutSeconds)
        #expect(try #require(run.shell).idleTimeouts.last == .seconds(timeout))
    }

    @Test(arguments: ShellVendorCase.all)
    func enableSecretNeverReachesTheLogs(_ vendorCase: ShellVendorCase) async throws {
        let run = await Harness.shell(
            vendor: vendorCase.vendor, script: vendorCase.build(1, false), credentials: vendorCase.credentials)
        _ = try run.config
        #expect(!run.logs.lines.isEmpty)
        for secret in vendorCase.credentials.secretValues {
            #expect(run.logs.lines.allSatisfy { !$0.contains(secret) })
        }
    }
}

@Suite("Vendor quirks")
struct VendorQuirkTests {
    // Oxidized ios.rb: 'show inventory' is not supported everywhere ("get rid of errors for commands that
    // don't work on some devices"); it is optional, so the backup goes on without it.
    @Test func iosWithoutShowInventory() async throws {
        var steps = ShellVendorCase.iosScript(1, pagingRefused: false).steps
        let index = try #require(steps.firstIndex(of: .expect(Array("show inventory\n".utf8))))
        steps[index + 1] = .output(
            Array("show inventory\r\n              ^\r\n% Invalid input detected at '^' marker.\r\n\r\nLAB-SW1#".utf8))
        let run = await Harness.shell(
            vendor: "cisco_ios", script: DeviceScript(steps: steps), credentials: ShellVendorCase.ciscoIOS.credentials)
        let expected = ShellVendorCase.ciscoIOS.expected
            .replacingOccurrences(of: "! NAME: \"1\", DESCR: \"C9200L-24P-4G\"\n", with: "")
            .replacingOccurrences(of: "! PID: C9200L-24P-4G     , VID: V01  , SN: JAE24FFFFFF\n", with: "")
        #expect(try run.config == expected)
    }

    // A running-config command that fails is not optional: COMMAND_FAILED (Scrapli cisco_iosxe.yaml
    // failure indicator "Command authorization failed").
    @Test func iosAuthorizationFailureIsCommandFailed() async throws {
        var steps = ShellVendorCase.iosScript(1, pagingRefused: false).steps
        let index = try #require(steps.firstIndex(of: .expect(Array("show running-config\n".utf8))))
        steps[index + 1] = .output(Array("show running-config\r\nCommand authorization failed.\r\n\r\nLAB-SW1#".utf8))
        steps.removeSubrange((index + 2)...)
        let run = await Harness.shell(
            vendor: "cisco_ios", script: DeviceScript(steps: steps), credentials: ShellVendorCase.ciscoIOS.credentials)
        #expect(run.error?.code == .commandFailed)
    }

    // Oxidized junos.rb / RANCID junos.pm: "## SECRET-DATA" marks every secret in a Junos configuration.
    @Test func junosScrubbingKeepsTheSecretDataMarkers() async throws {
        let text = try await Harness.shell(
            vendor: "juniper_junos", script: ShellVendorCase.junosScript(1, pagingRefused: false), scrub: true
        ).config
        #expect(text.contains(#"encrypted-password "<removed>"; ## SECRET-DATA"#))
        #expect(text.contains("community <removed> {"))
    }

    // Huawei VRP ciphers look like "%^%#…%^%#" (Oxidized vrp.rb hides them whole).
    @Test func vrpScrubbingHidesCipherText() async throws {
        let text = try await Harness.shell(
            vendor: "huawei_vrp", script: ShellVendorCase.vrpScript(1, pagingRefused: false), scrub: true
        ).config
        #expect(text.contains("snmp-agent community read cipher <removed>\n"))
        #expect(text.contains("local-user admin password irreversible-cipher <removed>\n"))
    }

    // Netmiko huawei.py / NOC Huawei.VRP: a forced password change asks "Change now? [Y/N]:" at login.
    @Test func vrpPasswordChangeQuestionIsDeclined() async throws {
        var steps = ShellVendorCase.vrpScript(1, pagingRefused: false).steps
        steps.insert(.output(Array("Warning: The password will expire in 3 days.\r\nChange now? [Y/N]:".utf8)), at: 0)
        steps.insert(.expect(Array("N\n".utf8)), at: 1)
        let run = await Harness.shell(vendor: "huawei_vrp", script: DeviceScript(steps: steps))
        #expect(try run.config == ShellVendorCase.huaweiVRP.expected)
        #expect(try #require(run.shell).violations == [])
    }

    // Oxidized comware.rb: 'super' asks for a password; a wrong one is refused in words (the Comware
    // prompt shows no privilege level, so the refusal text is what tells).
    @Test func comwareWrongSuperPasswordIsAuthFailed() async throws {
        var script = DeviceScript()
        script.send("<H3C-SW1>")
        script.command("super", reply: "Password:")
        script.expect(ShellVendorCase.comwareSecret + "\n")
        script.send("\r\nError: Invalid password.\r\n<H3C-SW1>")
        let run = await Harness.shell(
            vendor: "h3c_comware", script: script, credentials: ShellVendorCase.h3cComware.credentials)
        let error = try #require(run.error)
        #expect(error.code == .authFailed)
        #expect(!error.description.contains(ShellVendorCase.comwareSecret))
    }

    // Comware without an enable secret: 'super' is not sent at all (the prompt does not show the level).
    @Test func comwareWithoutSecretSkipsSuper() async throws {
        var steps = ShellVendorCase.comwareScript(1, pagingRefused: false).steps
        let superIndex = try #require(steps.firstIndex(of: .expect(Array("super\n".utf8))))
        steps.removeSubrange(superIndex...(superIndex + 3))
        let run = await Harness.shell(vendor: "h3c_comware", script: DeviceScript(steps: steps))
        #expect(try run.config == ShellVendorCase.h3cComware.expected)
        #expect(try #require(run.shell).violations == [])
    }

    // Oxidized fortios.rb: "(Press 'a' to accept):" — and FortiOS pages even short outputs; the
    // configuration is never changed to stop it (no session commands are sent).
    @Test func fortiosSendsNoPagingCommand() async throws {
        let run = await Harness.shell(
            vendor: "fortinet_fortios", script: ShellVendorCase.fortiosScript(1, pagingRefused: false))
        #expect(try run.config == ShellVendorCase.fortinetFortiOS.expected)
        let written = try #require(run.shell).written
        #expect(written == "ashow\n   exit\n")  // accept the banner, the command, three pages, logout
        #expect(!written.contains("config system console"))
    }

    // Oxidized procurve.rb: VT100 cursor positioning around every prompt leaves no residue.
    @Test func procurveEscapesLeaveNoResidue() async throws {
        let text = try await Harness.shell(
            vendor: "hp_procurve", script: ShellVendorCase.procurveScript(1, pagingRefused: true), chunkSize: 3
        ).config
        #expect(!text.contains("\u{1B}"))
        #expect(!text.contains("MORE"))
        #expect(text == ShellVendorCase.hpProCurve.expected)
    }

    // ENGINEERING.md §4 quirk on a real profile: EOS's "Pagination disabled." without a newline.
    @Test func eosLearnsTheHostnameAndSplitsTheMessage() async throws {
        var script = DeviceScript()
        script.send("eos-lab1#")
        script.command("terminal length 0", reply: "Pagination disabled.eos-lab1#")
        var profile = VendorProfile.aristaEOS
        profile.sessionCommands = []
        let cli = try CLISession(
            channel: ScriptedShell(script, chunkSize: 6), profile: profile, credentials: Harness.plainCredentials,
            deviceName: "eos-lab1", logger: LogRecorder().logger())
        try await cli.start()
        #expect(cli.hostname == "eos-lab1")
        #expect(cli.isPrivileged)
        #expect(try await cli.run("terminal length 0") == "Pagination disabled.\n")
    }
}

@Suite("Built-in exec profiles")
struct ExecProfileTests {
    static func output(_ text: String, status: Int32? = 0) -> ScriptedSession.ExecReply {
        .output(CommandOutput(stdout: Array(text.utf8), exitStatus: status))
    }

    // MARK: mikrotik_routeros

    /// Oxidized's recorded RouterOS 7.16 session (spec/model/data/routeros#CHR_7.16): '/export' on an exec
    /// channel (routeros.rb: `exec true`), "# <date> by RouterOS" header; no exit status is sent.
    static func routerosExport(_ variant: Int) -> String {
        crlf(
            """
            # \(variant == 1 ? "2025-05-30 11:07:28" : "2025-06-02 08:00:01") by RouterOS 7.16
            # software id = XX-XX
            #
            # model = RB5009UPr+S+
            # serial number = HG409X1Y2Z3
            /interface bridge
            add name=bridge1
            /interface ethernet
            set [ find default-name=ether1 ] comment=uplink
            \(variant == 1 ? "# inactive time\n" : "")/ip address
            add address=10.0.2.100/24 interface=ether1 network=10.0.2.0
            /ip ipsec peer
            add address=203.0.113.9/32 name=branch secret=Ipsec5ecret
            /ppp secret
            add name=vpnuser password=Ppp5ecretPw
            /system identity
            set name=mt-lab1

            """)
    }

    // Oxidized routeros.rb strips the date line (v7 "# 2025-05-30 …" and v6 "# may/30/2025 …") and the
    // intermittent "# inactive time" comment.
    static let routerosExpected = """
        # software id = XX-XX
        #
        # model = RB5009UPr+S+
        # serial number = HG409X1Y2Z3
        /interface bridge
        add name=bridge1
        /interface ethernet
        set [ find default-name=ether1 ] comment=uplink
        /ip address
        add address=10.0.2.100/24 interface=ether1 network=10.0.2.0
        /ip ipsec peer
        add address=203.0.113.9/32 name=branch secret=Ipsec5ecret
        /ppp secret
        add name=vpnuser password=Ppp5ecretPw
        /system identity
        set name=mt-lab1

        """

    @Test func routerosExportWithoutExitStatus() async throws {
        let run = await Harness.exec(
            vendor: "mikrotik_routeros", replies: ["/export": Self.output(Self.routerosExport(1), status: nil)])
        #expect(try run.config == Self.routerosExpected)
        #expect(run.session.executed == ["/export"])
        #expect(run.session.execTimeouts == [.seconds(120)])
        #expect(run.session.shellOptions.isEmpty)

        let second = await Harness.exec(
            vendor: "mikrotik_routeros", replies: ["/export": Self.output(Self.routerosExport(2), status: nil)])
        #expect(try second.config == Self.routerosExpected)

        // RouterOS 6 dates look like "# may/30/2025 11:07:28 by RouterOS 6.49".
        let v6 = Self.routerosExport(1).replacingOccurrences(
            of: "# 2025-05-30 11:07:28 by RouterOS 7.16", with: "# may/30/2025 11:07:28 by RouterOS 6.49.10")
        let third = await Harness.exec(vendor: "mikrotik_routeros", replies: ["/export": Self.output(v6, status: nil)])
        #expect(try third.config == Self.routerosExpected)
    }

    @Test func routerosScrubbing() async throws {
        let run = await Harness.exec(
            vendor: "mikrotik_routeros", replies: ["/export": Self.output(Self.routerosExport(1), status: nil)],
            scrub: true)
        let text = try run.config
        #expect(!text.contains("Ipsec5ecret"))
        #expect(!text.contains("Ppp5ecretPw"))
        #expect(text.contains("secret=<removed>"))
        #expect(text.contains("password=<removed>"))
    }

    // NOC MikroTik.RouterOS: "bad command name" is RouterOS's syntax error.
    @Test func routerosErrorIsCommandFailed() async throws {
        let run = await Harness.exec(
            vendor: "mikrotik_routeros",
            replies: ["/export": Self.output("bad command name export (line 1 column 2)\r\n", status: nil)])
        #expect(run.error?.code == .commandFailed)
        let truncated = await Harness.exec(
            vendor: "mikrotik_routeros",
            replies: ["/export": Self.output("# 2025-05-30 11:07:28 by RouterOS 7.16\r\n", status: nil)])
        #expect(truncated.error?.code == .truncatedConfig)
        let silent = await Harness.exec(vendor: "mikrotik_routeros", replies: ["/export": .timeout])
        #expect(silent.error?.code == .commandTimeout)
    }

    // MARK: linux

    static let linuxReplies: [String: ScriptedSession.ExecReply] = [
        "cat /etc/hostname": output("web01\n"),
        "cat /etc/hosts": output("127.0.0.1 localhost\n127.0.1.1 web01\n::1 localhost ip6-localhost ip6-loopback\n2001:db8::10 web01\n"),
        "cat /etc/resolv.conf": .output(
            CommandOutput(
                stdout: [], stderr: Array("cat: /etc/resolv.conf: No such file or directory\n".utf8), exitStatus: 1)),
        "cat /etc/fstab": output("UUID=1234-abcd / ext4 errors=remount-ro 0 1\n"),
        "cat /etc/passwd": output(
            "root:x:0:0:root:/root:/bin/bash\nlegacy:$1$saltsalt$Le9acyHashValue:1001:1001::/home/legacy:/bin/sh\n"),
        "cat /etc/group": output("root:x:0:\nsudo:x:27:alice\n"),
    ]

    static let linuxExpected = """
        # /etc/hostname
        web01
        # /etc/hosts
        127.0.0.1 localhost
        127.0.1.1 web01
        ::1 localhost ip6-localhost ip6-loopback
        2001:db8::10 web01
        # /etc/fstab
        UUID=1234-abcd / ext4 errors=remount-ro 0 1
        # /etc/passwd
        root:x:0:0:root:/root:/bin/bash
        legacy:$1$saltsalt$Le9acyHashValue:1001:1001::/home/legacy:/bin/sh
        # /etc/group
        root:x:0:
        sudo:x:27:alice

        """

    // Oxidized linuxgeneric.rb backs up /etc files with a comment header per file; a missing optional
    // file (here /etc/resolv.conf, exit status 1) is left out.
    @Test func linuxHostFiles() async throws {
        let run = await Harness.exec(vendor: "linux", replies: Self.linuxReplies)
        #expect(try run.config == Self.linuxExpected)
        #expect(run.session.executed.count == 6)
    }

    @Test func linuxScrubbingHidesPasswordHashesOnly() async throws {
        let run = await Harness.exec(vendor: "linux", replies: Self.linuxReplies, scrub: true)
        let text = try run.config
        #expect(!text.contains("Le9acyHashValue"))
        #expect(text.contains("legacy:<removed>:1001:1001::/home/legacy:/bin/sh"))
        #expect(text.contains("2001:db8::10 web01"))  // hosts lines are no passwd entries
    }

    @Test func linuxRequiredFileMissingIsCommandFailedWithoutSecrets() async throws {
        var replies = Self.linuxReplies
        replies["cat /etc/passwd"] = .output(
            CommandOutput(stdout: [], stderr: Array("cat: /etc/passwd: Permission denied (login-pw-Xy7)\n".utf8), exitStatus: 1))
        let run = await Harness.exec(vendor: "linux", replies: replies)
        let error = try #require(run.error)
        #expect(error.code == .commandFailed)
        #expect(error.message.contains("exit status 1"))
        #expect(!error.message.contains("login-pw-Xy7"))
    }
}
