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

        /// The host-key algorithm the handshake negotiated, from the transport's debug log.
        func negotiatedHostKey(_ server: SSHServerFixture, _ policy: HostKeyPolicy, algorithms: AlgorithmPreferences = .init())
            async throws -> String?
        {
            let (logger, store) = CapturingLogHandler.logger()
            let session = try await transport.connect(
                to: server.target(policy: policy, algorithms: algorithms), credentials: server.keyCredentials, logger: logger)
            await session.close()
            return store.all.first { $0.contains("SSH handshake done") }
                .flatMap { $0.components(separatedBy: "ssh.hostkey=").last?.split(separator: " ").first.map(String.init) }
        }

        @Test func aKnownKeyTypeIsPreferredInNegotiation() async throws {
            try await SSHServerFixture.with(.init(ecdsaHostKey: true)) { server in
                // The server has Ed25519 and ECDSA keys; each known_hosts file knows one of them, and that
                // one is negotiated (libssh2 alone would pick ECDSA, its first choice, for both).
                for (key, algorithm) in [(server.hostKeyPublic, "ssh-ed25519"), (server.ecdsaHostKeyPublic, "ecdsa-sha2-nistp256")] {
                    let path = server.directory + "/known_\(key.prefix(5))"
                    try "[127.0.0.1]:\(server.port) \(key)\n".write(toFile: path, atomically: true, encoding: .utf8)
                    #expect(try await negotiatedHostKey(server, .strict(knownHostsFile: path)) == algorithm)
                    #expect(try await negotiatedHostKey(server, .trustOnFirstUse(knownHostsFile: path)) == algorithm)
                    #expect(try String(contentsOfFile: path, encoding: .utf8) == "[127.0.0.1]:\(server.port) \(key)\n")
                    // Within a configured preference too: its order decides among the recorded types only.
                    let both = AlgorithmPreferences(hostKey: ["ecdsa-sha2-nistp256", "ssh-ed25519"])
                    #expect(try await negotiatedHostKey(server, .strict(knownHostsFile: path), algorithms: both) == algorithm)
                }
            }
        }

        @Test func aHostKnownByItsEd25519KeyThatNowOffersOnlyECDSAIsAMismatch() async throws {
            try await SSHServerFixture.with { server in
                // First contact: the Ed25519 key is recorded.
                let path = server.directory + "/tofu/known_hosts"
                try await connect(server, .trustOnFirstUse(knownHostsFile: path))
                let recorded = try Data(contentsOf: URL(fileURLWithPath: path))
                let pattern = "[127.0.0.1]:\(server.port)"
                #expect(String(decoding: recorded, as: UTF8.self) == "\(pattern) \(server.hostKeyPublic)\n")

                // The "same" server comes back with only an ECDSA key (a downgrade, or an impostor).
                try await server.restart(.init(ecdsaHostKey: true, ed25519HostKey: false))
                let ecdsaFingerprint = try SSHServerFixture.runTool([
                    "/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f", server.directory + "/hostkey_ecdsa.pub",
                ]).split(separator: " ").first { $0.hasPrefix("SHA256:") }.map(String.init)
                for policy in [HostKeyPolicy.trustOnFirstUse(knownHostsFile: path), .strict(knownHostsFile: path)] {
                    let error = await #expect(throws: BackupError.self) { try await connect(server, policy) }
                    #expect(error?.code == .hostKeyMismatch, "\(policy): \(String(describing: error))")
                    #expect(error?.isRetryable == false)
                    let message = error?.message ?? ""
                    #expect(message.contains(pattern))
                    #expect(message.contains("ssh-ed25519"))
                    #expect(message.contains("ecdsa-sha2-nistp256"))
                    #expect(ecdsaFingerprint != nil && message.contains(ecdsaFingerprint ?? "-"))
                    #expect(error?.hint?.contains("ssh-keygen -R '\(pattern)' -f \(path)") == true)
                    // Nothing recorded: the file is unchanged byte for byte.
                    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == recorded)
                }
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)

                // With the Ed25519 key back, the host is trusted again.
                try await server.restart(.init(ecdsaHostKey: true))
                try await connect(server, .trustOnFirstUse(knownHostsFile: path))
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == recorded)
            }
        }

        @Test func aConfiguredHostKeyAlgorithmCannotBypassTheRecordedType() async throws {
            try await SSHServerFixture.with(.init(ecdsaHostKey: true)) { server in
                // Known by its Ed25519 key; the target insists on ECDSA, which the server also has.
                let path = try server.writeKnownHosts(name: "known_hosts", matching: true)
                let before = try Data(contentsOf: URL(fileURLWithPath: path))
                for policy in [HostKeyPolicy.trustOnFirstUse(knownHostsFile: path), .strict(knownHostsFile: path)] {
                    let error = await #expect(throws: BackupError.self) {
                        _ = try await negotiatedHostKey(server, policy, algorithms: AlgorithmPreferences(hostKey: ["ecdsa-sha2-nistp256"]))
                    }
                    #expect(error?.code == .hostKeyMismatch)
                    #expect(error?.message.contains("ssh-ed25519") == true)
                    #expect(error?.message.contains("ecdsa-sha2-nistp256") == true)
                    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
                }
            }
        }

        @Test func aFailedNegotiationOfAKnownHostIsStillReportedAsSuch() async throws {
            try await SSHServerFixture.with(.init(extraConfig: ["Ciphers aes256-ctr"])) { server in
                // Known (so the host-key algorithms are restricted) but no common cipher: the restriction is
                // not to blame, and the error says what is.
                let path = try server.writeKnownHosts(name: "known_hosts", matching: true)
                let error = await #expect(throws: BackupError.self) {
                    _ = try await negotiatedHostKey(server, .strict(knownHostsFile: path), algorithms: AlgorithmPreferences(ciphers: ["aes128-ctr"]))
                }
                #expect(error?.code == .sshNegotiationFailed)
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
