import BackupModels
import Foundation

/// Turns the commands' cleaned outputs into the configuration text: error detection, blank-line trimming,
/// the truncation guard, volatile-line filtering, secret scrubbing and comment prefixes.
struct ConfigAssembler {
    let profile: CompiledProfile
    let scrubSecrets: Bool
    let deviceName: String
    /// Their secret values never appear in a message (with the profile's secret rules, which always apply
    /// to quoted lines).
    let credentials: Credentials?
    private(set) var text = ""
    /// Lines of the `config` commands, without volatile lines, for the truncation guard.
    private var guardedLines: [Substring] = []
    private var sawConfigCommand = false

    init(profile: CompiledProfile, scrubSecrets: Bool, deviceName: String, credentials: Credentials? = nil) {
        self.profile = profile
        self.scrubSecrets = scrubSecrets
        self.deviceName = deviceName
        self.credentials = credentials
    }

    /// Splits text into lines, without the empty element after a final newline.
    static func lines(_ output: String) -> [Substring] {
        // Split the UTF-8 bytes (a newline is never part of a longer character there), not the Characters.
        var lines = output.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { Substring($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Which of `lines` (the lines of `text`, in order, as ``lines(_:)`` splits them) match one of
    /// `patterns`, each pattern tested on each line alone.
    ///
    /// Testing 10,000 lines one by one costs 10,000 regex calls per pattern. Instead, a pattern that means
    /// the same with `^`/`$` at line breaks searches the whole text once; only the lines a match touches
    /// are then tested alone (so a match that spans lines never flags a line that does not match by itself).
    static func matchingLines(_ lines: [Substring], in text: String, patterns: [Pattern]) -> [Bool] {
        var flagged = [Bool](repeating: false, count: lines.count)
        guard !lines.isEmpty else { return flagged }
        var lineStarts: [Int] = []  // UTF-16 offsets, as NSRange counts them
        func lineIndex(_ offset: Int) -> Int {
            var low = 0, high = lineStarts.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
            }
            return low
        }
        var eachLine: [Pattern] = []
        for pattern in patterns {
            if let prefix = pattern.linePrefix {
                // Only lines that start with the pattern's literal text can match.
                for i in lines.indices where !flagged[i] && lines[i].utf8.starts(with: prefix) {
                    flagged[i] = pattern.matches(String(lines[i]))
                }
                continue
            }
            guard let whole = pattern.lineAnchored else {
                eachLine.append(pattern)
                continue
            }
            if lineStarts.isEmpty {
                lineStarts.reserveCapacity(lines.count)
                lineStarts.append(0)
                var offset = 0
                for unit in text.utf16 {
                    offset += 1
                    if unit == 0x0A { lineStarts.append(offset) }
                }
            }
            whole.enumerateMatches(in: text, range: NSRange(text.startIndex..., in: text)) { match, _, _ in
                guard let range = match?.range, range.location != NSNotFound else { return }
                let first = lineIndex(range.location)
                let last = min(lineIndex(range.location + max(range.length - 1, 0)), lines.count - 1)
                guard first <= last else { return }
                for i in first...last where !flagged[i] && pattern.matches(String(lines[i])) {
                    flagged[i] = true
                }
            }
        }
        if !eachLine.isEmpty {
            for i in lines.indices where !flagged[i] {
                let string = String(lines[i])
                flagged[i] = eachLine.contains { $0.matches(string) }
            }
        }
        return flagged
    }

    /// The line that makes `output` a failed command, if any (the profile's error patterns, first lines).
    func errorLine(in output: String) -> String? {
        firstLine(of: output, matching: profile.errorPatterns, limit: profile.profile.errorScanLines)
    }

    /// Adds one command's output.
    mutating func add(_ output: String, of command: CompiledProfile.CompiledCommand) {
        var lines = Self.lines(output)
        let volatile = profile.volatileLines + command.volatileLines
        if !volatile.isEmpty {
            let flagged = Self.matchingLines(lines, in: output, patterns: volatile)
            if flagged.contains(true) {
                lines = lines.indices.filter { !flagged[$0] }.map { lines[$0] }
            }
        }
        trimBlankLines(&lines)
        if command.command.kind == .config {
            sawConfigCommand = true
            guardedLines.append(contentsOf: lines)
        }
        if scrubSecrets, !profile.secretRules.isEmpty {
            lines = scrub(lines.map(String.init)).map { Substring($0) }
        }
        let prefix = profile.profile.commentPrefix
        if let header = command.command.header {
            text += prefix + header + "\n"
        }
        text.reserveCapacity(text.utf8.count + output.utf8.count + lines.count * prefix.utf8.count)
        for line in lines {
            switch command.command.kind {
            case .config:
                text += line
            case .comment:
                text += line.isEmpty ? prefix.trimmingSuffixWhitespace() : prefix + line
            }
            text += "\n"
        }
    }

    /// Applies the truncation guard to the configuration commands' output.
    func checkComplete() throws {
        guard let rules = profile.truncationGuard, sawConfigCommand else { return }
        func truncated(_ why: String) -> BackupError {
            BackupError(
                .truncatedConfig, "The configuration of \(deviceName) looks cut short: \(why).",
                hint: "The session may have dropped mid-output; it is retried. If the device's configuration legitimately ends differently, adjust the \(profile.name) profile's truncation_guard.")
        }
        let meaningful = guardedLines.reduce(0) { count, line in
            Self.isMeaningful(line) ? count + 1 : count
        }
        if meaningful < rules.minimumLines {
            throw truncated("\(meaningful) meaningful line(s), at least \(rules.minimumLines) expected")
        }
        if let lastLine = rules.lastLine {
            let last = guardedLines.last(where: { $0.contains(where: { !$0.isWhitespace }) }).map(String.init) ?? ""
            if !lastLine.matches(last) {
                let quoted = profile.quote(last, credentials: credentials, limit: 60)
                throw truncated("the last line is '\(quoted)', expected one matching \(lastLine.source)")
            }
        }
        if let open = rules.blockOpen, let close = rules.blockClose {
            var depth = 0
            for line in guardedLines {
                let string = String(line)
                if open.matches(string) {
                    depth += 1
                } else if close.matches(string) {
                    depth -= 1
                }
            }
            if depth != 0 {
                throw truncated("\(depth) block(s) left open")
            }
        }
    }

    /// Whether a line holds more than whitespace and comment marks (`!`, `#`).
    static func isMeaningful(_ line: Substring) -> Bool {
        for byte in line.utf8 {
            switch byte {
            case 0x20, 0x09, 0x0B, 0x0C, 0x0D, 0x21, 0x23: continue
            case 0x80...: return line.contains { !$0.isWhitespace && $0 != "!" && $0 != "#" }
            default: return true
            }
        }
        return false
    }

    /// Applies the secret rules to one command's lines; a sectioned rule applies only inside its sections.
    private func scrub(_ lines: [String]) -> [String] {
        let rules = profile.secretRules
        var active = [Bool](repeating: true, count: rules.count)
        guard rules.contains(where: { $0.sectionStart != nil }) else {
            return lines.map { scrub($0, active: active) }
        }
        var inSection = [Bool](repeating: false, count: rules.count)
        var result: [String] = []
        result.reserveCapacity(lines.count)
        for line in lines {
            for (i, rule) in rules.enumerated() {
                guard let start = rule.sectionStart else { continue }
                if inSection[i], let end = rule.sectionEnd, end.matches(line) { inSection[i] = false }
                if start.matches(line) {
                    inSection[i] = true
                    active[i] = false  // the section's opening line itself is not in it
                } else {
                    active[i] = inSection[i]
                }
            }
            result.append(scrub(line, active: active))
        }
        return result
    }

    private func scrub(_ line: String, active: [Bool]) -> String {
        var result = line
        for (i, rule) in profile.secretRules.enumerated() where active[i] {
            result = rule.apply(to: result)
        }
        return result
    }

    private func trimBlankLines(_ lines: inout [Substring]) {
        while let first = lines.first, first.allSatisfy(\.isWhitespace) { lines.removeFirst() }
        while let last = lines.last, last.allSatisfy(\.isWhitespace) { lines.removeLast() }
    }
}

extension String {
    func trimmingSuffixWhitespace() -> String {
        var result = Substring(self)
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return String(result)
    }
}

/// Cleans a whole exec-channel output the way shell lines are cleaned, decoding once at the end.
func cleanedText(_ bytes: [UInt8]) -> String {
    var result: [UInt8] = []
    result.reserveCapacity(bytes.count)
    var start = bytes.startIndex
    while start < bytes.endIndex {
        let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
        result.append(contentsOf: TerminalLine.clean(bytes[start..<end]))
        result.append(0x0A)
        start = end + 1
    }
    return String(decoding: result, as: UTF8.self)
}
