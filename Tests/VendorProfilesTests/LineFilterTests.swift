import Foundation
import Testing

@testable import VendorProfiles

/// The volatile-line filter finds matching lines without one regex call per line (literal prefixes, one
/// whole-text search); it must flag exactly the lines a per-line test flags.
@Suite("Volatile-line filter")
struct LineFilterTests {
    static func pattern(_ source: String) throws -> Pattern { try Pattern(source, profile: "test", field: "volatile_lines", lineFilter: true) }

    @Test("literal prefixes of anchored patterns", arguments: [
        (#"^! (Last|No) configuration change"#, "! "),
        (#"^Building configuration\.\.\.\s*$"#, "Building configuration..."),
        (#"^ntp clock-period \d+"#, "ntp clock-period "),
        (#"^\{(?:master|backup)\}$"#, "{"),
        (#"^ab?c"#, "a"),
        (#"^ab*"#, "a"),
        (#"^ab+"#, "ab"),
        (#"^ab{2}"#, "a"),
        (#"^#config-version="#, "#config-version="),
    ])
    func prefixes(source: String, prefix: String) throws {
        #expect(try Self.pattern(source).linePrefix == Array(prefix.utf8))
    }

    @Test("no prefix where a line need not start with fixed text", arguments: [
        #"^a|b"#, #"abc"#, #"^\d{4}"#, #"^(?i)time"#, #"^.x"#, #"^[!#] x"#, #"^a{2}"#, #"^(a|b)"#,
    ])
    func noPrefix(source: String) throws {
        #expect(try Self.pattern(source).linePrefix == nil)
    }

    /// The flags a plain per-line test gives.
    static func naive(_ lines: [Substring], _ patterns: [Pattern]) -> [Bool] {
        lines.map { line in patterns.contains { $0.matches(String(line)) } }
    }

    @Test("every built-in profile's volatile patterns flag the same lines as a per-line test")
    func builtInPatternsAgree() throws {
        // Lines that match, nearly match, span what a whole-text search could join, and non-ASCII text.
        let samples = [
            "Building configuration...", "Building configuration...  ", "Building configuration", "",
            "Current configuration : 1234 bytes", "Current configuration: 12 bytes", "! Last configuration change at 10:00",
            "! No configuration change since last restart", "!", "! NVRAM config last updated at 09:00", "ntp clock-period 17179",
            " ntp clock-period 1", "!Time: Mon Nov 29 10:00:00 2026", "!Running configuration last done at: now",
            "Mon Nov 29 10:00:00.123 UTC", "Mon Nov 29 10:00:00.123 UTC extra", "!! Last configuration change at x",
            ": Written by enable_15 at 10:00", ": Saved", ": Saved   ", ": Saved x", "## Last commit: 2026-11-29",
            "{master:0}", "{master}", "{backup:node1}", "{master", "! Time: 10:00", "2026-11-29 10:00:00+08:00",
            "2026-11-29 10:00:00.123 DST", "# 2026-11-29 10:00:00 by RouterOS 7.1", "# nov/29/2026 10:00:00 by RouterOS",
            "# inactive time", "# inactive time ", "#config-version=FGT60F-7.2", "#conf_file_ver=1234", "hostname r1",
            "description Zürich–Genève ✓", "interface GigabitEthernet0/1", "  ip address 10.0.0.1 255.255.255.0",
        ]
        var random = SystemRandomNumberGenerator()
        for profile in VendorProfile.builtIn {
            let compiled = try CompiledProfile(profile)
            let patterns = compiled.volatileLines + compiled.commands.flatMap(\.volatileLines)
            for _ in 0..<20 {
                let text = (0..<200).map { _ in samples.randomElement(using: &random)! }.joined(separator: "\n")
                    + (Bool.random(using: &random) ? "\n" : "")
                let lines = ConfigAssembler.lines(text)
                #expect(
                    ConfigAssembler.matchingLines(lines, in: text, patterns: patterns) == Self.naive(lines, patterns),
                    "\(profile.name)")
            }
        }
    }

    @Test("a match that spans lines flags only lines that match alone; context-sensitive patterns are tested per line")
    func spanningAndContext() throws {
        let patterns = try [#"x\s+y"#, #"^\s*end\s*$"#, #"(?<=a)b"#, #"c\z"#].map(Self.pattern)
        #expect(patterns[2].lineAnchored == nil && patterns[3].lineAnchored == nil)
        let text = "x\ny\n  end \nend x\na\nb\nab\nc\nc"
        let lines = ConfigAssembler.lines(text)
        let flags = ConfigAssembler.matchingLines(lines, in: text, patterns: patterns)
        #expect(flags == Self.naive(lines, patterns))
        #expect(flags == [false, false, true, false, false, false, true, true, true])
    }

    @Test("volatile lines are removed from a command's output, other lines kept in order")
    func removal() throws {
        let ios = try CompiledProfile(try #require(VendorProfile.builtIn.first { $0.name == "cisco_ios" }))
        let command = try #require(ios.commands.first { $0.command.kind == .config })
        var assembler = ConfigAssembler(profile: ios, scrubSecrets: false, deviceName: "r1")
        assembler.add(
            "Building configuration...\n\nCurrent configuration : 99 bytes\n!\n! Last configuration change at 10:00\nhostname r1\nntp clock-period 123\nend\n",
            of: command)
        #expect(assembler.text == "!\nhostname r1\nend\n")
    }
}

/// Plain lines skip the terminal interpreter; the shortcut must give what the interpreter gives.
@Suite("Terminal line cleaning")
struct TerminalLineTests {
    @Test("the plain-line shortcut agrees with the interpreter on random lines")
    func shortcutAgrees() {
        let pieces: [[UInt8]] = [
            Array("hostname r1".utf8), Array(" ".utf8), Array("\t".utf8), [0x0D], Array("Zürich".utf8), [0x08],
            [0x1B, 0x5B, 0x4B], [0x1B, 0x5B, 0x32, 0x4B], [0x1B, 0x5B, 0x33, 0x44], [0x07], [0x7F], Array("!".utf8),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            var line: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &generator) { line += pieces.randomElement(using: &generator)! }
            #expect(TerminalLine.clean(line[...]) == TerminalLine.interpret(line[...]), "\(line)")
        }
        #expect(TerminalLine.clean(Array("  \t\r".utf8)[...]) == [])
        #expect(TerminalLine.clean(Array("  \t".utf8)[...]) == Array("  \t".utf8))
        #expect(TerminalLine.clean(Array("interface Gi0/1\r".utf8)[...]) == Array("interface Gi0/1".utf8))
    }
}
