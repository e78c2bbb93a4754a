@testable import DeviceSimulator
import Synchronization

/// Drives a `CLIEngine` without SSH: bytes in, output collected.
final class EngineHarness {
    let device: SimulatedDevice
    let engine: CLIEngine
    private(set) var items: [OutputItem] = []

    init(
        _ device: SimulatedDevice, exec: Bool = false, loginName: String? = nil, clock: Int = 1_764_386_827,
        firstRun: Int = 0
    ) {
        self.device = device
        let runs = ByteSinkCounter(firstRun)
        let config = device.generatedConfig
        engine = CLIEngine(
            device: device,
            source: ConfigSource(next: {
                let run = runs.value.withLock {
                    $0 += 1
                    return $0
                }
                return (config, run)
            }),
            sessionRun: 1, exec: exec, loginName: loginName, now: { (clock, 123) })
    }

    @discardableResult
    func start() -> String {
        let new = engine.start()
        items += new
        return Self.text(new)
    }

    /// Sends `input` and returns what came back.
    @discardableResult
    func send(_ input: String) -> String {
        let new = engine.receive(Array(input.utf8))
        items += new
        return Self.text(new)
    }

    @discardableResult
    func exec(_ command: String) -> [OutputItem] {
        let new = engine.exec(command)
        items += new
        return new
    }

    /// All stdout so far.
    var transcript: String { Self.text(items) }

    static func text(_ items: [OutputItem]) -> String {
        String(decoding: bytes(items), as: UTF8.self)
    }

    static func bytes(_ items: [OutputItem]) -> [UInt8] {
        items.flatMap { item -> [UInt8] in
            if case .bytes(let bytes) = item { return bytes }
            return []
        }
    }
}

extension String {
    /// Lines without `\r`.
    var plainLines: [String] {
        // "\r\n" is one Character in Swift: drop the "\r" scalars first, then split.
        String(String.UnicodeScalarView(unicodeScalars.filter { $0 != "\r" }))
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

extension GeneratedConfig {
    /// Indices of volatile lines.
    var volatileIndices: Set<Int> {
        Set(lines.indices.filter { if case .volatile = lines[$0] { true } else { false } })
    }
}

/// Each vendor's paging-disable command, backup command and the mark of its pager, as the public record has
/// them (sources in BuiltInVendors.swift and below).
struct VendorScript {
    var login: [String] = []
    /// The login name when it is not the plain user name (RouterOS terminal options).
    var loginName: String?
    var paging: [String]
    var backup: String
    var pagerMark: String
    var unknownReply: String
}

func script(for vendor: String, secret: String?) -> VendorScript {
    let enable = secret.map { ["enable", $0] } ?? ["enable"]
    switch vendor {
    // Oxidized ios.rb: enable, 'terminal length 0', 'show running-config'; IOS: "% Invalid input detected".
    case "cisco_ios": return VendorScript(login: enable, paging: ["terminal length 0", "terminal width 0"], backup: "show running-config", pagerMark: " --More-- ", unknownReply: "% Invalid input detected at '^' marker.")
    // Oxidized nxos.rb; Scrapli cisco_nxos: "% Invalid command at '^' marker.".
    case "cisco_nxos": return VendorScript(paging: ["terminal length 0"], backup: "show running-config", pagerMark: "--More--", unknownReply: "% Invalid command at '^' marker.")
    // Oxidized iosxr.rb post_login.
    case "cisco_iosxr": return VendorScript(paging: ["terminal length 0", "terminal exec prompt no-timestamp"], backup: "show running-config", pagerMark: " --More-- ", unknownReply: "% Invalid input detected at '^' marker.")
    // Oxidized asa.rb: enable, 'terminal pager 0', 'more system:running-config'.
    case "cisco_asa": return VendorScript(login: enable, paging: ["terminal pager 0"], backup: "more system:running-config", pagerMark: "<--- More --->", unknownReply: "ERROR: % Invalid input detected at '^' marker.")
    // Oxidized junos.rb; Scrapli juniper_junos "unknown command".
    case "juniper_junos": return VendorScript(paging: ["set cli screen-length 0"], backup: "show configuration | display omit", pagerMark: "---(more", unknownReply: "unknown command.")
    // Oxidized eos.rb; Netmiko arista "% Invalid input".
    case "arista_eos": return VendorScript(login: enable, paging: ["terminal length 0"], backup: "show running-config", pagerMark: " --More-- ", unknownReply: "% Invalid input")
    // Oxidized vrp.rb; NOC Huawei.VRP.
    case "huawei_vrp": return VendorScript(paging: ["screen-length 0 temporary"], backup: "display current-configuration", pagerMark: "  ---- More ----", unknownReply: "Error: Unrecognized command found at '^' position.")
    // Oxidized comware.rb; Scrapli hp_comware.
    case "h3c_comware": return VendorScript(paging: ["screen-length disable"], backup: "display current-configuration", pagerMark: "  ---- More ----", unknownReply: " % Unrecognized command found at '^' position.")
    // Oxidized procurve.rb; NOC HP.ProCurve.
    case "hp_procurve": return VendorScript(login: [" "] + enable, paging: ["no page"], backup: "show running-config", pagerMark: "-- MORE --, next page: Space", unknownReply: "Invalid input: ")
    // Oxidized aoscx.rb.
    case "aruba_aoscx": return VendorScript(login: enable, paging: ["no page"], backup: "show running-config", pagerMark: "-- MORE --", unknownReply: "Invalid input: ")
    // Oxidized routeros.rb: '/export' (exec); RouterOS "bad command name".
    // MikroTik manual "Console login options": a tall terminal ('+ct511w4098h') is not paged.
    case "mikrotik_routeros": return VendorScript(loginName: "backup+ct511w4098h", paging: [], backup: "/export", pagerMark: "-- [Q quit|D dump|down]", unknownReply: "bad command name")
    // Netmiko fortinet_ssh.py: config system console / set output standard / end; Oxidized fortios.rb 'show'.
    case "fortinet_fortios": return VendorScript(paging: ["config system console", "set output standard", "end"], backup: "show", pagerMark: "--More-- ", unknownReply: "Unknown action 0")
    // Oxidized panos.rb: 'set cli pager off', 'show config running'; Scrapli "Unknown command:".
    case "paloalto_panos": return VendorScript(paging: ["set cli pager off"], backup: "show config running", pagerMark: "lines ", unknownReply: "Unknown command: ")
    // Oxidized os6.rb.
    case "dell_os6": return VendorScript(login: enable, paging: ["terminal length 0"], backup: "show running-config", pagerMark: "--More-- or (q)uit", unknownReply: "% Invalid input detected at '^' marker.")
    // Oxidized rgos.rb.
    case "ruijie_rgos": return VendorScript(login: enable, paging: ["terminal length 0", "terminal width 0"], backup: "show running-config", pagerMark: " --More-- ", unknownReply: "% Invalid input detected at '^' marker.")
    case "linux": return VendorScript(paging: [], backup: "cat /etc/hosts", pagerMark: "", unknownReply: "command not found")
    default: fatalError("no script for \(vendor)")
    }
}

/// A counter closures can share.
final class ByteSinkCounter: Sendable {
    let value: Mutex<Int>
    init(_ start: Int) { value = Mutex(start) }
}
