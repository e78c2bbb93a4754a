import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Testing

extension LibSSH2Tests {
    @Suite("Authentication", .enabled(if: runningAsRoot, "starts sshd with its own PAM service: needs root"))
    struct AuthenticationTests {
        /// Connects, runs `id -un`, closes; returns the method libssh2 logged as successful.
        func login(_ server: SSHServerFixture, _ credentials: Credentials) async throws -> String? {
            let (logger, store) = CapturingLogHandler.logger()
            let session = try await transport.connect(to: server.target(), credentials: credentials, logger: logger)
            let output = try await session.execute("id -un", timeout: .seconds(30))
            #expect(output.stdoutText == "root\n")
            await session.close()
            return store.all.first { $0.contains("SSH authentication succeeded") }
                .flatMap { $0.components(separatedBy: "ssh.auth.method=").last?.split(separator: " ").first.map(String.init) }
        }

        @Test func passwordLogin() async throws {
            try await SSHServerFixture.with { server in
                let method = try await login(server, server.passwordCredentials)
                #expect(method == "password")
            }
        }

        @Test func keyboardInteractiveLogin() async throws {
            try await SSHServerFixture.with(.init(extraConfig: ["PasswordAuthentication no"])) { server in
                let method = try await login(server, server.passwordCredentials)
                #expect(method == "keyboard-interactive")
            }
        }

