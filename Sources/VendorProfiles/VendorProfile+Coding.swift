import DeviceTransport
public import Foundation
import Yams

// Profiles are read from files users write by hand: every field but `name`, `prompt` (shell mode) and
// `commands` may be left out, and an unknown key is an error (a misspelt `volatile_line` must not be
// silently ignored).

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws if the keyed object at this level has a key outside `known`.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type, in type: String) throws {
        let container = try self.container(keyedBy: AnyKey.self)
        let known = Set(Keys.allCases.map(\.stringValue))
        let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: codingPath,
                    debugDescription:
                        "Unknown key(s) \(unknown.joined(separator: ", ")) in \(type); known keys: \(known.sorted().joined(separator: ", "))"
                ))
        }
    }
}

extension VendorProfile: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, mode, prompt, newline, enable, pagers, commands, algorithms, terminal
        case echoesCommands = "echoes_commands"
        case loginInteractions = "login_interactions"
        case sessionCommands = "session_commands"
        case errorPatterns = "error_patterns"
        case errorScanLines = "error_scan_lines"
        case volatileLines = "volatile_lines"
        case secretRules = "secret_rules"
        case truncationGuard = "truncation_guard"
        case commentPrefix = "comment_prefix"
        case logoutCommands = "logout_commands"
        case commandTimeoutSeconds = "command_timeout_seconds"
        case loginTimeoutSeconds = "login_timeout_seconds"
    }

    /// Decodes a profile, filling in defaults for absent fields and rejecting unknown keys.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "vendor profile")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mode = try c.decodeIfPresent(SessionMode.self, forKey: .mode) ?? .shell
        self.init(
            name: try c.decode(String.self, forKey: .name),
            description: try c.decodeIfPresent(String.self, forKey: .description),
            mode: mode,
            prompt: try mode == .exec
                ? c.decodeIfPresent(String.self, forKey: .prompt) ?? "" : c.decode(String.self, forKey: .prompt),
            echoesCommands: try c.decodeIfPresent(Bool.self, forKey: .echoesCommands) ?? true,
            newline: try c.decodeIfPresent(String.self, forKey: .newline) ?? "\n",
            loginInteractions: try c.decodeIfPresent([Interaction].self, forKey: .loginInteractions) ?? [],
            enable: try c.decodeIfPresent(EnableSettings.self, forKey: .enable),
            sessionCommands: try c.decodeIfPresent([String].self, forKey: .sessionCommands) ?? [],
            pagers: try c.decodeIfPresent([Interaction].self, forKey: .pagers) ?? [],
            commands: try c.decode([BackupCommand].self, forKey: .commands),
            errorPatterns: try c.decodeIfPresent([String].self, forKey: .errorPatterns) ?? [],
            errorScanLines: try c.decodeIfPresent(Int.self, forKey: .errorScanLines) ?? 5,
            volatileLines: try c.decodeIfPresent([String].self, forKey: .volatileLines) ?? [],
            secretRules: try c.decodeIfPresent([SecretRule].self, forKey: .secretRules) ?? [],
            truncationGuard: try c.decodeIfPresent(TruncationGuard.self, forKey: .truncationGuard),
            commentPrefix: try c.decodeIfPresent(String.self, forKey: .commentPrefix) ?? "! ",
            algorithms: try c.decodeIfPresent(AlgorithmPreferences.self, forKey: .algorithms),
            logoutCommands: try c.decodeIfPresent([String].self, forKey: .logoutCommands) ?? ["exit"],
            terminal: try c.decodeIfPresent(TerminalSettings.self, forKey: .terminal) ?? .init(),
            commandTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .commandTimeoutSeconds),
            loginTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .loginTimeoutSeconds)
        )
    }

    /// Encodes every field (defaults included), so an encoded built-in is a complete starting point.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(mode, forKey: .mode)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(echoesCommands, forKey: .echoesCommands)
        try c.encode(newline, forKey: .newline)
        try c.encode(loginInteractions, forKey: .loginInteractions)
        try c.encodeIfPresent(enable, forKey: .enable)
        try c.encode(sessionCommands, forKey: .sessionCommands)
        try c.encode(pagers, forKey: .pagers)
        try c.encode(commands, forKey: .commands)
        try c.encode(errorPatterns, forKey: .errorPatterns)
        try c.encode(errorScanLines, forKey: .errorScanLines)
        try c.encode(volatileLines, forKey: .volatileLines)
        try c.encode(secretRules, forKey: .secretRules)
        try c.encodeIfPresent(truncationGuard, forKey: .truncationGuard)
        try c.encode(commentPrefix, forKey: .commentPrefix)
        try c.encodeIfPresent(algorithms, forKey: .algorithms)
        try c.encode(logoutCommands, forKey: .logoutCommands)
        try c.encode(terminal, forKey: .terminal)
        try c.encodeIfPresent(commandTimeoutSeconds, forKey: .commandTimeoutSeconds)
        try c.encodeIfPresent(loginTimeoutSeconds, forKey: .loginTimeoutSeconds)
    }
}

