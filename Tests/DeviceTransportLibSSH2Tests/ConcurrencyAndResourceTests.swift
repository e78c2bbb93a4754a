import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Synchronization
import Testing

extension LibSSH2Tests {
    @Suite("Concurrency, cancellation and resources", .enabled(if: runningAsRoot, "starts sshd with its own PAM service: needs root"))
    struct ConcurrencyAndResourceTests {
        @Test func twoHundredConcurrentSessionsUseAtMostEightExtraThreads() async throws {
            try await SSHServerFixture.with { server in
                let knownHosts = try server.writeKnownHosts(name: "known_hosts", matching: true)
                // Generous limits: 200 simultaneous connects overflow sshd's listen backlog (128), and the
                // kernel then completes some handshakes only on retransmission.
                let target = server.target(policy: .strict(knownHostsFile: knownHosts), timeouts: loadTimeouts)
                let credentials = server.keyCredentials
                let baseline = ProcessProbes.threadCount()
                let peak = AtomicBox(baseline)
                let done = AtomicBox(0)
                let outputs = try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        while done.value.load(ordering: .relaxed) == 0 {
                            let now = ProcessProbes.threadCount()
                            _ = peak.value.max(now, ordering: .relaxed)
                            try await Task.sleep(for: .milliseconds(5))
                        }
                        return nil
                    }
                    let sessions = try await withThrowingTaskGroup(of: String.self) { inner in
                        for index in 0..<200 {
                            inner.addTask {
                                let session = try await transport.connect(to: target, credentials: credentials, logger: quietLogger)
                                let output = try await session.execute("echo session-\(index)", timeout: .seconds(60))
                                await session.close()
                                return output.stdoutText
                            }
                        }
                        var all: [String] = []
                        for try await text in inner { all.append(text) }
                        return all
                    }
                    done.value.store(1, ordering: .relaxed)
                    try await group.waitForAll()
                    return sessions
                }
                #expect(Set(outputs) == Set((0..<200).map { "session-\($0)\n" }))
                let extra = peak.value.load(ordering: .relaxed) - baseline
                #expect(extra <= 8, "peak \(peak.value.load(ordering: .relaxed)) threads, \(baseline) at start")
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
            }
        }

        @Test func cancellingTwoHundredInFlightSessionsReleasesEverythingWithinOneSecond() async throws {
            try await SSHServerFixture.with { server in
                let target = server.target(timeouts: loadTimeouts)
                let credentials = server.keyCredentials
                let fdsBefore = ProcessProbes.fdTargets()
                let allocationsBefore = LibSSH2Runtime.liveAllocations
                let started = AtomicBox(0)
                let work = Task {
                    await withTaskGroup(of: BackupError.Code?.self) { group in
                        for _ in 0..<200 {
                            group.addTask {
                                do {
                                    let session = try await transport.connect(to: target, credentials: credentials, logger: quietLogger)
                                    started.value.add(1, ordering: .relaxed)
                                    // The server side waits forever (cat reads a stdin nobody writes).
                                    _ = try await session.execute("cat", timeout: nil)
                                    return nil
                                } catch let error as BackupError {
                                    return error.code
                                } catch {
                                    return .internal
                                }
                            }
                        }
                        var codes: [BackupError.Code?] = []
                        for await code in group { codes.append(code) }
                        return codes
                    }
                }
                let setupDeadline = ContinuousClock.now + .seconds(60)
                while started.value.load(ordering: .relaxed) < 200, ContinuousClock.now < setupDeadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(started.value.load(ordering: .relaxed) == 200)
                try await Task.sleep(for: .milliseconds(300))  // let every exec reach its wait
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 200)

                let cancelledAt = ContinuousClock.now
                work.cancel()
                let codes = await work.value
                let elapsed = ContinuousClock.now - cancelledAt
                #expect(elapsed < .seconds(1), "cancellation took \(elapsed)")
                #expect(codes.count == 200)
                #expect(codes.allSatisfy { $0 == .cancelled })
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                #expect(LibSSH2Runtime.liveAllocations == allocationsBefore)
                let fdsAfter = ProcessProbes.fdTargets()
                #expect(fdsAfter.count == fdsBefore.count, "new fds: \(fdsAfter.filter { fdsBefore[$0.key] != $0.value })")
            }
        }

        @Test func cancellingOneSessionClosesItWithin100Milliseconds() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let running = Task { try await session.execute("cat", timeout: nil) }
                try await Task.sleep(for: .milliseconds(200))
                let start = ContinuousClock.now
                running.cancel()
                let result = await running.result
                let elapsed = ContinuousClock.now - start
                #expect(elapsed < .milliseconds(100), "took \(elapsed)")
                #expect((result.failure as? BackupError)?.code == .cancelled)
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                await session.close()
            }
        }

        @Test func closeFromAnotherTaskInterruptsTheRunningOperation() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let running = Task { try await session.execute("cat", timeout: nil) }
                try await Task.sleep(for: .milliseconds(200))
                let start = ContinuousClock.now
                await session.close()
                #expect(ContinuousClock.now - start < .seconds(1))
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                let result = await running.result
                #expect((result.failure as? BackupError)?.code == .cancelled)
                // A concurrent second user of a session is refused, not corrupted.
                let other = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let first = Task { try await other.execute("sleep 1; echo one", timeout: nil) }
                try await Task.sleep(for: .milliseconds(100))
                let second = await #expect(throws: BackupError.self) { _ = try await other.execute("echo two", timeout: nil) }
                #expect(second?.code == .internal)
                #expect(try await first.value.stdoutText == "one\n")
                await other.close()
            }
        }

        @Test func closeIsSafeTwiceAndFromACancelledTask() async throws {
            try await SSHServerFixture.with { server in
                let session = try await transport.connect(to: server.target(), credentials: server.keyCredentials, logger: quietLogger)
                let shell = try await session.openShell(ShellOptions())
                let closer = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    await shell.close()
                    await session.close()
                    await session.close()
                }
                await closer.value
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                await shell.close()
                let after = await #expect(throws: BackupError.self) { _ = try await session.execute("true", timeout: nil) }
                #expect(after?.code == .connectionLost)
                let read = await #expect(throws: BackupError.self) { _ = try await shell.read(idleTimeout: .seconds(1)) }
                #expect(read?.code == .connectionLost)
            }
        }

        @Test func aThousandSequentialSessionsLeakNothing() async throws {
            try await SSHServerFixture.with { server in
                let knownHosts = try server.writeKnownHosts(name: "known_hosts", matching: true)
                let target = server.target(policy: .strict(knownHostsFile: knownHosts))
                let credentials = server.keyCredentials
                func one(_ index: Int) async throws {
                    let session = try await transport.connect(to: target, credentials: credentials, logger: quietLogger)
                    if index % 50 == 0 {
                        let output = try await session.execute("echo \(index)", timeout: .seconds(30))
                        #expect(output.stdoutText == "\(index)\n")
                    }
                    await session.close()
                }
                for index in 0..<50 { try await one(index) }  // warm-up: caches, allocator pools
                let fdsBefore = ProcessProbes.fdTargets()
                let rssBefore = ProcessProbes.residentBytes()
                let allocationsBefore = LibSSH2Runtime.liveAllocations
                for index in 0..<1000 { try await one(index) }
                let rssAfter = ProcessProbes.residentBytes()
                let fdsAfter = ProcessProbes.fdTargets()
                #expect(fdsAfter.count == fdsBefore.count, "new fds: \(fdsAfter.filter { fdsBefore[$0.key] != $0.value })")
                #expect(ProcessProbes.socketsConnected(toPort: server.port) == 0)
                #expect(LibSSH2Runtime.liveAllocations == allocationsBefore)
                #expect(allocationsBefore == 0)
                // A leak of one session's state per session would be tens of MB here.
                #expect(rssAfter - rssBefore < 8 * 1024 * 1024, "RSS grew from \(rssBefore) to \(rssAfter)")
            }
        }
    }
}

let loadTimeouts = TransportTimeouts(connect: .seconds(60), authentication: .seconds(60), idleRead: .seconds(60))

/// An atomic integer that closures can share.
final class AtomicBox: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
