public import BackupModels
public import DeviceTransport
import Foundation
public import Logging

/// Limits of one CLI session.
public struct CLISessionLimits: Sendable, Hashable {
    /// Idle timeout of a command when neither the command nor the profile sets one → `COMMAND_TIMEOUT`.
    public var commandTimeout: Duration
    /// How long the first prompt may take → `PROMPT_NOT_FOUND`.
    public var loginTimeout: Duration
    /// The most output one command may produce before it is given up (endless output) → `COMMAND_FAILED`.
    public var maxOutputBytes: Int
    /// The most bytes the device may send before its first prompt (garbage, a wrong prompt).
    public var maxLoginBytes: Int

    /// Creates limits.
    public init(
        commandTimeout: Duration = .seconds(60), loginTimeout: Duration = .seconds(30),
        maxOutputBytes: Int = 64 * 1024 * 1024, maxLoginBytes: Int = 1024 * 1024
    ) {
        self.commandTimeout = commandTimeout
        self.loginTimeout = loginTimeout
        self.maxOutputBytes = maxOutputBytes
        self.maxLoginBytes = maxLoginBytes
    }
}

/// Counters of a session's work, for tests and benchmarks.
public struct CLISessionStatistics: Sendable, Hashable {
    /// Bytes received from the device.
    public var bytesReceived: Int
    /// Reads from the channel.
    public var reads: Int
    /// Bytes looked at for prompt and pager matching; bounded per read, so the session costs O(n).
    public var tailBytesExamined: Int
    /// Pager marks answered.
    public var pagesAnswered: Int
}

/// The transport-agnostic engine that drives a vendor CLI over a `ShellChannel`.
///
/// ``start()`` waits for the prompt (answering login questions), learns the hostname, enters privileged
/// mode and runs the profile's session commands; ``run(_:timeout:)`` sends one command and returns its
/// output with echo, prompt, pager marks, `\r`, backspaces and escape sequences removed; ``logout()``
/// sends the logout commands and closes the channel without waiting for an answer (some devices reject
/// `exit` or reset the terminal instead of closing cleanly).
///
/// Prompt and pager marks are matched against the last, incomplete line only — never the accumulated
/// output — so a command's cost is linear in its output. A command is sent only after the previous
/// prompt, and its output is collected only after its echo, so typed-ahead echoes and stale prompts
/// cannot shift outputs between commands.
///
/// One task drives a session; it is not `Sendable`.
public final class CLISession {
    let profile: CompiledProfile
    let channel: any ShellChannel
    let credentials: Credentials
    let deviceName: String
    let logger: Logger
    let limits: CLISessionLimits
    private let elapsed: @Sendable () -> Duration
    private var buffer = LineAccumulator()
    private var reads = 0
    private var pagesAnswered = 0
    private var promptPattern: Pattern?
    private var lastPrompt = ""

    /// The hostname learnt from the first prompt (`nil` before ``start()`` or when the profile's prompt
    /// pattern has no `hostname` group).
    public private(set) var hostname: String?
    /// Whether the session is in privileged mode, as far as the profile can tell.
    public private(set) var isPrivileged = false

    /// Creates a session for `profile` over an open shell channel.
    ///
    /// - Parameters:
    ///   - channel: the open shell channel (a PTY shell of a `DeviceSession`).
    ///   - profile: the device's vendor profile; it is validated here.
    ///   - credentials: the login user name (for enable's user name prompt) and the enable secret.
    ///   - deviceName: the device's name, for messages.
    ///   - logger: gets debug and trace messages; never a secret.
    ///   - limits: default timeouts and output limits.
    ///   - clock: measures the login deadline; tests pass a manual clock.
    /// - Throws: ``VendorProfileError`` when the profile is invalid.
    public convenience init<C: Clock>(
        channel: any ShellChannel, profile: VendorProfile, credentials: Credentials, deviceName: String,
        logger: Logger, limits: CLISessionLimits = .init(), clock: C = ContinuousClock()
    ) throws where C.Duration == Duration {
        self.init(
            channel: channel, compiled: try CompiledProfile(profile), credentials: credentials,
            deviceName: deviceName, logger: logger, limits: limits, elapsed: Self.stopwatch(clock))
    }

