import BackupModels
import DeviceTransport
import Foundation
import Testing

@testable import VendorProfiles

/// The worked example of Documentation/WritingAVendorProfile.md, run from the article itself: the YAML
/// profile and the archived configuration are read from the article's fenced blocks, so the article
/// cannot go stale without this test failing.
@Suite("Documentation: writing a vendor profile")
struct ArticleProfileTests {
    static let articlePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Documentation/WritingAVendorProfile.md").path

    /// The body of the first fenced block that opens with exactly `fence` after the line containing `marker`.
    static func fencedBlock(_ fence: String, after marker: String, in text: String) throws -> String {
        let lines = text.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex { $0.contains(marker) }, "marker '\(marker)' not in the article")
        let open = try #require(lines[start...].firstIndex { $0 == fence }, "no \(fence) block after '\(marker)'")
        let close = try #require(lines[(open + 1)...].firstIndex { $0 == "```" }, "unclosed block")
        return lines[(open + 1)..<close].joined(separator: "\n") + "\n"
    }

    /// The session the article shows, as a scripted device.
    static func session(secret: String) -> DeviceScript {
        var script = DeviceScript()
        script.send("ACME SwitchOS 4.2\r\nPress any key to continue")
        script.expect(" ")
        script.send("\r\nacme-sw1>")
        script.command("enable", reply: "Password: ")
        script.expect(secret + "\n")
        script.send("\r\nacme-sw1#")
        script.command("terminal length 0", reply: "acme-sw1#")
        script.command("show version", reply: crlf("ACMEOS 4.2.1 (build 7781)\nUptime: 41 days, 3 hours\n") + "acme-sw1#")
        script.command(
            "show running-config",
            reply: crlf(
                """
                ! Generated at 2026-11-29 02:00:13
                hostname acme-sw1
                username admin password Adm1nPw
                snmp-server community Publ1cComm RO
                interface port1
                 description uplink
                end

                """) + "acme-sw1#")
        script.expect("exit\n")
        return script
    }

    @Test func workedExampleBacksUpAsTheArticleSays() async throws {
        let article = try String(contentsOfFile: Self.articlePath, encoding: .utf8)
        let yaml = try Self.fencedBlock("```yaml", after: "## A worked example", in: article)
        let archived = try Self.fencedBlock("```", after: "and what is archived", in: article)

        let registry = VendorProfileRegistry()
        #expect(try registry.registerProfiles(from: Data(yaml.utf8), format: .yaml) == ["acme_switch"])
        let profile = try #require(registry.profile(named: "acme_switch"))
        #expect(profile.description == "ACME SwitchOS 4")
        #expect(profile.loginInteractions.first?.maxCount == 2)
        #expect(profile.commands.map(\.kind) == [.comment, .config])
        #expect(profile.commands[1].timeoutSeconds == 120)
        #expect(profile.algorithms?.keyExchange == ["curve25519-sha256", "diffie-hellman-group14-sha1"])

        let secret = "En4ble-Acme!"
        let credentials = Credentials(username: "backup", password: "login-pw-Xy7", enableSecret: Secret(secret))
        let run = await Harness.shell(
            vendor: "acme_switch", script: Self.session(secret: secret), credentials: credentials, scrub: true,
            registry: registry)
        #expect(try run.config == archived)
        #expect(try #require(run.shell).violations == [])
        for line in run.logs.lines { #expect(!line.contains(secret)) }

        // Without scrubbing the secrets stay (the default).
        let kept = await Harness.shell(
            vendor: "acme_switch", script: Self.session(secret: secret), credentials: credentials, registry: registry)
        #expect(try kept.config.contains("username admin password Adm1nPw\n"))
    }

    @Test func everyFieldInTheArticlesTableIsAProfileKey() throws {
        // The table of "Every field" lists exactly the keys a profile document accepts.
        let article = try String(contentsOfFile: Self.articlePath, encoding: .utf8)
        let section = try #require(article.components(separatedBy: "## Every field").last)
        let keys = section.components(separatedBy: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).prefix { $0 != "`" }.description
        }
        let documentKeys = Set(VendorProfile.CodingKeys.allCases.map(\.stringValue))
        #expect(Set(keys) == documentKeys)
        #expect(keys.count == Set(keys).count)
    }
}
