import BackupSupport
import BackupModels
import Foundation

/// What the session driver plays to the client, in order.
enum OutputItem: Equatable {
    /// Bytes for the channel's stdout.
    case bytes([UInt8])
    /// Bytes for the channel's stderr (exec only).
    case stderr([UInt8])
    /// Wait before the next item (per-command latency).
    case pause(Duration)
    /// Stop sending, forever (the connection stays open).
    case hang
    /// Close the TCP connection.
    case disconnect
    /// Send these bytes again and again until the client goes away.
    case endless([UInt8])
    /// Send the exit status (after everything before it was written) and close the channel.
    case exit(status: Int)
}

/// Where the engine gets the device's current configuration and run number from.
struct ConfigSource: Sendable {
    /// Returns the configuration and the next run number (every rendering is one run).
    var next: @Sendable () -> (config: GeneratedConfig, run: Int)
}

/// One CLI session of a simulated device: bytes in, ``OutputItem``s out. Pure and synchronous (no I/O, no
/// clock of its own), so it is unit-testable; the SSH channel handler plays its output with the timing.
final class CLIEngine {
    enum State: Equatable {
        case waitingForAnyKey
        case line
        case secret(attempt: Int)
        case pager
        case confirm(index: Int)
        case closed
        case hung
    }

    private let device: SimulatedDevice
    private let vendor: VendorEmulation
    private let source: ConfigSource
    private let now: () -> (seconds: Int, milliseconds: Int)
    private(set) var state: State = .line
    private var line: [UInt8] = []
    private var secretLine: [UInt8] = []
    private var lastWasCR = false
    private(set) var privileged: Bool
    private var mode: String?
    private var pageLength: Int
    private var timestamps: Bool
    private var sessionRun: Int
    private let isExec: Bool

    // Paging state.
    private var pendingLines: [[UInt8]] = []
    private var pendingIndex = 0
    private var pendingIsBackup = false
    private var pendingTail: [UInt8] = []

    // Bytes of backup output written so far (for the mid-output faults).
    private var backupBytes = 0

    init(
        device: SimulatedDevice, source: ConfigSource, sessionRun: Int, exec: Bool = false, loginName: String? = nil,
        now: @escaping () -> (seconds: Int, milliseconds: Int)
    ) {
        self.device = device
        self.vendor = device.vendor
        self.source = source
        self.now = now
        self.privileged = device.startsPrivileged || device.vendor.privilegedPrompt == nil || exec
        self.pageLength = exec ? 0 : device.vendor.pageLength
        self.timestamps = device.vendor.commandTimestamp != nil
        self.sessionRun = sessionRun
        self.isExec = exec
        if !exec, let options = LoginOptions(loginName: loginName, device: device), let height = options.height {
            self.pageLength = height
        }
    }

    // MARK: - Entry points

    /// The shell starts: banner, then the prompt (or the any-key question).
    func start() -> [OutputItem] {
        if device.faults.contains(.hangAfterLogin) {
            state = .hung
            return [.hang]
        }
        var out = ""
        for line in vendor.banner { out += renderVolatile(line) + "\n" }
        if let question = vendor.anyKeyPrompt {
            state = .waitingForAnyKey
            return [text(out + question)]
        }
        state = .line
        return [text(out), text(prompt(), raw: true)]
    }

    /// One command on an exec channel: its output and an exit status, no prompt, no pager, no echo.
    func exec(_ command: String) -> [OutputItem] {
        if device.faults.contains(.hangAfterLogin) {
            state = .hung
            return [.hang]
        }
        var items = latencyItems()
        items += run(command: command)
        if state != .hung && state != .closed {
            state = .closed
            items.append(.exit(status: execStatus))
        }
        return items
    }

    private var execStatus = 0