    init(
        channel: any ShellChannel, compiled: CompiledProfile, credentials: Credentials, deviceName: String,
        logger: Logger, limits: CLISessionLimits, elapsed: @escaping @Sendable () -> Duration
    ) {
        self.channel = channel
        self.profile = compiled
        self.credentials = credentials
        self.deviceName = deviceName
        self.logger = logger
        self.limits = limits
        self.elapsed = elapsed
        self.promptPattern = compiled.prompt
    }

    static func stopwatch<C: Clock>(_ clock: C) -> @Sendable () -> Duration where C.Duration == Duration {
        let origin = clock.now
        return { origin.duration(to: clock.now) }
    }

    /// Work counters so far.
    public var statistics: CLISessionStatistics {
        CLISessionStatistics(
            bytesReceived: buffer.totalBytes, reads: reads, tailBytesExamined: buffer.tailBytesExamined,
            pagesAnswered: pagesAnswered)
    }

    // MARK: - Login

    /// Waits for the first prompt, learns the hostname, enters privileged mode and runs the session
    /// commands (a rejected one is logged, not fatal).
    ///
    /// - Throws: `PROMPT_NOT_FOUND` when no prompt arrives in time, `AUTH_FAILED` when privileged mode is
    ///   refused, `COMMAND_TIMEOUT`, `CONNECTION_LOST`.
    public func start() async throws {
        buffer.startCommand(echo: nil)
        let deadline = elapsed() + (profile.loginTimeout ?? limits.loginTimeout)
        _ = try await waitForPrompt(phase: .login(deadline: deadline), answering: profile.loginInteractions)
        logger.debug(
            "CLI prompt found",
            metadata: ["hostname": "\(hostname ?? "?")", "prompt": "\(quote(lastPrompt, limit: 80))"])
        try await enterPrivilegedMode()
        for command in profile.profile.sessionCommands {
            let output = try await run(command)
            if let rejected = firstLine(of: output, matching: profile.errorPatterns, limit: profile.profile.errorScanLines) {
                logger.notice(
                    "Session command rejected; pager marks will be answered instead",
                    metadata: ["command": "\(command)", "reply": "\(quote(rejected, limit: 200))"])
            }
        }
    }

