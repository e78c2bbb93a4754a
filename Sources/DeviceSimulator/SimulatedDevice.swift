public import BackupModels
import Foundation

/// One fake network device served by a ``DeviceSimulator``.
///
/// A device has a vendor personality (``VendorEmulation``: banner, prompts, paging, pager, error strings,
/// backup commands), credentials, a generated configuration of about ``configSize`` bytes that is
/// deterministic for a given ``seed``, ``hostname`` and size (only the vendor's volatile lines — timestamps,
/// NTP clock period, byte counts — change between runs), a per-command latency and a set of ``faults``.
///
/// ```swift
/// let r1 = SimulatedDevice(id: "r1", hostname: "r1", vendor: .ciscoIOS,
///                          username: "backup", password: "pw", enableSecret: "en", configSize: 200_000)
/// ```
public struct SimulatedDevice: Sendable, Identifiable {
    /// The device's id; the ``DeviceSimulator`` reports bound ports per id and selects devices on its shared
    /// port by it.
    public var id: DeviceID
    /// The hostname shown in prompts and written into the configuration.
    public var hostname: String
    /// The CLI personality.
    public var vendor: VendorEmulation
    /// The login name the device accepts.
    public var username: String
    /// The login password; `nil` accepts no password logins (use ``authorizedKeys``).
    public var password: String?
    /// Public keys (OpenSSH format, `ssh-ed25519 AAAA…`) accepted for public-key authentication.
    public var authorizedKeys: [String]
    /// The secret `enable` (or `super`) asks for; `nil` means the command needs no password.
    public var enableSecret: String?
    /// `true` logs the user straight into privileged mode (a `privilege 15` user on IOS: `r1#`, no `enable`).
    public var startsPrivileged: Bool
    /// The approximate size of the generated configuration in bytes (the header and footer always appear).
    public var configSize: Int
    /// Seeds the configuration generator together with the hostname.
    public var seed: UInt64
    /// Delay before the device answers each command (also `enable`, paging commands, pager keys are not).
    public var latency: Duration
    /// Faults to inject.
    public var faults: Set<DeviceFault>

    /// Creates a device.
    public init(
        id: DeviceID,
        hostname: String,
        vendor: VendorEmulation,
        username: String = "admin",
        password: String? = "admin",
        authorizedKeys: [String] = [],
        enableSecret: String? = nil,
        startsPrivileged: Bool = false,
        configSize: Int = 4096,
        seed: UInt64 = 0,
        latency: Duration = .zero,
        faults: Set<DeviceFault> = []
    ) {
        self.id = id
        self.hostname = hostname
        self.vendor = vendor
        self.username = username
        self.password = password
        self.authorizedKeys = authorizedKeys
        self.enableSecret = enableSecret
        self.startsPrivileged = startsPrivileged
        self.configSize = configSize
        self.seed = seed
        self.latency = latency
        self.faults = faults
    }

    /// The generated configuration as the device stores it: stable lines and volatile placeholders.
    public var generatedConfig: GeneratedConfig {
        ConfigGenerator.generate(for: self)
    }

    /// The configuration that a correct backup of this device (as generated, before any runtime change)
    /// yields: the output of the vendor's primary backup command with the volatile lines removed and blank
    /// lines at its start and end dropped, lines joined with `\n` and ending with one `\n`.
    ///
    /// For a device whose configuration was changed at run time, ask the simulator:
    /// ``DeviceSimulator/expectedConfig(of:)``.
    public var expectedConfig: String { generatedConfig.stableText }

    /// The password, secret and community strings written into the generated configuration and into the
    /// other files and outputs the device prints (Linux `/etc/passwd`): after a backup with secret scrubbing
    /// on, none of them may survive.
    public var configSecrets: [String] {
        var secrets = generatedConfig.secrets
        for spec in vendor.commands {
            if case .text(let template) = spec.action {
                secrets += CLIEngine.renderText(template, pattern: spec.pattern, device: self).secrets
            }
        }
        return secrets
    }

