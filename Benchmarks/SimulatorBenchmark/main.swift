// SimulatorBenchmark: the whole stack — BackupExecutor → LibSSH2Transport → vendor profile → archive —
// against simulated devices served by a DeviceSimulator in a separate process (so that the backup
// process's CPU and memory are measured apart from the simulator's).
//
//   swift run -c release simulator-benchmark                      # issue 5's workload (below)
//   swift run -c release simulator-benchmark --devices 200 --runs 3 --archive git
//
// Defaults: 1,000 devices (cisco_ios), 200 KB configurations, 20 ms latency per command, 100 at a time,
// one simulator process on 127.0.0.1 with a port per device. Talks only to 127.0.0.1.

import BackupExecutor
import BackupModels
import BenchmarkSupport
import ConfigArchive
import DeviceSimulator
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import TaskStore
import VendorProfiles

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var devices = 1000
    var concurrency = 100
    var configSize = 200_000
    var latencyMs = 20
    var vendor = "cisco_ios"
    var simulatorThreads = 2
    var runs = 1
    var warmup = 20
    var archive = "directory"
    var store = "memory"
    var keepArchive = false
    var serve = false
    var readyFile = ""

    static let username = "bench"
    static let password = "bench-password"
    static let enableSecret = "bench-enable"

    init(_ arguments: [String]) {
        var rest = arguments[...]
        func value(_ name: String) -> String {
            guard let v = rest.popFirst() else { fatalError("\(name) needs a value") }
            return v
        }
        func int(_ name: String) -> Int {
            guard let v = Int(value(name)) else { fatalError("\(name) needs a number") }
            return v
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "serve": serve = true
            case "--ready-file": readyFile = value(argument)
            case "--devices": devices = int(argument)
            case "--concurrency": concurrency = int(argument)
            case "--config-size": configSize = int(argument)
            case "--latency-ms": latencyMs = int(argument)
            case "--vendor": vendor = value(argument)
            case "--simulator-threads": simulatorThreads = int(argument)
            case "--runs": runs = int(argument)
            case "--warmup": warmup = int(argument)
            case "--archive": archive = value(argument)
            case "--store": store = value(argument)
            case "--keep-archive": keepArchive = true
            case "-h", "--help":
                print("""
                    simulator-benchmark [--devices N] [--concurrency N] [--config-size BYTES] [--latency-ms MS]
                                        [--vendor NAME] [--simulator-threads N] [--runs N] [--warmup N]
                                        [--archive directory|memory|git] [--store memory|file] [--keep-archive]
                    --keep-archive: every run stores into the same archive (after the first, configs are
                    unchanged: the steady state of nightly backups); otherwise each run starts empty.
                    """)
                exit(0)
            default: fatalError("unknown argument \(argument) (try --help)")
            }
        }
        precondition(["directory", "memory", "git"].contains(archive), "--archive: directory, memory or git")
        precondition(["memory", "file"].contains(store), "--store: memory or file")
    }

    /// The arguments that make a child process serve the same devices.
    var serveArguments: [String] {
        ["serve", "--devices", "\(devices)", "--config-size", "\(configSize)", "--latency-ms", "\(latencyMs)",
         "--vendor", vendor, "--simulator-threads", "\(simulatorThreads)"]
    }
}

func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

// MARK: - The simulator process

func simulatedDevices(_ options: Options) -> [SimulatedDevice] {
    guard let emulation = VendorEmulation.named(options.vendor) else { fatalError("unknown vendor \(options.vendor)") }
    return (1...options.devices).map { i in
        SimulatedDevice(
            id: DeviceID(i), hostname: "bench-\(i)", vendor: emulation, username: Options.username,
            password: Options.password, enableSecret: Options.enableSecret, configSize: options.configSize,
            seed: UInt64(i), latency: .milliseconds(options.latencyMs))
    }
}

/// Child mode: serve the devices, write "id<TAB>port" lines and then "ready" to the ready file, run until
/// killed.
func serve(_ options: Options) async throws {
    raiseFileLimit()
    let simulator = try DeviceSimulator(configuration: DeviceSimulatorConfiguration(
        devices: simulatedDevices(options), listenMode: .portPerDevice, threads: options.simulatorThreads))
    try await simulator.start()
    var lines = simulator.inventory().map { "\($0.id.rawValue)\t\($0.port)" }
    lines.append("ready")
    try (lines.joined(separator: "\n") + "\n").write(toFile: options.readyFile + ".tmp", atomically: false, encoding: .utf8)
    rename(options.readyFile + ".tmp", options.readyFile)
    try await simulator.run()
}

struct SimulatorProcess {
    var pid: pid_t
    var devices: [Device]

    static func start(_ options: Options, directory: String) async throws -> SimulatorProcess {
        let ready = directory + "/simulator.ready"
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let pid = spawnProcess([executable] + options.serveArguments + ["--ready-file", ready], output: directory + "/simulator.log")
        let deadline = ContinuousClock.now + .seconds(300)
        while !FileManager.default.fileExists(atPath: ready) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let log = (try? String(contentsOfFile: directory + "/simulator.log", encoding: .utf8)) ?? ""
                fatalError("the simulator process exited: \(log)")
            }
            precondition(ContinuousClock.now < deadline, "the simulator did not start within 300 s")
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = try String(contentsOfFile: ready, encoding: .utf8)
        let devices = text.split(separator: "\n").dropLast().map { line in
            let parts = line.split(separator: "\t")
            let id = Int(parts[0])!
            return Device(id: DeviceID(id), name: "bench-\(id)", host: "127.0.0.1", port: Int(parts[1])!, vendor: options.vendor)
        }
        return SimulatorProcess(pid: pid, devices: devices)
    }

    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

// MARK: - One run

