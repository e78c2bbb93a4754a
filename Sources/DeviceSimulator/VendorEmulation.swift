/// How a simulated device of one vendor behaves: a table of data, so a new vendor is a new value.
///
/// Text fields are templates: `{hostname}` and `{username}` are replaced everywhere; the other placeholders
/// are described where they apply (``ConfigTemplate``, ``unknownCommand``). Lines are written with the
/// vendor's ``lineEnding``.
///
/// The built-in values (``ciscoIOS``, ``juniperJunos``, … — see ``builtIn``) follow the public record of the
/// real operating systems; each names its sources in ``sources`` and in comments next to each quirk.
public struct VendorEmulation: Sendable, Hashable {
    /// The profile name users write in inventories (`cisco_ios`, `juniper_junos`, …).
    public var name: String
    /// Public records this emulation follows (Oxidized models and recorded sessions, Netmiko, Scrapli, vendor docs).
    public var sources: [String]
    /// The line ending the device writes (`\r\n` for network CLIs).
    public var lineEnding: String = "\r\n"
    /// Lines printed when the shell starts, before the first prompt (MOTD, login statistics). Volatile
    /// placeholders (``ConfigTemplate``) may appear: such banners change on every login.
    public var banner: [String] = []
    /// The SSH user-authentication banner sent before login (`banner login` on IOS), if any.
    public var sshAuthBanner: String?
    /// After the banner, the device shows this and waits for any key before the first prompt (ProCurve's
    /// `Press any key to continue`); `nil` shows the prompt at once.
    public var anyKeyPrompt: String?
    /// Written after that key (ProCurve repaints its screen with VT100 sequences).
    public var afterAnyKey: String = ""
    /// Printed before each command's output until ``CommandAction/disableTimestamps(reply:)`` (IOS-XR's
    /// `Sun Nov 29 03:07:07.123 UTC` line); a volatile template.
    public var commandTimestamp: String?
    /// The login name may carry terminal options after this character (RouterOS `admin+ct511w4098h`: the
    /// `<n>h` height sets the page length); the part before it must be the device's user name.
    public var loginOptionsSeparator: Character?
    /// Written before every prompt (`\r` on ASA and NX-OS, as their recorded sessions show).
    public var promptPrefix: String = ""
    /// The prompt in user (or only) mode, e.g. `{hostname}>`, `<{hostname}>`, `{username}@{hostname}> `.
    public var userPrompt: String
    /// The prompt in privileged mode (`{hostname}#`); `nil` when the OS has a single level.
    public var privilegedPrompt: String?
    /// How `enable` (or `super`) works; `nil` when the OS has none.
    public var enable: EnableBehavior?
    /// The commands the device knows.
    public var commands: [CommandSpec]
    /// The pager shown when paging is on.
    public var pager: PagerStyle
    /// Lines of output per page (the terminal length) until paging is disabled; 0 never pages.
    public var pageLength: Int = 24
    /// The reply to an unknown command. `{caret}` becomes spaces and a `^` under the offending word (after the
    /// prompt, as IOS prints it), `{word}` the first unknown word, `{command}` the whole command line.
    public var unknownCommand: String
    /// The output pipes the CLI understands after `|` (`no-more`, `include`, `exclude`, `begin`, `grep`,
    /// `display set`, `display omit`, `count`).
    public var pipes: Set<OutputPipe> = []
    /// Whether an SSH `exec` request runs one command (no pager, no prompt) — otherwise it is refused.
    public var supportsExec: Bool = false
    /// What ends a session.
    public var logout: LogoutBehavior
    /// Written between a command's output and the next prompt (IOS leaves an empty line after a config).
    public var afterConfig: String = ""
    /// The configuration the device holds.
    public var config: ConfigTemplate

    /// Creates an emulation; see the properties for the meaning of each part.
    public init(
        name: String,
        sources: [String],
        lineEnding: String = "\r\n",
        banner: [String] = [],
        sshAuthBanner: String? = nil,
        anyKeyPrompt: String? = nil,
        afterAnyKey: String = "",
        commandTimestamp: String? = nil,
        loginOptionsSeparator: Character? = nil,
        promptPrefix: String = "",
        userPrompt: String,
        privilegedPrompt: String? = nil,
        enable: EnableBehavior? = nil,
        commands: [CommandSpec],
        pager: PagerStyle,
        pageLength: Int = 24,
        unknownCommand: String,
        pipes: Set<OutputPipe> = [],
        supportsExec: Bool = false,
        logout: LogoutBehavior,
        afterConfig: String = "",
        config: ConfigTemplate
    ) {
        self.name = name
        self.sources = sources
        self.lineEnding = lineEnding
        self.banner = banner
        self.sshAuthBanner = sshAuthBanner
        self.anyKeyPrompt = anyKeyPrompt
        self.afterAnyKey = afterAnyKey
        self.commandTimestamp = commandTimestamp
        self.loginOptionsSeparator = loginOptionsSeparator
        self.promptPrefix = promptPrefix
        self.userPrompt = userPrompt
        self.privilegedPrompt = privilegedPrompt
        self.enable = enable
        self.commands = commands
        self.pager = pager
        self.pageLength = pageLength
        self.unknownCommand = unknownCommand
        self.pipes = pipes
        self.supportsExec = supportsExec
        self.logout = logout
        self.afterConfig = afterConfig
        self.config = config
    }

