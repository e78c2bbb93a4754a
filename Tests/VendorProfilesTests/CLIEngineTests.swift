import BackupModels
import DeviceTransport
import Foundation
import Logging
import Testing

@testable import VendorProfiles

/// Engine behaviour on a small generic profile; the vendor files test the built-ins.
@Suite("CLI session engine")
struct CLIEngineTests {
    static let profile = VendorProfile(
        name: "test_os",
        prompt: #"^(?<hostname>[\w.-]+)(?:\([\w-]+\))?[>#] ?$"#,
        enable: EnableSettings(),
        sessionCommands: ["terminal length 0"],
        pagers: [Interaction(pattern: #"^\s*--More--\s*$"#, send: " ")],
        commands: [
            BackupCommand("show version", kind: .comment, optional: true),
            BackupCommand("show running-config", timeoutSeconds: 7),
        ],
        errorPatterns: [#"^% Invalid input"#, #"^Error:"#],
        volatileLines: [#"^! Last change: "#],
        secretRules: [SecretRule(#"^snmp community (?<secret>\S+)"#), SecretRule(#"password (?<secret>\S+)"#)],
        truncationGuard: TruncationGuard(lastLine: "^end$", minimumLines: 2)
    )

    static func registry(_ profile: VendorProfile = profile) throws -> VendorProfileRegistry {
        let registry = VendorProfileRegistry(includingBuiltIns: false)
        try registry.register(profile)
        return registry
    }

    static let config = crlf(
        """
        ! Last change: 12:00:01 by admin
        hostname sw
        snmp community Publ1cComm
        username admin password Adm1nPw
        end

        """)
    static let expected = """
        ! version 1.0
        hostname sw
        snmp community Publ1cComm
        username admin password Adm1nPw
        end

        """

    /// A standard session: banner, prompt, paging accepted, both commands.
    static func script(prompt: String = "sw#", config: String = config) -> DeviceScript {
        var script = DeviceScript()
        script.send("\r\nWelcome to the lab\r\n\r\n\(prompt)")
        script.command("terminal length 0", reply: prompt)
        script.command("show version", reply: "version 1.0\r\n\(prompt)")
        script.command("show running-config", reply: config + prompt)
        return script
    }

    @Test func basicSessionYieldsTheConfigAndLogsOut() async throws {
        let run = await Harness.shell(vendor: "test_os", script: Self.script(), registry: try Self.registry())
        #expect(try run.config == Self.expected)
        let shell = try #require(run.shell)
        #expect(shell.violations == [])
        #expect(shell.finished)
        #expect(shell.writesAfterScript == "exit\n")
        #expect(shell.isClosed)
        #expect(run.session.shellOptions.first?.columns == 511)
    }

    @Test func perCommandIdleTimeoutIsPassedToTheChannel() async throws {
        let run = await Harness.shell(vendor: "test_os", script: Self.script(), registry: try Self.registry())
        _ = try run.config
        let timeouts = try #require(run.shell).idleTimeouts
        #expect(timeouts.contains(.seconds(7)))  // show running-config's own timeout
        #expect(timeouts.contains(.seconds(30)))  // the default for the other commands
        #expect(timeouts.first == .seconds(20))  // login
    }

    // ENGINEERING.md §4: "a message may end without a newline so the prompt follows on the same line
    // (`Pagination disabled.sw#`)".
    @Test func messageWithoutNewlineBeforeThePrompt() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.command("terminal length 0", reply: "Pagination disabled.sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.command("show running-config", reply: Self.config + "sw#")
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(try run.config == Self.expected)

        // And the message itself is kept as the output's last line.
        var direct = DeviceScript()
        direct.send("sw.lab#")
        direct.command("show clock", reply: "12:00:00 UTC Mon Jan 1 2024sw.lab#")
        let shell = ScriptedShell(direct, chunkSize: 5)
        var profile = Self.profile
        profile.sessionCommands = []
        let cli = try CLISession(
            channel: shell, profile: profile, credentials: Harness.plainCredentials, deviceName: "sw",
            logger: Logger(label: "test"))
        try await cli.start()
        #expect(cli.hostname == "sw.lab")
        #expect(try await cli.run("show clock") == "12:00:00 UTC Mon Jan 1 2024\n")
    }

    // ENGINEERING.md §4: a paging command may be rejected (`% Invalid input`) and must not fail the
    // backup; the pager is answered instead and the config is the same.
    @Test func rejectedPagingCommandIsAnsweredWithPager() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.command(
            "terminal length 0", reply: "                   ^\r\n% Invalid input detected at '^' marker.\r\n\r\nsw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.pagedCommand(
            "show running-config", body: Self.config, prompt: "sw#", mark: " --More-- ",
            erase: "\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}          \u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}",
            linesPerPage: 2)
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).violations == [])
        #expect(run.logs.lines.contains { $0.contains("Session command rejected") })
    }

    @Test func pagerMarksErasedByCarriageReturnsOrCursorMovesLeaveNoResidue() async throws {
        for erase in ["\r          \r", "\u{1B}[42D                                          \u{1B}[42D", ""] {
            var script = DeviceScript()
            script.send("sw#")
            script.command("terminal length 0", reply: "sw#")
            script.command("show version", reply: "version 1.0\r\nsw#")
            script.pagedCommand(
                "show running-config", body: Self.config, prompt: "sw#", mark: "--More--", erase: erase,
                linesPerPage: 1)
            let run = await Harness.shell(
                vendor: "test_os", script: script, chunkSize: 3, registry: try Self.registry())
            #expect(try run.config == Self.expected, "erase \(erase.debugDescription)")
        }
    }

    // MARK: - Privileged mode

    @Test func enableWithSecretAndNoSecretInLogs() async throws {
        let secret = "En4ble-S3cret!"
        var script = DeviceScript()
        script.send("Last login: Mon Jan 1\r\nsw>")
        script.command("enable", reply: "Password: ")
        script.expect(secret + "\n")
        script.send("\r\nsw#")
        script.command("terminal length 0", reply: "sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.command("show running-config", reply: Self.config + "sw#")
        let credentials = Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(secret))
        let run = await Harness.shell(
            vendor: "test_os", script: script, credentials: credentials, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        let shell = try #require(run.shell)
        #expect(shell.violations == [])
        #expect(shell.written.contains(secret))  // it was sent to the device…
        #expect(!run.logs.lines.isEmpty)
        for line in run.logs.lines {  // …and never logged
            #expect(!line.contains(secret))
            #expect(!line.contains("login-pw-Xy7"))
        }
    }

    @Test func alreadyPrivilegedSendsNoEnable() async throws {
        // The script has no "enable" step: sending one would be a violation.
        let credentials = Credentials(username: "backup", password: "pw", enableSecret: "unused-secret")
        let run = await Harness.shell(
            vendor: "test_os", script: Self.script(), credentials: credentials, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).violations == [])
        #expect(!(try #require(run.shell).written.contains("enable")))
    }

    @Test func enableWithoutPasswordPrompt() async throws {
        var script = DeviceScript()
        script.send("sw>")
        script.command("enable", reply: "sw#")
        script.command("terminal length 0", reply: "sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.command("show running-config", reply: Self.config + "sw#")
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).violations == [])
    }

    @Test func enableAskingForASecretThatIsNotConfiguredIsAuthFailed() async throws {
        var script = DeviceScript()
        script.send("sw>")
        script.command("enable", reply: "Password: ")
        script.silence()
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(run.error?.code == .authFailed)
        #expect(run.error?.hint?.contains("enable_secret") == true)
        #expect(try #require(run.shell).isClosed)
    }

    @Test func wrongEnableSecretIsAuthFailedWithoutLeakingIt() async throws {
        let secret = "Wr0ng-Secret"
        let credentials = Credentials(username: "backup", password: "pw", enableSecret: Secret(secret))
        // Asked again…
        var again = DeviceScript()
        again.send("sw>")
        again.command("enable", reply: "Password: ")
        again.expect(secret + "\n")
        again.send("\r\nPassword: ")
        // …or refused with a message.
        var denied = DeviceScript()
        denied.send("sw>")
        denied.command("enable", reply: "Password: ")
        denied.expect(secret + "\n")
        denied.send("\r\n% Access denied\r\n\r\nsw>")
        for script in [again, denied] {
            let run = await Harness.shell(
                vendor: "test_os", script: script, credentials: credentials, registry: try Self.registry())
            let error = try #require(run.error)
            #expect(error.code == .authFailed)
            #expect(!error.description.contains(secret))
            #expect(run.logs.lines.allSatisfy { !$0.contains(secret) })
        }
    }

    // MARK: - Failures

    @Test func errorStringIsCommandFailedUnlessOptional() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.command("terminal length 0", reply: "sw#")
        // show version is optional: its error leaves it out of the backup.
        script.command("show version", reply: "% Invalid input detected at '^' marker.\r\nsw#")
        script.command("show running-config", reply: "Error: permission denied\r\nsw#")
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(run.error?.code == .commandFailed)
        #expect(run.error?.message.contains("show running-config") == true)

        var ok = DeviceScript()
        ok.send("sw#")
        ok.command("terminal length 0", reply: "sw#")
        ok.command("show version", reply: "% Invalid input detected at '^' marker.\r\nsw#")
        ok.command("show running-config", reply: Self.config + "sw#")
        let optionalRun = await Harness.shell(vendor: "test_os", script: ok, registry: try Self.registry())
        #expect(try optionalRun.config == Self.expected.replacingOccurrences(of: "! version 1.0\n", with: ""))
    }

    @Test func silenceIsCommandTimeout() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.command("terminal length 0", reply: "sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.expect("show running-config\n")
        script.send("show running-config\r\nhostname sw\r\n")
        script.silence()
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        let error = try #require(run.error)
        #expect(error.code == .commandTimeout)
        #expect(error.message.contains("show running-config"))
        #expect(error.message.contains("7 s"))
        #expect(try #require(run.shell).isClosed)
    }

    @Test func noPromptIsPromptNotFound() async throws {
        var silent = DeviceScript()
        silent.send("\r\nWelcome\r\n")
        silent.silence()
        let run = await Harness.shell(vendor: "test_os", script: silent, registry: try Self.registry())
        #expect(run.error?.code == .promptNotFound)
        #expect(try #require(run.shell).isClosed)

        // A prompt the profile does not recognise.
        var wrong = DeviceScript()
        wrong.send("\r\nWelcome\r\nlogin$ ")
        wrong.silence()
        let wrongRun = await Harness.shell(vendor: "test_os", script: wrong, registry: try Self.registry())
        #expect(wrongRun.error?.code == .promptNotFound)
        #expect(wrongRun.error?.message.contains("login$") == true)
    }

    @Test func slowDripWithoutPromptHitsTheLoginDeadline() async throws {
        let clock = TestClock()
        var script = DeviceScript()
        for _ in 0..<100 { script.send("still booting...\r\n") }
        script.send("sw#")
        let run = await Harness.shell(
            vendor: "test_os", script: script, registry: try Self.registry(),
            limits: .init(commandTimeout: .seconds(30), loginTimeout: .seconds(20)), clock: clock,
            onRead: { clock.advance(by: .seconds(1)) })
        #expect(run.error?.code == .promptNotFound)
        #expect(try #require(run.shell).reads <= 25)
    }

    @Test func hangUpIsConnectionLost() async throws {
        var atLogin = DeviceScript()
        atLogin.send("Welcome\r\n")
        atLogin.hangUp()
        let loginRun = await Harness.shell(vendor: "test_os", script: atLogin, registry: try Self.registry())
        #expect(loginRun.error?.code == .connectionLost)

        var midOutput = DeviceScript()
        midOutput.send("sw#")
        midOutput.command("terminal length 0", reply: "sw#")
        midOutput.command("show version", reply: "version 1.0\r\nsw#")
        midOutput.command("show running-config", reply: "hostname sw\r\nsnmp comm")
        midOutput.hangUp()
        let midRun = await Harness.shell(vendor: "test_os", script: midOutput, registry: try Self.registry())
        #expect(midRun.error?.code == .connectionLost)
        #expect(midRun.error?.message.contains("show running-config") == true)
    }

    @Test func truncatedConfigIsTruncatedConfig() async throws {
        let cut = crlf("hostname sw\nsnmp community Publ1cComm\n")
        let run = await Harness.shell(
            vendor: "test_os", script: Self.script(config: cut), registry: try Self.registry())
        #expect(run.error?.code == .truncatedConfig)
        #expect(run.error?.isRetryable == true)

        let short = crlf("end\n")
        let shortRun = await Harness.shell(
            vendor: "test_os", script: Self.script(config: short), registry: try Self.registry())
        #expect(shortRun.error?.code == .truncatedConfig)
    }

    @Test func endlessOutputIsStoppedByTheOutputLimit() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.command("terminal length 0", reply: "sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.expect("show running-config\n")
        script.send("show running-config\r\n")
        for _ in 0..<50 { script.send(String(repeating: "y\r\n", count: 100)) }
        let run = await Harness.shell(
            vendor: "test_os", script: script, registry: try Self.registry(),
            limits: .init(commandTimeout: .seconds(30), loginTimeout: .seconds(20), maxOutputBytes: 10_000))
        #expect(run.error?.code == .commandFailed)
        #expect(run.error?.message.contains("10000 bytes") == true)
    }

    // MARK: - Stream quirks

    // ENGINEERING.md §4: typed-ahead input is echoed before the prompt; a command must be sent only after
    // its prompt. Here the device repeats its prompt before echoing: that stale prompt must not end the
    // command (the scripted device flags any command typed ahead).
    @Test func stalePromptBeforeTheEchoDoesNotEndTheCommand() async throws {
        var script = DeviceScript()
        script.send("sw#")
        script.expect("terminal length 0\n")
        script.send("\r\nsw#")  // a repeated prompt, before the echo
        script.send("terminal length 0\r\nsw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.command("show running-config", reply: Self.config + "sw#")
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).violations == [])
    }

