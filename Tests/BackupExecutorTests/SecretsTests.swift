import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Logging
import TaskStore
import Testing

@Suite("Secrets never leak", .timeLimit(.minutes(2)))
struct SecretsTests {
    static let password = "Pa55-RECOGNISABLE-7f3a"
    static let enable = "En4ble-RECOGNISABLE-91c2"
    static let key = "-----BEGIN OPENSSH PRIVATE KEY----- KEY-RECOGNISABLE-55aa"

    @Test("no secret in logs, errors, descriptions, events or stored task records")
    func noSecretAnywhere() async throws {
        let credentials = Credentials(
            username: "netops", password: Secret(Self.password), privateKey: .inMemory(Secret(Self.key)),
            passphrase: Secret(Self.password), enableSecret: Secret(Self.enable))
        // A device whose failure message quotes the password, as a careless driver might.
        let transport = MockTransport(defaultBehavior: .config("hostname r\n"))
        transport.setBehavior(.throwing(PlainError(description: "login rejected for password \(Self.password)")), for: 2)
        transport.setBehavior(.alwaysFail(BackupError(.authFailed, "enable secret \(Self.enable) refused")), for: 3)
        let storage = CapturingLogHandler.Storage()
        var fixture = Fixture(devices: 3, transport: transport)
        fixture.inventory = StaticInventory(devices: fixture.inventory.deviceList, defaultCredentials: credentials)
        fixture.logger = CapturingLogHandler.logger(storage)
        let executor = fixture.makeExecutor()
        let (task, events) = try await executor.withRunning { executor in
            let submitted = try await executor.submit(try filter())
            var events: [BackupEvent] = []
            for await event in try await executor.events(for: submitted.taskID) { events.append(event) }
            return (try await executor.waitForCompletion(of: submitted.taskID), events)
        }
        #expect(task.successCount == 1 && task.failedCount == 2)
        var haystack = storage.all.joined(separator: "\n")
        haystack += String(decoding: try JSONEncoder.deviceBackup().encode(task), as: UTF8.self)
        haystack += String(decoding: try JSONEncoder.deviceBackup().encode(events), as: UTF8.self)
        haystack += String(decoding: try JSONEncoder.deviceBackup().encode(credentials), as: UTF8.self)
        haystack += "\(credentials) \(String(reflecting: credentials)) \(task) \(task.errors)"
        var dumped = ""
        dump(credentials, to: &dumped)
        haystack += dumped
        #expect(!storage.all.isEmpty)
        for secret in [Self.password, Self.enable, "KEY-RECOGNISABLE"] {
            #expect(!haystack.contains(secret), "secret leaked")
        }
        #expect(task.result(for: 2)?.errorMessage?.contains("<redacted>") == true)
        #expect(task.result(for: 3)?.errorMessage?.contains("<redacted>") == true)
    }
}

/// A session whose every command fails with `stderr`.
private struct FailingExecSession: DeviceSession {
    let stderr: String
    func execute(_ command: String, timeout: Duration?) async throws -> CommandOutput {
        CommandOutput(stdout: [], stderr: Array(stderr.utf8), exitStatus: 1)
    }
    func openShell(_ options: ShellOptions) async throws -> any ShellChannel { throw BackupError(.commandFailed, "no shell") }
    func close() async {}
}

@Suite("Secrets in exec errors")
struct ExecStderrSecretTests {
    @Test("stderr quoted in COMMAND_FAILED has the credentials' secrets replaced before it is cut: no prefix of a secret survives")
    func stderrRedactedBeforeCut() async throws {
        let password = "Tr0ub4dor&3-correct-horse"
        // The secret straddles the 200-character cut: cutting first would leave "Tr0ub4dor&3-" behind.
        let stderr = String(repeating: "x", count: 190) + " login " + password + " rejected\n"
        let retriever = ExecCommandRetriever(commandsByVendor: [:], defaultCommands: ["show running-config"])
        let device = Device(id: 1, name: "r1", host: "192.0.2.1", vendor: "linux")
        let error = await #expect(throws: BackupError.self) {
            _ = try await retriever.retrieveConfig(
                from: FailingExecSession(stderr: stderr), device: device,
                credentials: Credentials(username: "netops", password: Secret(password)), logger: Logger(label: "test"))
        }
        #expect(error?.code == .commandFailed)
        let message = try #require(error?.message)
        #expect(message.contains(String(repeating: "x", count: 190) + " login <"), "stderr is quoted up to the cut")
        #expect(!message.contains("Tr0"), "no prefix of the password survives the cut")
    }
}