    /// The built-in emulation with this profile name (`cisco_ios`, …), or `nil`.
    public static func named(_ name: String) -> VendorEmulation? {
        builtIn.first { $0.name == name }
    }
}

/// How a device enters privileged mode.
public struct EnableBehavior: Sendable, Hashable {
    /// The command (`enable`, `super`).
    public var command: String
    /// The password prompt (`Password: `).
    public var passwordPrompt: String
    /// Echoed for each typed secret character (ASA echoes `*`); `nil` echoes nothing.
    public var maskCharacter: Character?
    /// Printed after a wrong secret before asking again.
    public var retryMessage: String
    /// Printed after the last failed attempt, before the user prompt returns.
    public var failureMessage: String
    /// Attempts before giving up.
    public var attempts: Int
    /// Leaves privileged mode (`disable`); `nil` when there is no such command.
    public var disableCommand: String?

    /// Creates an enable behaviour.
    public init(
        command: String = "enable",
        passwordPrompt: String = "Password: ",
        maskCharacter: Character? = nil,
        retryMessage: String = "",
        failureMessage: String,
        attempts: Int = 3,
        disableCommand: String? = "disable"
    ) {
        self.command = command
        self.passwordPrompt = passwordPrompt
        self.maskCharacter = maskCharacter
        self.retryMessage = retryMessage
        self.failureMessage = failureMessage
        self.attempts = attempts
        self.disableCommand = disableCommand
    }
}

/// The pager a device shows between pages.
public struct PagerStyle: Sendable, Hashable {
    /// The mark, e.g. ` --More-- `; `{percent}` becomes how much was shown, `{from}`/`{to}` the line range.
    public var mark: String
    /// What the device writes to erase the mark once a key is pressed (backspaces, `\r` + spaces, ANSI);
    /// empty erases with `\r`, as many spaces as the mark has characters, and `\r`.
    public var erase: String

    /// Creates a pager style.
    public init(mark: String, erase: String) {
        self.mark = mark
        self.erase = erase
    }

    /// `mark` erased with as many backspaces, spaces and backspaces (IOS style).
    public static func backspaced(_ mark: String) -> PagerStyle {
        let n = mark.count
        let bs = String(repeating: "\u{8}", count: n)
        return PagerStyle(mark: mark, erase: bs + String(repeating: " ", count: n) + bs)
    }

    /// `mark` erased by moving the cursor `columns` left (`ESC[nD`), writing as many spaces and moving
    /// back again (Huawei VRP, H3C Comware).
    public static func cursorLeft(_ mark: String, columns: Int) -> PagerStyle {
        let left = "\u{1B}[\(columns)D"
        return PagerStyle(mark: mark, erase: left + String(repeating: " ", count: columns) + left)
    }

    /// `mark` erased with `\r`, spaces and `\r`.
    public static func carriageReturned(_ mark: String) -> PagerStyle {
        PagerStyle(mark: mark, erase: "")
    }
}

/// An output filter after `|`.
public enum OutputPipe: String, Sendable, Hashable, CaseIterable {
    /// `| no-more`: no pager for this command.
    case noMore = "no-more"
    /// `| include TEXT`: only lines containing TEXT.
    case include
    /// `| exclude TEXT`: lines not containing TEXT.
    case exclude
    /// `| begin TEXT`: from the first line containing TEXT.
    case begin
    /// `| grep TEXT` (FortiOS; `.` keeps non-empty lines).
    case grep
    /// `| display set`: Junos set commands.
    case displaySet = "display set"
    /// `| display omit`: Junos, shown as is here.
    case displayOmit = "display omit"
    /// `| count`: the number of lines.
    case count
}

/// One command a device knows.
public struct CommandSpec: Sendable, Hashable {
    /// The command's words; `{n}` matches an integer, `{word}` any one word, `{rest}` the rest of the line.
    /// Matching ignores case and repeated spaces.
    public var pattern: String
    /// Other spellings (abbreviations such as `sh run`).
    public var aliases: [String]
    /// What the command does.
    public var action: CommandAction
    /// Only available in privileged mode (elsewhere it is an unknown command).
    public var privileged: Bool
    /// Only available in this sub-mode (``CommandAction/enterMode(_:prompt:)``); `nil` = top level.
    public var mode: String?

