import BackupModels
@testable import DeviceTransportLibSSH2
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LibSSH2Tests {
    @Suite("Reactor (epoll thread)")
    struct ReactorTests {
        /// A non-blocking pipe; returns (read end, write end).
        func makePipe() -> (Int32, Int32) {
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
            return (fds[0], fds[1])
        }

        @Test func readinessResumesTheWaiter() async throws {
            let reactor = try Reactor.start()
            defer { reactor.shutdown() }
            let (readEnd, writeEnd) = makePipe()
            defer {
                close(readEnd)
                close(writeEnd)
            }
            let token = try reactor.register(fd: readEnd)
            defer { reactor.deregister(token) }
            async let result = reactor.wait(token, for: .readable, until: MonotonicInstant.now().advanced(by: .seconds(10)))
            try await Task.sleep(for: .milliseconds(20))
            var byte: UInt8 = 1
            #expect(write(writeEnd, &byte, 1) == 1)
            #expect(await result == .ready)
            // Writable right away.
            let (_, writeToken) = (0, try reactor.register(fd: writeEnd))
            #expect(await reactor.wait(writeToken, for: .writable, until: nil) == .ready)
            reactor.deregister(writeToken)
        }

        @Test func aDeadlineEndsTheWait() async throws {
            let reactor = try Reactor.start()
            defer { reactor.shutdown() }
            let (readEnd, writeEnd) = makePipe()
            defer {
                close(readEnd)
                close(writeEnd)
            }
            let token = try reactor.register(fd: readEnd)
            let start = MonotonicInstant.now()
            let result = await reactor.wait(token, for: .readable, until: start.advanced(by: .milliseconds(100)))
            let elapsed = start.duration(to: .now())
            #expect(result == .timedOut)
            #expect(elapsed >= .milliseconds(100))
            #expect(elapsed < .seconds(2))
            reactor.deregister(token)
        }

        @Test func cancellationResumesExactlyOnceEvenBeforeTheWaitIsArmed() async throws {
            let reactor = try Reactor.start()
            defer { reactor.shutdown() }
            let (readEnd, writeEnd) = makePipe()
            defer {
                close(readEnd)
                close(writeEnd)
            }
            let token = try reactor.register(fd: readEnd)
            defer { reactor.deregister(token) }
            // Cancelled while suspended.
            let task = Task { await reactor.wait(token, for: .readable, until: nil) }
            try await Task.sleep(for: .milliseconds(20))
            task.cancel()
            #expect(await task.value == .cancelled)
            // Cancelled before it starts waiting: the handler runs before the continuation is armed.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return await reactor.wait(token, for: .readable, until: nil)
            }
            #expect(await early.value == .cancelled)
            // Many racing cancellations: every wait ends exactly once (a double resume would crash).
            await withTaskGroup(of: ReactorWaitResult.self) { group in
                for _ in 0..<200 {
                    let fdPair = makePipe()
                    let t = try! reactor.register(fd: fdPair.0)
                    let child = Task { await reactor.wait(t, for: .readable, until: nil) }
                    group.addTask {
                        child.cancel()
                        let result = await child.value
                        reactor.deregister(t)
                        close(fdPair.0)
                        close(fdPair.1)
                        return result
                    }
                }
                for await result in group { #expect(result == .cancelled) }
            }
        }

        @Test func interruptAndDeregisterEndPendingWaits() async throws {
            let reactor = try Reactor.start()
            defer { reactor.shutdown() }
            let (readEnd, writeEnd) = makePipe()
            defer {
                close(readEnd)
                close(writeEnd)
            }
            let token = try reactor.register(fd: readEnd)
            let waiting = Task { await reactor.wait(token, for: .readable, until: nil) }
            try await Task.sleep(for: .milliseconds(20))
            reactor.interrupt(token)
            #expect(await waiting.value == .interrupted)
            #expect(await reactor.wait(token, for: .readable, until: nil) == .interrupted)
            reactor.deregister(token)
            #expect(await reactor.wait(token, for: .readable, until: nil) == .deregistered)
        }

        @Test func shutdownStopsTheThreadAndClosesItsDescriptors() async throws {
            let before = ProcessProbes.threadCount()
            let fdsBefore = ProcessProbes.fdTargets().values.filter { $0.contains("eventfd") || $0.contains("eventpoll") }.count
            let reactor = try Reactor.start()
            #expect(ProcessProbes.threadCount() == before + 1)
            reactor.shutdown()
            reactor.shutdown()
            #expect(ProcessProbes.threadCount() == before)
            let fdsAfter = ProcessProbes.fdTargets().values.filter { $0.contains("eventfd") || $0.contains("eventpoll") }.count
            #expect(fdsAfter == fdsBefore)
        }
    }

    @Suite("Helpers")
    struct HelperTests {
        @Test func base64MatchesRFC4648() {
            #expect(Base64.encode(Array("".utf8)) == "")
            #expect(Base64.encode(Array("f".utf8)) == "Zg==")
            #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
            #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
            #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
            #expect(Base64.encodeUnpadded(Array("fo".utf8)) == "Zm8")
            #expect(Base64.encode([0xff, 0xfe, 0x00]) == "//4A")
        }

        @Test func knownHostsPatternsFollowOpenSSH() {
            #expect(KnownHosts.hostPattern(host: "Router1.Example.com", port: 22) == "router1.example.com")
            #expect(KnownHosts.hostPattern(host: "10.0.0.1", port: 2222) == "[10.0.0.1]:2222")
            #expect(KnownHosts.hostPattern(host: "::1", port: 22) == "::1")
            #expect(KnownHosts.hostPattern(host: "[::1]", port: 830) == "[::1]:830")
            #expect(LibSSH2Transport.endpoint(host: "::1", port: 22) == "[::1]:22")
            #expect(LibSSH2Transport.endpoint(host: "r1", port: 22) == "r1:22")
        }

        @Test func connectErrnosMapToErrorCodes() {
            #expect(TCPConnector.socketError(ECONNREFUSED, endpoint: "h:22", during: "connect").code == .connectionRefused)
            #expect(TCPConnector.socketError(EHOSTUNREACH, endpoint: "h:22", during: "connect").code == .hostUnreachable)
            #expect(TCPConnector.socketError(ENETUNREACH, endpoint: "h:22", during: "connect").code == .hostUnreachable)
            #expect(TCPConnector.socketError(ETIMEDOUT, endpoint: "h:22", during: "connect").code == .connectionTimeout)
            #expect(TCPConnector.socketError(ECONNRESET, endpoint: "h:22", during: "connect").code == .connectionLost)
        }

        @Test func anUnresolvableNameIsHostUnreachable() async throws {
            // A syntactically invalid name fails inside getaddrinfo without any DNS traffic.
            let error = await #expect(throws: BackupError.self) {
                _ = try await TCPConnector.resolve(host: "bad name..", port: 22, endpoint: "bad name..:22")
            }
            #expect(error?.code == .hostUnreachable)
        }

        @Test func durationsPrintShort() {
            #expect(Duration.seconds(15).shortDescription == "15s")
            #expect(Duration.milliseconds(250).shortDescription == "250ms")
            #expect(Duration.milliseconds(1500).shortDescription == "1.5s")
        }
    }
}

