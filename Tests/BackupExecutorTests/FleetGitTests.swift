import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import TaskStore
import Testing

@Suite("10,000 devices into git through the executor", .timeLimit(.minutes(5)))
struct FleetGitTests {
    @Test("one commit holds all 10,000 configs and every result carries it; unchanged → no commit; 1 % changed → exactly those")
    func tenThousandDevices() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("exec-fleet-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        let count = 10_000
        let transport = MockTransport(defaultBehavior: .config("hostname fleet\ninterface Gi0/1\n description uplink\n"))
        var fixture = Fixture(devices: count, transport: transport)
        fixture.archive = try await GitArchive(repository: repo, naming: .deviceID, durable: false)
        fixture.configuration = BackupExecutorConfiguration(
            policy: .widened(maxConcurrent: 200), maxConcurrentSessions: 200, hostKeyPolicy: .acceptAnyUnsafe)
        let executor = fixture.makeExecutor()
        let wide = try filter(maxConcurrent: 200, retryCount: 0, asyncExecute: false, policy: .widened(maxConcurrent: 200))
        let changedIDs = (1...count).filter { $0 % 100 == 0 }.map { DeviceID($0) }
        let (first, second, third) = try await executor.withRunning { executor in
            let first = try await executor.submit(wide)
            let second = try await executor.submit(wide)
            for id in changedIDs { transport.setBehavior(.config("hostname fleet\ninterface Gi0/1\n description changed \(id)\n"), for: id) }
            let third = try await executor.submit(wide)
            return (first, second, third)
        }
        #expect(first.status == .completed && first.successCount == count)
        let firstCommits = Set(first.results.map(\.gitCommitID))
        #expect(firstCommits.count == 1 && firstCommits.first! != nil, "every result carries the one commit's id")
        let firstFiles = try gitLines(repo, "show", "--name-only", "--format=", first.results[0].gitCommitID!)
        #expect(firstFiles.count == count)

        #expect(second.status == .completed)
        #expect(second.results.allSatisfy { $0.gitCommitID == nil && $0.changed == false })

        #expect(third.status == .completed)
        let changedResults = third.results.filter { $0.changed == true }
        #expect(Set(changedResults.map(\.deviceID)) == Set(changedIDs))
        let thirdCommit = try #require(changedResults.first?.gitCommitID)
        #expect(changedResults.allSatisfy { $0.gitCommitID == thirdCommit })
        #expect(try gitLines(repo, "show", "--name-only", "--format=", thirdCommit).sorted() == changedIDs.map { "\($0.rawValue).cfg" }.sorted())
        #expect(try gitLines(repo, "rev-list", "--count", "HEAD") == ["2"])
    }
}

private func gitLines(_ repo: String, _ arguments: String...) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments = ["-C", repo] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}
