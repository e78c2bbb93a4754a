import BackupExecutor
import BackupModels
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import Testing

// The snippet of Documentation/TestingWithMocks.md ("BackupTestKit"), verbatim: it must compile and pass.
@Test(.timeLimit(.minutes(2))) func retriesThenSucceeds() async throws {
    let clock = ManualClock()
    let transport = MockTransport(defaultBehavior: .fail(.connectionTimeout, times: 1, then: .config("hostname r1\n")))
    let executor = BackupExecutor(
        configuration: .init(hostKeyPolicy: .acceptAnyUnsafe), inventory: StaticInventory.mock(count: 1),
        transport: transport, archive: InMemoryArchive(), clock: clock, random: .seeded(1))
    // Submitted before the executor runs, the task waits: subscribing now, no event can be missed.
    let task = try await executor.submit(try BackupFilter(retryCount: 1))
    let events = try await executor.events(for: task.taskID)
    let finished = try await executor.withRunning { executor in
        for await event in events {
            if case .attemptFailed(_, _, _, let delay) = event.kind {
                let duration = Duration.nanoseconds(Int64((delay * 1e9).rounded()))
                await clock.waitForSleeper(remaining: duration, tolerance: .microseconds(2))
                clock.advance(by: duration)
            }
            if event.isTerminal { break }
        }
        return try await executor.waitForCompletion(of: task.taskID)
    }
    #expect(finished.results.first?.attempts == 2)
}

/// The article shows exactly the code above.
@Test func articleShowsThisSnippet() throws {
    let here = URL(fileURLWithPath: #filePath)
    let source = try String(contentsOf: here, encoding: .utf8)
    let start = try #require(source.range(of: "    let clock = ManualClock()"))
    let end = try #require(source.range(of: "\n}\n", range: start.upperBound..<source.endIndex))
    let snippet = String(source[start.lowerBound..<end.upperBound])
    let article = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../../Documentation/TestingWithMocks.md").standardizedFileURL
    #expect(try String(contentsOf: article, encoding: .utf8).contains(snippet))
}
