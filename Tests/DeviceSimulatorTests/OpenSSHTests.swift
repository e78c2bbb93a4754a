import BackupModels
@testable import DeviceSimulator
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The simulator as a real SSH client sees it: OpenSSH with the algorithms libssh2 1.10 uses.
@Suite("OpenSSH against the simulator", .serialized, .enabled(if: OpenSSHClient.isAvailable, "needs /usr/bin/ssh"))
struct OpenSSHTests {
    static func ios(_ id: String = "r1", size: Int = 20_000, faults: Set<DeviceFault> = []) -> SimulatedDevice {
        SimulatedDevice(
            id: DeviceID(id), hostname: id, vendor: .ciscoIOS, username: "backup", password: "pw-\(id)",
            enableSecret: "en-\(id)", configSize: size, faults: faults)
    }

    static func linux(_ id: String = "h1", size: Int = 50_000, faults: Set<DeviceFault> = []) -> SimulatedDevice {
        SimulatedDevice(
            id: DeviceID(id), hostname: id, vendor: .linux, username: "backup", password: "pw", configSize: size,
            faults: faults)
    }

    /// Sends `line` and waits for the output to grow and end with `prompt`.
    static func command(_ client: OpenSSHClient, _ line: String, until prompt: String) async -> Bool {
        let before = client.bytes.count
        client.send(line)
        return await client.waitFor { text in
            let new = text.utf8.dropFirst(before)
            return !new.isEmpty && String(new)!.hasSuffix(prompt)
        }
    }

    /// IOS's volatile lines (RANCID ios.pm / Oxidized ios.rb filter the same ones).
    static func dropIOSVolatile(_ lines: [String]) -> [String] {
        lines.filter { line in
            !(line == "Building configuration..." || line.hasPrefix("Current configuration : ")
                || line.hasPrefix("! Last configuration change at ") || line.hasPrefix("! NVRAM config last updated at ")
                || line.hasPrefix("ntp clock-period "))
        }
    }