extension EnableSettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case command
        case privilegedPrompt = "privileged_prompt"
        case passwordPrompt = "password_prompt"
        case usernamePrompt = "username_prompt"
        case failurePatterns = "failure_patterns"
    }

    /// Decodes enable settings; absent fields take the Cisco-like defaults of ``init(command:privilegedPrompt:passwordPrompt:usernamePrompt:failurePatterns:)``.
    /// An explicit `null` `privileged_prompt` means the prompt does not show the privilege level.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "enable settings")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = EnableSettings()
        command = try c.decodeIfPresent(String.self, forKey: .command) ?? defaults.command
        if c.contains(.privilegedPrompt) {
            privilegedPrompt = try c.decodeIfPresent(String.self, forKey: .privilegedPrompt)
        } else {
            privilegedPrompt = defaults.privilegedPrompt
        }
        passwordPrompt = try c.decodeIfPresent(String.self, forKey: .passwordPrompt) ?? defaults.passwordPrompt
        usernamePrompt = try c.decodeIfPresent(String.self, forKey: .usernamePrompt)
        failurePatterns = try c.decodeIfPresent([String].self, forKey: .failurePatterns) ?? defaults.failurePatterns
    }

    /// Encodes every field; a `nil` ``privilegedPrompt`` is written as `null`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(command, forKey: .command)
        try c.encode(privilegedPrompt, forKey: .privilegedPrompt)
        try c.encode(passwordPrompt, forKey: .passwordPrompt)
        try c.encodeIfPresent(usernamePrompt, forKey: .usernamePrompt)
        try c.encode(failurePatterns, forKey: .failurePatterns)
    }
}

extension BackupCommand: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case command, kind, optional, header
        case timeoutSeconds = "timeout_seconds"
        case volatileLines = "volatile_lines"
    }

    /// Decodes a command: either an object or, for short, just the command string.
    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let command = try? single.decode(String.self) {
            self.init(command)
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "backup command")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try c.decode(String.self, forKey: .command),
            kind: try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .config,
            optional: try c.decodeIfPresent(Bool.self, forKey: .optional) ?? false,
            timeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds),
            volatileLines: try c.decodeIfPresent([String].self, forKey: .volatileLines) ?? [],
            header: try c.decodeIfPresent(String.self, forKey: .header)
        )
    }

    /// Encodes the command as an object.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(command, forKey: .command)
        try c.encode(kind, forKey: .kind)
        try c.encode(optional, forKey: .optional)
        try c.encodeIfPresent(timeoutSeconds, forKey: .timeoutSeconds)
        try c.encode(volatileLines, forKey: .volatileLines)
        try c.encodeIfPresent(header, forKey: .header)
    }
}

extension TruncationGuard: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case lastLine = "last_line"
        case minimumLines = "minimum_lines"
        case blockOpen = "block_open"
        case blockClose = "block_close"
    }

    /// Decodes a guard; `minimum_lines` defaults to 1.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "truncation guard")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            lastLine: try c.decodeIfPresent(String.self, forKey: .lastLine),
            minimumLines: try c.decodeIfPresent(Int.self, forKey: .minimumLines) ?? 1,
            blockOpen: try c.decodeIfPresent(String.self, forKey: .blockOpen),
            blockClose: try c.decodeIfPresent(String.self, forKey: .blockClose)
        )
    }

    /// Encodes the guard.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(lastLine, forKey: .lastLine)
        try c.encode(minimumLines, forKey: .minimumLines)
        try c.encodeIfPresent(blockOpen, forKey: .blockOpen)
        try c.encodeIfPresent(blockClose, forKey: .blockClose)
    }
}

// MARK: - Reading and writing profile documents

extension VendorProfile {
    /// The formats a profile document can have.
    public enum DocumentFormat: String, Sendable, Hashable, CaseIterable {
        /// JSON.
        case json
        /// YAML (a superset of JSON; single-quoted strings need no backslash doubling in regexes).
        case yaml

        /// The format a file name's extension implies (`.json`, `.yaml`, `.yml`); `nil` for others.
        public init?(path: String) {
            let lower = path.lowercased()
            if lower.hasSuffix(".json") {
                self = .json
            } else if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
                self = .yaml
            } else {
                return nil
            }
        }
    }

    /// Decodes the profiles in a document: one profile object, or a list of them.
    ///
    /// The profiles are not validated here; ``VendorProfileRegistry/register(_:)`` does that.
    public static func decodeDocument(_ data: Data, format: DocumentFormat) throws -> [VendorProfile] {
        switch format {
        case .json:
            return try JSONDecoder().decode(ProfileDocument.self, from: data).profiles
        case .yaml:
            return try YAMLDecoder().decode(ProfileDocument.self, from: String(decoding: data, as: UTF8.self)).profiles
        }
    }

    /// Encodes this profile as a document (pretty JSON with sorted keys, or YAML).
    public func encodedDocument(format: DocumentFormat) throws -> Data {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return try encoder.encode(self)
        case .yaml:
            return Data(try YAMLEncoder().encode(self).utf8)
        }
    }
}

/// A document holding one profile or a list of profiles.
struct ProfileDocument: Decodable {
    var profiles: [VendorProfile]

    init(from decoder: any Decoder) throws {
        if (try? decoder.unkeyedContainer()) != nil {
            profiles = try decoder.singleValueContainer().decode([VendorProfile].self)
        } else {
            profiles = [try VendorProfile(from: decoder)]
        }
    }
}
