import ArgumentParser
import BackupModels
import DeviceSimulator
import Foundation
import Logging

/// `device-simulator`: serves fake SSH network devices on 127.0.0.1 until interrupted.
@main
struct DeviceSimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-simulator",
        abstract: "Serve simulated SSH network devices (for tests, demos and benchmarks).",
        discussion: """
            Vendors: \(VendorEmulation.builtIn.map(\.name).joined(separator: ", ")).
            Faults: auth-failure, accept-then-silence, hang-after-login, hang-mid-output:BYTES,
            disconnect-mid-output:BYTES, slow-drip:BYTES:MS, garbage, endless, truncated, wrong-prompt:TEXT,
            paging-refused.
            """)

    @Option(name: .long, help: "Vendor profile names (comma separated) or 'all'.")
    var vendors: String = "cisco_ios"

    @Option(name: .long, help: "Devices per vendor.")
    var count: Int = 1

    @Option(name: .long, help: "Listen address (loopback only is sensible).")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "per-device, shared or both.")
    var mode: String = "per-device"

    @Option(name: .long, help: "First device port (devices get consecutive ports); 0 = ephemeral ports.")
    var basePort: Int = 0

    @Option(name: .long, help: "The shared port (0 = ephemeral).")
    var sharedPort: Int = 0

    @Option(name: .long, help: "Approximate configuration size in bytes.")
    var configSize: Int = 4096

    @Option(name: .long, help: "Latency per command in milliseconds.")
    var latencyMs: Int = 0

    @Option(name: .long) var username: String = "admin"
    @Option(name: .long) var password: String = "admin"
    @Option(name: .long, help: "Enable secret (none: enable asks no password).")
    var enableSecret: String?

    @Option(name: .long, help: "A fault injected on every device (repeatable).")
    var fault: [String] = []

    @Option(name: .long, help: "Seed of the configuration generator.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Event-loop threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Write an inventory (JSON array of devices) to this file.")
    var inventory: String?

    @Flag(name: .long, help: "Log connection errors.")
    var verbose = false

    mutating func run() async throws {
        let emulations: [VendorEmulation]
        if vendors == "all" {
            emulations = VendorEmulation.builtIn
        } else {
            emulations = try vendors.split(separator: ",").map { name in
                guard let emulation = VendorEmulation.named(String(name)) else {
                    throw ValidationError("unknown vendor '\(name)'")
                }
                return emulation
            }
        }
        let faults = try Set(fault.map { text in
            guard let parsed = DeviceFault(parsing: text) else { throw ValidationError("unknown fault '\(text)'") }
            return parsed
        })
        let listenMode: SimulatorListenMode
        switch mode {
        case "per-device": listenMode = .portPerDevice
        case "shared": listenMode = .sharedPort
        case "both": listenMode = .both
        default: throw ValidationError("mode must be per-device, shared or both")
        }
        var devices: [SimulatedDevice] = []
        var ports: [DeviceID: Int] = [:]
        for emulation in emulations {
            for i in 1...max(1, count) {
                let name = count == 1 ? emulation.name.replacingOccurrences(of: "_", with: "-") : "\(emulation.name.replacingOccurrences(of: "_", with: "-"))-\(i)"
                let id = DeviceID(name)
                devices.append(SimulatedDevice(
                    id: id, hostname: name, vendor: emulation, username: username, password: password,
                    enableSecret: enableSecret, configSize: configSize, seed: seed,
                    latency: .milliseconds(latencyMs), faults: faults))
                if basePort > 0 { ports[id] = basePort + devices.count - 1 }
            }
        }
        var logger = Logger(label: "device-simulator")
        logger.logLevel = verbose ? .debug : .warning
        let simulator = try DeviceSimulator(configuration: DeviceSimulatorConfiguration(
            devices: devices, host: host, listenMode: listenMode, sharedPort: sharedPort, devicePorts: ports,
            threads: threads, logger: logger))
        try await simulator.start()
        say("host key: \(simulator.hostPublicKey)")
        if let shared = simulator.sharedPort { say("shared port: \(shared) (login as <device id>:\(username))") }
        for device in devices {
            let port = simulator.port(of: device.id).map(String.init) ?? "-"
            say("\(device.id)\t\(device.vendor.name)\t\(host)\t\(port)\t\(device.username)")
        }
        if let inventory {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(simulator.inventory()).write(to: URL(fileURLWithPath: inventory))
            say("inventory written to \(inventory)")
        }
        say("serving; interrupt to stop")
        try await simulator.run()
    }
}

/// Writes a line to stdout unbuffered (the listing must show up at once when stdout is a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
