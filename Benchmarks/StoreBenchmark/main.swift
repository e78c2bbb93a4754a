// File task store benchmark: durable device results through FileTaskStore's group commit.
//
//   swift run -c release store-benchmark [--results N] [--writers W] [--per-call K] [--unsynced]
//                                        [--compaction-threshold BYTES] [--directory D]
//   swift run -c release store-benchmark --directory D --reopen-only
//
// Workload: one task with N devices; W concurrent writers each record their share of the N results, K results
// per `record` call (1 by default: one call per device, as the executor does), every call durable
// (fdatasync, group commit) unless --unsynced. Reports results/s, CPU per result, bytes on disk per result,
// the time to reopen (replay) the store, compaction time and size, and peak RSS.
import BackupModels
import BenchmarkSupport
import Foundation
import TaskStore

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var results = 100_000
    var writers = 100
    var perCall = 1
    var synced = true
    var directory: String?
    /// Only reopen the store in `directory` (left by an earlier run with --directory), e.g. to profile replay.
    var reopenOnly = false
    var compactionThreshold = FileTaskStore.Options().compactionThreshold

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        func usage() -> Never {
            FileHandle.standardError.write(Data(
                "usage: store-benchmark [--results N] [--writers W] [--per-call K] [--unsynced] [--compaction-threshold BYTES] [--directory D [--reopen-only]]\n".utf8))
            exit(2)
        }
        while let flag = iterator.next() {
            switch flag {
            case "--unsynced": synced = false
            case "--reopen-only": reopenOnly = true
            case "--directory":
                guard let value = iterator.next() else { usage() }
                directory = value
            case "--results", "--writers", "--per-call", "--compaction-threshold":
                guard let value = iterator.next().flatMap(Int.init), value > 0 else { usage() }
                switch flag {
                case "--results": results = value
                case "--writers": writers = value
                case "--compaction-threshold": compactionThreshold = value
                default: perCall = value
                }
            default: usage()
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Size and allocated bytes of a file.
func fileSize(_ path: String) -> (size: Int, allocated: Int) {
    var info = stat()
    guard stat(path, &info) == 0 else { return (0, 0) }
    return (Int(info.st_size), Int(info.st_blocks) * 512)
}

/// A realistic result: a SHA-256 config id, sizes, timings; every 50th device fails with a message.
func result(_ device: Int, base: Date) -> DeviceBackupResult {
    let started = base.addingTimeInterval(Double(device) / 1000)
    if device % 50 == 0 {
        return DeviceBackupResult(
            deviceID: DeviceID(device), deviceName: "dev-\(device)", success: false, errorCode: .maxRetriesExceeded,
            errorMessage: "Could not connect to 10.0.\(device / 256 % 256).\(device % 256):22 — connection timed out",
            causeCode: .connectionTimeout, executionTime: 31.5, attempts: 3, startedAt: started,
            finishedAt: started.addingTimeInterval(31.5))
    }
    let configID = String(repeating: String(device, radix: 16), count: 64).prefix(64)
    return DeviceBackupResult(
        deviceID: DeviceID(device), deviceName: "dev-\(device)", success: true, configID: String(configID),
        configSize: 20_000 + device % 5000, changed: device % 7 == 0, executionTime: 1.234, attempts: 1,
        startedAt: started, finishedAt: started.addingTimeInterval(1.234))
}

let options = Options(arguments: CommandLine.arguments)
if options.reopenOnly, let directory = options.directory {
    let begin = ContinuousClock.now
    let cpu = ProcessUsage.selfCPUSeconds()
    let store = try await FileTaskStore.open(directory: directory)
    let report = store.recoveryReport
    let results = try await store.summary(id: "benchmark")?.completed ?? 0
    print(String(format: "reopen: %.2f s wall, %.2f s CPU, %d records, %d results, %@, peak RSS %.0f MB",
        seconds(ContinuousClock.now - begin), ProcessUsage.selfCPUSeconds() - cpu, report.recordsReplayed, results,
        report.isClean ? "clean" : report.damagedRecords.map { "\($0.kind.rawValue) at line \($0.line)" }.joined(separator: ", "),
        (Double(ProcessUsage.peakRSSKiB()) / 1024)))
    try await store.close()
    exit(0)
}
let directory = options.directory
    ?? FileManager.default.temporaryDirectory.path + "/store-benchmark-\(getpid())"
try? FileManager.default.removeItem(atPath: directory)
let journal = directory + "/journal.jsonl"
let storeOptions = FileTaskStore.Options(
    durability: options.synced ? .synced : .unsynced, compactionThreshold: options.compactionThreshold)
print("workload: \(options.results) device results into one task, \(options.writers) concurrent writers, "
    + "\(options.perCall) result(s) per record call, durability \(options.synced ? "synced (fdatasync, group commit)" : "unsynced")")
print("directory: \(directory)")

let base = Date(timeIntervalSince1970: 1_750_000_000)
let devices = (1...options.results).map { DeviceRef(id: DeviceID($0), name: "dev-\($0)", vendor: "cisco_ios") }
let task = BackupTask(
    summary: BackupTaskSummary(
        taskID: "benchmark", status: .pending, total: options.results, message: "benchmark", createdAt: base,
        priority: .normal, filter: .default),
    devices: devices)

// 1. Record.
let store = try await FileTaskStore.open(directory: directory, options: storeOptions)
_ = try await store.create(task)
try await store.markRunning(taskID: "benchmark", at: base, resumed: false)
let afterCreate = fileSize(journal).size
let cpuBefore = ProcessUsage.selfCPUSeconds()
let start = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for writer in 0..<options.writers {
        group.addTask {
            // Writer w records devices w+1, w+1+W, w+1+2W, …
            var batch: [DeviceBackupResult] = []
            var device = writer + 1
            while device <= options.results {
                batch.append(result(device, base: base))
                if batch.count == options.perCall {
                    try await store.record(batch, taskID: "benchmark")
                    batch.removeAll(keepingCapacity: true)
                }
                device += options.writers
            }
            if !batch.isEmpty { try await store.record(batch, taskID: "benchmark") }
        }
    }
    try await group.waitForAll()
}
let recordWall = seconds(ContinuousClock.now - start)
let recordCPU = ProcessUsage.selfCPUSeconds() - cpuBefore
let statistics = store.statistics
try await store.finish(taskID: "benchmark", status: .partial, message: "done", error: nil, at: base.addingTimeInterval(100))
try await store.close()
let (journalSize, journalAllocated) = fileSize(journal)
let resultBytes = journalSize - afterCreate
print(String(format: "record:  %.0f results/s, wall %.2f s, CPU %.2f s (%.1f µs/result), %d batches (%.1f records per %@)",
    Double(options.results) / recordWall, recordWall, recordCPU, recordCPU / Double(options.results) * 1e6,
    statistics.batches, statistics.recordsPerBatch, options.synced ? "fdatasync" : "write"))
print(String(format: "disk:    journal %.1f MB (%.1f MB allocated), %.0f bytes/result appended",
    Double(journalSize) / 1e6, Double(journalAllocated) / 1e6, Double(resultBytes) / Double(options.results)))

// 2. Reopen: replay the journal of appended results.
func reopen(_ label: String) async throws -> FileTaskStore {
    let cpu = ProcessUsage.selfCPUSeconds()
    let begin = ContinuousClock.now
    let reopened = try await FileTaskStore.open(directory: directory, options: storeOptions)
    let wall = seconds(ContinuousClock.now - begin)
    let summary = try await reopened.summary(id: "benchmark")
    guard reopened.recoveryReport.isClean, let summary, summary.completed == options.results,
        summary.failedCount == options.results / 50
    else {
        print("FAILED: reopened store does not hold the \(options.results) results: \(String(describing: summary))")
        exit(1)
    }
    print(String(format: "%@ %.2f s wall, %.2f s CPU (%d records)", label, wall, ProcessUsage.selfCPUSeconds() - cpu,
        reopened.recoveryReport.recordsReplayed))
    return reopened
}
let reopened = try await reopen("reopen:  journal replay")

// 3. Compact, then reopen the snapshot.
let compactStart = ContinuousClock.now
try await reopened.compact()
let compactWall = seconds(ContinuousClock.now - compactStart)
try await reopened.close()
let snapshotSize = fileSize(journal).size
print(String(format: "compact: %.2f s, snapshot %.1f MB (%.0f bytes/result)", compactWall, Double(snapshotSize) / 1e6,
    Double(snapshotSize) / Double(options.results)))
let fromSnapshot = try await reopen("reopen:  snapshot replay")
try await fromSnapshot.close()
print(String(format: "peak RSS %.0f MB", (Double(ProcessUsage.peakRSSKiB()) / 1024)))
if options.directory == nil { try? FileManager.default.removeItem(atPath: directory) }
