// Executor benchmark: the executor's own overhead per device, with the mock transport at zero latency.
//
//   swift run -c release executor-benchmark [--devices N] [--concurrency C] [--config-bytes B] [--runs R]
//
// Reports devices/s, CPU seconds (user+system) per device and peak RSS of this process.
import BackupExecutor
import BackupModels
import BenchmarkSupport
import BackupTestKit
import ConfigArchive
import DeviceTransport
import Foundation
import TaskStore

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var devices = 100_000
    var concurrency = 100
    var configBytes = 64
    var runs = 1
    var storeDirectory: String?

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            if flag == "--file-store" {
                storeDirectory = iterator.next()
                continue
            }
            guard let value = iterator.next().flatMap(Int.init) else {
                FileHandle.standardError.write(Data("usage: executor-benchmark [--devices N] [--concurrency C] [--config-bytes B] [--runs R] [--file-store DIR]\n".utf8))
                exit(2)
            }
            switch flag {
            case "--devices": devices = value
            case "--concurrency": concurrency = value
            case "--config-bytes": configBytes = value
            case "--runs": runs = value
            default:
                FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(arguments: CommandLine.arguments)
let config = String(repeating: "x", count: max(0, options.configBytes - 1)) + "\n"
let storeName = options.storeDirectory.map { "durable file store in \($0)" } ?? "in-memory store"
print("workload: \(options.devices) mock devices (zero latency, \(options.configBytes)-byte configs), max_concurrent \(options.concurrency), \(storeName), in-memory archive")

for run in 1...options.runs {
    let configuration = BackupExecutorConfiguration(
        policy: .widened(maxConcurrent: max(10, options.concurrency)), maxConcurrentSessions: options.concurrency,
        hostKeyPolicy: .acceptAnyUnsafe)
    let store: any TaskStore
    var fileStore: FileTaskStore?
    if let directory = options.storeDirectory {
        let path = directory + "/run-\(run)-\(UUID().uuidString)"
        fileStore = try await FileTaskStore.open(directory: path)
        store = fileStore!
    } else {
        store = InMemoryTaskStore()
    }
    let executor = BackupExecutor(
        configuration: configuration, inventory: StaticInventory.mock(count: options.devices),
        transport: MockTransport(defaultBehavior: .config(config)), archive: InMemoryArchive(), store: store)
    let filter = try BackupFilter(asyncExecute: false, maxConcurrent: options.concurrency, policy: configuration.policy)
    let cpuBefore = ProcessUsage.selfCPUSeconds()
    let start = ContinuousClock.now
    let task = try await executor.withRunning { try await $0.submit(filter) }
    let elapsed = (ContinuousClock.now - start)
    let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let cpu = ProcessUsage.selfCPUSeconds() - cpuBefore
    guard task.status == .completed, task.successCount == options.devices else {
        print("run \(run): FAILED: \(task.status) \(task.successCount)/\(options.devices)")
        exit(1)
    }
    let rate = Double(options.devices) / wall
    print(String(format: "run %d: %.0f devices/s, wall %.2f s, CPU %.2f s (%.1f µs/device), peak RSS %.0f MB",
                 run, rate, wall, cpu, cpu / Double(options.devices) * 1e6, (Double(ProcessUsage.peakRSSKiB()) / 1024)))
    if let fileStore {
        let journal = (try? FileManager.default.attributesOfItem(atPath: fileStore.journalPath)[.size] as? Int) ?? 0
        try await fileStore.close()
        let reopenStart = ContinuousClock.now
        let reopened = try await FileTaskStore.open(directory: fileStore.directory)
        let reopen = ContinuousClock.now - reopenStart
        let count = try await reopened.summary(id: task.taskID)?.completed ?? 0
        try await reopened.close()
        print(String(format: "       journal %.1f MB (%.0f bytes/result), reopen %.2f s (%d results)",
                     Double(journal) / 1e6, Double(journal) / Double(options.devices),
                     Double(reopen.components.seconds) + Double(reopen.components.attoseconds) / 1e18, count))
        try? FileManager.default.removeItem(atPath: fileStore.directory)
    }
}
