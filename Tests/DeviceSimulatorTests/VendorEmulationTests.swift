import BackupModels
@testable import DeviceSimulator
import Testing

/// Every vendor's CLI, driven without SSH.
@Suite("Vendor emulations")
struct VendorEmulationTests {
    static let vendors = VendorEmulation.builtIn.map(\.name)

    static func device(_ vendor: String, size: Int = 3000, faults: Set<DeviceFault> = []) -> SimulatedDevice {
        let emulation = VendorEmulation.named(vendor)!
        return SimulatedDevice(
            id: DeviceID(vendor), hostname: "lab1", vendor: emulation, username: "backup", password: "pw",
            enableSecret: emulation.enable == nil ? nil : "s3cret", configSize: size, faults: faults)
    }

    /// Logs in, disables paging, enables, runs the backup command; returns the backup command's output lines
    /// (echo and final prompt removed).
    static func harness(_ device: SimulatedDevice) -> EngineHarness {
        EngineHarness(device, loginName: script(for: device.vendor.name, secret: device.enableSecret).loginName)
    }

    static func backupOutput(_ h: EngineHarness, disablePaging: Bool = true) -> [String] {
        let s = script(for: h.device.vendor.name, secret: h.device.enableSecret)
        h.start()
        for command in s.login { h.send(command == " " ? " " : command + "\n") }
        if disablePaging { for command in s.paging { h.send(command + "\n") } }
        var lines = h.send(s.backup + "\n").plainLines
        #expect(lines.first == s.backup, "the command is echoed")
        lines.removeFirst()
        #expect(lines.last == h.engine.prompt().filter { $0 != "\r" }, "the prompt follows the output")
        lines.removeLast()
        return lines
    }

    /// The configuration lines of a backup output: the vendor's `afterConfig` lines dropped, volatile lines
    /// (by position) dropped.
    static func stableConfig(_ output: [String], device: SimulatedDevice) -> String {
        var lines = output
        let extra = device.vendor.afterConfig.filter { $0 == "\n" }.count
        lines.removeLast(min(extra, lines.count))
        let config = device.generatedConfig
        let volatile = config.volatileIndices
        #expect(lines.count == config.lines.count, "one output line per configuration line")
        let stable = lines.enumerated().filter { !volatile.contains($0.offset) }.map(\.element)
        return trimmingBlankEdges(stable).joined(separator: "\n") + "\n"
    }

    @Test("with paging disabled, the backup command prints the expected configuration", arguments: vendors)
    func backupPrintsExpectedConfig(vendor: String) {
        let device = Self.device(vendor)
        let h = Self.harness(device)
        let output = Self.backupOutput(h)
        #expect(Self.stableConfig(output, device: device) == device.expectedConfig)
        #expect(device.expectedConfig.utf8.count >= 3000 - 200)
        #expect(!device.configSecrets.isEmpty, "every vendor's configuration carries secrets")
        for secret in device.configSecrets where device.vendor.name != "linux" {
            #expect(device.expectedConfig.contains(secret))
        }
    }

    @Test("volatile lines change between runs, stable lines do not", arguments: vendors)
    func volatileLinesChange(vendor: String) {
        let device = Self.device(vendor)
        let h = Self.harness(device)
        let first = Self.backupOutput(h)
        let s = script(for: vendor, secret: device.enableSecret)
        var second = h.send(s.backup + "\n").plainLines
        second.removeFirst()
        second.removeLast()
        #expect(first.count == second.count)
        let volatile = device.generatedConfig.volatileIndices
        var changed = 0
        for (index, (a, b)) in zip(first, second).enumerated() {
            if volatile.contains(index) {
                if a != b { changed += 1 }
            } else {
                #expect(a == b)
            }
        }
        // The lines the public record names as changing between runs do change; some volatile lines (IOS's
        // "Building configuration...", ASA's ": Saved") are only filtered, and RGOS's only volatile lines are
        // those two kinds (Oxidized rgos.rb).
        let changing = [
            "cisco_ios": 3, "cisco_nxos": 2, "cisco_iosxr": 1, "cisco_asa": 1, "juniper_junos": 1, "arista_eos": 1,
            "huawei_vrp": 1, "mikrotik_routeros": 1, "fortinet_fortios": 1,
        ]
        #expect(changed == changing[vendor] ?? 0)
    }