struct RunResult {
    var devices: Int
    var seconds: Double
    var cpuSeconds: Double
    var childCPUSeconds: Double
    var simulatorCPUSeconds: Double
    var peakRSSKiB: Int
    var failures: [String: Int]
    var meanConfigBytes: Double

    var devicesPerSecond: Double { Double(devices) / seconds }
}

func makeArchive(_ options: Options, directory: String) async throws -> any ConfigArchive {
    switch options.archive {
    case "memory": return InMemoryArchive()
    case "git": return try await GitArchive(repository: directory + "/git")
    default: return try DirectoryArchive(directory: directory + "/configs")
    }
}

func makeStore(_ options: Options, directory: String) async throws -> any TaskStore {
    options.store == "file" ? try await FileTaskStore.open(directory: directory + "/store") : InMemoryTaskStore()
}

func backUp(
    _ executor: BackupExecutor, _ options: Options, devices: [DeviceID]?, simulator: SimulatorProcess
) async throws -> RunResult {
    let filter = try BackupFilter(
        deviceIDs: devices, asyncExecute: false, maxConcurrent: options.concurrency, timeout: 600, retryCount: 0,
        policy: .widened(maxConcurrent: options.concurrency))
    ProcessUsage.resetPeakRSS()
    let cpu0 = ProcessUsage.selfCPUSeconds()
    let children0 = ProcessUsage.childrenCPUSeconds()
    let simulator0 = ProcessUsage.cpuSeconds(of: simulator.pid)
    let start = ContinuousClock.now
    let task = try await executor.submit(filter)
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    var failures: [String: Int] = [:]
    for result in task.results where !result.success {
        failures[result.errorCode?.rawValue ?? "?", default: 0] += 1
    }
    let sizes = task.results.compactMap(\.configSize)
    return RunResult(
        devices: task.results.count, seconds: seconds, cpuSeconds: ProcessUsage.selfCPUSeconds() - cpu0,
        childCPUSeconds: ProcessUsage.childrenCPUSeconds() - children0,
        simulatorCPUSeconds: ProcessUsage.cpuSeconds(of: simulator.pid) - simulator0,
        peakRSSKiB: ProcessUsage.peakRSSKiB(), failures: failures,
        meanConfigBytes: sizes.isEmpty ? 0 : Double(sizes.reduce(0, +)) / Double(sizes.count))
}

func printRow(_ label: String, _ r: RunResult) {
    let failures = r.failures.isEmpty ? "0" : r.failures.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    print(
        "| \(label) | \(r.devices) | \(format(r.seconds, 2)) | \(format(r.devicesPerSecond, 1)) | "
            + "\(format(r.cpuSeconds / Double(r.devices) * 1000, 2)) | \(format(r.childCPUSeconds / Double(r.devices) * 1000, 2)) | "
            + "\(r.peakRSSKiB / 1024) MiB | \(format(r.simulatorCPUSeconds / Double(r.devices) * 1000, 2)) | "
            + "\(format(r.meanConfigBytes / 1000, 1)) KB | \(failures) |")
}

// MARK: - Main

let options = Options(Array(CommandLine.arguments.dropFirst()))
if options.serve {
    try await serve(options)
    exit(0)
}

raiseFileLimit()
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("simulator-benchmark-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

print("Starting the simulator: \(options.devices) × \(options.vendor), \(options.configSize) B configs, "
    + "\(options.latencyMs) ms/command, \(options.simulatorThreads) threads…")
let simulator = try await SimulatorProcess.start(options, directory: directory)
defer { simulator.stop() }
print("Backing up at concurrency \(options.concurrency), archive \(options.archive), store \(options.store); "
    + "\(ProcessInfo.processInfo.activeProcessorCount) CPUs, load \(ProcessUsage.readProcFile("/proc/loadavg").split(separator: " ").prefix(3).joined(separator: " "))")
print("")
print("| run | devices | seconds | devices/s | CPU ms/device (backup process) | CPU ms/device (children: git) | peak RSS | simulator CPU ms/device | mean config | failures |")
print("|---|---|---|---|---|---|---|---|---|---|")

let credentials = Credentials(
    username: Options.username, password: Secret(Options.password), enableSecret: Secret(Options.enableSecret))
var results: [RunResult] = []
var keptArchive: (any ConfigArchive)?
for run in 0...options.runs {
    if run == 0 && options.warmup == 0 { continue }
    // A fresh archive and store per run, so that every run stores every configuration.
    let runDirectory = directory + "/run\(run)"
    try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    let archive: any ConfigArchive
    if options.keepArchive && run > 0 {
        if keptArchive == nil { keptArchive = try await makeArchive(options, directory: directory + "/kept") }
        archive = keptArchive!
    } else {
        archive = try await makeArchive(options, directory: runDirectory)
    }
    let executor = BackupExecutor(
        configuration: .init(
            policy: .widened(maxConcurrent: options.concurrency), maxConcurrentSessions: options.concurrency,
            hostKeyPolicy: .acceptAnyUnsafe),
        inventory: StaticInventory(devices: simulator.devices, defaultCredentials: credentials),
        transport: LibSSH2Transport(), retriever: ProfileConfigRetriever(),
        archive: archive, store: try await makeStore(options, directory: runDirectory))
    let result = try await executor.withRunning { executor in
        try await backUp(
            executor, options, devices: run == 0 ? simulator.devices.prefix(options.warmup).map(\.id) : nil,
            simulator: simulator)
    }
    printRow(run == 0 ? "warm-up" : "\(run)", result)
    if run > 0 { results.append(result) }
    try? FileManager.default.removeItem(atPath: runDirectory)
}
if results.count > 1 {
    let sorted = results.sorted { $0.devicesPerSecond < $1.devicesPerSecond }
    printRow("median", sorted[sorted.count / 2])
}
