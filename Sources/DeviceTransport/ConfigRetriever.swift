public import BackupModels
public import Logging

/// A configuration fetched from a device, cleaned and ready to archive.
public struct RetrievedConfig: Sendable, Hashable {
    /// The configuration text.
    public var text: String

    /// Wraps `text`.
    public init(text: String) { self.text = text }

    /// The UTF-8 size in bytes.
    public var size: Int { text.utf8.count }
}

/// Gets a device's configuration over an open session: the vendor-specific part of a backup.
///
/// The executor connects, calls ``retrieveConfig(from:device:credentials:logger:)`` and closes. Vendor
/// profiles implement this protocol; so can users for devices no profile covers.
public protocol ConfigRetriever: Sendable {
    /// Adjusts the connection target for `device` (algorithms, timeouts). Throws `UNKNOWN_VENDOR` when
    /// the device's vendor is not supported. The default does nothing.
    func prepare(_ target: inout ConnectionTarget, for device: Device) throws
    /// Fetches the configuration.
    func retrieveConfig(
        from session: any DeviceSession, device: Device, credentials: Credentials, logger: Logger
    ) async throws -> RetrievedConfig
}

extension ConfigRetriever {
    public func prepare(_ target: inout ConnectionTarget, for device: Device) throws {}
}

/// Runs fixed commands on exec channels and joins their output: the simplest retriever, for Linux hosts
/// and devices with a clean exec channel.
///
/// A command that exits non-zero fails the backup with `COMMAND_FAILED`, quoting (the start of) its stderr.
public struct ExecCommandRetriever: ConfigRetriever {
    /// Commands per vendor name.
    public var commandsByVendor: [String: [String]]
    /// Commands for vendors not in ``commandsByVendor``; `nil` makes such devices fail with `UNKNOWN_VENDOR`.
    public var defaultCommands: [String]?
    /// Limit of one command, beyond the transport's idle timeout.
    public var commandTimeout: Duration?

    /// Creates a retriever that runs `show running-config` on every device unless told otherwise.
    public init(
        commandsByVendor: [String: [String]] = [:], defaultCommands: [String]? = ["show running-config"],
        commandTimeout: Duration? = nil
    ) {
        self.commandsByVendor = commandsByVendor
        self.defaultCommands = defaultCommands
        self.commandTimeout = commandTimeout
    }

    func commands(for device: Device) throws -> [String] {
        if let commands = commandsByVendor[device.vendor] ?? defaultCommands { return commands }
        throw BackupError(
            .unknownVendor, "No commands are configured for vendor '\(device.vendor)' of device \(device.name).",
            hint: "Add the vendor to commandsByVendor or set defaultCommands.")
    }

    public func prepare(_ target: inout ConnectionTarget, for device: Device) throws {
        _ = try commands(for: device)
    }

    public func retrieveConfig(
        from session: any DeviceSession, device: Device, credentials: Credentials, logger: Logger
    ) async throws -> RetrievedConfig {
        var text = ""
        for command in try commands(for: device) {
            let output = try await session.execute(command, timeout: commandTimeout)
            if let status = output.exitStatus, status != 0 {
                let stderr = Self.quotedStderr(output.stderrText, secrets: credentials.secretValues)
                throw BackupError(
                    .commandFailed, "'\(command)' exited with status \(status) on \(device.name): \(stderr)",
                    hint: "Check that the account may run this command.")
            }
            text += output.stdoutText
        }
        return RetrievedConfig(text: text)
    }

    /// Stderr for an error message: the credentials' secrets are replaced over the whole text first, and only
    /// then is it cut to 200 characters, so a cut can never leave a prefix of a secret behind.
    static func quotedStderr(_ stderr: String, secrets: [String]) -> String {
        var text = stderr
        for secret in secrets where !secret.isEmpty {
            text = text.replacing(secret, with: "<redacted>")
        }
        return String(text.prefix(200)).trimmingSuffixWhitespace()
    }
}

extension String {
    func trimmingSuffixWhitespace() -> String {
        var result = Substring(self)
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return String(result)
    }
}
