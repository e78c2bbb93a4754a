import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import Foundation
import Testing
import VendorProfiles

/// The profiles' guards through the whole stack (libssh2 transport, vendor profile, executor): the pager
/// answered when paging cannot be disabled, secrets scrubbed on request, truncated configurations refused.
@Suite("Built-in profiles' pager handling, secret scrubbing and truncation guards over libssh2", .timeLimit(.minutes(10)))
struct SimulatorProfileGuardTests {
    static let vendors = VendorEmulation.builtIn.map(\.name)
    /// RouterOS and Linux are backed up on exec channels, which have no pager.
    static let pagedVendors = vendors.filter { !["mikrotik_routeros", "linux"].contains($0) }

    /// Profiles whose truncation guard sees a configuration cut before its end: a last line (`end`,
    /// `return`, `: end`) or balanced blocks (Junos `{ }`, FortiOS `config`/`end`, PAN-OS `{ }`).
    static let truncationDetected = [
        "cisco_ios", "cisco_iosxr", "cisco_asa", "juniper_junos", "arista_eos", "huawei_vrp", "h3c_comware",
        "fortinet_fortios", "paloalto_panos", "ruijie_rgos",
    ]
    /// Profiles whose OS prints no end marker (public recordings: Oxidized's NX-OS, AOS-CX recordings end on
    /// whatever was configured last; ProCurve, Dell OS6, RouterOS `/export` and Linux files neither): only
    /// the minimum-line guard applies, and a cut at a line boundary cannot be told from a complete file.
    static let truncationUndetectable: Set<String> = [
        "cisco_nxos", "hp_procurve", "aruba_aoscx", "mikrotik_routeros", "dell_os6", "linux",
    ]

    func backUpOne(_ device: SimulatedDevice, retriever: ProfileConfigRetriever = ProfileConfigRetriever())
        async throws -> (DeviceBackupResult, String?, expected: String)
    {
        try await DeviceSimulator.withRunning(DeviceSimulatorConfiguration(devices: [device])) { simulator in
            var settings = SimulatorHarness.Settings()
            settings.retriever = retriever
            let (task, archive, _) = try await SimulatorHarness.backUp(simulator, settings)
            let result = try #require(task.results.first)
            let closed = try await SimulatorHarness.waitUntilAllConnectionsClosed(simulator)
            #expect(closed, "\(device.vendor.name): a connection is still open on the simulator")
            let stored = try await archive.currentConfig(
                for: DeviceRef(id: device.id, name: device.hostname, vendor: device.vendor.name))
            return (result, stored, try #require(simulator.expectedConfig(of: device.id)))
        }
    }

    @Test("paging refused: the pager is answered and the whole config arrives byte for byte", arguments: pagedVendors)
    func pagingRefused(vendor: String) async throws {
        let device = try SimulatorHarness.device(vendor, size: 6000, faults: [.pagingRefused])
        let (result, stored, expected) = try await backUpOne(device)
        #expect(result.success, "\(vendor): \(result.errorCode?.rawValue ?? "") \(result.errorMessage ?? "")")
        let text = try #require(stored)
        SimulatorHarness.expectSameConfig(text, expected, vendor: vendor)
        for line in text.split(separator: "\n") {
            #expect(!line.contains("More") && !line.contains("MORE") && !line.hasPrefix("lines "), "\(vendor): pager residue: \(line)")
        }
    }

    @Test("secret scrubbing: no password, secret, key or community the device printed survives", arguments: vendors)
    func scrubSecrets(vendor: String) async throws {
        let device = try SimulatorHarness.device(vendor, size: 3000)
        let secrets = device.configSecrets
        #expect(!secrets.isEmpty, "\(vendor): the simulated config has no secrets to scrub")
        let (result, stored, expected) = try await backUpOne(
            device, retriever: ProfileConfigRetriever(options: .init(scrubSecrets: true)))
        #expect(result.success, "\(vendor): \(result.errorCode?.rawValue ?? "") \(result.errorMessage ?? "")")
        let text = try #require(stored)
        for secret in Set(secrets) {
            for line in text.split(separator: "\n") where line.contains(secret) {
                Issue.record("\(vendor): secret survived scrubbing: \(line)")
            }
        }
        #expect(text.contains("<removed>"), "\(vendor): nothing was scrubbed")
        // Scrubbing replaces values; it removes no lines.
        #expect(
            text.split(separator: "\n", omittingEmptySubsequences: false).count
                >= expected.split(separator: "\n", omittingEmptySubsequences: false).count,
            "\(vendor): scrubbing dropped lines")
    }

    @Test("truncated config → TRUNCATED_CONFIG, nothing archived", arguments: truncationDetected)
    func truncated(vendor: String) async throws {
        let (result, stored, _) = try await backUpOne(try SimulatorHarness.device(vendor, faults: [.truncatedConfig]))
        #expect(result.errorCode == .truncatedConfig, "\(vendor): \(result.errorCode?.rawValue ?? "success") \(result.errorMessage ?? "")")
        #expect(stored == nil, "\(vendor): a truncated config was archived")
    }

    @Test("every built-in profile is either truncation-checked or listed as having no end marker")
    func truncationCoverage() {
        #expect(Set(Self.truncationDetected).union(Self.truncationUndetectable) == Set(Self.vendors))
        for profile in VendorProfile.builtIn {
            let guardRule = profile.truncationGuard
            let checksEnd = guardRule?.lastLine != nil || guardRule?.blockOpen != nil
            #expect(checksEnd == Self.truncationDetected.contains(profile.name), "\(profile.name)")
        }
    }
}
