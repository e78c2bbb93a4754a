import BackupModels
import DeviceTransport
import Foundation
import Testing

@testable import VendorProfiles

/// Device lines quoted in errors (the last line before a timeout, the line a truncation guard rejected, a
/// command's error reply) pass through the profile's secret rules and the credentials' redaction first, and
/// are shortened only afterwards — with scrubbing of stored configurations off (the default here).
@Suite("Device text quoted in errors")
struct QuotedDeviceTextTests {
    static let secretLines = [
        ("username admin secret 5 $1$abc$verysecretvalue", ["$1$abc$verysecretvalue", "verysecret"]),
        ("snmp-server community S3cr3tC0mm RO", ["S3cr3tC0mm"]),
        (" password 7 0822455D0A16", ["0822455D0A16"]),
    ]

    /// An IOS session that goes silent in the middle of `show running-config`, `last` being the line that
    /// arrived without its newline.
    static func iosSilentAfter(_ last: String) -> DeviceScript {
        var script = DeviceScript()
        script.send("\r\nr1#")
        script.command("terminal length 0", reply: "r1#")
        script.command("terminal width 0", reply: "r1#")
        script.command("show inventory", reply: "NAME: \"1\", DESCR: \"C9200L\"\r\nr1#")
        script.expect("show running-config\n")
        script.send("show running-config\r\nBuilding configuration...\r\n\r\nhostname r1\r\n" + last)
        script.silence()
        return script
    }

    static func expectNoLeak(_ error: BackupError?, _ leaks: [String], _ code: BackupError.Code) throws {
        let error = try #require(error)
        #expect(error.code == code)
        let text = "\(error.message) \(error.hint ?? "") \(error.description)"
        for leak in leaks { #expect(!text.contains(leak), "\(leak) in: \(error.message)") }
    }

    @Test("last line before a COMMAND_TIMEOUT: secret rules apply, scrubbing of backups off", arguments: secretLines)
    func commandTimeout(line: String, leaks: [String]) async throws {
        let run = await Harness.shell(vendor: "cisco_ios", script: Self.iosSilentAfter(line))
        try Self.expectNoLeak(run.error, leaks, .commandTimeout)
        #expect(run.error?.message.contains("last line received") == true)
        #expect(run.error?.message.contains("<removed>") == true, "\(run.error?.message ?? "")")
    }

    @Test("last line before PROMPT_NOT_FOUND: secret rules apply", arguments: secretLines)
    func promptNotFound(line: String, leaks: [String]) async throws {
        var script = DeviceScript()
        script.send("\r\nWelcome\r\n" + line)
        script.silence()
        let run = await Harness.shell(vendor: "cisco_ios", script: script)
        try Self.expectNoLeak(run.error, leaks, .promptNotFound)
        #expect(run.error?.message.contains("<removed>") == true, "\(run.error?.message ?? "")")
    }

    @Test("a secret cut by the 80-character limit leaks no prefix: redaction first, truncation last")
    func secretAcrossTheLimit() async throws {
        // The key straddles character 80; the rule needs the `address` after it, which a cut line loses.
        let key = String(repeating: "K", count: 50) + "LeakCheckTail"
        let isakmp = "crypto isakmp key 6 \(key) address 192.0.2.1"
        let run = await Harness.shell(vendor: "cisco_ios", script: Self.iosSilentAfter(isakmp))
        try Self.expectNoLeak(run.error, ["KKKKKKKKKK", "LeakCheck"], .commandTimeout)
        #expect(run.error?.message.contains("crypto isakmp key 6 <removed> address") == true, "\(run.error?.message ?? "")")

        // A credential straddling the limit is redacted whole before the line is cut.
        // Characters 72…83 hold the login password: a cut at 80 would leave "login-pw" for a redaction to miss.
        let padding = String(repeating: "x", count: 63)
        let echo = "% Login \(padding) login-pw-Xy7 rejected"
        #expect(echo.range(of: "login-pw-Xy7").map { echo.distance(from: echo.startIndex, to: $0.lowerBound) } == 72)
        let credentialRun = await Harness.shell(vendor: "cisco_ios", script: Self.iosSilentAfter(echo))
        try Self.expectNoLeak(credentialRun.error, ["login-pw", "login-pw-Xy7"], .commandTimeout)
    }

    @Test("the truncation guard's quoted last line holds no secret")
    func truncationGuardQuote() async throws {
        var script = DeviceScript()
        script.send("\r\nr1#")
        script.command("terminal length 0", reply: "r1#")
        script.command("terminal width 0", reply: "r1#")
        script.command("show inventory", reply: "r1#")
        script.command(
            "show running-config",
            reply: "Building configuration...\r\n\r\nhostname r1\r\n!\r\ninterface Vlan1\r\n shutdown\r\n!\r\n"
                + "snmp-server community S3cr3tC0mm RO\r\nr1#")
        let run = await Harness.shell(vendor: "cisco_ios", script: script)
        try Self.expectNoLeak(run.error, ["S3cr3tC0mm"], .truncatedConfig)
        #expect(run.error?.message.contains("snmp-server community <removed> RO") == true, "\(run.error?.message ?? "")")
    }

    @Test("an exec command's stderr is scrubbed line by line before it is shortened")
    func execStderr() async throws {
        var replies = ExecProfileTests.linuxReplies
        let long = String(repeating: "y", count: 180)
        replies["cat /etc/passwd"] = .output(
            CommandOutput(
                stdout: [],
                stderr: Array(
                    "cat: fetching scp://backup:Sup3rS3cretUrl@192.0.2.9/passwd failed\n\(long) scp://u:SecondS3cret@h/x\n"
                        .utf8), exitStatus: 1))
        let run = await Harness.exec(vendor: "linux", replies: replies)
        try Self.expectNoLeak(run.error, ["Sup3rS3cretUrl", "SecondS3cret", "Second"], .commandFailed)
        #expect(run.error?.message.contains("scp://backup:<removed>@192.0.2.9") == true, "\(run.error?.message ?? "")")
    }

    @Test("quote(): rules on the whole line before trimming and shortening, long lines not shown")
    func quoteFunction() throws {
        let ios = try CompiledProfile(VendorProfile.ciscoIOS)
        let credentials = Credentials(username: "backup", password: "Pw-Of-Login")
        // Rules see the line with its indentation; the quote is trimmed only afterwards.
        #expect(ios.quote(" password 7 0822455D0A16", credentials: nil, limit: 80) == "password 7 <removed>")
        #expect(ios.quote("snmp-server community S3cr3t RO  ", credentials: nil, limit: 80) == "snmp-server community <removed> RO")
        #expect(ios.quote("hostname r1 Pw-Of-Login", credentials: credentials, limit: 80) == "hostname r1 <redacted>")
        #expect(ios.quote("hostname abcdefgh", credentials: nil, limit: 8) == "hostname…")
        let huge = "snmp-server community " + String(repeating: "S", count: CompiledProfile.maxQuotedLineBytes)
        #expect(ios.quote(huge, credentials: nil, limit: 80).hasPrefix("<a line of "))
        // Sectioned rules apply everywhere in a quote (a quoted line has no section around it).
        let routerOS = try CompiledProfile(VendorProfile.mikrotikRouterOS)
        #expect(routerOS.quote("set [ find default=yes ] name=C0mmunity", credentials: nil, limit: 80) == "set [ find default=yes ] name=<removed>")
    }
}