    private func enterPrivilegedMode() async throws {
        guard let enable = profile.enable else {
            isPrivileged = true
            return
        }
        let secret = credentials.enableSecret
        if let privileged = enable.privilegedPrompt {
            if privileged.matches(lastPrompt) {
                isPrivileged = true
                logger.debug("Already in privileged mode")
                return
            }
        } else if secret == nil {
            return
        }
        buffer.startCommand(echo: profile.profile.echoesCommands ? Array(enable.command.utf8) : nil)
        try await send(enable.command)
        logger.debug("Entering privileged mode", metadata: ["command": "\(enable.command)"])
        var sentSecret = false
        var sentUsername = false
        var extra = [enable.passwordPrompt]
        if let usernamePrompt = enable.usernamePrompt { extra.append(usernamePrompt) }
        while true {
            let stop = try await waitForPrompt(phase: .enable, extra: extra)
            switch stop {
            case .matched(0):
                if sentSecret {
                    throw BackupError(
                        .authFailed, "\(deviceName) refused the enable secret (it asked for it again).",
                        hint: "Check the enable secret in the device's credentials.")
                }
                guard let secret else {
                    throw BackupError(
                        .authFailed, "\(deviceName) asks for an enable secret but the credentials have none.",
                        hint: "Add enable_secret to the device's credentials.")
                }
                buffer.discardPartialLine()
                buffer.startCommand(echo: nil)
                try await channel.write(Array((secret.reveal() + profile.profile.newline).utf8))
                logger.trace("Sent the enable secret <redacted>")
                sentSecret = true
            case .matched(_):
                if sentUsername {
                    throw BackupError(
                        .authFailed, "\(deviceName) asked again for a user name while entering privileged mode.",
                        hint: "Check the credentials' user name and enable secret.")
                }
                buffer.discardPartialLine()
                buffer.startCommand(echo: nil)
                try await send(credentials.username)
                sentUsername = true
            case .prompt:
                let reply = String(decoding: buffer.takeOutput(), as: UTF8.self)
                if let refusal = firstLine(of: reply, matching: enable.failurePatterns, limit: .max) {
                    throw BackupError(
                        .authFailed, "\(deviceName) refused privileged mode: \(quote(refusal, limit: 200))",
                        hint: "Check the enable secret in the device's credentials.")
                }
                if let privileged = enable.privilegedPrompt, !privileged.matches(lastPrompt) {
                    throw BackupError(
                        .authFailed,
                        "\(deviceName) did not enter privileged mode (prompt \(quote(lastPrompt, limit: 80))).",
                        hint: "Check the enable secret and the account's privilege level.")
                }
                isPrivileged = true
                logger.debug("Privileged mode entered")
                return
            }
        }
    }

    // MARK: - Commands

    /// Sends one command and returns its output: the lines between its echo and the next prompt,
    /// cleaned of `\r`, backspaces, escape sequences and pager marks (which are answered), joined with
    /// `\n` and ending with `\n` unless empty.
    ///
    /// - Parameters:
    ///   - command: the command line, without a newline (the profile's newline is added).
    ///   - timeout: idle timeout; `nil` uses the profile's, then the limits' default.
    /// - Throws: `COMMAND_TIMEOUT` when the device stays silent, `CONNECTION_LOST` when it closes the
    ///   channel, `COMMAND_FAILED` when the output exceeds the limit.
    public func run(_ command: String, timeout: Duration? = nil) async throws -> String {
        buffer.startCommand(echo: profile.profile.echoesCommands ? Array(command.utf8) : nil)
        try await send(command)
        logger.debug("Sent command", metadata: ["command": "\(command)"])
        _ = try await waitForPrompt(
            phase: .command(command, timeout ?? profile.commandTimeout ?? limits.commandTimeout),
            answering: profile.pagers)
        return String(decoding: buffer.takeOutput(), as: UTF8.self)
    }

    /// Sends the profile's logout commands without waiting for answers, then closes the channel.
    /// Never throws: a device that rejects `exit`, resets the terminal or never sends an exit status is
    /// simply closed.
    public func logout() async {
        for command in profile.profile.logoutCommands {
            do {
                try await send(command)
            } catch {
                break
            }
        }
        await channel.close()
    }

    // MARK: - Reading

    enum Phase {
        case login(deadline: Duration)
        case enable
        case command(String, Duration)
    }

    enum Stop: Equatable {
        case prompt
        case matched(Int)
    }

    private func send(_ line: String) async throws {
        try await channel.write(Array((line + profile.profile.newline).utf8))
    }

