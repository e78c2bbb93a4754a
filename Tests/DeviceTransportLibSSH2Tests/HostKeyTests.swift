import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Testing

extension LibSSH2Tests {
    @Suite("Host key verification", .enabled(if: runningAsRoot, "starts sshd with its own PAM service: needs root"))
    struct HostKeyTests {
        func connect(_ server: SSHServerFixture, _ policy: HostKeyPolicy) async throws {
            let session = try await transport.connect(
                to: server.target(policy: policy), credentials: server.keyCredentials, logger: quietLogger)
            _ = try await session.execute("true", timeout: nil)
            await session.close()
        }

        @Test func strictWithAMatchingKeySucceeds() async throws {
            try await SSHServerFixture.with { server in
                // Other hosts' lines, a comment and an unsupported line around the entry are fine.
                let path = try server.writeKnownHosts(
                    name: "known_hosts", matching: true,
                    extraLines: [
                        "[127.0.0.1]:1 \(server.otherHostKeyPublic)", "@cert-authority *.example.com ssh-ed25519 AAAAinvalid", "",
                    ])
                try await connect(server, .strict(knownHostsFile: path))
                // Hashed host names (HashKnownHosts) work too.
                try SSHServerFixture.runTool(["/usr/bin/ssh-keygen", "-H", "-f", path])
                #expect(try String(contentsOfFile: path, encoding: .utf8).contains("|1|"))
                try await connect(server, .strict(knownHostsFile: path))
            }
        }

        @Test func strictWithADifferentKeyIsMismatchWithFingerprint() async throws {
            try await SSHServerFixture.with { server in
                let path = try server.writeKnownHosts(name: "known_hosts", matching: false)
                let error = await #expect(throws: BackupError.self) { try await connect(server, .strict(knownHostsFile: path)) }
                #expect(error?.code == .hostKeyMismatch)
                #expect(error?.isRetryable == false)
                #expect(error?.message.contains(server.hostKeyFingerprint) == true)
                #expect(error?.message.contains("ssh-ed25519") == true)
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
            }
        }

        @Test func strictWithoutAnEntryIsUnknownWithFingerprint() async throws {
            try await SSHServerFixture.with { server in
                let missing = await #expect(throws: BackupError.self) {
                    try await connect(server, .strict(knownHostsFile: server.directory + "/does-not-exist"))
                }
                #expect(missing?.code == .hostKeyUnknown)
                #expect(missing?.message.contains(server.hostKeyFingerprint) == true)
                // An entry for the same address on another port does not count (OpenSSH semantics).
                let otherPort = try server.writeKnownHosts(name: "other_port", matching: true, port: server.port + 1)
                let error = await #expect(throws: BackupError.self) { try await connect(server, .strict(knownHostsFile: otherPort)) }
                #expect(error?.code == .hostKeyUnknown)
            }
        }

        @Test func trustOnFirstUseRecordsThenEnforces() async throws {
            try await SSHServerFixture.with { server in
                let path = server.directory + "/tofu/known_hosts"
                try await connect(server, .trustOnFirstUse(knownHostsFile: path))
                let recorded = try String(contentsOfFile: path, encoding: .utf8)
                #expect(recorded == "[127.0.0.1]:\(server.port) \(server.hostKeyPublic)\n")
                // The recorded line is valid for strict checking (and for OpenSSH).
                try await connect(server, .strict(knownHostsFile: path))
                try SSHServerFixture.runTool(["/usr/bin/ssh-keygen", "-F", "[127.0.0.1]:\(server.port)", "-f", path])
                // Known now: no second line.
                try await connect(server, .trustOnFirstUse(knownHostsFile: path))
                #expect(try String(contentsOfFile: path, encoding: .utf8) == recorded)
                // A different key for a known host is a mismatch, and nothing is recorded.
                let changed = try server.writeKnownHosts(name: "changed", matching: false)
                let before = try String(contentsOfFile: changed, encoding: .utf8)
                let error = await #expect(throws: BackupError.self) { try await connect(server, .trustOnFirstUse(knownHostsFile: changed)) }
                #expect(error?.code == .hostKeyMismatch)
                #expect(try String(contentsOfFile: changed, encoding: .utf8) == before)
            }
        }

        @Test func aKnownKeyTypeIsPreferredInNegotiation() async throws {
            try await SSHServerFixture.with(.init(ecdsaHostKey: true)) { server in
                // The server has Ed25519 and ECDSA keys; each known_hosts file knows one of them.
                for key in [server.hostKeyPublic, server.ecdsaHostKeyPublic] {
                    let path = server.directory + "/known_\(key.prefix(5))"
                    try "[127.0.0.1]:\(server.port) \(key)\n".write(toFile: path, atomically: true, encoding: .utf8)
                    try await connect(server, .strict(knownHostsFile: path))
                }
            }
        }

        @Test func acceptAnyUnsafeAcceptsAndWarns() async throws {
            try await SSHServerFixture.with { server in
                let (logger, store) = CapturingLogHandler.logger()
                let session = try await transport.connect(
                    to: server.target(policy: .acceptAnyUnsafe), credentials: server.keyCredentials, logger: logger)
                await session.close()
                #expect(store.all.contains { $0.hasPrefix("warning") && $0.contains(server.hostKeyFingerprint) })
            }
        }
    }
}