    @Test("aes128-ctr + hmac-sha2-256 + curve25519: banner, prompt, enable, paging off, the whole configuration")
    func shellBackup() async throws {
        let device = Self.ios()
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let port = try #require(simulator.port(of: "r1"))
            let client = try OpenSSHClient(port: port, user: "backup", password: "pw-r1")
            #expect(await client.waitForSuffix("r1>"))
            #expect(client.text.contains("* r1 - authorised access only"))
            #expect(await Self.command(client, "terminal length 0\n", until: "r1>"))
            #expect(await Self.command(client, "enable\n", until: "Password: "))
            #expect(await Self.command(client, "en-r1\n", until: "r1#"))
            let start = client.text.utf8.count
            #expect(await Self.command(client, "show running-config\n", until: "\r\nr1#"))
            let output = String(client.text.utf8.dropFirst(start))!
            var lines = output.plainLines
            let echo = lines.removeFirst()
            let prompt = lines.removeLast()
            let empty = lines.removeLast()
            #expect(echo == "show running-config")
            #expect(prompt == "r1#")
            #expect(empty == "", "IOS leaves an empty line after 'end'")
            #expect(trimmingBlankEdges(Self.dropIOSVolatile(lines)).joined(separator: "\n") + "\n" == device.expectedConfig)
            client.send("exit\n")
            #expect(await client.waitForExit() == 0)
        }
    }

    @Test("the pager appears when paging is not disabled; answering it yields the whole configuration")
    func pager() async throws {
        let device = Self.ios(size: 6000)
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let client = try OpenSSHClient(port: try #require(simulator.port(of: "r1")), user: "backup", password: "pw-r1")
            #expect(await client.waitForSuffix("r1>"))
            #expect(await Self.command(client, "enable\n", until: "Password: "))
            #expect(await Self.command(client, "en-r1\n", until: "r1#"))
            let start = client.text.utf8.count
            client.send("show running-config\n")
            var pages = 0
            func settled(_ text: String) -> Bool {
                let new = String(text.utf8.dropFirst(start))!
                return new.hasSuffix(" --More-- ") || new.hasSuffix("\r\nr1#")
            }
            while await client.waitFor(settled), client.text.hasSuffix(" --More-- "), pages < 200 {
                pages += 1
                let before = client.bytes.count
                client.send(" ")
                await client.waitFor { $0.utf8.count > before }
            }
            #expect(pages > 3)
            let output = try VendorEmulationTests.removePagerResidue(
                String(client.text.utf8.dropFirst(start))!, vendor: .ciscoIOS)
            var lines = output.plainLines
            try #require(lines.count > 3)
            lines.removeFirst()
            lines.removeLast(2)
            #expect(trimmingBlankEdges(Self.dropIOSVolatile(lines)).joined(separator: "\n") + "\n" == device.expectedConfig)
            client.terminate()
        }
    }

    @Test("aes256-ctr on an exec channel: the file, exit status 0")
    func execAES256() async throws {
        let device = Self.linux()
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "h1")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts", cipher: "aes256-ctr")
            #expect(await client.waitForExit() == 0)
            #expect(client.text == device.expectedConfig)
            #expect(device.expectedConfig.utf8.count >= 50_000)
        }
    }

    @Test("auth failure: the password is refused")
    func authFailure() async throws {
        try await DeviceSimulator.withRunning(.init(devices: [Self.ios(faults: [.authFailure])])) { simulator in
            let client = try OpenSSHClient(port: try #require(simulator.port(of: "r1")), user: "backup", password: "pw-r1")
            #expect(await client.waitForExit() == 255)
            #expect(client.errorText.contains("Permission denied"))
            #expect(simulator.statistics.loginsFailed >= 1)
            #expect(simulator.statistics.loginsSucceeded == 0)
        }
        // A wrong password is refused as well, without the fault.
        try await DeviceSimulator.withRunning(.init(devices: [Self.ios()])) { simulator in
            let client = try OpenSSHClient(port: try #require(simulator.port(of: "r1")), user: "backup", password: "wrong")
            #expect(await client.waitForExit() == 255)
            #expect(client.errorText.contains("Permission denied"))
        }
    }

    @Test("accept-then-silence: TCP is accepted, no SSH banner ever comes")
    func acceptThenSilence() async throws {
        try await DeviceSimulator.withRunning(.init(devices: [Self.ios(faults: [.acceptThenSilence])])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "r1")), user: "backup", password: "pw-r1", connectTimeout: 2)
            #expect(await client.waitForExit() == 255)
            #expect(client.errorText.contains("banner exchange"), "\(client.errorText)")
            #expect(simulator.statistics.connectionsAccepted == 1)
        }
    }

    @Test("disconnect mid-output: the connection drops after the given bytes")
    func disconnectMidOutput() async throws {
        let device = Self.linux(faults: [.disconnectMidOutput(afterBytes: 5000)])
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "h1")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts")
            #expect(await client.waitForExit() == 255)
            #expect(client.bytes.count <= 5000)
            #expect(device.expectedConfig.utf8.starts(with: client.bytes))
        }
    }

    @Test("hang mid-output: output stops, the connection stays open, other devices still answer")
    func hangMidOutput() async throws {
        let hanging = Self.linux("h1", faults: [.hangMidOutput(afterBytes: 3000)])
        let healthy = Self.linux("h2", size: 2000)
        try await DeviceSimulator.withRunning(.init(devices: [hanging, healthy])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "h1")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts")
            #expect(await client.waitFor { $0.utf8.count >= 3000 })
            #expect(client.bytes.count == 3000)
            #expect(client.isRunning, "the device hangs; the client is still waiting")
            let other = try OpenSSHClient(
                port: try #require(simulator.port(of: "h2")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts")
            let status = await other.waitForExit()
            #expect(status == 0, "\(other.text.count) bytes, stderr: \(other.errorText)")
            #expect(other.text == healthy.expectedConfig)
            client.terminate()
        }
    }

    @Test("garbage bytes and slow drip: invalid UTF-8 arrives, trickled, and the session ends normally")
    func garbageAndDrip() async throws {
        let device = Self.linux(size: 3000, faults: [.garbageBytes, .slowDrip(bytesPerChunk: 256, interval: .milliseconds(1))])
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "h1")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts")
            #expect(await client.waitForExit() == 0)
            #expect(String(validating: client.bytes, as: UTF8.self) == nil, "the output is not valid UTF-8")
            #expect(client.bytes.count > device.expectedConfig.utf8.count)
        }
    }

    @Test("endless output keeps coming (written as the client reads) until the client goes away")
    func endless() async throws {
        let device = Self.linux(size: 10_000, faults: [.endlessOutput])
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let client = try OpenSSHClient(
                port: try #require(simulator.port(of: "h1")), user: "backup", password: "pw", tty: false,
                command: "cat /etc/hosts")
            #expect(await client.waitFor { $0.utf8.count > 3_000_000 })
            #expect(client.isRunning)
            client.terminate()
            #expect(await Self.eventually { simulator.statistics.connectionsOpen == 0 })
        }
    }

    @Test("1,000 devices in one process accept connections; the shared port selects devices by login")
    func thousandDevices() async throws {
        let devices = (1...1000).map { i in
            SimulatedDevice(
                id: DeviceID("d\(i)"), hostname: "d\(i)", vendor: .ciscoIOS, username: "backup", password: "pw",
                startsPrivileged: true, configSize: 2000)
        }
        try await DeviceSimulator.withRunning(.init(devices: devices, listenMode: .both)) { simulator in
            #expect(simulator.ports.count == 1000)
            #expect(Set(simulator.ports.values).count == 1000)
            let shared = try #require(simulator.sharedPort)
            // Every device's port answers with an SSH version line.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let ports = devices.map { simulator.port(of: $0.id)! }
            var banners = 0
            for batch in stride(from: 0, to: ports.count, by: 100) {
                banners += try await withThrowingTaskGroup(of: Bool.self) { tasks in
                    for port in ports[batch..<min(batch + 100, ports.count)] {
                        tasks.addTask { try await Self.versionLine(port: port, group: group).hasPrefix("SSH-2.0-") }
                    }
                    return try await tasks.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
            }
            try await group.shutdownGracefully()
            #expect(banners == 1000)

            // Full logins: by the device's own port and through the shared port.
            for (port, user, prompt) in [
                (simulator.port(of: "d999")!, "backup", "d999#"), (shared, "d500:backup", "d500#"),
                (shared, "d1:backup", "d1#"),
            ] {
                let client = try OpenSSHClient(port: port, user: user, password: "pw")
                #expect(await client.waitForSuffix(prompt), "\(user) on \(port)")
                client.send("exit\n")
                #expect(await client.waitForExit() == 0)
            }
            // A bare user name that several devices share selects none.
            let ambiguous = try OpenSSHClient(port: shared, user: "backup", password: "pw")
            #expect(await ambiguous.waitForExit() == 255)

            // The process stays healthy: every connection was counted and closed again.
            #expect(await Self.eventually { simulator.statistics.connectionsOpen == 0 })
            #expect(simulator.statistics.connectionsAccepted == 1004)
            #expect(simulator.statistics.loginsSucceeded == 3)
        }
    }

    static func versionLine(port: Int, group: MultiThreadedEventLoopGroup) async throws -> String {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, _ in
            var text = ""
            for try await buffer in inbound {
                text += String(buffer: buffer)
                if text.contains("\n") { break }
            }
            return text
        }
    }

    static func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
