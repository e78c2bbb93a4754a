public import DeviceTransport

/// Everything DeviceBackup needs to know to back up one kind of device, as plain data.
///
/// A profile says how to recognise the device's prompt, how to prepare the CLI (paging, privileged mode),
/// which commands produce the configuration, and how to clean their output so that an unchanged device
/// always yields the same bytes. Profiles are `Codable`: users load their own from JSON or YAML
/// (``VendorProfileRegistry/registerProfiles(fromFile:)``) or build them in code — no fork needed.
///
/// Patterns are ICU regular expressions (the syntax of `NSRegularExpression`, close to PCRE): `\d`, `\s`,
/// `\w`, `(?i)`, look-ahead and look-behind work as in Oxidized's and RANCID's patterns. Line patterns are
/// matched against one cleaned line at a time (no `\r`, no ANSI escapes, no newline).
///
/// A minimal profile in JSON:
///
/// ```json
/// {
///   "name": "acme_os",
///   "prompt": "^(?<hostname>[\\w.-]+)[>#] ?$",
///   "session_commands": ["terminal length 0"],
///   "pagers": [{ "pattern": "^\\s*--More--\\s*$", "send": " " }],
///   "commands": [{ "command": "show running-config" }],
///   "volatile_lines": ["^! Last configuration change at "],
///   "truncation_guard": { "last_line": "^end$", "minimum_lines": 3 }
/// }
/// ```
///
/// The same in YAML, where single-quoted regexes need no doubled backslashes:
///
/// ```yaml
/// name: acme_os
/// prompt: '^(?<hostname>[\w.-]+)[>#] ?$'
/// session_commands: ['terminal length 0']
/// pagers: [{ pattern: '^\s*--More--\s*$', send: ' ' }]
/// commands: ['show running-config']
/// volatile_lines: ['^! Last configuration change at ']
/// truncation_guard: { last_line: '^end$', minimum_lines: 3 }
/// ```
public struct VendorProfile: Sendable, Hashable {
    /// The name devices use in their `vendor` field, such as `cisco_ios`.
    public var name: String
    /// A human-readable description ("Cisco IOS / IOS-XE").
    public var description: String?
    /// Whether commands run in an interactive shell (the default) or each on its own exec channel.
    public var mode: SessionMode
    /// The prompt, matched against the last line received (the line that has no newline yet).
    ///
    /// Name the host part `(?<hostname>…)`: the engine learns the hostname at login and from then on
    /// recognises the prompt even when a message without a trailing newline precedes it on the same
    /// line (`Pagination disabled.sw#`). Anchor the end with `$`.
    public var prompt: String
    /// Whether the device echoes the commands it is sent. When `true` (the default) output is only
    /// collected after the echo line, so a stale prompt can never be mistaken for a command's end.
    public var echoesCommands: Bool
    /// What ends a command line (`"\n"` by default; some devices want `"\r"` or `"\r\n"`).
    public var newline: String
    /// Questions the device may ask before its first prompt ("Press any key to continue") and their answers.
    public var loginInteractions: [Interaction]
    /// How to reach privileged mode; `nil` for devices without one.
    public var enable: EnableSettings?
    /// Commands that prepare the CLI: disable paging, widen the terminal, stop log messages. They are
    /// optional by nature: a rejected one (`% Invalid input`) is logged and the backup goes on, answering
    /// the pager instead.
    public var sessionCommands: [String]
    /// Pager marks (`--More--`) and what to send to get the next page; matched against the last line.
    public var pagers: [Interaction]
    /// The commands whose output makes up the backup, in order.
    public var commands: [BackupCommand]
    /// Output lines that mean a command failed (`^% Invalid input`). Checked on the first
    /// ``errorScanLines`` lines of each command's output; a match fails the backup with `COMMAND_FAILED`
    /// unless the command is ``BackupCommand/optional``.
    public var errorPatterns: [String]
    /// How many leading output lines are checked against ``errorPatterns`` (devices report a rejected
    /// command right away; configuration text further down is never mistaken for an error).
    public var errorScanLines: Int
    /// Lines that change without a configuration change (timestamps, uptimes, "Last configuration change
    /// at …", `ntp clock-period`); removed from every command's output so unchanged configs hash the same.
    public var volatileLines: [String]
    /// Rules that hide passwords, secrets and SNMP communities: applied to backups when scrubbing is
    /// requested, and always to device lines quoted in error messages and logs (the last line before a
    /// timeout, a rejected last line, a command's error reply), before those are shortened.
    public var secretRules: [SecretRule]
    /// Checks that the configuration arrived whole; a failed check is `TRUNCATED_CONFIG`.
    public var truncationGuard: TruncationGuard?
    /// What starts a comment line in this vendor's configuration (`"! "`, `"# "`); output of
    /// ``BackupCommand/Kind/comment`` commands is prefixed with it.
    public var commentPrefix: String
    /// SSH algorithms for gear that needs old ones; fills in what the connection target leaves unset.
    public var algorithms: AlgorithmPreferences?
    /// Commands sent, without waiting for an answer, before the channel is closed (`exit`, `quit`).
    public var logoutCommands: [String]
    /// The PTY requested for the shell.
    public var terminal: TerminalSettings
    /// Idle timeout of each command, in seconds, unless the command sets its own; `nil` uses the
    /// retriever's default.
    public var commandTimeoutSeconds: Double?
    /// How long to wait for the first prompt, in seconds; `nil` uses the retriever's default.
    public var loginTimeoutSeconds: Double?

