import BackupExecutor
import BackupModels
import Foundation
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Testing
import VendorProfiles

// The snippet of Documentation/TestingWithMocks.md, "Against the simulator", verbatim: it must compile and pass.
@Suite("Documentation snippets", .timeLimit(.minutes(2)))
struct DocumentationSnippetTests {
    @Test func backsUpASimulatedSwitch() async throws {
        let device = SimulatedDevice(id: 1, hostname: "sw1", vendor: .ciscoIOS, username: "backup",
                                     password: "pw", enableSecret: "en", configSize: 20_000)
        try await DeviceSimulator.withRunning(.init(devices: [device])) { simulator in
            let archive = InMemoryArchive()
            let executor = BackupExecutor(
                configuration: .init(hostKeyPolicy: .acceptAnyUnsafe),   // or .strict with simulator.hostPublicKey
                inventory: StaticInventory(devices: simulator.inventory(), defaultCredentials: device.credentials),
                transport: LibSSH2Transport(), retriever: ProfileConfigRetriever(), archive: archive)
            let task = try await executor.withRunning { try await $0.submit(try BackupFilter(asyncExecute: false)) }
            #expect(task.status == .completed)
            let stored = try await archive.currentConfig(for: task.devices[0])
            #expect(stored?.contains(simulator.expectedConfig(of: 1)!) == true)
        }
    }

    /// The article shows exactly the code above (indented one level less).
    @Test func articleShowsThisSnippet() throws {
        let here = URL(fileURLWithPath: #filePath)
        let source = try String(contentsOf: here, encoding: .utf8)
        let start = try #require(source.range(of: "        let device = SimulatedDevice("))
        let end = try #require(source.range(of: "\n    }\n", range: start.upperBound..<source.endIndex))
        let snippet = source[start.lowerBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
        let article = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Documentation/TestingWithMocks.md")
        #expect(try String(contentsOf: article, encoding: .utf8).contains(snippet + "\n}\n"))
    }
}
