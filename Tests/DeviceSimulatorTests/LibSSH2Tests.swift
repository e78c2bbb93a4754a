import BackupModels
import CLibSSH2
@testable import DeviceSimulator
import Foundation
import Glibc
import Testing

/// The simulator as libssh2 1.10 (the library's transport) sees it: a minimal blocking libssh2 client.
@Suite("libssh2 against the simulator", .serialized)
struct LibSSH2Tests {
    @Test("exec of a 3 MB file: aes-ctr negotiated, every byte arrives past libssh2's 2 MiB window, exit status 0")
    func largeExec() async throws {
        let device = SimulatedDevice(
            id: "h1", hostname: "h1", vendor: .linux, username: "backup", password: "pw", configSize: 3_000_000)
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let port = try #require(simulator.port(of: "h1"))
            let result = try await LibSSH2Client.run(port: port, user: "backup", password: "pw") { client in
                try client.exec("cat /etc/hosts")
            }
            #expect(result.cipher == "aes128-ctr" || result.cipher == "aes256-ctr")
            #expect(result.mac == "hmac-sha2-256")
            #expect(result.kex.hasPrefix("curve25519-sha256"))
            #expect(result.hostKey == "ssh-ed25519")
            #expect(result.value.status == 0)
            #expect(result.value.output.count == device.expectedConfig.utf8.count)
            #expect(result.value.output == Array(device.expectedConfig.utf8))
        }
    }

    @Test("PTY shell: banner, prompt, enable, paging off, the configuration, logout")
    func shell() async throws {
        let device = SimulatedDevice(
            id: "r1", hostname: "r1", vendor: .ciscoIOS, username: "backup", password: "pw", enableSecret: "en",
            configSize: 100_000)
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let port = try #require(simulator.port(of: "r1"))
            let result = try await LibSSH2Client.run(port: port, user: "backup", password: "pw") { client in
                try client.shell { channel in
                    var transcript = try channel.readUntil(suffix: "r1>")
                    for (line, prompt) in [
                        ("terminal length 0\n", "r1>"), ("enable\n", "Password: "), ("en\n", "r1#"),
                        ("show running-config\n", "\r\nr1#"),
                    ] {
                        try channel.write(line)
                        transcript += try channel.readUntil(suffix: prompt)
                    }
                    try channel.write("exit\n")
                    transcript += try channel.readToEnd()
                    return transcript
                }
            }
            let lines = result.value.plainLines
            let start = try #require(lines.firstIndex(of: "r1#show running-config"))
            let end = try #require(lines.lastIndex(of: "end"))
            let config = OpenSSHTests.dropIOSVolatile(Array(lines[(start + 1)...end]))
            #expect(trimmingBlankEdges(config).joined(separator: "\n") + "\n" == device.expectedConfig)
        }
    }
}

/// A blocking libssh2 session on a thread of its own.
final class LibSSH2Client {
    struct Result<Value: Sendable>: Sendable {
        var value: Value
        var kex: String
        var hostKey: String
        var cipher: String
        var mac: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static let initialized: Bool = libssh2_init(0) == 0

    private let socketFD: Int32
    private let session: OpaquePointer

    private init(port: Int) throws {
        guard Self.initialized else { throw Failure(description: "libssh2_init failed") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0, let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            close(fd)
            throw Failure(description: "connect to port \(port) failed")
        }
        self.socketFD = fd
        self.session = session
        libssh2_session_set_blocking(session, 1)
        libssh2_session_set_timeout(session, 20_000)
    }

    deinit {
        libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
        libssh2_session_free(session)
        close(socketFD)
    }

    private func check(_ code: Int32, _ what: String) throws {
        guard code == 0 else {
            var message: UnsafeMutablePointer<CChar>?
            var length: Int32 = 0
            libssh2_session_last_error(session, &message, &length, 0)
            throw Failure(description: "\(what): \(code) \(message.map { String(cString: $0) } ?? "")")
        }
    }

