import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceTransport
import Foundation
import TaskStore
import Testing

// The Swift blocks of Documentation/GettingStarted.md (after the Package.swift fragment), verbatim inside
// functions whose parameters are the blocks' free variables: they must compile. The last test checks that
// the article still shows exactly this code.
enum GettingStartedSnippets {
    static func backUpAFleet(transport: any DeviceTransport, retriever: any ConfigRetriever, passwordFromVault: String) async throws {
        let inventory = StaticInventory(
            devices: [
                Device(id: 1, name: "core-sw1", host: "192.0.2.10", vendor: "cisco_ios"),
                Device(id: 2, name: "edge-fw1", host: "192.0.2.20", port: 2222, vendor: "fortinet_fortios"),
            ],
            defaultCredentials: Credentials(username: "netops", password: Secret(passwordFromVault)))

        let executor = BackupExecutor(
            configuration: BackupExecutorConfiguration(
                maxConcurrentSessions: 50,
                hostKeyPolicy: .strict(knownHostsFile: "/etc/devicebackup/known_hosts")),
            inventory: inventory,
            transport: transport,                        // e.g. LibSSH2Transport()
            retriever: retriever,                        // e.g. vendor profiles; ExecCommandRetriever() for exec-only devices
            archive: try DirectoryArchive(directory: "/var/lib/devicebackup/configs"),
            store: InMemoryTaskStore())                  // use the file store for tasks that survive restarts

        let task = try await executor.withRunning { executor in
            try await executor.submit(
                try BackupFilter(filterStatus: .online, asyncExecute: false, maxConcurrent: 5, timeout: 120, retryCount: 2),
                createdBy: "nightly-cron",
                idempotencyKey: "nightly-2026-11-29")
        }
        print(task.status, task.successCount, task.failedCount)
        for error in task.errors { print(error.deviceName ?? "-", error.errorCode, error.errorMessage) }
        _ = task
    }

    static func followATaskLive(executor: BackupExecutor) async throws {
        let task = try await executor.submit(try BackupFilter())         // async: returns the pending task at once
        for await event in try await executor.events(for: task.taskID) {
            switch event.kind {
            case .snapshot(let current): print("now:", current.progressPercentage, "%")
            case .deviceFinished(let result): print(result.deviceName, result.success ? "ok" : result.errorCode!.rawValue)
            case .attemptFailed(let device, let attempt, let error, let delay): print(device.name, "attempt", attempt, error.code, "retry in", delay)
            case .taskFinished(let summary): print("done:", summary.status)
            default: break
            }
        }
    }

    static func cancelQueryHistory(executor: BackupExecutor, task: BackupTask) async throws {
        let cancelled = try await executor.cancel(taskID: task.taskID)   // running devices stop, the rest are CANCELLED
        let page = try await executor.tasks(try TaskQuery(status: .failed, page: 1, pageSize: 20))
        let history = try await executor.history(deviceID: 1, limit: 10)
        _ = (cancelled, page, history)
    }
}

@Test func gettingStartedShowsTheseSnippets() throws {
    let here = URL(fileURLWithPath: #filePath)
    let source = try String(contentsOf: here, encoding: .utf8)
    let article = try String(
        contentsOf: here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../../Documentation/GettingStarted.md").standardizedFileURL,
        encoding: .utf8)
    let blocks = article.components(separatedBy: "```swift\n").dropFirst(2).map { $0.components(separatedBy: "```")[0] }
    #expect(blocks.count == 3)
    for block in blocks {
        let code = block.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("import ") }
            .drop { $0.isEmpty }
            .map { $0.isEmpty ? "" : "        " + $0 }
            .joined(separator: "\n")
        #expect(source.contains(code), "GettingStarted.md has a block this file does not compile:\n\(block)")
    }
}
