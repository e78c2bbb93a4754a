import BackupModels
import Foundation

// Device text in error messages and logs.
//
// Errors are logged and stored in task records, so a line the device sent (the last line before a timeout,
// the line a truncation guard rejected, a command's error reply) may reach them only after the profile's
// secret rules have run over the WHOLE line — whether or not the user asked for scrubbed backups — and the
// credentials' secrets are redacted. Only then is the line shortened: a line cut first could hide a secret
// from a rule (a rule anchored at the line's end, a credential cut in half) and leak a prefix of it.

extension CompiledProfile.CompiledSecretRule {
    /// `line` with the text of every match's `secret` group (or every whole match, when the pattern has no
    /// such group) replaced with the rule's replacement.
    func apply(to line: String) -> String {
        if let requiredLiteral, !utf8(of: line, contains: requiredLiteral) { return line }
        let matches = pattern.regex.matches(in: line, range: NSRange(line.startIndex..., in: line))
        guard !matches.isEmpty else { return line }
        let mutable = NSMutableString(string: line)
        let hasSecretGroup = pattern.hasGroup(named: "secret")
        // Replace from the end so earlier ranges stay valid.
        for match in matches.reversed() {
            var range = match.range
            if hasSecretGroup {
                let group = match.range(withName: "secret")
                guard group.location != NSNotFound else { continue }
                range = group
            }
            mutable.replaceCharacters(in: range, with: replacement)
        }
        return String(mutable)
    }
}

/// Whether the UTF-8 bytes of `text` contain `needle`.
func utf8(of text: String, contains needle: [UInt8]) -> Bool {
    if let found = text.utf8.withContiguousStorageIfAvailable({ bytes in containsSubsequence(bytes, needle) }) { return found }
    return containsSubsequence(Array(text.utf8), needle)
}

extension CompiledProfile {
    /// The longest line (in UTF-8 bytes) quoted at all. A longer line is described, not quoted: the rules
    /// must see a whole line, and scanning megabytes for one message is not worth it.
    static let maxQuotedLineBytes = 4096

    /// One line of device output with every secret rule applied, to the line as it came (with its
    /// indentation: rules anchor on it). Section limits are ignored: a quoted line comes without the lines
    /// around it, and an error message had better say too little than carry a secret — a sectioned rule's
    /// pattern may blank a word that is a secret only inside its section (a RouterOS `name=`).
    func scrubbedForQuoting(_ line: String) -> String {
        var result = line
        for rule in secretRules { result = rule.apply(to: result) }
        return result
    }

    /// One line of device output as an error message or a log may show it: the profile's secret rules,
    /// then the credentials' secret values, and only then trimmed of surrounding blanks and shortened to
    /// `limit` characters (an ellipsis marks the cut). A line longer than ``maxQuotedLineBytes`` is replaced
    /// by its length.
    func quote(_ line: some StringProtocol, credentials: Credentials?, limit: Int) -> String {
        let byteCount = line.utf8.count
        guard byteCount <= Self.maxQuotedLineBytes else { return "<a line of \(byteCount) bytes, not shown>" }
        var text = scrubbedForQuoting(String(line)).trimmingCharacters(in: .whitespaces)
        if let credentials { text = redactSecrets(text, of: credentials) }
        guard text.count > limit else { return text }
        return String(text.prefix(max(0, limit))) + "…"
    }

    /// The first `maxLines` non-blank lines of `text` (exec stderr, a multi-line reply), each quoted like
    /// ``quote(_:credentials:limit:)``, joined with `" | "` and shortened to `limit` characters as a whole.
    /// Only the lines kept are looked at, so a huge text costs no more than its first lines.
    func quoteLines(of text: String, credentials: Credentials?, limit: Int, maxLines: Int = 5) -> String {
        var quoted: [String] = []
        var start = text.utf8.startIndex
        let end = text.utf8.endIndex
        while start < end, quoted.count < maxLines {
            let lineEnd = text.utf8[start...].firstIndex(of: 0x0A) ?? end
            let line = Substring(text.utf8[start..<lineEnd])
            if line.contains(where: { !$0.isWhitespace }) {
                quoted.append(quote(line, credentials: credentials, limit: .max))
            }
            start = lineEnd == end ? end : text.utf8.index(after: lineEnd)
        }
        let joined = quoted.joined(separator: " | ")
        guard joined.count > limit else { return joined }
        return String(joined.prefix(max(0, limit))) + "…"
    }
}
