import ArgumentParser
import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import NetBackupKit
import TaskStore
import VendorProfiles

#if canImport(Glibc)
import Glibc
#endif

/// Commands that use the built-in device simulator.
let extraCommands: [any ParsableCommand.Type] = [Demo.self, Simulate.self]

/// The simulated fleet of the demo: `count` devices across every built-in vendor; three fail on purpose.
func demoFleet(
    count: Int, vendors: [VendorEmulation] = VendorEmulation.builtIn, configSize: Int = 8_000
) -> (devices: [SimulatedDevice], failing: [DeviceID: (fault: DeviceFault, code: String)]) {
    let failing: [Int: (DeviceFault, String)] = [
        7: (.authFailure, "AUTH_FAILED"),
        19: (.truncatedConfig, "TRUNCATED_CONFIG"),
        31: (.disconnectMidOutput(afterBytes: 1500), "CONNECTION_LOST"),
    ]
    var devices: [SimulatedDevice] = []
    var faults: [DeviceID: (fault: DeviceFault, code: String)] = [:]
    for index in 1...max(1, count) {
        let vendor = vendors[(index - 1) % vendors.count]
        var device = SimulatedDevice(
            id: DeviceID(index), hostname: "demo-\(vendor.name.replacingOccurrences(of: "_", with: "-"))-\(index)", vendor: vendor,
            username: "netops", password: "demo-password", enableSecret: "demo-enable", configSize: configSize, seed: UInt64(index))
        if let (fault, code) = failing[index] {
            device.faults = [fault]
            faults[device.id] = (fault, code)
        }
        devices.append(device)
    }
    return (devices, faults)
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up a simulated fleet (every built-in vendor) into git, change a device, back up again.")

    @Option(help: "Where the demo keeps its task store, git archive and known_hosts (default: a new temporary directory).")
    var dir: String?
    @Option(help: "Simulated devices.") var devices: Int = 50

    func run() async throws {
        let base = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let (fleet, failing) = demoFleet(count: devices)
        printError("Starting \(fleet.count) simulated devices on 127.0.0.1 (\(VendorEmulation.builtIn.count) vendors; 3 fail on purpose)…")
        let ok = try await DeviceSimulator.withRunning(DeviceSimulatorConfiguration(devices: fleet, threads: 2)) { simulator in
            let inventory = InventoryFile(
                devices: simulator.inventory(),
                credentials: Dictionary(uniqueKeysWithValues: fleet.map { ($0.id, $0.credentials) }))
            let store = try await openTaskStore(directory: base + "/tasks", create: true)
            let archivePath = base + "/configs"
            let archive = try await GitArchive(repository: archivePath)
            let registry = VendorProfileRegistry()
            func makeExecutor() -> BackupExecutor {
                BackupExecutor(
                    configuration: BackupExecutorConfiguration(
                        maxConcurrentSessions: 10, hostKeyPolicy: .trustOnFirstUse(knownHostsFile: base + "/known_hosts"), recovery: .manual),
                    inventory: inventory, transport: LibSSH2Transport(), retriever: ProfileConfigRetriever(registry: registry),
                    archive: archive, store: store)
            }
            let filter = try BackupFilter(asyncExecute: true, maxConcurrent: 10, timeout: 60, retryCount: 0)
            let first = try await runBackup(
                executor: makeExecutor(), filter: filter, createdBy: "netbackup demo", idempotencyKey: nil,
                interactive: isatty(STDERR_FILENO) == 1).task
            printError(report(first, archive: archivePath))

            // The deliberate failures, each with its code and why.
            var asDesigned = true
            printError("\nDeliberate failures (part of the show):")
            for (id, expected) in failing.sorted(by: { $0.key < $1.key }) {
                let result = first.results.first { $0.deviceID == id }
                let code = result?.errorCode?.rawValue ?? "none"
                printError("  \(result?.deviceName ?? id.rawValue): \(code) — simulated \(expected.fault); expected \(expected.code)")
                if code != expected.code { asDesigned = false }
            }
            let unexpected = first.results.filter { !$0.success && failing[$0.deviceID] == nil }
            for result in unexpected {
                printError("  UNEXPECTED: \(result.deviceName) \(result.errorCode?.rawValue ?? "") \(result.errorMessage ?? "")")
                asDesigned = false
            }

            // Change one device and back up again: one commit whose diff is the change.
            let changed = fleet[0]
            simulator.setConfigLine("! changed by netbackup demo at \(Date().formatted(.iso8601))", on: changed.id)
            printError("\nChanged the configuration of \(changed.hostname); backing up again…")
            let second = try await runBackup(
                executor: makeExecutor(), filter: filter, createdBy: "netbackup demo", idempotencyKey: nil, interactive: false, quiet: true).task
            let commits = Set(second.results.compactMap(\.gitCommitID))
            let changedIDs = second.results.filter { $0.changed == true }.map(\.deviceID)
            printError("Second run: \(second.status.rawValue); changed: \(changedIDs.map(\.rawValue).joined(separator: ", ")); commit: \(commits.first.map { String($0.prefix(12)) } ?? "none")")
            if changedIDs != [changed.id] || commits.count != 1 { asDesigned = false }
            if let commit = commits.first {
                printError("\n$ git -C \(archivePath) show \(commit.prefix(12))")
                printError(shell(["git", "-C", archivePath, "show", "--format=%h %s", commit]))
            }
            try await store.close()
            printError("""

                Look around:
                  configs (git):  \(archivePath)        e.g. git -C \(archivePath) log --stat
                  task store:     \(base)/tasks          e.g. netbackup tasks list --store \(base)/tasks
                  known hosts:    \(base)/known_hosts
                """)
            return asDesigned
        }
        printError(ok ? "\nThe demo ran as designed." : "\nThe demo did NOT run as designed (see above).")
        throw ExitCode(ok ? 0 : 1)
    }
}

