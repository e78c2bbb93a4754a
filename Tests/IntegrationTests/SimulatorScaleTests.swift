import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import Foundation
import Testing
import VendorProfiles

#if canImport(Glibc)
import Glibc
#endif

/// 1,000 simulated devices in one simulator process (one shared port, the login name selects the device),
/// backed up at concurrency 100 through libssh2, the IOS profile and the executor.
@Suite("1,000 simulated devices at concurrency 100", .timeLimit(.minutes(10)))
struct SimulatorScaleTests {
    static let deviceCount = 1000
    static let concurrency = 100

    /// Raises the soft limit of open files to the hard limit. At concurrency 100 the test process holds
    /// both ends of each connection (libssh2's socket and the simulator's), plus the epoll and listening
    /// sockets: about 2 × 100 + a few dozen descriptors, under common soft limits (1,024) but not far.
    static func raiseOpenFileLimit() -> UInt64 {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return UInt64(limit.rlim_cur)
        #else
        return .max  // not checked on this platform
        #endif
    }

    @Test("all 1,000 devices succeed, byte for byte, and every connection is closed afterwards")
    func thousandDevices() async throws {
        let openFiles = Self.raiseOpenFileLimit()
        #expect(openFiles >= 2 * UInt64(Self.concurrency) + 100, "RLIMIT_NOFILE is only \(openFiles)")
        guard let emulation = VendorEmulation.named("cisco_ios") else {
            Issue.record("no cisco_ios emulation")
            return
        }
        let devices = (0..<Self.deviceCount).map { i in
            SimulatedDevice(
                id: DeviceID("d\(i)"), hostname: "r\(i)", vendor: emulation, username: "backup\(i)",
                password: "pw-\(i)", enableSecret: "en-\(i)", configSize: 2000, seed: UInt64(i))
        }
        let configuration = DeviceSimulatorConfiguration(devices: devices, listenMode: .sharedPort, threads: 2)
        try await DeviceSimulator.withRunning(configuration) { simulator in
            var settings = SimulatorHarness.Settings()
            settings.maxConcurrent = Self.concurrency
            settings.timeout = 300
            let (task, archive, elapsed) = try await SimulatorHarness.backUp(simulator, settings)
            print("1,000 simulated devices at concurrency \(Self.concurrency): \(elapsed)")
            #expect(task.results.count == Self.deviceCount)
            #expect(task.successCount == Self.deviceCount, "\(task.failedCount) failed")
            let failures = task.results.filter { !$0.success }
            for failure in failures.prefix(5) {
                Issue.record("\(failure.deviceName): \(failure.errorCode?.rawValue ?? "") \(failure.errorMessage ?? "")")
            }
            #expect(simulator.statistics.loginsSucceeded == Self.deviceCount)
            for device in devices.prefix(3) + devices.suffix(3) {
                let stored = try await archive.currentConfig(for: DeviceRef(id: device.id, name: device.hostname, vendor: "cisco_ios"))
                let expected = try #require(simulator.expectedConfig(of: device.id))
                #expect(stored?.contains(expected) == true, "\(device.id): the running config is not in the backup, whole")
            }
            let closed = try await SimulatorHarness.waitUntilAllConnectionsClosed(simulator, within: .seconds(60))
            #expect(closed, "\(simulator.statistics.connectionsOpen) connection(s) still open on the simulator")
        }
    }
}