    /// The client sent bytes.
    func receive(_ bytes: some Sequence<UInt8>) -> [OutputItem] {
        var items: [OutputItem] = []
        for byte in bytes {
            let afterCR = lastWasCR
            lastWasCR = byte == 13
            if byte == 10 && afterCR { continue }  // CR LF is one Enter
            switch state {
            case .closed, .hung:
                return items
            case .waitingForAnyKey:
                state = .line
                items.append(text(vendor.afterAnyKey, raw: true))
                items.append(text(prompt(), raw: true))
            case .line:
                items += lineByte(byte)
            case .secret(let attempt):
                items += secretByte(byte, attempt: attempt)
            case .pager:
                items += pagerKey(byte)
            case .confirm(let index):
                items += confirmKey(byte, index: index)
            }
        }
        return items
    }

    /// The client closed its side (EOF): the device hangs up after what is queued.
    func inputClosed() -> [OutputItem] {
        switch state {
        case .closed, .hung: return []
        default:
            state = .closed
            return [.exit(status: 0)]
        }
    }

    // MARK: - Line editing

    private func lineByte(_ byte: UInt8) -> [OutputItem] {
        switch byte {
        case 13, 10:
            let command = String(decoding: line, as: UTF8.self)
            line.removeAll(keepingCapacity: true)
            var items = [text("\n")]
            items += handleLine(command)
            return items
        case 8, 127:
            guard !line.isEmpty else { return [] }
            line.removeLast()
            return [.bytes([8, 32, 8])]
        case 3:  // Ctrl-C abandons the line
            line.removeAll()
            return [text("^C\n"), text(prompt(), raw: true)]
        case 9:  // no completion
            return []
        case 0..<32:
            return []
        default:
            line.append(byte)
            return [.bytes([byte])]
        }
    }

    private func secretByte(_ byte: UInt8, attempt: Int) -> [OutputItem] {
        switch byte {
        case 13, 10:
            let typed = String(decoding: secretLine, as: UTF8.self)
            secretLine.removeAll()
            var items = [text("\n")]
            guard let enable = vendor.enable else { return items }
            if typed == (device.enableSecret ?? "") {
                privileged = true
                state = .line
                items.append(text(prompt(), raw: true))
            } else if attempt + 1 < enable.attempts {
                state = .secret(attempt: attempt + 1)
                items.append(text(enable.retryMessage + enable.passwordPrompt, raw: true))
            } else {
                state = .line
                items.append(text(enable.failureMessage, raw: true))
                items.append(text(prompt(), raw: true))
            }
            return items
        case 8, 127:
            if !secretLine.isEmpty { secretLine.removeLast() }
            return []
        case 0..<32:
            return []
        default:
            secretLine.append(byte)
            if let mask = vendor.enable?.maskCharacter { return [text(String(mask), raw: true)] }
            return []
        }
    }

    private func confirmKey(_ byte: UInt8, index: Int) -> [OutputItem] {
        let key = Character(Unicode.Scalar(byte)).lowercased()
        guard key == "y" || key == "n" else { return [] }
        var items = [text(key + "\n", raw: true)]
        if index == 0 && key == "n" {
            state = .line
            items.append(text(prompt(), raw: true))
            return items
        }
        if index + 1 < vendor.logout.confirmations.count {
            state = .confirm(index: index + 1)
            items.append(text(vendor.logout.confirmations[index + 1], raw: true))
            return items
        }
        state = .closed
        items.append(text(vendor.logout.farewell, raw: true))
        items.append(.exit(status: 0))
        return items
    }

    // MARK: - Commands

    private func handleLine(_ raw: String) -> [OutputItem] {
        let command = raw.trimmingSpaces
        if command.isEmpty { return [text(prompt(), raw: true)] }
        var items = latencyItems()
        items += run(command: command)
        if state == .line { items.append(text(prompt(), raw: true)) }
        return items
    }

    private func latencyItems() -> [OutputItem] {
        device.latency > .zero ? [.pause(device.latency)] : []
    }