    /// Reads until the tail shows the prompt (→ `.prompt`) or one of `extra` (→ `.matched(index)`),
    /// answering `interactions` on the way.
    private func waitForPrompt(
        phase: Phase, extra: [Pattern] = [], answering interactions: [CompiledProfile.CompiledInteraction] = []
    ) async throws -> Stop {
        var answered = [Int](repeating: 0, count: interactions.count)
        let idleTimeout: Duration
        switch phase {
        case .login: idleTimeout = profile.loginTimeout ?? limits.loginTimeout
        case .enable: idleTimeout = profile.commandTimeout ?? limits.commandTimeout
        case .command(_, let timeout): idleTimeout = timeout
        }
        while true {
            try Task.checkCancellation()
            let chunk = try await read(idleTimeout: idleTimeout, phase: phase)
            buffer.ingest(chunk)
            try checkLimits(phase: phase)
            if buffer.isAwaitingEcho || buffer.partialLine.isEmpty { continue }
            let tail = buffer.tail()
            if let pattern = promptPattern, let match = pattern.firstMatch(in: tail) {
                acceptPrompt(match, in: tail, phase: phase)
                return .prompt
            }
            if let index = extra.firstIndex(where: { $0.matches(tail) }) { return .matched(index) }
            if let index = interactions.firstIndex(where: { $0.pattern.matches(tail) }) {
                answered[index] += 1
                if answered[index] > interactions[index].maxCount {
                    throw failure(
                        phase, "kept asking '\(quotedPartialLine(limit: 80))' after \(answered[index] - 1) answers")
                }
                buffer.discardPartialLine()
                if case .command = phase { pagesAnswered += 1 }
                try await channel.write(Array(interactions[index].send.utf8))
            }
        }
    }

    private func read(idleTimeout: Duration, phase: Phase) async throws -> [UInt8] {
        let chunk: [UInt8]
        do {
            chunk = try await channel.read(idleTimeout: idleTimeout)
        } catch let error as BackupError where error.code == .commandTimeout {
            switch phase {
            case .login:
                throw BackupError(
                    .promptNotFound,
                    "No prompt matching the \(profile.name) profile from \(deviceName) within \(describe(idleTimeout))\(lastLineNote()).",
                    hint: "Check that the device is a \(profile.name) device; a custom banner or prompt may need a custom profile.")
            case .enable:
                throw BackupError(
                    .commandTimeout, "\(deviceName) went silent while entering privileged mode.",
                    hint: "Check the enable settings of the \(profile.name) profile.")
            case .command(let command, let timeout):
                throw BackupError(
                    .commandTimeout,
                    "'\(command)' produced no output for \(describe(timeout)) on \(deviceName)\(lastLineNote()).",
                    hint: "Raise the command's timeout_seconds for slow devices, or check the profile's prompt and pager patterns.")
            }
        }
        reads += 1
        if chunk.isEmpty {
            let what: String
            switch phase {
            case .login: what = "before showing a prompt"
            case .enable: what = "while entering privileged mode"
            case .command(let command, _): what = "during '\(command)'"
            }
            throw BackupError(
                .connectionLost, "\(deviceName) closed the session \(what).",
                hint: "The device may limit sessions or drop idle ones; it is retried.")
        }
        return chunk
    }

    private func checkLimits(phase: Phase) throws {
        switch phase {
        case .login(let deadline):
            if buffer.totalBytes > limits.maxLoginBytes || elapsed() > deadline {
                throw BackupError(
                    .promptNotFound,
                    "No prompt matching the \(profile.name) profile from \(deviceName) after \(buffer.totalBytes) bytes\(lastLineNote()).",
                    hint: "Check that the device is a \(profile.name) device; a custom banner or prompt may need a custom profile.")
            }
        case .enable, .command:
            if buffer.commandBytes > limits.maxOutputBytes {
                throw failure(phase, "produced more than \(limits.maxOutputBytes) bytes without a prompt")
            }
        }
    }

    private func failure(_ phase: Phase, _ what: String) -> BackupError {
        switch phase {
        case .login:
            return BackupError(
                .promptNotFound, "\(deviceName) \(what) before showing a prompt.",
                hint: "Add a login interaction to the \(profile.name) profile.")
        case .enable:
            return BackupError(.authFailed, "\(deviceName) \(what) while entering privileged mode.")
        case .command(let command, _):
            return BackupError(
                .commandFailed, "'\(command)' on \(deviceName) \(what).",
                hint: "Check the profile's prompt and pager patterns, or raise the output limit.")
        }
    }

