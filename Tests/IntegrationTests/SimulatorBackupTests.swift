import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import TaskStore
import Testing
import VendorProfiles

/// The whole stack: executor → libssh2 transport → vendor profile → archive, against the simulator's
/// emulation of each vendor's CLI.
@Suite("Built-in profiles back up simulated devices over libssh2", .timeLimit(.minutes(5)))
struct SimulatorBackupTests {
    static let vendors = VendorEmulation.builtIn.map(\.name)

    func backUp(_ simulator: DeviceSimulator) async throws -> (BackupTask, InMemoryArchive) {
        let (task, archive, _) = try await SimulatorHarness.backUp(simulator)
        return (task, archive)
    }

    @Test("each vendor's config arrives byte for byte, without prompt, echo, pager residue or volatile lines; unchanged runs keep the config_id", arguments: vendors)
    func exactConfig(vendor: String) async throws {
        let emulation = try #require(VendorEmulation.named(vendor))
        let device = SimulatedDevice(id: 1, hostname: "sim-\(vendor.replacingOccurrences(of: "_", with: "-"))", vendor: emulation, enableSecret: "En4ble-Secret", configSize: 6000, seed: 11)
        try await DeviceSimulator.withRunning(DeviceSimulatorConfiguration(devices: [device])) { simulator in
            let (first, archive) = try await backUp(simulator)
            let result = try #require(first.results.first)
            #expect(result.success, "\(vendor): \(result.errorCode?.rawValue ?? "") \(result.errorMessage ?? "")")
            let stored = try await archive.currentConfig(for: DeviceRef(id: 1, name: device.hostname, vendor: vendor))
            let expected = try #require(simulator.expectedConfig(of: 1))
            let text = try #require(stored)
            SimulatorHarness.expectSameConfig(text, expected, vendor: vendor)
            for line in text.split(separator: "\n") {
                #expect(!line.hasPrefix(device.hostname + "#") && !line.hasPrefix(device.hostname + ">"), "\(vendor): prompt residue: \(line)")
                #expect(!line.contains("More"), "\(vendor): pager residue: \(line)")
            }
            let (second, _) = try await backUp(simulator)
            #expect(second.results.first?.configID == result.configID, "\(vendor): volatile lines changed the config id")
        }
    }
}
