import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Set in the child process that runs the libssh2 suite on its own.
let isolatedSuiteVariable = "DEVICEBACKUP_LIBSSH2_ISOLATED"
let runningIsolated = ProcessInfo.processInfo.environment[isolatedSuiteVariable] == "1"

/// Every test of this target runs one after another, in a process of its own: the resource tests count
/// the process's threads, file descriptors and libssh2 allocations, which tests of other targets running
/// in parallel in the same process would disturb. ``LibSSH2IsolatedRun`` starts that process.
@Suite("DeviceTransportLibSSH2", .serialized, .enabled(if: runningIsolated, "runs in its own process (see LibSSH2IsolatedRun)"))
struct LibSSH2Tests {}

@Suite("DeviceTransportLibSSH2 (isolated process)")
struct LibSSH2IsolatedRun {
    @Test(
        "the libssh2 transport suite passes in a process of its own",
        .enabled(if: !runningIsolated), .timeLimit(.minutes(15)))
    func runSuiteInOwnProcess() async throws {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--testing-library", "swift-testing", "--filter", "DeviceTransportLibSSH2Tests.LibSSH2Tests"]
        process.environment = ProcessInfo.processInfo.environment.merging([isolatedSuiteVariable: "1"]) { $1 }
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("libssh2-suite-\(getpid()).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        try log.close()
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: logPath)
        let lines = output.split(separator: "\n")
        let summary = lines.last { $0.contains("Test run with") } ?? "no summary"
        print("libssh2 suite (own process): \(summary)")
        let failures = lines.filter { $0.contains("✘") }
        #expect(process.terminationStatus == 0, "libssh2 suite failed:\n\(failures.joined(separator: "\n"))\n\(summary)")
        #expect(summary.contains("passed"), "\(summary)")
        #expect(!summary.contains(" 0 tests"), "the isolated run executed no test")
    }
}
