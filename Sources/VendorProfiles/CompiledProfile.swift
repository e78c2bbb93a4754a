import Foundation

/// A profile that cannot be used: a pattern that does not compile, a missing command, a bad setting.
public struct VendorProfileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The profile's name.
    public var profile: String
    /// The offending field, such as `volatile_lines[2]`.
    public var field: String
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(profile: String, field: String, message: String) {
        self.profile = profile
        self.field = field
        self.message = message
    }

    /// "Vendor profile 'NAME', FIELD: MESSAGE".
    public var description: String { "Vendor profile '\(profile)', \(field): \(message)" }
}

/// A compiled regular expression and its source.
struct Pattern: Sendable {
    let source: String
    let regex: NSRegularExpression

    /// The same pattern with `^` and `$` matching at line breaks, for finding candidate lines in a whole
    /// output with one search instead of one per line; `nil` when the pattern uses constructs whose meaning
    /// changes when the text around a line is visible (`\A`, `\z`, `\Z`, lookaround).
    let lineAnchored: NSRegularExpression?

    /// - Parameter lineFilter: also prepare ``lineAnchored`` and ``linePrefix`` (volatile-line patterns,
    ///   which are tested against every line of an output); other patterns skip that work.
    init(_ source: String, profile: String, field: String, lineFilter: Bool = false) throws(VendorProfileError) {
        do {
            regex = try NSRegularExpression(pattern: source)
        } catch {
            throw VendorProfileError(profile: profile, field: field, message: "invalid regular expression \(source)")
        }
        self.source = source
        guard lineFilter else {
            lineAnchored = nil
            linePrefix = nil
            return
        }
        let contextSensitive = [#"\A"#, #"\z"#, #"\Z"#, "(?=", "(?!", "(?<=", "(?<!"].contains { source.contains($0) }
        lineAnchored = contextSensitive ? nil : try? NSRegularExpression(pattern: source, options: [.anchorsMatchLines])
        linePrefix = Self.literalPrefix(of: source)
    }

    /// The bytes every line matching this pattern starts with, when the pattern is anchored at `^` and
    /// begins with literal text (`^! Last configuration change` → `! Last configuration change`); `nil`
    /// otherwise. Lets a filter skip the regex for lines that cannot match.
    let linePrefix: [UInt8]?

    static func literalPrefix(of source: String) -> [UInt8]? {
        let characters = Array(source)
        guard characters.first == "^", !hasTopLevelAlternation(characters) else { return nil }
        var literal: [Character] = []
        var i = 1
        scan: while i < characters.count {
            let c = characters[i]
            switch c {
            case "?", "*", "{":
                // The previous character is optional: it is not part of the prefix.
                if !literal.isEmpty { literal.removeLast() }
                break scan
            case ".", "[", "]", "(", ")", "}", "+", "|", "^", "$":
                break scan
            case "\\":
                guard i + 1 < characters.count else { break scan }
                let next = characters[i + 1]
                if next.isLetter || next.isNumber { break scan }  // \s, \d, \b, \1 …
                literal.append(next)
                i += 2
                continue scan
            default:
                literal.append(c)
            }
            i += 1
        }
        return literal.isEmpty ? nil : Array(String(literal).utf8)
    }

    /// The longest run of literal text that every match of `source` contains, or `nil` when no text is
    /// certain. Groups that must match (not optional, no `|` inside, no lookaround) are looked into: their
    /// text joins the text around them. Inline flags (`(?i)`, `(?x)`) and `\Q…\E`, which change what the
    /// text means, give `nil`.
    ///
    /// `^\s+ip ospf (?:a|b) (?<secret>\S+)` → `ip ospf `; `\b[a-z]+://[^@]+@` → `://`;
    /// `(?<secret>%\^%#.*?%\^%#)` → `%^%#`.
    static func requiredLiteral(of source: String) -> [UInt8]? {
        let c = Array(source)
        if source.contains(#"\Q"#) { return nil }
        var best: [Character] = []
        var run: [Character] = []
        func endRun() {
            if run.count > best.count { best = run }
            run = []
        }
        /// The index of the `]` closing the class that opens at `i`.
        func classEnd(_ i: Int) -> Int? {
            var j = i + 1
            if j < c.count, c[j] == "^" { j += 1 }
            if j < c.count, c[j] == "]" { j += 1 }
            while j < c.count, c[j] != "]" { j += c[j] == "\\" ? 2 : 1 }
            return j < c.count ? j : nil
        }
        /// The index of the `)` closing the group that opens at `i`.
        func groupEnd(_ i: Int) -> Int? {
            var depth = 0
            var j = i
            while j < c.count {
                switch c[j] {
                case "\\":
                    j += 2
                    continue
                case "[":
                    guard let end = classEnd(j) else { return nil }
                    j = end
                case "(": depth += 1
                case ")":
                    depth -= 1
                    if depth == 0 { return j }
                default: break
                }
                j += 1
            }
            return nil
        }
        /// Collects the certain text of `c[lo..<hi]` into the runs; `false` when the pattern is beyond this.
        func scan(_ lo: Int, _ hi: Int) -> Bool {
            if hasTopLevelAlternation(Array(c[lo..<hi])) {
                endRun()
                return true
            }
            var i = lo
            while i < hi {
                var literal: Character?
                var next = i + 1
                switch c[i] {
                case "\\":
                    guard i + 1 < hi else { return false }
                    next = i + 2
                    // \s, \d, \b, \1, \p{…}, \x41 …: a class, an assertion or a code; escaped punctuation is itself.
                    if !(c[i + 1].isLetter || c[i + 1].isNumber) { literal = c[i + 1] }
                case "[":
                    guard let end = classEnd(i) else { return false }
                    next = end + 1
                case "{":
                    // A counted quantifier `{2,3}`: none of it is text.
                    guard let close = c[i..<hi].firstIndex(of: "}") else { return false }
                    next = close + 1
                case "(":
                    guard let close = groupEnd(i), close < hi else { return false }
                    next = close + 1
                    var bodyStart = i + 1
                    var mustMatch = true
                    if bodyStart < close, c[bodyStart] == "?" {
                        let kind: Character = bodyStart + 1 < close ? c[bodyStart + 1] : ")"
                        switch kind {
                        case ":", ">": bodyStart += 2
                        case "=", "!": mustMatch = false
                        case "<":
                            if bodyStart + 2 < close, c[bodyStart + 2] == "=" || c[bodyStart + 2] == "!" {
                                mustMatch = false
                            } else {
                                guard let named = c[bodyStart..<close].firstIndex(of: ">") else { return false }
                                bodyStart = named + 1
                            }
                        default: return false  // inline flags, comments
                        }
                    }
                    let quantifier: Character? = next < hi ? c[next] : nil
                    if mustMatch, quantifier != "?", quantifier != "*", quantifier != "{" {
                        guard scan(bodyStart, close) else { return false }
                        if quantifier == "+" { endRun() }
                    } else {
                        endRun()
                    }
                    i = next
                    continue
                case ")":
                    return false
                case ".", "^", "$", "|", "+", "*", "?", "}":
                    break
                default:
                    literal = c[i]
                }
                guard let literal else {
                    endRun()
                    i = next
                    continue
                }
                // A quantifier after the character: `?`, `*` and `{` make it optional; with `+` one copy is certain.
                switch next < hi ? c[next] : nil {
                case "?", "*", "{":
                    endRun()
                case "+":
                    run.append(literal)
                    endRun()
                default:
                    run.append(literal)
                }
                i = next
            }
            return true
        }
        guard scan(0, c.count) else { return nil }
        endRun()
        return best.isEmpty ? nil : Array(String(best).utf8)
    }

    /// Whether `|` appears outside every group and character class (`^a|b` is not anchored as a whole).
    static func hasTopLevelAlternation(_ characters: [Character]) -> Bool {
        var depth = 0
        var inClass = false
        var i = 0
        while i < characters.count {
            switch characters[i] {
            case "\\": i += 1
            case "[" where !inClass: inClass = true
            case "]" where inClass: inClass = false
            case "(" where !inClass: depth += 1
            case ")" where !inClass: depth -= 1
            case "|" where !inClass && depth == 0: return true
            default: break
            }
            i += 1
        }
        return false
    }

    /// Whether the pattern occurs in `text`.
    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// The first match in `text`.
    func firstMatch(in text: String) -> NSTextCheckingResult? {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
    }

    /// Whether the pattern has a capture group with this name.
    func hasGroup(named name: String) -> Bool { source.contains("(?<\(name)>") }
}

/// A profile with every pattern compiled and every setting checked; shared by all sessions of the profile.
struct CompiledProfile: Sendable {
    struct CompiledInteraction: Sendable {
        let pattern: Pattern
        let send: String
        let maxCount: Int
    }

    struct CompiledEnable: Sendable {
        let command: String
        let privilegedPrompt: Pattern?
        let passwordPrompt: Pattern
        let usernamePrompt: Pattern?
        let failurePatterns: [Pattern]
    }

    struct CompiledCommand: Sendable {
        let command: BackupCommand
        let volatileLines: [Pattern]
        let timeout: Duration?
    }

    struct CompiledSecretRule: Sendable {
        let pattern: Pattern
        let replacement: String
        let sectionStart: Pattern?
        let sectionEnd: Pattern?
        /// Bytes every match of ``pattern`` contains (``Pattern/requiredLiteral(of:)``): a line without them
        /// is skipped without a regex call. Most lines of a configuration hold no secret.
        let requiredLiteral: [UInt8]?

        init(pattern: Pattern, replacement: String, sectionStart: Pattern?, sectionEnd: Pattern?) {
            self.pattern = pattern
            self.replacement = replacement
            self.sectionStart = sectionStart
            self.sectionEnd = sectionEnd
            requiredLiteral = Pattern.requiredLiteral(of: pattern.source)
        }
    }

    struct CompiledGuard: Sendable {
        let lastLine: Pattern?
        let minimumLines: Int
        let blockOpen: Pattern?
        let blockClose: Pattern?
    }

    let profile: VendorProfile
    let prompt: Pattern?
    let loginInteractions: [CompiledInteraction]
    let enable: CompiledEnable?
    let pagers: [CompiledInteraction]
    let commands: [CompiledCommand]
    let errorPatterns: [Pattern]
    let volatileLines: [Pattern]
    let secretRules: [CompiledSecretRule]
    let truncationGuard: CompiledGuard?
    let commandTimeout: Duration?
    let loginTimeout: Duration?

    var name: String { profile.name }

    init(_ profile: VendorProfile) throws(VendorProfileError) {
        self.profile = profile
        let name = profile.name
        func fail(_ field: String, _ message: String) -> VendorProfileError {
            VendorProfileError(profile: name, field: field, message: message)
        }
        func compile(_ source: String, _ field: String, lineFilter: Bool = false) throws(VendorProfileError) -> Pattern {
            try Pattern(source, profile: name, field: field, lineFilter: lineFilter)
        }
        func compileAll(_ sources: [String], _ field: String, lineFilter: Bool = false) throws(VendorProfileError) -> [Pattern] {
            var result: [Pattern] = []
            for (i, source) in sources.enumerated() {
                result.append(try compile(source, "\(field)[\(i)]", lineFilter: lineFilter))
            }
            return result
        }
        func seconds(_ value: Double?, _ field: String) throws(VendorProfileError) -> Duration? {
            guard let value else { return nil }
            guard value.isFinite, value > 0 else { throw fail(field, "must be a positive number of seconds") }
            return .milliseconds(Int64((value * 1000).rounded(.up)))
        }

        if name.trimmingCharacters(in: .whitespaces).isEmpty { throw fail("name", "must not be empty") }
        if profile.commands.isEmpty { throw fail("commands", "at least one backup command is needed") }
        for (i, command) in profile.commands.enumerated()
        where command.command.trimmingCharacters(in: .whitespaces).isEmpty {
            throw fail("commands[\(i)]", "the command must not be empty")
        }
        if profile.errorScanLines < 0 { throw fail("error_scan_lines", "must not be negative") }
        if profile.newline.isEmpty { throw fail("newline", "must not be empty") }

        switch profile.mode {
        case .shell:
            guard !profile.prompt.isEmpty else { throw fail("prompt", "a shell profile needs a prompt pattern") }
            prompt = try compile(profile.prompt, "prompt")
        case .exec:
            prompt = profile.prompt.isEmpty ? nil : try compile(profile.prompt, "prompt")
        }

        var logins: [CompiledInteraction] = []
        for (i, interaction) in profile.loginInteractions.enumerated() {
            logins.append(
                CompiledInteraction(
                    pattern: try compile(interaction.pattern, "login_interactions[\(i)].pattern"),
                    send: interaction.send, maxCount: max(1, interaction.maxCount ?? 5)))
        }
        loginInteractions = logins

        var pagers: [CompiledInteraction] = []
        for (i, interaction) in profile.pagers.enumerated() {
            pagers.append(
                CompiledInteraction(
                    pattern: try compile(interaction.pattern, "pagers[\(i)].pattern"), send: interaction.send,
                    maxCount: .max))
        }
        self.pagers = pagers

        if let enable = profile.enable {
            guard !enable.command.isEmpty else { throw fail("enable.command", "must not be empty") }
            self.enable = CompiledEnable(
                command: enable.command,
                privilegedPrompt: try enable.privilegedPrompt.map { (p) throws(VendorProfileError) in
                    try compile(p, "enable.privileged_prompt")
                },
                passwordPrompt: try compile(enable.passwordPrompt, "enable.password_prompt"),
                usernamePrompt: try enable.usernamePrompt.map { (p) throws(VendorProfileError) in
                    try compile(p, "enable.username_prompt")
                },
                failurePatterns: try compileAll(enable.failurePatterns, "enable.failure_patterns"))
        } else {
            enable = nil
        }

        var commands: [CompiledCommand] = []
        for (i, command) in profile.commands.enumerated() {
            commands.append(
                CompiledCommand(
                    command: command,
                    volatileLines: try compileAll(command.volatileLines, "commands[\(i)].volatile_lines", lineFilter: true),
                    timeout: try seconds(command.timeoutSeconds, "commands[\(i)].timeout_seconds")))
        }
        self.commands = commands

        errorPatterns = try compileAll(profile.errorPatterns, "error_patterns")
        volatileLines = try compileAll(profile.volatileLines, "volatile_lines", lineFilter: true)
        var rules: [CompiledSecretRule] = []
        for (i, rule) in profile.secretRules.enumerated() {
            if rule.sectionEnd != nil && rule.sectionStart == nil {
                throw fail("secret_rules[\(i)].section_end", "needs section_start")
            }
            rules.append(
                CompiledSecretRule(
                    pattern: try compile(rule.pattern, "secret_rules[\(i)].pattern"), replacement: rule.replacement,
                    sectionStart: try rule.sectionStart.map { (p) throws(VendorProfileError) in
                        try compile(p, "secret_rules[\(i)].section_start")
                    },
                    sectionEnd: try rule.sectionEnd.map { (p) throws(VendorProfileError) in
                        try compile(p, "secret_rules[\(i)].section_end")
                    }))
        }
        secretRules = rules

        if let guardSettings = profile.truncationGuard {
            if (guardSettings.blockOpen == nil) != (guardSettings.blockClose == nil) {
                throw fail("truncation_guard", "block_open and block_close go together")
            }
            truncationGuard = CompiledGuard(
                lastLine: try guardSettings.lastLine.map { (p) throws(VendorProfileError) in
                    try compile(p, "truncation_guard.last_line")
                },
                minimumLines: max(0, guardSettings.minimumLines),
                blockOpen: try guardSettings.blockOpen.map { (p) throws(VendorProfileError) in
                    try compile(p, "truncation_guard.block_open")
                },
                blockClose: try guardSettings.blockClose.map { (p) throws(VendorProfileError) in
                    try compile(p, "truncation_guard.block_close")
                })
        } else {
            truncationGuard = nil
        }
        commandTimeout = try seconds(profile.commandTimeoutSeconds, "command_timeout_seconds")
        loginTimeout = try seconds(profile.loginTimeoutSeconds, "login_timeout_seconds")
    }
}

// MARK: - The prompt learnt at login

enum PromptLearning {
    /// Rewrites a prompt pattern for a known hostname: the `(?<hostname>…)` group's body becomes the
    /// escaped hostname and a leading `^` is dropped, so the prompt is also found after a message that
    /// ended without a newline. `nil` when the pattern has no such group or the result does not compile.
    static func learntPattern(from pattern: String, hostname: String) -> String? {
        let opener = "(?<hostname>"
        guard let openRange = pattern.range(of: opener) else { return nil }
        // Find the group's closing parenthesis, skipping escapes and character classes.
        var depth = 1
        var index = openRange.upperBound
        var inClass = false
        var closing: String.Index?
        while index < pattern.endIndex {
            let character = pattern[index]
            if character == "\\" {
                index = pattern.index(after: index)
                if index < pattern.endIndex { index = pattern.index(after: index) }
                continue
            }
            if inClass {
                if character == "]" { inClass = false }
            } else if character == "[" {
                inClass = true
                // A ']' right after '[' or '[^' is literal.
                var next = pattern.index(after: index)
                if next < pattern.endIndex, pattern[next] == "^" { next = pattern.index(after: next) }
                if next < pattern.endIndex, pattern[next] == "]" { index = next }
            } else if character == "(" {
                depth += 1
            } else if character == ")" {
                depth -= 1
                if depth == 0 {
                    closing = index
                    break
                }
            }
            index = pattern.index(after: index)
        }
        guard let closing else { return nil }
        var result = String(pattern[..<openRange.upperBound]) + NSRegularExpression.escapedPattern(for: hostname)
            + String(pattern[closing...])
        if result.hasPrefix("^") { result.removeFirst() }
        guard (try? NSRegularExpression(pattern: result)) != nil else { return nil }
        return result
    }
}
