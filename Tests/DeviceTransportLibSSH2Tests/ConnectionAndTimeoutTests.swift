import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LibSSH2Tests {
    @Suite("Connection errors, timeouts, keepalives, algorithms", .enabled(if: runningAsRoot, "starts sshd with its own PAM service: needs root"))
    struct ConnectionAndTimeoutTests {
        @Test func aClosedPortIsConnectionRefused() async throws {
            let port = try SSHServerFixture.freePort()  // bound, then closed again: nobody listens
            let error = await #expect(throws: BackupError.self) {
                _ = try await transport.connect(
                    to: ConnectionTarget(host: "127.0.0.1", port: port, hostKeyPolicy: .acceptAnyUnsafe),
                    credentials: Credentials(username: "root", password: "x"), logger: quietLogger)
            }
            #expect(error?.code == .connectionRefused)
            #expect(error?.isRetryable == true)
        }

        @Test func aListenerThatNeverSpeaksIsConnectionTimeout() async throws {
            // Accepts (the kernel completes the TCP handshake) but never sends an SSH banner.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            #expect(ok)
            let port = Int(UInt16(bigEndian: address.sin_port))
            let timeouts = TransportTimeouts(connect: .milliseconds(700), authentication: .seconds(5), idleRead: .seconds(5))
            let start = ContinuousClock.now
            let error = await #expect(throws: BackupError.self) {
                _ = try await transport.connect(
                    to: ConnectionTarget(host: "127.0.0.1", port: port, hostKeyPolicy: .acceptAnyUnsafe, timeouts: timeouts),
                    credentials: Credentials(username: "root", password: "x"), logger: quietLogger)
            }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .connectionTimeout)
            #expect(elapsed >= .milliseconds(700))
            #expect(elapsed < .milliseconds(1700))
            #expect(ProcessProbes.socketsConnected(toPort: port) == 0)
        }

        @Test func theSessionTimeLimitIsDeviceTimeout() async throws {
            try await SSHServerFixture.with { server in
                let timeouts = TransportTimeouts(connect: .seconds(20), authentication: .seconds(20), idleRead: .seconds(30), session: .seconds(2))
                let session = try await transport.connect(
                    to: server.target(timeouts: timeouts), credentials: server.keyCredentials, logger: quietLogger)
                let start = ContinuousClock.now
                let error = await #expect(throws: BackupError.self) { _ = try await session.execute("sleep 10", timeout: nil) }
                #expect(error?.code == .deviceTimeout)
                #expect(ContinuousClock.now - start < .seconds(5))
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                await session.close()
            }
        }

        @Test func noOutputWithinTheIdleTimeoutIsCommandTimeout() async throws {
            try await SSHServerFixture.with { server in
                let timeouts = TransportTimeouts(connect: .seconds(20), authentication: .seconds(20), idleRead: .milliseconds(500))
                let session = try await transport.connect(
                    to: server.target(timeouts: timeouts), credentials: server.keyCredentials, logger: quietLogger)
                let idle = await #expect(throws: BackupError.self) { _ = try await session.execute("sleep 10", timeout: nil) }
                #expect(idle?.code == .commandTimeout)
                await session.close()

                // A command that keeps talking is bounded by the command timeout instead.
                let busy = try await transport.connect(to: server.target(timeouts: timeouts), credentials: server.keyCredentials, logger: quietLogger)
                let start = ContinuousClock.now
                let overall = await #expect(throws: BackupError.self) {
                    _ = try await busy.execute("while true; do echo tick; sleep 0.1; done", timeout: .seconds(1))
                }
                #expect(overall?.code == .commandTimeout)
                #expect(ContinuousClock.now - start < .seconds(4))
                await busy.close()
            }
        }

        @Test func anIdleShellReadTimesOutAndTheSessionStaysUsable() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(
                    to: server.target(port: server.cliPort), credentials: server.keyCredentials, logger: quietLogger)
                let shell = try await session.openShell(ShellOptions())
                var text = ""
                while !text.hasSuffix(SSHServerFixture.prompt) {
                    text += String(decoding: try await shell.read(idleTimeout: .seconds(10)), as: UTF8.self)
                }
                let error = await #expect(throws: BackupError.self) { _ = try await shell.read(idleTimeout: .milliseconds(300)) }
                #expect(error?.code == .commandTimeout)
                try await shell.write("bogus\n")
                var reply = ""
                while !reply.hasSuffix(SSHServerFixture.prompt) {
                    reply += String(decoding: try await shell.read(idleTimeout: .seconds(10)), as: UTF8.self)
                }
                #expect(reply == "bogus\r\n% Invalid input detected at marker.\r\nrouter1#")
                await shell.close()
                await session.close()
            }
        }

        @Test func keepalivesAreSentWhileWaiting() async throws {
            try await SSHServerFixture.with(.init(logLevel: "DEBUG1")) { server in
                let session = try await transport.connect(
                    to: server.target(keepalive: .seconds(2)), credentials: server.keyCredentials, logger: quietLogger)
                let output = try await session.execute("sleep 3; echo done", timeout: .seconds(30))
                #expect(output.stdoutText == "done\n")
                await session.close()
                #expect(server.log().contains("keepalive@libssh2.org"))
            }
        }

        @Test func algorithmPreferencesAreNegotiated() async throws {
            try await SSHServerFixture.with { server in
                let (logger, store) = CapturingLogHandler.logger()
                let legacy = AlgorithmPreferences(
                    keyExchange: ["diffie-hellman-group14-sha256"], hostKey: ["ssh-ed25519"], ciphers: ["aes256-ctr"],
                    macs: ["hmac-sha2-256"])
                let session = try await transport.connect(
                    to: server.target(algorithms: legacy), credentials: server.keyCredentials, logger: logger)
                await session.close()
                let handshake = store.all.first { $0.contains("SSH handshake done") } ?? ""
                #expect(handshake.contains("ssh.kex=diffie-hellman-group14-sha256"))
                #expect(handshake.contains("ssh.cipher=aes256-ctr"))
                #expect(handshake.contains("ssh.mac=hmac-sha2-256"))

                let unsupported = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(algorithms: AlgorithmPreferences(ciphers: ["no-such-cipher"])),
                        credentials: server.keyCredentials, logger: quietLogger)
                }
                #expect(unsupported?.code == .invalidRequest)
                #expect(unsupported?.hint?.contains("aes128-ctr") == true)

                // OpenSSH 9 no longer offers diffie-hellman-group14-sha1.
                let noCommon = await #expect(throws: BackupError.self) {
                    _ = try await transport.connect(
                        to: server.target(algorithms: AlgorithmPreferences(keyExchange: ["diffie-hellman-group14-sha1"])),
                        credentials: server.keyCredentials, logger: quietLogger)
                }
                #expect(noCommon?.code == .sshNegotiationFailed)
                #expect(noCommon?.isRetryable == false)
            }
        }
    }
}
