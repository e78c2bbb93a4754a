import BackupModels
@testable import DeviceSimulator
import Testing

/// Faults as the CLI engine produces them (the SSH-level ones are in OpenSSHTests).
@Suite("Faults")
struct FaultTests {
    static func ios(_ faults: Set<DeviceFault>, size: Int = 3000) -> SimulatedDevice {
        VendorEmulationTests.device("cisco_ios", size: size, faults: faults)
    }

    static func loggedIn(_ device: SimulatedDevice, paging: Bool = false) -> EngineHarness {
        let h = EngineHarness(device)
        h.start()
        h.send("enable\n")
        h.send("s3cret\n")
        if !paging { h.send("terminal length 0\n") }
        return h
    }

    @Test("truncated config: cut before the end marker, then the prompt", arguments: VendorEmulation.builtIn.map(\.name))
    func truncated(vendor: String) {
        let device = VendorEmulationTests.device(vendor, faults: [.truncatedConfig])
        let h = VendorEmulationTests.harness(device)
        var output = VendorEmulationTests.backupOutput(h)
        output.removeLast(min(device.vendor.afterConfig.filter { $0 == "\n" }.count, output.count))
        var context = VolatileContextBox.context(for: device)
        let expected = device.generatedConfig.render(&context).dropLast(device.generatedConfig.endMarkerLines)
        #expect(output.count == expected.count)
        #expect(output.last != device.expectedConfig.plainLines.dropLast().last, "the end marker is missing")
    }

    @Test("wrong prompt: every prompt is the given text")
    func wrongPrompt() {
        let h = EngineHarness(Self.ios([.wrongPrompt("Router(unknown)$ ")]))
        #expect(h.start().hasSuffix("Router(unknown)$ "))
        #expect(!h.transcript.contains("lab1>"))
        #expect(h.send("show version\n").hasSuffix("Router(unknown)$ "))
    }

    @Test("paging refused: the paging command gets the vendor's error and the pager stays on",
          arguments: VendorEmulation.builtIn.map(\.name).filter { !["linux", "mikrotik_routeros"].contains($0) })
    func pagingRefused(vendor: String) {
        let device = VendorEmulationTests.device(vendor, faults: [.pagingRefused])
        let s = script(for: vendor, secret: device.enableSecret)
        let h = EngineHarness(device)
        h.start()
        for command in s.login { h.send(command == " " ? " " : command + "\n") }
        var replies = ""
        for command in s.paging { replies += h.send(command + "\n") }
        #expect(replies.contains(s.unknownReply))
        #expect(h.send(s.backup + "\n").contains(s.pagerMark))
        #expect(h.engine.state == .pager)
    }

    @Test("hang mid-output stops after the given bytes of the backup")
    func hangMidOutput() {
        let h = Self.loggedIn(Self.ios([.hangMidOutput(afterBytes: 700)]))
        let items = h.engine.receive(Array("show running-config\n".utf8))
        #expect(items.last == .hang)
        let echo = "show running-config\r\n".utf8.count
        #expect(EngineHarness.bytes(items).count == echo + 700)
        #expect(h.engine.state == .hung)
        #expect(h.engine.receive(Array("show version\n".utf8)).isEmpty, "a hung device answers nothing")
    }

    @Test("disconnect mid-output closes the connection after the given bytes, also across pager pages")
    func disconnectMidOutput() {
        let h = Self.loggedIn(Self.ios([.disconnectMidOutput(afterBytes: 1500)]), paging: true)
        var items = h.engine.receive(Array("show running-config\n".utf8))
        while h.engine.state == .pager { items += h.engine.receive([32]) }
        #expect(items.last == .disconnect)
        #expect(h.engine.state == .hung)
    }

    @Test("endless output repeats the configuration until the client goes away")
    func endless() {
        let h = Self.loggedIn(Self.ios([.endlessOutput]))
        let items = h.engine.receive(Array("show running-config\n".utf8))
        guard case .endless(let bytes) = items.last else {
            Issue.record("no endless item: \(items)")
            return
        }
        #expect(bytes.count > 2000)
    }

    @Test("hang after login: nothing at all after the shell or exec starts")
    func hangAfterLogin() {
        let device = Self.ios([.hangAfterLogin])
        #expect(EngineHarness(device).engine.start() == [.hang])
        #expect(EngineHarness(device, exec: true).engine.exec("show version") == [.hang])
    }

    @Test("garbage bytes make the backup output invalid UTF-8")
    func garbage() {
        let h = Self.loggedIn(Self.ios([.garbageBytes]))
        let bytes = EngineHarness.bytes(h.engine.receive(Array("show running-config\n".utf8)))
        #expect(String(validating: bytes, as: UTF8.self) == nil)
    }

    @Test("latency comes before each command's answer")
    func latency() {
        var device = Self.ios([])
        device.latency = .milliseconds(25)
        let h = EngineHarness(device)
        h.start()
        let items = h.engine.receive(Array("show version\n".utf8))
        #expect(items.contains(.pause(.milliseconds(25))))
        let pause = items.firstIndex(of: .pause(.milliseconds(25)))!
        #expect(EngineHarness.text(Array(items[..<pause])) == "show version\r\n", "the echo comes first")
    }

    @Test("faults parse from their command-line names")
    func parsing() {
        #expect(DeviceFault(parsing: "auth-failure") == .authFailure)
        #expect(DeviceFault(parsing: "hang-mid-output:100") == .hangMidOutput(afterBytes: 100))
        #expect(DeviceFault(parsing: "slow-drip:16:50") == .slowDrip(bytesPerChunk: 16, interval: .milliseconds(50)))
        #expect(DeviceFault(parsing: "wrong-prompt:a:b") == .wrongPrompt("a:b"))
        #expect(DeviceFault(parsing: "hang-mid-output") == nil)
        #expect(DeviceFault(parsing: "nonsense") == nil)
    }
}

/// A volatile context like the engine harness's, for rendering expected lines.
enum VolatileContextBox {
    static func context(for device: SimulatedDevice) -> VolatileContext {
        VolatileContext(
            run: 1, epochSeconds: 0, milliseconds: 0, seed: 0, hostname: device.hostname, username: device.username)
    }
}