    /// Records a prompt found at the end of `tail`: learns the hostname at login, and keeps any text
    /// before the prompt on the same line (a message without a newline) as the output's last line.
    private func acceptPrompt(_ match: NSTextCheckingResult, in tail: String, phase: Phase) {
        var line = tail
        var match = match
        if buffer.partialLine.count > LineAccumulator.maxTailBytes, let pattern = promptPattern {
            line = buffer.fullPartialLine()
            if let full = pattern.firstMatch(in: line) { match = full } else { line = tail }
        }
        guard let range = Range(match.range, in: line) else {
            buffer.discardPartialLine()
            return
        }
        lastPrompt = String(line[range])
        let before = line[..<range.lowerBound]
        if case .login = phase {
            learnHostname(from: match, in: line)
        } else if before.contains(where: { !$0.isWhitespace }) {
            buffer.appendLine(String(before))
        }
        buffer.discardPartialLine()
    }

    private func learnHostname(from match: NSTextCheckingResult, in line: String) {
        guard let prompt = profile.prompt, prompt.hasGroup(named: "hostname") else { return }
        let nsRange = match.range(withName: "hostname")
        guard nsRange.location != NSNotFound, let range = Range(nsRange, in: line) else { return }
        let name = String(line[range])
        hostname = name
        if let learnt = PromptLearning.learntPattern(from: prompt.source, hostname: name),
            let pattern = try? Pattern(learnt, profile: profile.name, field: "prompt")
        {
            promptPattern = pattern
        }
    }

    // MARK: - Helpers

    private func lastLineNote() -> String {
        let line = quotedPartialLine(limit: 80)
        guard !line.isEmpty else { return "" }
        return "; last line received: '\(line)'"
    }

    /// The incomplete last line, whole (not just the tail that prompt matching looks at), quoted for a
    /// message: secret rules and credentials first, shortening last. A raw line too long to be worth
    /// cleaning is described by its length.
    private func quotedPartialLine(limit: Int) -> String {
        let rawBytes = buffer.partialLine.count
        guard rawBytes <= CompiledProfile.maxQuotedLineBytes * 4 else { return "<a line of \(rawBytes) bytes, not shown>" }
        return quote(buffer.fullPartialLine(), limit: limit)
    }

    /// Device text (one line) as messages and logs may show it: the profile's secret rules (whether or not
    /// backups are scrubbed), then the credentials' secret values, and only then shortened to `limit`.
    func quote(_ line: String, limit: Int) -> String {
        profile.quote(line, credentials: credentials, limit: limit)
    }
}

/// `text` with every secret value of `credentials` replaced by `<redacted>`.
func redactSecrets(_ text: String, of credentials: Credentials) -> String {
    var result = text
    for secret in credentials.secretValues where result.contains(secret) {
        result = result.replacingOccurrences(of: secret, with: "<redacted>")
    }
    return result
}

/// The first of the first `limit` lines of `text` that matches one of `patterns`.
func firstLine(of text: String, matching patterns: [Pattern], limit: Int) -> String? {
    guard !patterns.isEmpty, limit > 0 else { return nil }
    var checked = 0
    let utf8 = text.utf8
    var start = utf8.startIndex
    // Only the first `limit` non-empty lines are looked at: find them without splitting the whole output.
    while start < utf8.endIndex, checked < limit {
        let end = utf8[start...].firstIndex(of: 0x0A) ?? utf8.endIndex
        if end > start {
            let string = String(Substring(utf8[start..<end]))
            if patterns.contains(where: { $0.matches(string) }) { return string }
            checked += 1
        }
        start = end == utf8.endIndex ? end : utf8.index(after: end)
    }
    return nil
}

/// "30 s", "1.5 s".
func describe(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if attoseconds == 0 { return "\(seconds) s" }
    let value = Double(seconds) + Double(attoseconds) / 1e18
    return "\((value * 1000).rounded() / 1000) s"
}
