import Foundation
import Testing

/// Runs the built `netbackup demo` (the README's first command) end to end: a simulated fleet of every
/// built-in vendor over libssh2 into a git archive and a file store.
@Suite("netbackup demo")
struct DemoTests {
    @Test("the demo runs to completion, exit 0, naming each deliberately failing device with its error code", .timeLimit(.minutes(5)))
    func demo() throws {
        let binDir = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).deletingLastPathComponent()
        let netbackup = binDir.appendingPathComponent("netbackup").path
        try #require(FileManager.default.isExecutableFile(atPath: netbackup), "build the netbackup product first (swift build)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: netbackup)
        process.arguments = ["demo", "--dir", dir]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text.suffix(3000))")
        #expect(text.contains("demo-huawei-vrp-7: AUTH_FAILED"))
        #expect(text.contains("demo-cisco-iosxr-19: TRUNCATED_CONFIG"))
        #expect(text.contains("demo-ruijie-rgos-31: CONNECTION_LOST"))
        #expect(text.contains("Backed up 47 of 50 devices; 3 failed."))
        #expect(text.contains("The demo ran as designed."))
        // The archive holds 47 configs in two commits: the first backup, then only the changed device.
        let log = try String(contentsOfFile: dir + "/configs/.git/HEAD", encoding: .utf8)
        #expect(log.hasPrefix("ref: "))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/configs").filter { $0.hasSuffix(".cfg") }
        #expect(files.count == 47)
    }
}