    private func method(_ type: Int32) -> String {
        libssh2_session_methods(session, type).map { String(cString: $0) } ?? ""
    }

    /// Connects, logs in, runs `body`, reports the negotiated algorithms.
    static func run<Value: Sendable>(
        port: Int, user: String, password: String, _ body: @escaping @Sendable (LibSSH2Client) throws -> Value
    ) async throws -> Result<Value> {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let client = try LibSSH2Client(port: port)
                    try client.check(libssh2_session_handshake(client.session, client.socketFD), "handshake")
                    try client.check(
                        libssh2_userauth_password_ex(
                            client.session, user, UInt32(user.utf8.count), password, UInt32(password.utf8.count), nil),
                        "password authentication")
                    let value = try body(client)
                    continuation.resume(returning: Result(
                        value: value, kex: client.method(LIBSSH2_METHOD_KEX), hostKey: client.method(LIBSSH2_METHOD_HOSTKEY),
                        cipher: client.method(LIBSSH2_METHOD_CRYPT_SC), mac: client.method(LIBSSH2_METHOD_MAC_SC)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    final class Channel {
        let raw: OpaquePointer
        let client: LibSSH2Client

        init(_ client: LibSSH2Client) throws {
            guard let raw = libssh2_channel_open_ex(
                client.session, "session", 7, 2 * 1024 * 1024, 32_768, nil, 0)
            else { throw Failure(description: "channel open failed") }
            self.raw = raw
            self.client = client
        }

        deinit {
            libssh2_channel_close(raw)
            libssh2_channel_wait_closed(raw)
            libssh2_channel_free(raw)
        }

        func write(_ text: String) throws {
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { libssh2_channel_write_ex(raw, 0, $0.baseAddress, $0.count) }
                }
                guard written > 0 else { throw Failure(description: "write failed: \(written)") }
                bytes = bytes.dropFirst(written)
            }
        }

        /// Reads what is there (blocking for at least one byte); empty at end of file.
        func read() throws -> [UInt8] {
            var buffer = [CChar](repeating: 0, count: 32_768)
            let count = libssh2_channel_read_ex(raw, 0, &buffer, buffer.count)
            guard count >= 0 else { throw Failure(description: "read failed: \(count)") }
            return buffer.prefix(count).map { UInt8(bitPattern: $0) }
        }

        func readUntil(suffix: String) throws -> String {
            var bytes: [UInt8] = []
            while !bytes.reversed().starts(with: suffix.utf8.reversed()) {
                let chunk = try read()
                guard !chunk.isEmpty else { throw Failure(description: "end of file before '\(suffix)'") }
                bytes += chunk
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        func readToEnd() throws -> String {
            var bytes: [UInt8] = []
            while libssh2_channel_eof(raw) == 0 {
                bytes += try read()
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Runs one command on an exec channel.
    func exec(_ command: String) throws -> (output: [UInt8], status: Int32) {
        let channel = try Channel(self)
        try check(libssh2_channel_process_startup(channel.raw, "exec", 4, command, UInt32(command.utf8.count)), "exec")
        var output: [UInt8] = []
        while true {
            let chunk = try channel.read()
            if chunk.isEmpty { break }
            output += chunk
        }
        libssh2_channel_close(channel.raw)
        libssh2_channel_wait_closed(channel.raw)
        return (output, libssh2_channel_get_exit_status(channel.raw))
    }

    /// Opens a PTY shell and hands its channel to `body`.
    func shell<Value>(_ body: (Channel) throws -> Value) throws -> Value {
        let channel = try Channel(self)
        try check(
            libssh2_channel_request_pty_ex(channel.raw, "vanilla", 7, nil, 0, 80, 24, 0, 0), "pty-req")
        try check(libssh2_channel_process_startup(channel.raw, "shell", 5, nil, 0), "shell")
        return try body(channel)
    }
}
