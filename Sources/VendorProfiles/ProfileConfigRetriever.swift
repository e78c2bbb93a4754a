public import BackupModels
public import DeviceTransport
import Foundation
public import Logging

/// Backs up devices with the vendor profiles of a ``VendorProfileRegistry``: the `ConfigRetriever` the
/// executor uses for network devices.
///
/// The device's `vendor` names its profile. Shell profiles run through a ``CLISession``; exec profiles run
/// each command on its own exec channel (a missing exit status counts as success). The outputs are then
/// cleaned: errors detected, volatile lines removed, secrets scrubbed when ``Options/scrubSecrets`` is
/// on, and the truncation guard applied. Device lines quoted in errors and logs always pass through the
/// profile's secret rules and the credentials' redaction first, and are shortened only afterwards.
public struct ProfileConfigRetriever: ConfigRetriever {
    /// Settings of the retriever.
    public struct Options: Sendable, Hashable {
        /// Hide passwords, secrets and SNMP communities using the profiles' secret rules.
        public var scrubSecrets: Bool
        /// Limits of each CLI session (default timeouts, output limits).
        public var limits: CLISessionLimits

        /// Creates options; secrets are kept unless `scrubSecrets` is set.
        public init(scrubSecrets: Bool = false, limits: CLISessionLimits = .init()) {
            self.scrubSecrets = scrubSecrets
            self.limits = limits
        }
    }

    /// The profiles devices are matched against.
    public let registry: VendorProfileRegistry
    /// The retriever's settings.
    public var options: Options
    private let elapsedFactory: @Sendable () -> @Sendable () -> Duration

    /// Creates a retriever.
    ///
    /// - Parameters:
    ///   - registry: the profiles (the built-ins by default); a device's `vendor` names its profile.
    ///   - options: secret scrubbing and session limits.
    ///   - clock: measures login deadlines (tests pass a manual clock).
    public init<C: Clock>(
        registry: VendorProfileRegistry = VendorProfileRegistry(), options: Options = .init(),
        clock: C = ContinuousClock()
    ) where C.Duration == Duration {
        self.registry = registry
        self.options = options
        self.elapsedFactory = { CLISession.stopwatch(clock) }
    }

    private func profile(for device: Device) throws -> CompiledProfile {
        if let profile = registry.compiled(named: device.vendor) { return profile }
        throw BackupError(
            .unknownVendor, "No vendor profile named '\(device.vendor)' for device \(device.name).",
            hint: "Known profiles: \(registry.names.joined(separator: ", ")). Register a custom profile for other devices.")
    }

    /// Checks that the device's vendor has a profile and fills in the profile's SSH algorithm preferences
    /// wherever the target leaves them unset.
    ///
    /// - Throws: `UNKNOWN_VENDOR`, with the known profile names in the hint.
    public func prepare(_ target: inout ConnectionTarget, for device: Device) throws {
        let profile = try profile(for: device)
        guard let algorithms = profile.profile.algorithms else { return }
        if target.algorithms.keyExchange == nil { target.algorithms.keyExchange = algorithms.keyExchange }
        if target.algorithms.hostKey == nil { target.algorithms.hostKey = algorithms.hostKey }
        if target.algorithms.ciphers == nil { target.algorithms.ciphers = algorithms.ciphers }
        if target.algorithms.macs == nil { target.algorithms.macs = algorithms.macs }
    }

    /// Runs the profile's commands on `session` and returns the cleaned configuration.
    ///
    /// - Throws: `UNKNOWN_VENDOR`, `PROMPT_NOT_FOUND`, `AUTH_FAILED` (enable refused), `COMMAND_FAILED`,
    ///   `COMMAND_TIMEOUT`, `TRUNCATED_CONFIG`, `CONNECTION_LOST`.
    public func retrieveConfig(
        from session: any DeviceSession, device: Device, credentials: Credentials, logger: Logger
    ) async throws -> RetrievedConfig {
        let profile = try profile(for: device)
        var logger = logger
        logger[metadataKey: "vendor_profile"] = "\(profile.name)"
        var assembler = ConfigAssembler(
            profile: profile, scrubSecrets: options.scrubSecrets, deviceName: device.name, credentials: credentials)
        switch profile.profile.mode {
        case .shell:
            try await runShell(
                profile: profile, session: session, device: device, credentials: credentials, logger: logger,
                into: &assembler)
        case .exec:
            try await runExec(
                profile: profile, session: session, device: device, credentials: credentials, logger: logger,
                into: &assembler)
        }
        try assembler.checkComplete()
        return RetrievedConfig(text: assembler.text)
    }

