@testable import DeviceTransportLibSSH2
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension LibSSH2Tests {
    /// Trust on first use records a host under a lock, re-reading and re-checking the file: two first
    /// contacts with different keys (two sessions, two processes) never both get trusted.
    @Suite("Recording new hosts")
    struct KnownHostsRecordingTests {
        /// An Ed25519 public key blob (SSH wire format) with key bytes from `seed`.
        static func ed25519Key(_ seed: UInt8) -> ServerHostKey {
            let name = Array("ssh-ed25519".utf8)
            let blob = [0, 0, 0, UInt8(name.count)] + name + [0, 0, 0, 32] + (0..<32).map { seed &+ UInt8($0) }
            return ServerHostKey(.ed25519, blob: blob)
        }

        static func temporaryDirectory() throws -> String {
            var template = Array("/tmp/devicebackup-knownhosts-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw FixtureError("mkdtemp failed") }
            return String(cString: made)
        }

        let pattern = Self.pattern
        static let pattern = "[192.0.2.7]:2222"


        final class Flag: Sendable {
            let value = Atomic<Bool>(false)
        }

        /// Runs `body` on a thread of its own (recording blocks: never on the cooperative pool).
        static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: body()) }
            }
        }

        @Test func racingFirstContactsWithDifferentKeysTrustExactlyOne() async throws {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for round in 0..<40 {
                let path = directory + "/known_hosts_\(round)"
                let keys = [Self.ed25519Key(1), Self.ed25519Key(101)]
                // Two threads, each with its own lock-file descriptor (as two processes have), released
                // together.
                let start = DispatchSemaphore(value: 0)
                func recorder(_ index: Int) async -> Result<KnownHosts.RecordOutcome, any Error> {
                    await Self.onThread {
                        start.wait()
                        return Result { try KnownHosts.recordSync(keys[index], pattern: Self.pattern, path: path) }
                    }
                }
                async let first = recorder(0)
                async let second = recorder(1)
                start.signal()
                start.signal()
                let results = [0: try await first.get(), 1: try await second.get()]
                let winners = results.filter { $0.value == .recorded }.map(\.key)
                #expect(winners.count == 1, "round \(round): \(results)")
                #expect(results.values.filter { $0 == .conflict(recordedTypes: ["ssh-ed25519"]) }.count == 1, "round \(round): \(results)")
                let contents = try String(contentsOfFile: path, encoding: .utf8)
                if let winner = winners.first {
                    #expect(contents == KnownHosts.line(pattern: pattern, key: keys[winner]) + "\n")
                }
            }
        }

        @Test func aRecorderWaitsForTheLockAndSeesWhatTheHolderWrote() async throws {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/known_hosts"
            // "Another process" holds the lock while it records its key.
            let lock = open(KnownHosts.lockPath(for: path), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            #expect(lock >= 0)
            #expect(flock(lock, LOCK_EX) == 0)
            let finished = Flag()
            async let recorded = Self.onThread {
                defer { finished.value.store(true, ordering: .sequentiallyConsistent) }
                return Result<KnownHosts.RecordOutcome, any Error> {
                    try KnownHosts.recordSync(Self.ed25519Key(1), pattern: Self.pattern, path: path)
                }
            }
            // Lets the recorder reach the lock; the outcome does not depend on how long this takes.
            try await Task.sleep(for: .milliseconds(200))
            let otherLine = KnownHosts.line(pattern: pattern, key: Self.ed25519Key(101)) + "\n"
            try otherLine.write(toFile: path, atomically: false, encoding: .utf8)
            let finishedEarly = finished.value.load(ordering: .sequentiallyConsistent)
            #expect(!finishedEarly, "the recorder did not wait for the lock")
            close(lock)
            #expect(try await recorded.get() == .conflict(recordedTypes: ["ssh-ed25519"]))
            #expect(try String(contentsOfFile: path, encoding: .utf8) == otherLine)
        }

        @Test func recordingIsIdempotentAndAppendsAfterOtherHosts() throws {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/known_hosts"
            // An existing file without a final newline, holding another host.
            let other = KnownHosts.line(pattern: "[192.0.2.8]:22", key: Self.ed25519Key(50))
            try other.write(toFile: path, atomically: false, encoding: .utf8)
            let key = Self.ed25519Key(1)
            #expect(try KnownHosts.recordSync(key, pattern: pattern, path: path) == .recorded)
            #expect(try KnownHosts.recordSync(key, pattern: pattern, path: path) == .alreadyRecorded)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == other + "\n" + KnownHosts.line(pattern: pattern, key: key) + "\n")
        }

        @Test func aHostKnownByAnotherKeyTypeIsAConflict() throws {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/known_hosts"
            // Known by an ECDSA key (any blob: only the type and the host matter here).
            let ecdsa = ServerHostKey(.ecdsa256, blob: Array("ecdsa-blob".utf8))
            #expect(try KnownHosts.recordSync(ecdsa, pattern: pattern, path: path) == .recorded)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(try KnownHosts.recordSync(Self.ed25519Key(1), pattern: pattern, path: path) == .conflict(recordedTypes: ["ecdsa-sha2-nistp256"]))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }

        @Test func newFilesAreCreatedOwnerOnly() throws {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/new/dir/known_hosts"
            #expect(try KnownHosts.recordSync(Self.ed25519Key(1), pattern: pattern, path: path) == .recorded)
            func mode(_ path: String) -> mode_t {
                var info = stat()
                return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
            }
            #expect(mode(path) == 0o600)
            #expect(mode(KnownHosts.lockPath(for: path)) == 0o600)
            #expect(mode(directory + "/new/dir") == 0o700)
        }
    }
}
