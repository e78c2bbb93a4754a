import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Testing
import VendorProfiles

/// Every simulator fault through the whole stack (libssh2 transport, vendor profile, executor): the
/// documented error code (Documentation/DeviceSimulator.md, "Faults and the error codes they yield"), within
/// the configured timeout, and every connection closed afterwards (counted on the simulator's side).
///
/// Timeouts are shortened through the retriever's and the transport's settings (a few seconds), and each
/// bound on the elapsed time is generous (tens of seconds): far below the defaults a broken timeout would
/// fall back to (60–300 s), far above what a busy 2-core machine needs.
@Suite("Simulator faults yield their documented codes through libssh2, profile and executor", .timeLimit(.minutes(10)))
struct SimulatorFaultTests {
    static let vendors = VendorEmulation.builtIn.map(\.name)
    static let execVendors: Set<String> = ["mikrotik_routeros", "linux"]

    /// The elapsed-time bound for faults that end on a timeout of 2 s (or a prompt refused at once).
    static let bound = Duration.seconds(45)
    /// The task's per-attempt timeout: above ``bound``, so a timeout that did not fire shows up as
    /// `DEVICE_TIMEOUT` instead of the expected code.
    static let attemptTimeout = 90

    struct Outcome {
        var result: DeviceBackupResult
        var config: String?
        var elapsed: Duration
    }

    /// Backs up one simulated device with `settings` and checks that every connection is closed afterwards.
    func run(_ device: SimulatedDevice, _ settings: SimulatorHarness.Settings) async throws -> Outcome {
        try await DeviceSimulator.withRunning(DeviceSimulatorConfiguration(devices: [device])) { simulator in
            let (task, archive, elapsed) = try await SimulatorHarness.backUp(simulator, settings)
            let result = try #require(task.results.first)
            let closed = try await SimulatorHarness.waitUntilAllConnectionsClosed(simulator)
            #expect(closed, "\(device.vendor.name): \(simulator.statistics.connectionsOpen) connection(s) still open on the simulator")
            let config = try await archive.currentConfig(
                for: DeviceRef(id: device.id, name: device.hostname, vendor: device.vendor.name))
            return Outcome(result: result, config: config, elapsed: elapsed)
        }
    }