    // ENGINEERING.md §4: some devices reject `exit` and send `ESC c` on logout; the channel is closed by us.
    @Test func rejectedExitAndTerminalResetOnLogoutAreHarmless() async throws {
        var script = Self.script()
        script.expect("exit\n")
        script.send("\r\n% Invalid input detected at '^' marker.\r\n\u{1B}c")
        script.silence()
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry())
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).isClosed)
    }

    @Test func utf8SplitAcrossChunksSurvives() async throws {
        let config = crlf("hostname sw\ninterface Gi0/1\n description Zürich – 東京 ✓\nend\n")
        for chunk in [1, 2, 3, 5] {
            let run = await Harness.shell(
                vendor: "test_os", script: Self.script(config: config), chunkSize: chunk, registry: try Self.registry())
            #expect(
                try run.config == "! version 1.0\nhostname sw\ninterface Gi0/1\n description Zürich – 東京 ✓\nend\n",
                "chunk size \(chunk)")
        }
    }

    @Test func escapesNulsAndBellsAreRemoved() async throws {
        let config =
            "\u{1B}[1;32mhostname sw\u{1B}[0m\r\n\u{0}interface Gi0/1\u{7}\r\n\u{1B}]0;title\u{7} description x\u{1B}[K\r\nend\r\n"
        let run = await Harness.shell(
            vendor: "test_os", script: Self.script(config: config), registry: try Self.registry())
        #expect(try run.config == "! version 1.0\nhostname sw\ninterface Gi0/1\n description x\nend\n")
    }

    @Test func loginInteractionIsAnswered() async throws {
        var profile = Self.profile
        profile.loginInteractions = [Interaction(pattern: "Press any key to continue", send: " ", maxCount: 2)]
        var script = DeviceScript()
        script.send("\r\nHP J9727A Switch 2920-24G\r\n\r\nPress any key to continue")
        script.expect(" ")
        script.send("\r\nsw#")
        script.command("terminal length 0", reply: "sw#")
        script.command("show version", reply: "version 1.0\r\nsw#")
        script.command("show running-config", reply: Self.config + "sw#")
        let run = await Harness.shell(vendor: "test_os", script: script, registry: try Self.registry(profile))
        #expect(try run.config == Self.expected)
        #expect(try #require(run.shell).violations == [])
    }

    @Test func secretScrubbingOnlyWhenRequested() async throws {
        let kept = await Harness.shell(vendor: "test_os", script: Self.script(), registry: try Self.registry())
        #expect(try kept.config.contains("Publ1cComm"))
        #expect(try kept.config.contains("Adm1nPw"))
        let scrubbed = await Harness.shell(
            vendor: "test_os", script: Self.script(), scrub: true, registry: try Self.registry())
        let text = try scrubbed.config
        #expect(!text.contains("Publ1cComm"))
        #expect(!text.contains("Adm1nPw"))
        #expect(text.contains("snmp community <removed>\n"))
        #expect(text.contains("username admin password <removed>\n"))
    }

    // MARK: - Cost

    /// A multi-megabyte configuration fed in small chunks: prompt and pager matching looks only at the
    /// last line, so the bytes examined stay proportional to the reads, not to reads × output.
    @Test func largeOutputInSmallChunksIsLinear() async throws {
        var body = ""
        var expectedBody = ""
        let lineCount = 60_000  // ~3.4 MB
        body.reserveCapacity(lineCount * 60)
        for i in 0..<lineCount {
            let line = "interface GigabitEthernet\(i / 48)/0/\(i % 48) description uplink-\(i)"
            body += line + "\r\n"
            expectedBody += line + "\n"
        }
        let config = "hostname sw\r\n" + body + "end\r\n"
        let chunk = 512
        let started = ContinuousClock.now
        let run = await Harness.shell(
            vendor: "test_os", script: Self.script(config: config), chunkSize: chunk, registry: try Self.registry())
        let took = ContinuousClock.now - started
        #expect(try run.config == "! version 1.0\nhostname sw\n" + expectedBody + "end\n")
        let shell = try #require(run.shell)
        let bytes = config.utf8.count
        #expect(bytes > 3_000_000)
        #expect(shell.reads > bytes / chunk)
        let examined = try #require(run.logs.lines.first { $0.contains("CLI session finished") })
        #expect(examined.contains("bytes="))
        // Direct measurement through the engine's counters.
        let stats = try await Self.statistics(feeding: config, chunk: chunk)
        #expect(stats.tailBytesExamined <= stats.reads * LineAccumulator.maxTailBytes)
        #expect(stats.tailBytesExamined <= 2 * stats.bytesReceived)
        #expect(took < .seconds(300))  // generous: the counters above are the real check
    }

    /// One huge line without newlines: the tail looked at per read stays bounded.
    @Test func hugeLineWithoutNewlineStaysBoundedPerRead() async throws {
        let line = String(repeating: "0123456789abcdef", count: 65_536)  // 1 MiB
        let stats = try await Self.statistics(feeding: "hostname sw\r\n" + line + "\r\nend\r\n", chunk: 256)
        #expect(stats.reads > 4000)
        #expect(stats.tailBytesExamined <= stats.reads * LineAccumulator.maxTailBytes)
    }

    static func statistics(feeding config: String, chunk: Int) async throws -> CLISessionStatistics {
        var script = DeviceScript()
        script.send("sw#")
        script.command("show running-config", reply: config + "sw#")
        var profile = Self.profile
        profile.sessionCommands = []
        let cli = try CLISession(
            channel: ScriptedShell(script, chunkSize: chunk), profile: profile, credentials: Harness.plainCredentials,
            deviceName: "sw", logger: Logger(label: "test"))
        try await cli.start()
        let output = try await cli.run("show running-config")
        #expect(output.hasSuffix("end\n"))
        return cli.statistics
    }
}