    /// Runs one command; leaves the prompt to the caller (the pager and logout change the state instead).
    private func run(command: String) -> [OutputItem] {
        var parts = command.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        let base = parts.removeFirst()
        var pipes: [(OutputPipe, String)] = []
        for part in parts {
            guard let pipe = parsePipe(part) else { return unknown(command, word: part) }
            pipes.append(pipe)
        }
        guard let (spec, number) = match(base) else { return unknown(base, word: nil) }
        let showsConfig: Bool = if case .showConfig = spec.action { true } else { false }
        if !showsConfig && pipes.contains(where: { $0.0 == .displaySet || $0.0 == .displayOmit }) {
            return unknown(command, word: parts.first)
        }
        let n = number.map(String.init) ?? ""
        let refusePaging = device.faults.contains(.pagingRefused)

        switch spec.action {
        case .disablePaging(let reply):
            if refusePaging { return unknown(command, word: nil) }
            pageLength = 0
            return [text(fillArgument(reply, n: n), raw: true)]
        case .enablePaging(let reply):
            pageLength = vendor.pageLength
            return [text(fillArgument(reply, n: n), raw: true)]
        case .setPageLength(let reply):
            if refusePaging { return unknown(command, word: nil) }
            pageLength = number ?? vendor.pageLength
            return [text(fillArgument(reply, n: n), raw: true)]
        case .disableTimestamps(let reply):
            timestamps = false
            return [text(fillArgument(reply, n: n), raw: true)]
        case .text(let template):
            return output(lines: textLines(template, pattern: spec.pattern, n: n), pipes: pipes, isBackup: false)
        case .failure(let template, let status):
            if isExec {
                execStatus = status
                return [stderrText(fillArgument(template, n: n))]
            }
            return output(lines: textLines(template, pattern: spec.pattern, n: n), pipes: pipes, isBackup: false)
        case .showConfig(let view):
            return showConfig(view: view, pipes: pipes)
        case .enable:
            guard let enable = vendor.enable else { return unknown(command, word: nil) }
            if privileged && vendor.privilegedPrompt != nil { return [] }
            guard device.enableSecret != nil else {
                privileged = true
                return []
            }
            state = .secret(attempt: 0)
            return [text(enable.passwordPrompt, raw: true)]
        case .disable:
            privileged = false
            return []
        case .enterMode(let name, _):
            mode = name
            return []
        case .exitMode:
            mode = nil
            return []
        case .logout:
            if isExec { return [] }
            if privileged && vendor.logout.leavesPrivilegeFirst && vendor.privilegedPrompt != nil
                && !device.startsPrivileged
            {
                privileged = false
                return []
            }
            if let first = vendor.logout.confirmations.first {
                state = .confirm(index: 0)
                return [text(first, raw: true)]
            }
            state = .closed
            return [text(vendor.logout.farewell, raw: true), .exit(status: 0)]
        }
    }

    private func parsePipe(_ text: String) -> (OutputPipe, String)? {
        let lower = text.lowercased()
        for pipe in OutputPipe.allCases where vendor.pipes.contains(pipe) {
            if lower == pipe.rawValue { return (pipe, "") }
            if lower.hasPrefix(pipe.rawValue + " ") {
                return (pipe, String(text.dropFirst(pipe.rawValue.count + 1)).trimmingSpaces)
            }
        }
        return nil
    }

    /// The command spec this line runs, with the `{n}` argument.
    private func match(_ command: String) -> (CommandSpec, Int?)? {
        let words = command.lowercased().split(separator: " ").map(String.init)
        for spec in vendor.commands where spec.mode == mode && (!spec.privileged || privileged) {
            for pattern in [spec.pattern] + spec.aliases {
                if let number = Self.match(words, pattern: pattern) { return (spec, number.value) }
            }
        }
        return nil
    }

    private struct Matched { var value: Int? }

    private static func match(_ words: [String], pattern: String) -> Matched? {
        let expected = pattern.lowercased().split(separator: " ")
        var number: Int?
        var i = 0
        for token in expected {
            if token == "{rest}" { return Matched(value: number) }
            guard i < words.count else { return nil }
            switch token {
            case "{n}":
                guard let value = Int(words[i]), value >= 0 else { return nil }
                number = value
            case "{word}": break
            default:
                guard words[i] == token else { return nil }
            }
            i += 1
        }
        return i == words.count ? Matched(value: number) : nil
    }