    private func runShell(
        profile: CompiledProfile, session: any DeviceSession, device: Device, credentials: Credentials,
        logger: Logger, into assembler: inout ConfigAssembler
    ) async throws {
        let channel = try await session.openShell(profile.profile.terminal.shellOptions)
        let cli = CLISession(
            channel: channel, compiled: profile, credentials: credentials, deviceName: device.name, logger: logger,
            limits: options.limits, elapsed: elapsedFactory())
        do {
            try await cli.start()
            for command in profile.commands {
                let output = try await cli.run(command.command.command, timeout: command.timeout)
                if let error = assembler.errorLine(in: output) {
                    try reportFailure(
                        command, device: device, detail: cli.quote(error, limit: Self.detailLimit), logger: logger)
                    continue
                }
                assembler.add(output, of: command)
            }
        } catch {
            await cli.logout()
            throw error
        }
        await cli.logout()
        logger.debug(
            "CLI session finished",
            metadata: [
                "bytes": "\(cli.statistics.bytesReceived)", "pages_answered": "\(cli.statistics.pagesAnswered)",
            ])
    }

    private func runExec(
        profile: CompiledProfile, session: any DeviceSession, device: Device, credentials: Credentials,
        logger: Logger, into assembler: inout ConfigAssembler
    ) async throws {
        for command in profile.commands {
            let timeout = command.timeout ?? profile.commandTimeout ?? options.limits.commandTimeout
            logger.debug("Running exec command", metadata: ["command": "\(command.command.command)"])
            let result = try await session.execute(command.command.command, timeout: timeout)
            if let status = result.exitStatus, status != 0 {
                // Whole lines only: a line cut before the secret rules run could leak a prefix of a secret.
                var stderrBytes = result.stderr[...]
                if stderrBytes.count > Self.maxStderrBytes {
                    stderrBytes = stderrBytes.prefix(Self.maxStderrBytes)
                    if let lastNewline = stderrBytes.lastIndex(of: 0x0A) { stderrBytes = stderrBytes[..<lastNewline] }
                }
                let stderr = profile.quoteLines(
                    of: cleanedText(Array(stderrBytes)), credentials: credentials, limit: Self.detailLimit)
                try reportFailure(
                    command, device: device, detail: "exit status \(status)\(stderr.isEmpty ? "" : ": \(stderr)")",
                    logger: logger)
                continue
            }
            let output = cleanedText(result.stdout)
            if let error = assembler.errorLine(in: output) {
                try reportFailure(
                    command, device: device,
                    detail: profile.quote(error, credentials: credentials, limit: Self.detailLimit), logger: logger)
                continue
            }
            assembler.add(output, of: command)
        }
    }

    /// How much of a device's reply a `COMMAND_FAILED` message quotes, in characters.
    static let detailLimit = 200
    /// How much of an exec command's stderr is looked at for the message (whole lines of it).
    static let maxStderrBytes = 16 * 1024

    /// Throws `COMMAND_FAILED`, or logs and returns for an optional command. `detail` is already quoted
    /// (secret rules, credentials, length): see ``CompiledProfile/quote(_:credentials:limit:)``.
    private func reportFailure(
        _ command: CompiledProfile.CompiledCommand, device: Device, detail: String, logger: Logger
    ) throws {
        if command.command.optional {
            logger.debug(
                "Optional command failed; left out of the backup",
                metadata: ["command": "\(command.command.command)", "reply": "\(detail)"])
            return
        }
        throw BackupError(
            .commandFailed, "'\(command.command.command)' failed on \(device.name): \(detail)",
            hint: "Check that the account may run this command, or mark it optional in the vendor profile.")
    }
}
