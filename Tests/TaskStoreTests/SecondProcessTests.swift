import BackupModels
import BackupSupport
import Foundation
import Testing

@testable import TaskStore

#if canImport(Glibc)
import Glibc
#endif

/// Two processes on one directory. The test binary runs itself again as the other process: with
/// `TASKSTORE_LOCK_HOLDER_DIR` set, the test ``lockHolder()`` opens the store there, says `READY <pid>` on stdout
/// and holds the store until its stdin closes.
@Suite("FileTaskStore across processes")
struct SecondProcessTests {
    static let holderEnvironment = "TASKSTORE_LOCK_HOLDER_DIR"

    @Test("a second process opening a directory in use gets a clear error naming the holder's pid, and writes nothing")
    func secondProcess() async throws {
        let directory = try TemporaryDirectory("process")
        defer { directory.remove() }
        let executable = try #require(selfExecutable())

        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["--testing-library", "swift-testing", "--filter", "lockHolder"]
        child.environment = ProcessInfo.processInfo.environment.merging([Self.holderEnvironment: directory.path]) { $1 }
        let input = Pipe()
        let output = Pipe()
        child.standardInput = input
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let outputFD = output.fileHandleForReading.fileDescriptor
        var released = false
        func release() async throws -> Int32 {
            // Closing its stdin tells the holder to close the store and exit; its stdout then ends.
            if !released {
                released = true
                try input.fileHandleForWriting.close()
            }
            _ = try await BlockingIOPool.shared.run { readLine(outputFD, until: nil) }
            child.waitUntilExit()
            return child.terminationStatus
        }

        do {
            let ready = try await BlockingIOPool.shared.run { readLine(outputFD, until: "READY ") }
            let holderPID = try #require(ready.flatMap { Int32($0.dropFirst("READY ".count)) })
            #expect(holderPID == child.processIdentifier)
            #expect(holderPID != getpid())

            let before = try directory.contents()
            let error = await backupError { _ = try await FileTaskStore.open(directory: directory.path) }
            #expect(error?.isStoreFailed(mentioning: "locked", "another process (pid \(holderPID))", directory.path) == true)
            #expect(try directory.contents() == before)
        } catch {
            _ = try? await release()
            throw error
        }
        #expect(try await release() == 0)

        // The holder is gone, and so is its lock: the store opens and holds what the holder wrote.
        try await withFileStore(directory) { store async throws in
            #expect(try await store.task(id: "held")?.devices.count == 2)
        }
    }

    @Test(
        "helper: holds a store for secondProcess (runs only in the child process)",
        .enabled(if: ProcessInfo.processInfo.environment[holderEnvironment] != nil))
    func lockHolder() async throws {
        let path = try #require(ProcessInfo.processInfo.environment[Self.holderEnvironment])
        let store = try await FileTaskStore.open(directory: path)
        _ = try await store.create(makeTask("held", devices: 2))
        let line = Array("READY \(getpid())\n".utf8)
        try await BlockingIOPool.shared.run {
            try FileIO.writeAll(STDOUT_FILENO, line, path: "stdout")
            // Hold the store until the parent closes our stdin.
            var byte: UInt8 = 0
            while read(STDIN_FILENO, &byte, 1) > 0 {}
        }
        try await store.close()
    }
}

/// This process's executable.
private func selfExecutable() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Reads `fd` line by line until a line starts with `prefix` (returned), or to the end (`nil`). Blocking.
private func readLine(_ fd: Int32, until prefix: String?) -> String? {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while read(fd, &byte, 1) > 0 {
        if byte != UInt8(ascii: "\n") {
            line.append(byte)
            continue
        }
        let text = String(decoding: line, as: UTF8.self)
        line.removeAll()
        // The child's test runner decorates its own lines; ours is bare.
        if let prefix, text.hasPrefix(prefix) { return text }
    }
    return nil
}