    /// Whether some command starts with these (lower-cased) words.
    private func isKnownPrefix(_ prefix: [String]) -> Bool {
        for spec in vendor.commands {
            for pattern in [spec.pattern] + spec.aliases {
                let tokens = pattern.lowercased().split(separator: " ").map(String.init)
                guard tokens.count >= prefix.count else { continue }
                var matches = true
                for (typed, token) in zip(prefix, tokens) where !Self.wildcards.contains(token) && typed != token {
                    matches = false
                    break
                }
                if matches { return true }
            }
        }
        return false
    }

    private static let wildcards: Set<String> = ["{n}", "{word}", "{rest}"]

    /// The vendor's unknown-command reply, with the caret under the first word no command starts with.
    private func unknown(_ command: String, word: String?) -> [OutputItem] {
        let words = command.split(separator: " ")
        var badIndex = words.count
        for count in 1...max(1, words.count) where !isKnownPrefix(words.prefix(count).map { $0.lowercased() }) {
            badIndex = count - 1
            break
        }
        let column =
            badIndex < words.count
            ? command.distance(from: command.startIndex, to: words[badIndex].startIndex) : command.count
        let visiblePrompt = prompt().replacingAll("\r", with: "")
        let caret = String(repeating: " ", count: visiblePrompt.count + column) + "^"
        let badWord = word ?? (badIndex < words.count ? String(words[badIndex]) : String(words.last ?? ""))
        let reply = vendor.unknownCommand
            .replacingAll("{caret}", with: caret)
            .replacingAll("{word}", with: badWord)
            .replacingAll("{command}", with: command)
        if isExec {
            execStatus = vendor.name == "linux" ? 127 : 1
            return vendor.name == "linux" ? [stderrText(reply)] : [text(reply, raw: true)]
        }
        return [text(reply, raw: true)]
    }

    // MARK: - Output

    private func textLines(_ template: String, pattern: String, n: String) -> [[UInt8]] {
        var rendered = fillArgument(Self.renderText(template, pattern: pattern, device: device).text, n: n)
        if rendered.hasSuffix("\n") { rendered.removeLast() }
        if rendered.isEmpty { return [] }
        return rendered.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
    }

    /// A fixed-text command's output for a device: deterministic, secrets drawn from the device's seed.
    static func renderText(_ template: String, pattern: String, device: SimulatedDevice) -> (
        text: String, secrets: [String]
    ) {
        var rng = SplitMix64(seed: device.seed ^ fnv1a(device.hostname) ^ fnv1a(pattern))
        var secrets: [String] = []
        let text = ConfigGenerator.expand(template, device: device, block: 0, rng: &rng, secrets: &secrets)
        return (text, secrets)
    }

    private func showConfig(view: ConfigView, pipes: [(OutputPipe, String)]) -> [OutputItem] {
        let (config, run) = source.next()
        let clock = now()
        var context = VolatileContext(
            run: run, epochSeconds: clock.seconds, milliseconds: clock.milliseconds,
            seed: fnv1a(device.hostname) &+ UInt64(run), hostname: device.hostname, username: device.username)
        var lines = config.render(&context)
        if device.faults.contains(.truncatedConfig) {
            lines.removeLast(min(lines.count, max(1, config.endMarkerLines)))
        }
        if view == .junosSet || pipes.contains(where: { $0.0 == .displaySet }) {
            lines = JunosSetView.convert(lines)
        }
        if device.faults.contains(.endlessOutput) {
            var bytes: [UInt8] = []
            for line in lines {
                bytes += line.utf8
                bytes += vendor.lineEnding.utf8
            }
            state = .hung
            return [.endless(bytes)]
        }
        var byteLines = lines.map { Array($0.utf8) }
        if device.faults.contains(.garbageBytes) {
            // Invalid UTF-8 in a few lines: a lone continuation byte, a truncated two-byte sequence, 0xFF 0xFE.
            let garbage: [[UInt8]] = [[0xFF, 0xFE], [0xC3], [0x80, 0x80]]
            var i = min(2, byteLines.count - 1)
            var g = 0
            while i >= 0 && i < byteLines.count {
                byteLines[i] += garbage[g % garbage.count]
                g += 1
                i += 37
            }
        }
        var items = output(lines: byteLines, pipes: pipes, isBackup: true)
        if state == .line && !vendor.afterConfig.isEmpty {
            items.append(text(vendor.afterConfig))
        }
        return items
    }