/// Runs a command and returns its output (for showing the demo's git diff).
func shell(_ arguments: [String]) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return "(could not run \(arguments.joined(separator: " ")): \(error))" }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the device simulator alone (for trying netbackup or other tools), until Ctrl-C.")

    @Option(help: "Simulated devices (across every built-in vendor, as in the demo).") var devices: Int = 16
    @Option(help: "Write an inventory for them to this file (JSON).") var inventory: String?
    @Option(help: "Latency of every command, in milliseconds.") var latencyMs: Int = 0
    @Option(help: "Only these vendors (comma separated built-in profile names), in turn.") var vendors: String?
    @Option(help: "Approximate size of each generated configuration, in bytes.") var configSize: Int = 8_000

    func validate() throws {
        guard devices >= 1 else { throw ValidationError("--devices must be at least 1") }
        guard configSize >= 0 else { throw ValidationError("--config-size must not be negative") }
        if let vendors {
            for name in vendors.split(separator: ",") where VendorEmulation.named(String(name)) == nil {
                throw ValidationError(
                    "unknown vendor '\(name)' (built in: \(VendorEmulation.builtIn.map(\.name).joined(separator: ", ")))")
            }
        }
    }

    func run() async throws {
        let emulations = vendors.map { $0.split(separator: ",").compactMap { VendorEmulation.named(String($0)) } } ?? VendorEmulation.builtIn
        let (fleet, _) = demoFleet(count: devices, vendors: emulations, configSize: configSize)
        let simulator = try DeviceSimulator(configuration: DeviceSimulatorConfiguration(devices: fleet.map { device in
            var device = device
            device.faults = []
            device.latency = .milliseconds(latencyMs)
            return device
        }, threads: 2))
        try await simulator.start()
        let listed = simulator.inventory()
        for device in listed { print("\(device.id)\t\(device.vendor)\t127.0.0.1:\(device.port)\tnetops / demo-password (enable: demo-enable)") }
        if let inventory {
            let text = try JSONSerialization.data(withJSONObject: [
                "defaults": ["username": "netops", "password": "demo-password", "enable_password": "demo-enable"],
                "devices": listed.map { ["id": $0.id.rawValue, "name": $0.name, "host": $0.host, "port": $0.port, "vendor": $0.vendor] },
            ], options: [.prettyPrinted, .sortedKeys])
            try text.write(to: URL(fileURLWithPath: inventory))
            print("inventory written to \(inventory) (try: netbackup backup --inventory \(inventory) --host-key-policy accept-any)")
        }
        printError("Simulating \(listed.count) devices; Ctrl-C to stop.")
        let stop = InterruptHandler { _ in }
        while !stop.interrupted { try await Task.sleep(for: .milliseconds(200)) }
        await simulator.stop()
        throw ExitCode(128 + (stop.signal ?? SIGINT))
    }
}