    @Test("without paging disabled the pager appears, and answering it yields the whole configuration",
          arguments: vendors.filter { $0 != "linux" })
    func pagerAppears(vendor: String) throws {
        let device = Self.device(vendor)
        let h = EngineHarness(device)
        let s = script(for: vendor, secret: device.enableSecret)
        h.start()
        for command in s.login { h.send(command == " " ? " " : command + "\n") }
        var output = h.send(s.backup + "\n")
        #expect(output.contains(s.pagerMark))
        var presses = 0
        while h.engine.state == .pager && presses < 500 {
            output += h.send(" ")
            presses += 1
        }
        #expect(presses > 0)
        #expect(h.engine.state == .line)
        #expect(output.hasSuffix(h.engine.prompt()))
        // Every stable line shows up, in order, once the pager marks and their erasure are removed.
        let cleaned = try Self.removePagerResidue(output, vendor: device.vendor)
        var expected = device.expectedConfig.plainLines.dropLast()[...]
        #expect(expected.count > 20)
        for line in cleaned.plainLines where line == expected.first { expected.removeFirst() }
        #expect(expected.isEmpty, "missing after paging: \(expected.prefix(3))")
    }

    /// Removes every "pager mark + erase" the device wrote: what is left is the unpaged output.
    static func removePagerResidue(_ text: String, vendor: VendorEmulation) throws -> String {
        func escape(_ literal: String) -> String {
            literal.map { "\\^$.|?*+()[]{}".contains($0) ? "\\\($0)" : String($0) }.joined()
        }
        var mark = escape(vendor.pager.mark)
        for placeholder in ["percent", "from", "to"] {
            mark = mark.replacingAll("\\{\(placeholder)\\}", with: "\\d+")
        }
        let erase = vendor.pager.erase.isEmpty ? "\r *\r" : escape(vendor.pager.erase)
        return text.replacing(try Regex(mark + erase), with: "")
    }

    @Test("an unknown command gets the vendor's error string", arguments: vendors)
    func unknownCommand(vendor: String) {
        let device = Self.device(vendor)
        let h = EngineHarness(device)
        h.start()
        let s = script(for: vendor, secret: device.enableSecret)
        for command in s.login { h.send(command == " " ? " " : command + "\n") }
        let reply = h.send("frobnicate the widget\n")
        #expect(reply.contains(s.unknownReply), "\(reply)")
        #expect(reply.hasSuffix(h.engine.prompt()))
    }

    @Test("prompts look like the real ones", arguments: [
        // Oxidized ios.rb enable flow: user mode ">" then "#".
        ("cisco_ios", "lab1>"), ("cisco_nxos", "\rlab1# "), ("cisco_iosxr", "RP/0/RP0/CPU0:lab1#"),
        ("cisco_asa", "\rlab1> "), ("juniper_junos", "backup@lab1> "), ("arista_eos", "lab1>"),
        ("huawei_vrp", "<lab1>"), ("h3c_comware", "<lab1>"), ("aruba_aoscx", "lab1> "),
        ("mikrotik_routeros", "[backup@lab1] > "), ("fortinet_fortios", "lab1 # "),
        ("paloalto_panos", "backup@lab1> "), ("dell_os6", "lab1>"), ("ruijie_rgos", "lab1>"),
        ("linux", "backup@lab1:~$ "),
    ])
    func prompts(vendor: String, prompt: String) {
        let h = EngineHarness(Self.device(vendor))
        #expect(h.start().hasSuffix(prompt))
    }

    @Test("ProCurve waits for a key, paints the screen, and confirms logout")
    func procurve() {
        let h = EngineHarness(Self.device("hp_procurve"))
        // Oxidized procurve.rb: "Press any key to continue" → ' '.
        #expect(h.start().hasSuffix("Press any key to continue"))
        #expect(h.send(" ").hasSuffix("lab1> "))
        // Oxidized procurve.rb pre_logout "logout\ny\nn".
        #expect(h.send("logout\n").hasSuffix("Do you want to log out [y/n]? "))
        #expect(h.send("y").hasSuffix("Do you want to save current configuration [y/n/^C]? "))
        let last = h.engine.receive(Array("n".utf8))
        #expect(last.last == .exit(status: 0))
    }

