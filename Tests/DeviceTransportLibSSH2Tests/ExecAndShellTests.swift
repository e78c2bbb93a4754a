import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Testing

let transport = LibSSH2Transport()

extension LibSSH2Tests {
    @Suite("Exec and shell channels against OpenSSH", .enabled(if: runningAsRoot, "starts sshd with its own PAM service: needs root"))
    struct ExecAndShellTests {
        @Test func execReturnsExactStdoutStderrAndExitStatus() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let output = try await session.execute("printf 'hello\\nworld\\n'; printf 'oops' >&2; exit 3", timeout: .seconds(30))
                #expect(output.stdout == Array("hello\nworld\n".utf8))
                #expect(output.stderr == Array("oops".utf8))
                #expect(output.exitStatus == 3)
                // Bytes that are not UTF-8 arrive untouched; a second command runs on the same session.
                let binary = try await session.execute("printf '\\000\\001\\377\\303\\n'", timeout: nil)
                #expect(binary.stdout == [0, 1, 255, 0xC3, 10])
                #expect(binary.exitStatus == 0)
                await session.close()
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
            }
        }

        @Test func tenMegabytesOfOutputArriveExactly() async throws {
            try await SSHServerFixture.with { server in
                let big = patternBytes(count: 10 * 1024 * 1024, seed: 7)
                try Data(big).write(to: URL(fileURLWithPath: server.directory + "/big.bin"))
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let output = try await session.execute("cat \(server.directory)/big.bin", timeout: .seconds(60))
                #expect(output.stdout.count == big.count)
                #expect(firstDifference(output.stdout, big) == nil)
                #expect(output.stderr.isEmpty)
                #expect(output.exitStatus == 0)
                await session.close()
            }
        }

        @Test func heavyStderrAlongsideStdoutDoesNotStall() async throws {
            try await SSHServerFixture.with { server in
                let out = patternBytes(count: 5 * 1024 * 1024, seed: 1)
                let err = patternBytes(count: 6 * 1024 * 1024, seed: 2)
                try Data(out).write(to: URL(fileURLWithPath: server.directory + "/out.bin"))
                try Data(err).write(to: URL(fileURLWithPath: server.directory + "/err.bin"))
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                // Both streams at once, and then stderr alone well beyond the 2 MiB channel window.
                let both = try await session.execute(
                    "cat \(server.directory)/err.bin >&2 & cat \(server.directory)/out.bin; wait", timeout: .seconds(60))
                #expect(firstDifference(both.stdout, out) == nil)
                #expect(firstDifference(both.stderr, err) == nil)
                let onlyStderr = try await session.execute("cat \(server.directory)/err.bin >&2; echo end", timeout: .seconds(60))
                #expect(firstDifference(onlyStderr.stderr, err) == nil)
                #expect(onlyStderr.stdout == Array("end\n".utf8))
                await session.close()
            }
        }

        @Test func ptyShellTranscriptIsExact() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(
                    to: server.target(port: server.cliPort), credentials: server.keyCredentials, logger: quietLogger)
                let shell = try await session.openShell(ShellOptions())
                var transcript: [UInt8] = []
                func readUntilPrompt() async throws {
                    let prompt = Array(SSHServerFixture.prompt.utf8)
                    let start = transcript.count
                    while transcript.count == start || !transcript.ends(with: prompt) {
                        let chunk = try await shell.read(idleTimeout: .seconds(10))
                        if chunk.isEmpty { throw FixtureError("EOF before the prompt") }
                        transcript += chunk
                    }
                }
                try await readUntilPrompt()
                try await shell.write("terminal length 0\n")
                try await readUntilPrompt()
                try await shell.write("show running-config\n")
                try await readUntilPrompt()
                try await shell.write("exit\n")
                while true {
                    let chunk = try await shell.read(idleTimeout: .seconds(10))
                    if chunk.isEmpty { break }
                    transcript += chunk
                }
                // The PTY echoes input and turns "\n" into "\r\n".
                let config = String(decoding: server.runningConfig, as: UTF8.self)
                let expected =
                    "Welcome to router1\n\nrouter1#terminal length 0\nrouter1#show running-config\n\(config)router1#exit\n"
                    .replacingOccurrences(of: "\n", with: "\r\n")
                #expect(transcript.count == expected.utf8.count)
                #expect(firstDifference(transcript, Array(expected.utf8)) == nil)
                await shell.close()
                await shell.close()
                await session.close()
            }
        }

        @Test func shellWithoutPTYAndLargeWrites() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let shell = try await session.openShell(ShellOptions(requestPTY: false))
                // 3 MB of input: more than the server's window, so libssh2 writes it in parts.
                let payload = patternBytes(count: 3 * 1024 * 1024, seed: 3).map { $0 == 0 ? 1 : $0 }
                try Data(payload).write(to: URL(fileURLWithPath: server.directory + "/expected.bin"))
                try await shell.write("head -c \(payload.count) > \(server.directory)/received.bin && cmp -s \(server.directory)/received.bin \(server.directory)/expected.bin && echo SAME-$((6*7))\n")
                try await shell.write(payload)
                var received: [UInt8] = []
                while !String(decoding: received, as: UTF8.self).contains("SAME-42") {
                    let chunk = try await shell.read(idleTimeout: .seconds(20))
                    if chunk.isEmpty { break }
                    received += chunk
                }
                #expect(String(decoding: received, as: UTF8.self) == "SAME-42\n")
                try await shell.write("exit\n")
                #expect(try await shell.read(idleTimeout: .seconds(10)).isEmpty)
                await shell.close()
                await session.close()
            }
        }

        @Test func ipv6Loopback() async throws {
            try await SSHServerFixture.with(.init(ipv6: true)) { server in
                let session = try await transport.connect(
                    to: server.target(host: "::1"), credentials: server.keyCredentials, logger: quietLogger)
                let output = try await session.execute("echo $SSH_CONNECTION", timeout: .seconds(30))
                #expect(output.stdoutText.hasPrefix("::1 "))
                await session.close()
            }
        }

        @Test func outputBeyondTheLimitAndRefusedChannelsAreCommandFailed() async throws {
            try await SSHServerFixture.with(.init(extraConfig: ["MaxSessions 1"])) { server in
                let limited = LibSSH2Transport(configuration: .init(maximumOutputBytes: 100_000))
                let session = try await limited.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let error = await #expect(throws: BackupError.self) {
                    _ = try await session.execute("head -c 1000000 /dev/zero", timeout: nil)
                }
                #expect(error?.code == .commandFailed)
                await session.close()

                // MaxSessions 1: with a shell open, the server refuses a second channel; the session survives.
                let other = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let shell = try await other.openShell(ShellOptions(requestPTY: false))
                let refused = await #expect(throws: BackupError.self) { _ = try await other.execute("true", timeout: nil) }
                #expect(refused?.code == .commandFailed)
                try await shell.write("echo still-here; exit\n")
                var text: [UInt8] = []
                while true {
                    let chunk = try await shell.read(idleTimeout: .seconds(10))
                    if chunk.isEmpty { break }
                    text += chunk
                }
                #expect(String(decoding: text, as: UTF8.self) == "still-here\n")
                await shell.close()
                // sshd frees the session slot only after it has reaped the shell, which can trail our close:
                // the session must survive, and a new channel open once the slot is free.
                var again: String?
                for _ in 0..<100 where again == nil {
                    do {
                        again = try await other.execute("echo again", timeout: nil).stdoutText
                    } catch let error as BackupError where error.code == .commandFailed && error.message.contains("refused to open a channel") {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                #expect(again == "again\n")
                await other.close()
            }
        }

        @Test func aServerThatDiesMidSessionIsConnectionLost() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let error = await #expect(throws: BackupError.self) {
                    // Kills the sshd process serving this connection while output is awaited.
                    _ = try await session.execute("echo partial; kill -9 $PPID; sleep 10", timeout: .seconds(30))
                }
                #expect(error?.code == .connectionLost)
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                let again = await #expect(throws: BackupError.self) { _ = try await session.execute("true", timeout: nil) }
                #expect(again?.code == .connectionLost)
                await session.close()
            }
        }
    }
}

/// Where two byte arrays first differ (`nil` if equal): readable failures for megabyte outputs.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    for index in 0..<min(a.count, b.count) where a[index] != b[index] { return index }
    return a.count == b.count ? nil : min(a.count, b.count)
}

/// Deterministic pseudo-random bytes.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