    /// Creates a profile; every parameter but the name, the prompt and the commands has a default.
    public init(
        name: String,
        description: String? = nil,
        mode: SessionMode = .shell,
        prompt: String,
        echoesCommands: Bool = true,
        newline: String = "\n",
        loginInteractions: [Interaction] = [],
        enable: EnableSettings? = nil,
        sessionCommands: [String] = [],
        pagers: [Interaction] = [],
        commands: [BackupCommand],
        errorPatterns: [String] = [],
        errorScanLines: Int = 5,
        volatileLines: [String] = [],
        secretRules: [SecretRule] = [],
        truncationGuard: TruncationGuard? = nil,
        commentPrefix: String = "! ",
        algorithms: AlgorithmPreferences? = nil,
        logoutCommands: [String] = ["exit"],
        terminal: TerminalSettings = .init(),
        commandTimeoutSeconds: Double? = nil,
        loginTimeoutSeconds: Double? = nil
    ) {
        self.name = name
        self.description = description
        self.mode = mode
        self.prompt = prompt
        self.echoesCommands = echoesCommands
        self.newline = newline
        self.loginInteractions = loginInteractions
        self.enable = enable
        self.sessionCommands = sessionCommands
        self.pagers = pagers
        self.commands = commands
        self.errorPatterns = errorPatterns
        self.errorScanLines = errorScanLines
        self.volatileLines = volatileLines
        self.secretRules = secretRules
        self.truncationGuard = truncationGuard
        self.commentPrefix = commentPrefix
        self.algorithms = algorithms
        self.logoutCommands = logoutCommands
        self.terminal = terminal
        self.commandTimeoutSeconds = commandTimeoutSeconds
        self.loginTimeoutSeconds = loginTimeoutSeconds
    }
}

/// How a profile's commands reach the device.
public enum SessionMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// An interactive PTY shell: prompt, paging, enable, echo (most network devices).
    case shell
    /// One exec channel per command; the exit status decides success (Linux, RouterOS).
    case exec
}

/// Something the device asks and the answer the engine sends, such as a pager mark and a space.
public struct Interaction: Sendable, Hashable, Codable {
    /// Regex matched against the last line received (the line without a newline yet).
    public var pattern: String
    /// What to send; no newline is added.
    public var send: String
    /// How often the engine answers this before giving up (login interactions; `nil`: 5). Pagers are
    /// answered without limit.
    public var maxCount: Int?

    /// Creates an interaction.
    public init(pattern: String, send: String, maxCount: Int? = nil) {
        self.pattern = pattern
        self.send = send
        self.maxCount = maxCount
    }

    enum CodingKeys: String, CodingKey {
        case pattern, send
        case maxCount = "max_count"
    }
}

/// How to enter privileged mode (`enable`, `super`).
public struct EnableSettings: Sendable, Hashable {
    /// The command that asks for privileges.
    public var command: String
    /// Regex on the prompt that means "already privileged" (`#\s?$`). When `nil` the prompt does not tell,
    /// and the command is sent only when the credentials hold an enable secret.
    public var privilegedPrompt: String?
    /// Regex on the last line that asks for the secret.
    public var passwordPrompt: String
    /// Regex on the last line that asks for a user name (sent the login user name); `nil` if never asked.
    public var usernamePrompt: String?
    /// Lines that mean the secret was refused (`% Access denied`); they give `AUTH_FAILED`.
    public var failurePatterns: [String]

    /// Creates enable settings with Cisco-like defaults.
    public init(
        command: String = "enable",
        privilegedPrompt: String? = #"#\s?$"#,
        passwordPrompt: String = #"(?i)password:\s*$"#,
        usernamePrompt: String? = nil,
        failurePatterns: [String] = [
            #"(?i)access denied"#, #"(?i)bad (secret|password)"#, #"(?i)authentication failed"#,
            #"(?i)(invalid|incorrect|wrong) password"#, #"(?i)password (is )?(invalid|incorrect|wrong)"#,
        ]
    ) {
        self.command = command
        self.privilegedPrompt = privilegedPrompt
        self.passwordPrompt = passwordPrompt
        self.usernamePrompt = usernamePrompt
        self.failurePatterns = failurePatterns
    }
}