    func expect(
        _ outcome: Outcome, _ code: BackupError.Code, within bound: Duration = Self.bound, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            outcome.result.errorCode == code,
            "\(what): got \(outcome.result.errorCode?.rawValue ?? "success") (\(outcome.result.errorMessage ?? "")), expected \(code)",
            sourceLocation: sourceLocation)
        #expect(!outcome.result.success, "\(what): succeeded", sourceLocation: sourceLocation)
        #expect(outcome.elapsed < bound, "\(what): took \(outcome.elapsed), bound \(bound)", sourceLocation: sourceLocation)
        #expect(outcome.result.attempts == 1, sourceLocation: sourceLocation)
    }

    static func settings(
        limits: CLISessionLimits = .init(), backupCommandTimeout: Double? = nil,
        transportTimeouts: TransportTimeouts = .init(), transport: LibSSH2Transport = .init(), timeout: Int = attemptTimeout
    ) throws -> SimulatorHarness.Settings {
        var settings = SimulatorHarness.Settings()
        let registry = try backupCommandTimeout.map { try SimulatorHarness.registry(backupCommandTimeout: $0) }
        settings.retriever = ProfileConfigRetriever(
            registry: registry ?? VendorProfileRegistry(), options: .init(limits: limits))
        settings.transportTimeouts = transportTimeouts
        settings.transport = transport
        settings.timeout = timeout
        return settings
    }

    // MARK: - Connection and login

    @Test("authFailure → AUTH_FAILED, not retried")
    func authFailure() async throws {
        var device = try SimulatorHarness.device("cisco_ios", faults: [.authFailure])
        device.username = "backup"
        device.password = "Login-Pa55word"
        let outcome = try await run(device, Self.settings())
        expect(outcome, .authFailed, "authFailure")
        let message = outcome.result.errorMessage ?? ""
        #expect(message.contains("'backup'"), "the message names the user: \(message)")
        #expect(!message.contains("Login-Pa55word"), "the message holds the password: \(message)")
    }

    @Test("acceptThenSilence → CONNECTION_TIMEOUT after the connect timeout (TCP accepted, no SSH banner)")
    func acceptThenSilence() async throws {
        let outcome = try await run(
            try SimulatorHarness.device("cisco_ios", faults: [.acceptThenSilence]),
            Self.settings(transportTimeouts: TransportTimeouts(connect: .seconds(2))))
        expect(outcome, .connectionTimeout, "acceptThenSilence")
        #expect(outcome.elapsed >= .milliseconds(1900), "gave up before the connect timeout: \(outcome.elapsed)")
    }

    @Test(
        "hangAfterLogin → PROMPT_NOT_FOUND after the login timeout (shell profiles), COMMAND_TIMEOUT after the command timeout (exec profiles)",
        arguments: vendors)
    func hangAfterLogin(vendor: String) async throws {
        let outcome = try await run(
            try SimulatorHarness.device(vendor, faults: [.hangAfterLogin]),
            Self.settings(limits: CLISessionLimits(loginTimeout: .seconds(2)), backupCommandTimeout: 2))
        expect(outcome, Self.execVendors.contains(vendor) ? .commandTimeout : .promptNotFound, "\(vendor) hangAfterLogin")
    }

    @Test("wrongPrompt → PROMPT_NOT_FOUND after the login timeout (the profile's prompt never appears)")
    func wrongPrompt() async throws {
        let outcome = try await run(
            try SimulatorHarness.device("cisco_ios", faults: [.wrongPrompt("Router(unknown)$ ")]),
            Self.settings(limits: CLISessionLimits(loginTimeout: .seconds(2))))
        expect(outcome, .promptNotFound, "wrongPrompt")
        #expect(outcome.result.errorMessage?.contains("Router(unknown)$") == true, "the message quotes the last line received")
    }

    // MARK: - During the backup command

    @Test("hangMidOutput → COMMAND_TIMEOUT after the backup command's idle timeout", arguments: vendors)
    func hangMidOutput(vendor: String) async throws {
        let outcome = try await run(
            try SimulatorHarness.device(vendor, faults: [.hangMidOutput(afterBytes: 700)]),
            Self.settings(backupCommandTimeout: 2))
        expect(outcome, .commandTimeout, "\(vendor) hangMidOutput")
    }

    @Test("disconnectMidOutput → CONNECTION_LOST", arguments: vendors)
    func disconnectMidOutput(vendor: String) async throws {
        let outcome = try await run(
            try SimulatorHarness.device(vendor, faults: [.disconnectMidOutput(afterBytes: 700)]), Self.settings())
        expect(outcome, .connectionLost, "\(vendor) disconnectMidOutput")
    }

    @Test("endlessOutput → COMMAND_FAILED once the output passes the output limit (shell: CLISessionLimits, exec: the transport's)",
          arguments: ["cisco_ios", "linux"])
    func endlessOutput(vendor: String) async throws {
        let outcome = try await run(
            try SimulatorHarness.device(vendor, faults: [.endlessOutput]),
            Self.settings(
                limits: CLISessionLimits(maxOutputBytes: 1 << 20),
                transport: LibSSH2Transport(configuration: .init(maximumOutputBytes: 1 << 20))))
        expect(outcome, .commandFailed, within: .seconds(90), "\(vendor) endlessOutput")
        #expect(outcome.result.errorMessage?.contains("\(1 << 20)") == true, "the message names the limit: \(outcome.result.errorMessage ?? "")")
    }

    @Test("truncatedConfig → TRUNCATED_CONFIG (IOS: no closing `end`)")
    func truncatedConfig() async throws {
        let outcome = try await run(try SimulatorHarness.device("cisco_ios", faults: [.truncatedConfig]), Self.settings())
        expect(outcome, .truncatedConfig, "truncatedConfig")
        #expect(outcome.config == nil, "a truncated config must not be archived")
    }

    // MARK: - Slow drip

    @Test("slowDrip with gaps below the idle timeout: slow, but the whole config arrives byte for byte")
    func slowDripWithinTimeouts() async throws {
        let device = try SimulatorHarness.device(
            "cisco_ios", size: 1500, faults: [.slowDrip(bytesPerChunk: 64, interval: .milliseconds(10))])
        let outcome = try await run(device, Self.settings(timeout: 300))
        #expect(outcome.result.success, "\(outcome.result.errorCode?.rawValue ?? "") \(outcome.result.errorMessage ?? "")")
        let config = try #require(outcome.config)
        #expect(config.contains(device.expectedConfig), "the running config is not in the backup, whole")
    }

    @Test("slowDrip with gaps longer than the idle timeout → COMMAND_TIMEOUT")
    func slowDripGapsExceedIdleTimeout() async throws {
        let device = try SimulatorHarness.device(
            "cisco_ios", faults: [.slowDrip(bytesPerChunk: 65536, interval: .seconds(3))])
        let outcome = try await run(
            device,
            Self.settings(limits: CLISessionLimits(commandTimeout: .seconds(1), loginTimeout: .seconds(30)), backupCommandTimeout: 1))
        expect(outcome, .commandTimeout, within: .seconds(60), "slowDrip gaps > idle timeout")
    }

    @Test("slowDrip within the idle timeout but slower than the attempt's timeout → DEVICE_TIMEOUT")
    func slowDripExceedsAttemptTimeout() async throws {
        let device = try SimulatorHarness.device(
            "cisco_ios", size: 6000, faults: [.slowDrip(bytesPerChunk: 16, interval: .milliseconds(50))])
        let outcome = try await run(device, Self.settings(timeout: 4))
        expect(outcome, .deviceTimeout, "slowDrip total > attempt timeout")
        #expect(outcome.elapsed >= .milliseconds(3900), "gave up before the attempt timeout: \(outcome.elapsed)")
    }

    // MARK: - Garbage

    @Test("garbageBytes: the backup succeeds; each invalid UTF-8 sequence becomes U+FFFD, every valid byte is kept")
    func garbageBytes() async throws {
        let device = try SimulatorHarness.device("cisco_ios", faults: [.garbageBytes])
        let outcome = try await run(device, Self.settings())
        #expect(outcome.result.success, "\(outcome.result.errorCode?.rawValue ?? "") \(outcome.result.errorMessage ?? "")")
        let config = try #require(outcome.config)
        #expect(config.contains("\u{FFFD}"), "the invalid bytes are visible as replacement characters")
        let cleaned = String(config.unicodeScalars.filter { $0 != "\u{FFFD}" }.map(Character.init))
        #expect(cleaned.contains(device.expectedConfig), "apart from the replaced bytes, the running config arrives whole")
    }
}