    @Test("enable: a wrong secret is asked again, three failures end in user mode")
    func enableFailures() {
        let h = EngineHarness(Self.device("cisco_ios"))
        h.start()
        #expect(h.send("enable\n").hasSuffix("Password: "))
        #expect(h.send("nope\n").hasSuffix("Password: "))
        #expect(!h.transcript.contains("nope"), "the secret is not echoed")
        h.send("nope\n")
        let last = h.send("nope\n")
        #expect(last.contains("% Bad secrets"))
        #expect(last.hasSuffix("lab1>"))
        // User mode cannot show the configuration (IOS answers "% Invalid input").
        #expect(h.send("show running-config\n").contains("% Invalid input detected"))
        h.send("enable\n")
        #expect(h.send("s3cret\n").hasSuffix("lab1#"))
    }

    @Test("ASA echoes the enable secret as asterisks")
    func asaMask() {
        let h = EngineHarness(Self.device("cisco_asa"))
        h.start()
        h.send("enable\n")
        #expect(h.send("s3cret\n").hasPrefix("******"))
    }

    @Test("Junos display set prints one set line per leaf")
    func junosSet() {
        let h = EngineHarness(Self.device("juniper_junos"))
        h.start()
        h.send("set cli screen-length 0\n")
        let lines = h.send("show configuration | display set\n").plainLines
        #expect(lines.contains("set system host-name lab1"))
        #expect(lines.contains("set version 22.4R3-S2.11"))
        #expect(lines.contains { $0.hasPrefix("set interfaces ge-0/1/1 unit 0 family inet address 10.0.2.1/30") })
        #expect(!lines.contains { $0.hasPrefix("## Last commit") })
    }

    @Test("EOS: 'Pagination disabled.' ends without a newline, the prompt follows on the same line")
    func eosPagination() {
        let h = EngineHarness(Self.device("arista_eos"))
        h.start()
        #expect(h.send("terminal length 0\n") == "terminal length 0\r\nPagination disabled.lab1>")
    }

    @Test("IOS-XR prints a timestamp line before output until no-timestamp")
    func xrTimestamp() {
        let h = EngineHarness(Self.device("cisco_iosxr"))
        h.start()
        let first = h.send("show version\n").plainLines
        #expect(first[1].hasSuffix(" UTC") && first[1].contains(":"))
        h.send("terminal exec prompt no-timestamp\n")
        let second = h.send("show version\n").plainLines
        #expect(second[1].hasPrefix("Cisco IOS XR Software"))
    }

    @Test("exec channel: output and exit status, no prompt")
    func execChannel() {
        let device = Self.device("linux")
        let h = EngineHarness(device, exec: true)
        let items = h.exec("cat /etc/hosts")
        #expect(items.last == .exit(status: 0))
        #expect(EngineHarness.text(items) == device.expectedConfig)
        let denied = EngineHarness(device, exec: true).exec("cat /etc/shadow")
        #expect(denied.contains(.stderr(Array("cat: /etc/shadow: Permission denied\n".utf8))))
        #expect(denied.last == .exit(status: 1))
        #expect(EngineHarness(device, exec: true).exec("nosuch").last == .exit(status: 127))
    }

    @Test("the configuration is deterministic per seed, hostname and size, and can change at run time")
    func determinism() {
        let a = Self.device("cisco_ios", size: 20_000)
        let b = Self.device("cisco_ios", size: 20_000)
        #expect(a.expectedConfig == b.expectedConfig)
        var c = a
        c.hostname = "lab2"
        #expect(c.expectedConfig != a.expectedConfig)
        var d = a
        d.seed = 7
        #expect(d.expectedConfig != a.expectedConfig)
        #expect(a.expectedConfig.utf8.count >= 20_000 && a.expectedConfig.utf8.count < 21_000)
        var config = a.generatedConfig
        let replaced = config.replaceLine("hostname lab1", with: "hostname lab1-new")
        #expect(replaced)
        config.insertLineBeforeEnd("ip route 0.0.0.0 0.0.0.0 10.0.0.1")
        #expect(config.stableText.contains("hostname lab1-new\n"))
        #expect(config.stableText.hasSuffix("ip route 0.0.0.0 0.0.0.0 10.0.0.1\nend\n"))
        let missing = config.replaceLine("no such line", with: "x")
        #expect(!missing)
    }
}

