/// Turns the raw bytes of one terminal line into the text a person would read.
///
/// Works on bytes, never on a partly received UTF-8 character: every control byte and escape sequence is
/// ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte character.
///
/// - Carriage returns start the line over: the last part that has visible text wins, so
///   `"\r        \rnext line"` (a pager mark being erased) gives `"next line"` and `"text\r"` gives `"text"`.
///   A line with carriage returns but no visible text is empty.
/// - Backspace and "cursor left n" (`ESC [ n D`) delete the character(s) before them: pager marks and
///   redrawn input are erased this way.
/// - `ESC [ … H` / `ESC [ … f` (cursor position) start the line over like a carriage return;
///   `ESC [ 2 K` clears it; every other escape sequence (colours, `ESC c` resets, OSC titles) is removed.
/// - NUL, BEL and other control characters except TAB are removed.
enum TerminalLine {
    static func clean(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        // Most lines are plain text, perhaps ending in the PTY's `\r`: nothing to interpret.
        var body = raw
        let endsWithReturn = body.last == 0x0D
        if endsWithReturn { body = body.dropLast() }
        if !body.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            if endsWithReturn && body.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return [] }
            return Array(body)
        }
        return interpret(raw)
    }

    /// The full interpretation of a line's control characters (``clean(_:)`` without its fast path).
    static func interpret(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        var segment: [UInt8] = []
        segment.reserveCapacity(raw.count)
        var best: [UInt8]?
        var sawReturn = false
        var index = raw.startIndex
        let end = raw.endIndex

        func closeSegment() {
            if segment.contains(where: { $0 != 0x20 && $0 != 0x09 }) { best = segment }
            segment.removeAll(keepingCapacity: true)
            sawReturn = true
        }
        func deleteCharacters(_ count: Int) {
            var remaining = count
            while remaining > 0, !segment.isEmpty {
                // Remove one whole UTF-8 character: continuation bytes, then the lead byte.
                while let last = segment.last, last & 0xC0 == 0x80 { segment.removeLast() }
                if !segment.isEmpty { segment.removeLast() }
                remaining -= 1
            }
        }

        while index < end {
            let byte = raw[index]
            switch byte {
            case 0x0D:
                closeSegment()
                index += 1
            case 0x08:
                deleteCharacters(1)
                index += 1
            case 0x1B:
                index += 1
                guard index < end else { break }
                let kind = raw[index]
                index += 1
                if kind == UInt8(ascii: "[") {
                    // CSI: parameters 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E.
                    var parameter = 0
                    var firstParameter: Int?
                    while index < end, (0x30...0x3F).contains(raw[index]) {
                        let p = raw[index]
                        if (0x30...0x39).contains(p) {
                            parameter = min(parameter * 10 + Int(p - 0x30), 100_000)
                        } else if p == UInt8(ascii: ";"), firstParameter == nil {
                            firstParameter = parameter
                            parameter = 0
                        }
                        index += 1
                    }
                    while index < end, (0x20...0x2F).contains(raw[index]) { index += 1 }
                    guard index < end else { break }
                    let final = raw[index]
                    index += 1
                    let first = firstParameter ?? parameter
                    switch final {
                    case UInt8(ascii: "D"): deleteCharacters(max(1, first))
                    case UInt8(ascii: "H"), UInt8(ascii: "f"): closeSegment()
                    case UInt8(ascii: "K") where first == 2: segment.removeAll(keepingCapacity: true)
                    default: break
                    }
                } else if kind == UInt8(ascii: "]") {
                    // OSC: up to BEL or ESC \.
                    while index < end {
                        let b = raw[index]
                        index += 1
                        if b == 0x07 { break }
                        if b == 0x1B, index < end, raw[index] == UInt8(ascii: "\\") {
                            index += 1
                            break
                        }
                    }
                } else if kind == UInt8(ascii: "(") || kind == UInt8(ascii: ")") {
                    if index < end { index += 1 }  // character set selection
                }
            // Any other ESC x pair (ESC c, ESC 7, ESC =, …) is dropped whole.
            case 0x09:
                segment.append(byte)
                index += 1
            case 0x00..<0x20, 0x7F:
                index += 1
            default:
                segment.append(byte)
                index += 1
            }
        }
        if segment.contains(where: { $0 != 0x20 && $0 != 0x09 }) { return segment }
        if let best { return best }
        return sawReturn ? [] : segment
    }
}

/// Collects a command's output from a stream of chunks, line by line, in O(n) overall.
///
/// Completed lines are cleaned once, when their newline arrives; the incomplete last line (where prompts
/// and pager marks appear) is inspected through ``tail()``, which looks at no more than ``maxTailBytes``
/// of it. Text is decoded only from whole lines.
struct LineAccumulator {
    /// Bytes of the incomplete line inspected by ``tail()``: prompts and pager marks are short.
    static let maxTailBytes = 1024