/// One command of a backup.
public struct BackupCommand: Sendable, Hashable {
    /// What the output becomes in the backup.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Configuration text, kept as it is; the truncation guard checks it.
        case config
        /// Informational output (inventory, version), each line prefixed with the profile's comment prefix.
        case comment
    }

    /// The command line, without a newline.
    public var command: String
    /// Whether the output is configuration or a comment.
    public var kind: Kind
    /// An optional command that fails (error pattern, non-zero exit) is left out of the backup instead of
    /// failing it: for commands that not every model or version supports.
    public var optional: Bool
    /// This command's idle timeout in seconds (long configurations on slow devices); `nil` uses the profile's.
    public var timeoutSeconds: Double?
    /// Volatile-line patterns for this command only, on top of the profile's.
    public var volatileLines: [String]
    /// A comment line put before the output (`/etc/hosts`), prefixed with the comment prefix.
    public var header: String?

    /// Creates a backup command.
    public init(
        _ command: String, kind: Kind = .config, optional: Bool = false, timeoutSeconds: Double? = nil,
        volatileLines: [String] = [], header: String? = nil
    ) {
        self.command = command
        self.kind = kind
        self.optional = optional
        self.timeoutSeconds = timeoutSeconds
        self.volatileLines = volatileLines
        self.header = header
    }
}

/// A rule that hides a secret in a configuration line.
///
/// The text of the pattern's `secret` capture group — or of the whole match when it has no such group —
/// is replaced with ``replacement``, for every match in the line.
///
/// A rule can be limited to one section of the configuration, for values that are secret only there
/// (RouterOS `name=` under `/snmp community`, FortiOS `set name` under `config system snmp community`):
/// with ``sectionStart`` set, it applies only to the lines after a line matching ``sectionStart``, up to
/// the next line matching ``sectionEnd`` (or to the end of the command's output when that is `nil`).
public struct SecretRule: Sendable, Hashable, Codable {
    /// Regex matched against each configuration line.
    public var pattern: String
    /// What the secret becomes.
    public var replacement: String
    /// Regex of the line that opens the section the rule is limited to; `nil` applies the rule everywhere.
    public var sectionStart: String?
    /// Regex of the line that closes the section (the line itself is outside it); `nil` runs the section to
    /// the end of the command's output.
    public var sectionEnd: String?

    /// Creates a rule.
    public init(
        _ pattern: String, replacement: String = "<removed>", sectionStart: String? = nil, sectionEnd: String? = nil
    ) {
        self.pattern = pattern
        self.replacement = replacement
        self.sectionStart = sectionStart
        self.sectionEnd = sectionEnd
    }

    enum CodingKeys: String, CodingKey {
        case pattern, replacement
        case sectionStart = "section_start"
        case sectionEnd = "section_end"
    }

    /// Decodes a rule; `replacement` defaults to `<removed>`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pattern = try c.decode(String.self, forKey: .pattern)
        replacement = try c.decodeIfPresent(String.self, forKey: .replacement) ?? "<removed>"
        sectionStart = try c.decodeIfPresent(String.self, forKey: .sectionStart)
        sectionEnd = try c.decodeIfPresent(String.self, forKey: .sectionEnd)
    }
}

/// Checks that a configuration arrived whole. Applied to the output of ``BackupCommand/Kind/config``
/// commands after echo, prompt and volatile lines are removed (and before secrets are scrubbed).
public struct TruncationGuard: Sendable, Hashable {
    /// Regex the last non-blank line must match (`^end$` for IOS, `^return$` for VRP).
    public var lastLine: String?
    /// The least number of meaningful lines (not blank, not only `!` or `#`).
    public var minimumLines: Int
    /// With ``blockClose``: lines that open and close blocks (`\{$` and `^\s*\}$` for Junos), which must
    /// balance out at the end.
    public var blockOpen: String?
    /// See ``blockOpen``.
    public var blockClose: String?

    /// Creates a guard.
    public init(lastLine: String? = nil, minimumLines: Int = 1, blockOpen: String? = nil, blockClose: String? = nil) {
        self.lastLine = lastLine
        self.minimumLines = minimumLines
        self.blockOpen = blockOpen
        self.blockClose = blockClose
    }
}

/// The pseudo-terminal requested for shell sessions.
public struct TerminalSettings: Sendable, Hashable, Codable {
    /// Terminal type sent with the PTY request.
    public var type: String
    /// Columns; wide enough that long lines are not wrapped.
    public var columns: Int
    /// Rows.
    public var rows: Int

    /// Creates terminal settings.
    public init(type: String = "vt100", columns: Int = 511, rows: Int = 24) {
        self.type = type
        self.columns = columns
        self.rows = rows
    }

    var shellOptions: ShellOptions { ShellOptions(terminalType: type, columns: columns, rows: rows) }
}