    /// What `command` prints on this device (as generated), volatile lines removed, `\n` line endings; `nil`
    /// for a command the device does not know or that prints no fixed text. For the backup command this is
    /// ``expectedConfig``; Junos `show configuration | display set` gives the set form.
    public func expectedOutput(of command: String) -> String? {
        let words = command.lowercased().split(separator: " ").joined(separator: " ")
        let parts = words.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let base = parts.first else { return nil }
        for spec in vendor.commands where ([spec.pattern] + spec.aliases).contains(where: { $0.lowercased() == base }) {
            switch spec.action {
            case .showConfig(let view):
                if view == .junosSet || parts.dropFirst().contains("display set") {
                    return trimmingBlankEdges(JunosSetView.convert(generatedConfig.stableLines))
                        .joined(separator: "\n") + "\n"
                }
                return expectedConfig
            case .text(let template):
                return CLIEngine.renderText(template, pattern: spec.pattern, device: self).text
            default:
                return nil
            }
        }
        return nil
    }

    /// A `Device` for the library's inventory that points at this simulated device.
    ///
    /// - Parameters:
    ///   - host: the simulator's address, `127.0.0.1` by default.
    ///   - port: the port to connect to: the device's own port or the simulator's shared port.
    public func inventoryDevice(host: String = "127.0.0.1", port: Int) -> Device {
        Device(id: id, name: hostname, host: host, port: port, vendor: vendor.name)
    }

    /// Credentials that log in to this device (the shared port also accepts `<id>:<username>`).
    public var credentials: Credentials {
        Credentials(
            username: username, password: password.map { Secret($0) }, enableSecret: enableSecret.map { Secret($0) })
    }
}

/// A fault a simulated device injects.
public enum DeviceFault: Sendable, Hashable {
    /// Every authentication attempt fails.
    case authFailure
    /// The TCP connection is accepted but the SSH version banner is never sent.
    case acceptThenSilence
    /// Login succeeds, the shell (or exec) channel opens, and then the device says nothing, ever.
    case hangAfterLogin
    /// The backup command's output stops after `afterBytes` bytes; the connection stays open, silent.
    case hangMidOutput(afterBytes: Int)
    /// The TCP connection is closed after `afterBytes` bytes of the backup command's output.
    case disconnectMidOutput(afterBytes: Int)
    /// Every byte the device sends trickles out `bytesPerChunk` at a time, one chunk per `interval`.
    case slowDrip(bytesPerChunk: Int, interval: Duration)
    /// Invalid UTF-8 (`0xFF 0xFE`, a lone `0xC3`, `0x80`) is mixed into the backup command's output.
    case garbageBytes
    /// The backup command never ends: configuration lines repeat until the client disconnects.
    case endlessOutput
    /// The configuration is cut before its end marker (IOS `end`, VRP `return`, …), then the prompt follows.
    case truncatedConfig
    /// Every prompt is this text instead of the vendor's (the hostname a client learnt never reappears).
    case wrongPrompt(String)
    /// The paging-disable commands are refused with the vendor's error, so the pager stays on and the
    /// client has to answer it.
    case pagingRefused
}

extension DeviceFault {
    /// Parses a fault as the `device-simulator` command line writes it: `auth-failure`,
    /// `accept-then-silence`, `hang-after-login`, `hang-mid-output:BYTES`, `disconnect-mid-output:BYTES`,
    /// `slow-drip:BYTES:MILLISECONDS`, `garbage`, `endless`, `truncated`, `wrong-prompt:TEXT`, `paging-refused`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        func number(_ index: Int) -> Int? { parts.count > index ? Int(parts[index]).flatMap { $0 >= 0 ? $0 : nil } : nil }
        switch parts[0] {
        case "auth-failure": self = .authFailure
        case "accept-then-silence": self = .acceptThenSilence
        case "hang-after-login": self = .hangAfterLogin
        case "hang-mid-output":
            guard let bytes = number(1) else { return nil }
            self = .hangMidOutput(afterBytes: bytes)
        case "disconnect-mid-output":
            guard let bytes = number(1) else { return nil }
            self = .disconnectMidOutput(afterBytes: bytes)
        case "slow-drip":
            guard let bytes = number(1), bytes > 0, let ms = number(2) else { return nil }
            self = .slowDrip(bytesPerChunk: bytes, interval: .milliseconds(ms))
        case "garbage": self = .garbageBytes
        case "endless": self = .endlessOutput
        case "truncated": self = .truncatedConfig
        case "wrong-prompt":
            guard parts.count > 1 else { return nil }
            self = .wrongPrompt(parts.dropFirst().joined(separator: ":"))
        case "paging-refused": self = .pagingRefused
        default: return nil
        }
    }
}