extension LibSSH2Tests.HelperTests {
    /// Regression: libssh2 1.10's readline looks one byte past the line for a newline. Lines handed over
    /// in place (no terminator) sporadically lost the key's last character when a '\n' followed in memory,
    /// which turned a matching key into HOST_KEY_MISMATCH under load.
    @Test func aKnownHostsLineIsParsedWithinItsBounds() throws {
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIJ2lGxDqf5XSS0dPUc3y9f0kv1t1yPfyS7p0m1n3qUZV"
        let blob = try #require(Data(base64Encoded: key))
        let file = Array("[127.0.0.1]:2222 ssh-ed25519 \(key)\n[other]:1 ssh-ed25519 \(key)\n".utf8)
        let lineLength = try #require(file.firstIndex(of: UInt8(ascii: "\n")))
        let results = KnownHostsCollection.offline { hosts -> (Bool, Int32, Int32) in
            let parsed = file.withUnsafeBytes { hosts.add(line: UnsafeRawBufferPointer(rebasing: $0[0..<lineLength])) }
            let match = hosts.check(pattern: "[127.0.0.1]:2222", blob: Array(blob), type: .ed25519)
            let other = hosts.check(pattern: "[127.0.0.1]:2222", blob: Array(blob.dropLast()) + [0], type: .ed25519)
            return (parsed, match, other)
        }
        let (parsed, match, other) = try #require(results)
        #expect(parsed)
        #expect(match == 0)  // LIBSSH2_KNOWNHOST_CHECK_MATCH
        #expect(other == 1)  // LIBSSH2_KNOWNHOST_CHECK_MISMATCH
        #expect(LibSSH2Runtime.liveAllocations == 0)
    }
}