    /// Creates a command.
    public init(
        _ pattern: String, aliases: [String] = [], action: CommandAction, privileged: Bool = false,
        mode: String? = nil
    ) {
        self.pattern = pattern
        self.aliases = aliases
        self.action = action
        self.privileged = privileged
        self.mode = mode
    }
}

/// What a command does.
public enum CommandAction: Sendable, Hashable {
    /// Disables paging, replying with this text (may be empty; may lack a newline, like EOS's
    /// `Pagination disabled.` right before the prompt).
    case disablePaging(reply: String)
    /// Enables paging again.
    case enablePaging(reply: String)
    /// Sets the page length to the command's `{n}` (0 disables paging).
    case setPageLength(reply: String)
    /// Prints the configuration.
    case showConfig(ConfigView)
    /// Prints fixed text (a template; lines separated by `\n`).
    case text(String)
    /// Prints fixed text and fails on an exec channel with this exit status (`cat: …: Permission denied`).
    case failure(String, exitStatus: Int)
    /// Enters privileged mode (see ``EnableBehavior``).
    case enable
    /// Leaves privileged mode.
    case disable
    /// Enters a configuration sub-mode with its own prompt (FortiOS `config system console`).
    case enterMode(String, prompt: String)
    /// Leaves the sub-mode (`end`).
    case exitMode
    /// Ends the session (see ``LogoutBehavior``).
    case logout
    /// Stops the per-command timestamp line (IOS-XR `terminal exec prompt no-timestamp`).
    case disableTimestamps(reply: String)
}

/// How the configuration is shown.
public enum ConfigView: Sendable, Hashable {
    /// As the vendor prints it, volatile lines included.
    case native
    /// Junos `| display set` form: one `set …` line per leaf.
    case junosSet
}

/// How a session ends.
public struct LogoutBehavior: Sendable, Hashable {
    /// Questions asked after the logout command, each answered by one line (ProCurve's `Do you want to log
    /// out [y/n]?`, `Do you want to save current configuration [y/n/^C]?`).
    public var confirmations: [String]
    /// Written just before the channel closes (RouterOS prints `interrupted`).
    public var farewell: String
    /// In privileged mode, the logout command only returns to user mode (Dell OS6 `exit`).
    public var leavesPrivilegeFirst: Bool

    /// Creates a logout behaviour.
    public init(confirmations: [String] = [], farewell: String = "", leavesPrivilegeFirst: Bool = false) {
        self.confirmations = confirmations
        self.farewell = farewell
        self.leavesPrivilegeFirst = leavesPrivilegeFirst
    }
}

/// The shape of a vendor's configuration: a header, a block repeated until the configuration reaches its
/// size, and a footer.
///
/// Each line is a template. A line starting with `~` is volatile (it changes on every run and is not part
/// of the expected configuration). Placeholders:
/// - `{hostname}`, `{username}`;
/// - in the block: `{n}` (1, 2, …), `{n0}` (0, 1, …), `{vlan}` (100 + n), `{a}`/`{b}` (two IPv4 octets that
///   are unique per block), `{port}` (1…48), `{slot}`;
/// - secrets, random but fixed for the device: `{secret}` (12 letters and digits), `{hex}` (16 hex digits),
///   `{b64}` (43 base64 characters) — each is recorded in ``GeneratedConfig/secrets``;
/// - volatile only: `{ios_clock}` (`03:07:07 UTC Sun Nov 29 2026`), `{asa_clock}` (with milliseconds),
///   `{unix_clock}` (`Sun Nov 29 03:07:07 2026`), `{xr_clock}` (`Sun Nov 29 03:07:07.123 UTC`), `{iso}`
///   (`2026-11-29 03:07:07`), `{iso_ms}`, `{ros6_clock}` (`nov/29/2026 03:07:07`), `{rand}` (an 8-digit number), `{run}` (the run number), `{bytes}`
///   (the configuration's size).
public struct ConfigTemplate: Sendable, Hashable {
    /// Lines before the repeated block.
    public var header: [String]
    /// The repeated block.
    public var block: [String]
    /// Lines after the blocks.
    public var footer: [String]
    /// How many trailing lines ``DeviceFault/truncatedConfig`` cuts (the end marker and what closes it).
    public var endMarkerLines: Int

    /// Creates a template.
    public init(header: [String], block: [String], footer: [String], endMarkerLines: Int = 1) {
        self.header = header
        self.block = block
        self.footer = footer
        self.endMarkerLines = endMarkerLines
    }
}