    /// Writes output lines, through the pipes, with the timestamp line, paged when paging is on.
    private func output(lines input: [[UInt8]], pipes: [(OutputPipe, String)], isBackup: Bool) -> [OutputItem] {
        var lines = input
        var paged = pageLength > 0
        for (pipe, argument) in pipes {
            let needle = Array(argument.utf8)
            switch pipe {
            case .noMore: paged = false
            case .include: lines = lines.filter { $0.contains(needle) }
            case .exclude: lines = lines.filter { !$0.contains(needle) }
            case .grep: lines = argument == "." ? lines.filter { !$0.isEmpty } : lines.filter { $0.contains(needle) }
            case .begin:
                if let first = lines.firstIndex(where: { $0.contains(needle) }) { lines = Array(lines[first...]) }
            case .count: lines = [Array("Count: \(lines.count) lines".utf8)]
            case .displaySet, .displayOmit: break
            }
        }
        if timestamps, let stamp = vendor.commandTimestamp {
            lines.insert(Array(renderVolatile(stamp).utf8), at: 0)
        }
        if paged && lines.count >= pageLength {
            pendingLines = lines
            pendingIndex = 0
            pendingIsBackup = isBackup
            return nextPage(lines: max(1, pageLength - 1))
        }
        return emit(lines, isBackup: isBackup)
    }

    private func emit(_ lines: [[UInt8]], isBackup: Bool) -> [OutputItem] {
        var bytes: [UInt8] = []
        let ending = Array(vendor.lineEnding.utf8)
        for line in lines {
            bytes += line
            bytes += ending
        }
        guard isBackup else { return [.bytes(bytes)] }
        return backupItems(bytes)
    }

    /// Applies the mid-output faults to backup output.
    private func backupItems(_ bytes: [UInt8]) -> [OutputItem] {
        for fault in device.faults {
            switch fault {
            case .hangMidOutput(let limit) where backupBytes + bytes.count > limit:
                let keep = max(0, limit - backupBytes)
                state = .hung
                return [.bytes(Array(bytes.prefix(keep))), .hang]
            case .disconnectMidOutput(let limit) where backupBytes + bytes.count > limit:
                let keep = max(0, limit - backupBytes)
                state = .hung
                return [.bytes(Array(bytes.prefix(keep))), .disconnect]
            default: continue
            }
        }
        backupBytes += bytes.count
        return [.bytes(bytes)]
    }

    private func nextPage(lines count: Int) -> [OutputItem] {
        let end = min(pendingLines.count, pendingIndex + count)
        var items = emit(Array(pendingLines[pendingIndex..<end]), isBackup: pendingIsBackup)
        pendingIndex = end
        if state == .hung { return items }
        if pendingIndex >= pendingLines.count {
            finishPaging()
            state = .line
            if pendingIsBackup && !vendor.afterConfig.isEmpty { items.append(text(vendor.afterConfig)) }
            items.append(text(prompt(), raw: true))
            return items
        }
        state = .pager
        items.append(text(pagerMark(), raw: true))
        return items
    }

    private func finishPaging() {
        pendingLines = []
        pendingIndex = 0
    }

    private func pagerMark() -> String {
        let percent = pendingLines.isEmpty ? 100 : pendingIndex * 100 / pendingLines.count
        return vendor.pager.mark
            .replacingAll("{percent}", with: String(percent))
            .replacingAll("{from}", with: String(max(1, pendingIndex - pageLength + 2)))
            .replacingAll("{to}", with: String(pendingIndex))
    }

    private func pagerErase() -> String {
        if !vendor.pager.erase.isEmpty { return vendor.pager.erase }
        return "\r" + String(repeating: " ", count: pagerMark().count) + "\r"
    }