        @Test func publicKeyLogins() async throws {
            try await SSHServerFixture.with(.init(rsaUserKey: true)) { server in
                let user = SSHServerFixture.username
                // Ed25519 from memory and from a file.
                #expect(try await login(server, server.keyCredentials) == "publickey")
                #expect(try await login(server, Credentials(username: user, privateKey: .file(path: server.ed25519KeyPath))) == "publickey")
                // An encrypted key with its passphrase, from a file and from memory.
                let encrypted = try String(contentsOfFile: server.encryptedKeyPath, encoding: .utf8)
                let passphrase = Secret(SSHServerFixture.keyPassphrase)
                #expect(
                    try await login(server, Credentials(username: user, privateKey: .file(path: server.encryptedKeyPath), passphrase: passphrase))
                        == "publickey")
                #expect(
                    try await login(server, Credentials(username: user, privateKey: .inMemory(Secret(encrypted)), passphrase: passphrase))
                        == "publickey")
                // ECDSA, and RSA in PEM format (libssh2 1.10 signs it with ssh-rsa, which this sshd accepts).
                #expect(try await login(server, Credentials(username: user, privateKey: .file(path: server.ecdsaKeyPath))) == "publickey")
                #expect(try await login(server, Credentials(username: user, privateKey: .file(path: server.rsaKeyPath))) == "publickey")
                // A key that fails, then the password: the next method is tried.
                let wrongKeyThenPassword = Credentials(
                    username: user, password: Secret(SSHServerFixture.password), privateKey: .file(path: server.encryptedKeyPath),
                    passphrase: "not-the-passphrase")
                #expect(try await login(server, wrongKeyThenPassword) == "password")
            }
        }

        @Test func wrongPasswordIsAuthFailedListingTheOfferedMethods() async throws {
            try await SSHServerFixture.with { server in
                let wrong = "Wrong-Password-123"
                let (logger, store) = CapturingLogHandler.logger()
                let error = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(), credentials: Credentials(username: "root", password: Secret(wrong)), logger: logger)
                }
                #expect(error?.code == .authFailed)
                #expect(error?.isRetryable == false)
                let message = error?.description ?? ""
                #expect(message.contains("The server offered: publickey,password,keyboard-interactive"))
                #expect(message.contains("tried password, keyboard-interactive"))
                #expect(!message.contains(wrong))
                #expect(!store.all.joined().contains(wrong))
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
            }
        }

        @Test func aDisconnectRightAfterARejectedLoginIsAuthFailed() async throws {
            // OpenSSH answers the attempt that reaches MaxAuthTries by disconnecting ("Too many authentication
            // failures"), not with a failure message; with MaxAuthTries 1 that is the very first attempt.
            // Reported as CONNECTION_LOST it would be retried, repeating the wrong password until the account
            // locks; it must be AUTH_FAILED (never retried).
            let user = SSHServerFixture.username
            let wrong = Credentials(username: user, password: Secret("Wrong-Password-123"))
            // libssh2 reports the disconnect as such for a password; for keyboard-interactive and public keys it
            // reports a rejection itself.
            let cases: [(config: [String], credentials: Credentials, method: String, disconnectSeen: Bool)] = [
                (["MaxAuthTries 1"], wrong, "password", true),
                (["MaxAuthTries 1", "PasswordAuthentication no"], wrong, "keyboard-interactive", false),
            ]
            for (config, credentials, method, disconnectSeen) in cases {
                try await SSHServerFixture.with(.init(extraConfig: config)) { server in
                    let error = await #expect(throws: BackupError.self) {
                        _ = try await transport.connect(to: server.target(), credentials: credentials, logger: quietLogger)
                    }
                    #expect(error?.code == .authFailed, "\(method): \(String(describing: error))")
                    #expect(error?.isRetryable == false)
                    #expect(error?.message.contains("tried \(method)") == true)
                    #expect(error?.message.contains("closing the connection") == disconnectSeen, "\(method): \(String(describing: error))")
                    #expect(error?.description.contains("Wrong-Password-123") == false)
                    #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                }
            }
            // A public key the server does not know, likewise.
            try await SSHServerFixture.with(.init(extraConfig: ["MaxAuthTries 1"])) { server in
                let error = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(), credentials: Credentials(username: user, privateKey: .file(path: server.directory + "/otherkey")),
                        logger: quietLogger)
                }
                #expect(error?.code == .authFailed, "\(String(describing: error))")
                #expect(error?.isRetryable == false)
            }
        }

        @Test func wrongPassphraseIsAuthFailed() async throws {
            try await SSHServerFixture.with { server in
                let error = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(),
                        credentials: Credentials(username: "root", privateKey: .file(path: server.encryptedKeyPath), passphrase: "nope"),
                        logger: quietLogger)
                }
                #expect(error?.code == .authFailed)
                #expect(error?.message.contains("could not be decoded") == true)
                let missing = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(), credentials: Credentials(username: "root", privateKey: .file(path: "/nonexistent/key")),
                        logger: quietLogger)
                }
                #expect(missing?.code == .authFailed)
            }
        }

        @Test func noUsableMethodIsAuthFailed() async throws {
            try await SSHServerFixture.with(.init(extraConfig: ["PasswordAuthentication no", "KbdInteractiveAuthentication no"])) { server in
                let error = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(to: server.target(), credentials: server.passwordCredentials, logger: quietLogger)
                }
                #expect(error?.code == .authFailed)
                #expect(error?.message.contains("the server offered publickey") == true)
            }
        }

        @Test func slowAuthenticationTimesOut() async throws {
            try await SSHServerFixture.with { server in
                let start = ContinuousClock.now
                let error = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(timeouts: TransportTimeouts(connect: .seconds(20), authentication: .seconds(1), idleRead: .seconds(30))),
                        credentials: Credentials(username: "root", password: Secret(SSHServerFixture.slowPassword)), logger: quietLogger)
                }
                let elapsed = ContinuousClock.now - start
                #expect(error?.code == .authFailed)
                #expect(error?.message.contains("timed out") == true)
                #expect(elapsed >= .seconds(1))
                #expect(elapsed < .seconds(4))
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
            }
        }

        @Test func noSecretReachesLogsOrErrors() async throws {
            try await SSHServerFixture.with(.init(extraConfig: ["PasswordAuthentication no"])) { server in
                let (logger, store) = CapturingLogHandler.logger()
                let key = try String(contentsOfFile: server.encryptedKeyPath, encoding: .utf8)
                let secrets = [SSHServerFixture.password, SSHServerFixture.keyPassphrase, key, "Wrong-Secret-Value-99"]
                // Keyboard-interactive with the right password, a failing one, a key with passphrase.
                let ok = try await transport.connect(to: server.target(), credentials: server.passwordCredentials, logger: logger)
                _ = try await ok.execute("true", timeout: nil)
                await ok.close()
                var errors: [String] = []
                do {
                    _ = try await transport.connect(
                        to: server.target(), credentials: Credentials(username: "root", password: "Wrong-Secret-Value-99"), logger: logger)
                } catch { errors.append(String(describing: error)) }
                let withKey = try await transport.connect(
                    to: server.target(),
                    credentials: Credentials(
                        username: "root", privateKey: .inMemory(Secret(key)), passphrase: Secret(SSHServerFixture.keyPassphrase)),
                    logger: logger)
                await withKey.close()
                let text = store.all.joined(separator: "\n") + errors.joined(separator: "\n")
                #expect(store.all.count > 5)
                for secret in secrets {
                    #expect(!text.contains(secret))
                }
                #expect(!text.contains("OPENSSH PRIVATE KEY"))
            }
        }
    }
}