    /// Completed, cleaned lines of the current command, each followed by `\n`.
    private(set) var output: [UInt8] = []
    /// Raw bytes of the line that has not ended yet.
    private(set) var partialLine: [UInt8] = []
    /// The echo still awaited (bytes of the command), if any.
    private var awaitedEcho: [UInt8]?
    private var escapePending = false

    /// Bytes ingested since the accumulator was created.
    private(set) var totalBytes = 0
    /// Bytes ingested since the current command started.
    private(set) var commandBytes = 0
    /// Raw bytes examined by ``tail()`` (at most ``maxTailBytes`` per call): the cost of prompt matching.
    private(set) var tailBytesExamined = 0

    var isAwaitingEcho: Bool { awaitedEcho != nil }

    /// Starts collecting the output of a command; with `echo`, lines up to and including the first one
    /// containing it are dropped.
    mutating func startCommand(echo: [UInt8]?) {
        output.removeAll(keepingCapacity: false)
        partialLine.removeAll(keepingCapacity: true)
        commandBytes = 0
        awaitedEcho = echo.flatMap { $0.isEmpty ? nil : $0 }
    }

    mutating func ingest(_ chunk: [UInt8]) {
        totalBytes += chunk.count
        commandBytes += chunk.count
        var lineStart = chunk.startIndex
        var index = chunk.startIndex
        while index < chunk.endIndex {
            let byte = chunk[index]
            if byte == 0x0A {
                partialLine.append(contentsOf: chunk[lineStart..<index])
                completeLine()
                lineStart = index + 1
                escapePending = false
            } else if escapePending && byte == UInt8(ascii: "E") {
                // ESC E (next line) ends the line like a newline; the ESC stays out of the line.
                escapePending = false
                if index > lineStart {
                    partialLine.append(contentsOf: chunk[lineStart..<(index - 1)])
                } else if partialLine.last == 0x1B {
                    partialLine.removeLast()
                }
                completeLine()
                lineStart = index + 1
            } else {
                escapePending = byte == 0x1B
            }
            index += 1
        }
        partialLine.append(contentsOf: chunk[lineStart..<chunk.endIndex])
    }

    private mutating func completeLine() {
        let cleaned = TerminalLine.clean(partialLine[...])
        partialLine.removeAll(keepingCapacity: true)
        if let echo = awaitedEcho {
            if cleaned.count >= echo.count, containsSubsequence(cleaned, echo) {
                awaitedEcho = nil
                output.removeAll(keepingCapacity: true)
            }
            return
        }
        output.append(contentsOf: cleaned)
        output.append(0x0A)
    }

    /// The cleaned text of the incomplete last line (its last ``maxTailBytes`` bytes at most).
    mutating func tail() -> String {
        let start = max(partialLine.startIndex, partialLine.endIndex - Self.maxTailBytes)
        tailBytesExamined += partialLine.endIndex - start
        var slice = partialLine[start...]
        // A cut in the middle of a UTF-8 character: skip its continuation bytes.
        while let first = slice.first, first & 0xC0 == 0x80 { slice = slice.dropFirst() }
        return String(decoding: TerminalLine.clean(slice), as: UTF8.self)
    }

    /// The cleaned text of the whole incomplete line.
    func fullPartialLine() -> String { String(decoding: TerminalLine.clean(partialLine[...]), as: UTF8.self) }

    /// Drops the incomplete line (an answered pager mark or question, or the prompt).
    mutating func discardPartialLine() { partialLine.removeAll(keepingCapacity: true) }

    /// Appends a final line (the text before a prompt on the prompt's line) to the output.
    mutating func appendLine(_ text: String) {
        output.append(contentsOf: Array(text.utf8))
        output.append(0x0A)
    }

    /// Takes the collected output and starts afresh.
    mutating func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }
}

/// Whether `needle` occurs in `haystack` (an array or a buffer of bytes).
func containsSubsequence<Bytes: RandomAccessCollection>(_ haystack: Bytes, _ needle: [UInt8]) -> Bool
where Bytes.Element == UInt8, Bytes.Index == Int {
    guard !needle.isEmpty else { return true }
    guard haystack.count >= needle.count else { return false }
    let first = needle[0]
    var i = haystack.startIndex
    let last = haystack.endIndex - needle.count
    while i <= last {
        if haystack[i] == first {
            var j = 1
            while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
            if j == needle.count { return true }
        }
        i += 1
    }
    return false
}