    private func pagerKey(_ byte: UInt8) -> [OutputItem] {
        switch byte {
        case 32:
            let erase = text(pagerErase(), raw: true)
            return [erase] + nextPage(lines: max(1, pageLength - 1))
        case 13, 10:
            let erase = text(pagerErase(), raw: true)
            return [erase] + nextPage(lines: 1)
        case UInt8(ascii: "q"), UInt8(ascii: "Q"), 3:
            let erase = text(pagerErase(), raw: true)
            finishPaging()
            state = .line
            return [erase, text(prompt(), raw: true)]
        default:
            return []
        }
    }

    // MARK: - Text helpers

    func prompt() -> String {
        for fault in device.faults {
            if case .wrongPrompt(let text) = fault { return text }
        }
        var template = vendor.userPrompt
        if let mode, let spec = vendor.commands.first(where: {
            if case .enterMode(let name, _) = $0.action { return name == mode }
            return false
        }), case .enterMode(_, let modePrompt) = spec.action {
            template = modePrompt
        } else if privileged, let privilegedPrompt = vendor.privilegedPrompt {
            template = privilegedPrompt
        }
        return vendor.promptPrefix + fill(template)
    }

    private func fill(_ template: String) -> String {
        substitute(template) { name in
            switch name {
            case "hostname": device.hostname
            case "username": device.username
            default: nil
            }
        }
    }

    private func fillArgument(_ template: String, n: String) -> String {
        fill(template).replacingAll("{n}", with: n)
    }

    private func renderVolatile(_ template: String) -> String {
        let clock = now()
        var context = VolatileContext(
            run: sessionRun, epochSeconds: clock.seconds, milliseconds: clock.milliseconds,
            seed: fnv1a(device.hostname) &+ UInt64(sessionRun), hostname: device.hostname, username: device.username)
        return context.render(template)
    }

    /// Text with `\n` turned into the vendor's line ending (`raw` templates are filled but otherwise the same).
    private func text(_ string: String, raw: Bool = false) -> OutputItem {
        let filled = raw ? string : fill(string)
        if vendor.lineEnding == "\n" { return .bytes(Array(filled.utf8)) }
        return .bytes(Array(filled.replacingAll("\n", with: vendor.lineEnding).utf8))
    }

    private func stderrText(_ string: String) -> OutputItem {
        .stderr(Array(string.utf8))
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= count else { return false }
        let first = needle[0]
        var i = 0
        while i <= count - needle.count {
            if self[i] == first && self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

/// Junos `| display set`: one `set` line per leaf of the brace configuration.
enum JunosSetView {
    static func convert(_ lines: [String]) -> [String] {
        var path: [String] = []
        var result: [String] = []
        for raw in lines {
            var line = raw.trimmingSpaces
            if line.hasPrefix("#") || line.isEmpty { continue }
            if let comment = line.range(of: " ## ") { line = String(line[..<comment.lowerBound]) }
            if line == "}" {
                if !path.isEmpty { path.removeLast() }
            } else if line.hasSuffix(" {") {
                path.append(String(line.dropLast(2)))
            } else if line.hasSuffix(";") {
                result.append((["set"] + path + [String(line.dropLast())]).joined(separator: " "))
            }
        }
        return result
    }
}

/// Terminal options some OSes read from the login name (``VendorEmulation/loginOptionsSeparator``).
///
/// MikroTik's manual ("Console login options"): `admin+ct80w24h` — `c` no colours, `t` no terminal detection,
/// `<n>w` width, `<n>h` height. Netmiko's mikrotik driver logs in with such a suffix to get unpaged output.
struct LoginOptions {
    var height: Int?

    init?(loginName: String?, device: SimulatedDevice) {
        guard let separator = device.vendor.loginOptionsSeparator, let loginName,
            case let login = loginName.split(separator: ":").last.map(String.init) ?? loginName,
            let split = login.firstIndex(of: separator), login[..<split] == device.username
        else { return nil }
        var digits = ""
        for character in login[login.index(after: split)...] {
            if character.isNumber {
                digits.append(character)
            } else {
                if character == "h" { height = Int(digits) }
                digits = ""
            }
        }
    }
}
