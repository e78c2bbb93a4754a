import ArgumentParser
import BackupExecutor
import BackupModels
import ConfigArchive
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import NetBackupKit
import TaskStore
import VendorProfiles

#if canImport(Glibc)
import Glibc
#endif

@main
struct NetBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netbackup",
        abstract: "Back up network device configurations over SSH into git, reliably.",
        discussion: """
            Exit status: \(ExitStatus.summary)
            Files live under $NETBACKUP_HOME (default ~/.netbackup) unless --store/--archive say otherwise.
            """,
        subcommands: [Backup.self, Tasks.self, History.self] + extraCommands)

    static func main() async {
        let parsed: any ParsableCommand
        do {
            parsed = try parseAsRoot()
        } catch {
            exitForParsing(error)
        }
        do {
            var command = parsed
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            printError("netbackup: \(failure.message)")
            Glibc.exit(failure.status.rawValue)
        } catch let error as InventoryError {
            printError("netbackup: invalid inventory: \(error)")
            Glibc.exit(ExitStatus.usage.rawValue)
        } catch let error as BackupModels.ValidationError {
            printError("netbackup: invalid options: \(error)")
            Glibc.exit(ExitStatus.usage.rawValue)
        } catch let error as BackupError {
            switch error.code {
            case .idempotencyConflict:
                printError("netbackup: --idempotency-key conflict [\(error.code.rawValue)]: \(describeError(error))")
                Glibc.exit(ExitStatus.usage.rawValue)
            case .invalidRequest, .taskNotFound, .taskAlreadyFinished:
                printError("netbackup: \(error)")
                Glibc.exit(ExitStatus.usage.rawValue)
            default:
                printError("netbackup: \(error)")
                Glibc.exit(ExitStatus.someFailed.rawValue)
            }
        } catch let error as ExitCode {
            Glibc.exit(error.rawValue)
        } catch {
            exitForParsing(error)
        }
    }

    /// Exits for an error of the argument parser: usage errors exit 2 (as documented), help and version 0.
    static func exitForParsing(_ error: any Error) -> Never {
        if exitCode(for: error) == .validationFailure {
            printError(fullMessage(for: error))
            Glibc.exit(ExitStatus.usage.rawValue)
        }
        exit(withError: error)
    }
}

/// Options for where tasks are kept.
struct StorageOptions: ParsableArguments {
    @Option(help: "Directory of the task store (default: $NETBACKUP_HOME/tasks).")
    var store: String = NetBackupPaths.store

    /// Opens the store; `create: false` (reading commands) never creates one.
    func openStore(create: Bool) async throws -> FileTaskStore {
        try await openTaskStore(directory: store, create: create)
    }
}

/// Options for reading the inventory.
struct InventoryOptions: ParsableArguments {
    @Option(help: "Inventory file (.yaml, .yml, .json or .csv).") var inventory: String
    @Option(help: "Refuse inventory files larger than this many bytes (default: 16 MiB).")
    var maxInventoryBytes: Int = InventoryFile.defaultMaxBytes

    func validate() throws {
        guard maxInventoryBytes >= 1 else { throw ValidationError("--max-inventory-bytes must be at least 1") }
    }

    func load(registry: VendorProfileRegistry) async throws -> InventoryFile {
        try await InventoryFile.loadInBackground(path: inventory, knownVendors: Set(registry.names), maxBytes: maxInventoryBytes)
    }
}

enum HostKeyChoice: String, ExpressibleByArgument, CaseIterable {
    case strict, tofu
    case acceptAny = "accept-any"

    func policy(knownHosts: String) -> HostKeyPolicy {
        switch self {
        case .strict: .strict(knownHostsFile: knownHosts)
        case .tofu: .trustOnFirstUse(knownHostsFile: knownHosts)
        case .acceptAny: .acceptAnyUnsafe
        }
    }
}

/// Creates the directory of the known_hosts file (naming the path and what to do when it cannot).
func prepareKnownHosts(_ knownHosts: String) throws {
    let directory = (knownHosts as NSString).deletingLastPathComponent
    if !directory.isEmpty { try createDirectory(directory, for: "the known_hosts file", option: "--known-hosts") }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: knownHosts, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CommandFailure(.usage, "--known-hosts \(knownHosts) is a directory, not a file")
    }
}

/// Prints a finished run's report (text on stderr, or JSON on stdout) and exits with its status.
func finish(_ outcome: BackupRunOutcome, archive: String, json: Bool) throws -> Never {
    let report = BackupReport(outcome, archive: archive)
    if json {
        print(try report.json())
        if let error = report.summary.commitError { printError("netbackup: ARCHIVE COMMIT FAILED: \(describeError(error))") }
    } else {
        printError(report.text)
    }
    Glibc.exit(outcome.exitStatus.rawValue)
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up the devices of an inventory file.",
        discussion: "Exit status: \(ExitStatus.summary)")

    @OptionGroup var inventoryOptions: InventoryOptions
    @Option(help: "Only devices with this status: online, offline or maintenance.") var filterStatus: String?
    @Option(help: "Only devices of this vendor profile.") var filterVendor: String?
    @Option(help: "Devices backed up at the same time (1-10 unless --allow-concurrency widens it).") var maxConcurrent: Int = 3
    @Option(help: "Allow --max-concurrent up to this value (large fleets).") var allowConcurrency: Int?
    @Option(help: "Seconds one attempt on one device may take (60-3600).") var timeout: Int = 300
    @Option(help: "Retries after the first attempt (0-5), with exponential backoff.") var retries: Int = 2
    @Option(help: "low, normal or high.") var priority: String = "normal"
    @OptionGroup var storage: StorageOptions
    @Option(help: "Git repository for the configs (default: $NETBACKUP_HOME/configs).") var archive: String = NetBackupPaths.archive
    @Option(help: "Submitting the same request again with the same key returns the earlier task; another request with it is refused.")
    var idempotencyKey: String?
    @Option(help: "strict, tofu (default: record new hosts, then enforce) or accept-any (unsafe).") var hostKeyPolicy: HostKeyChoice = .tofu
    @Option(help: "known_hosts file (default: $NETBACKUP_HOME/known_hosts).") var knownHosts: String = NetBackupPaths.knownHosts
    @Option(help: "A JSON or YAML file of extra vendor profiles.") var profiles: String?
    @Flag(help: "Remove passwords, secrets and SNMP communities from the stored configs.") var scrubSecrets = false
    @Flag(help: "Print the final task as JSON (the seed's wire format, plus a 'report' object) on stdout.") var json = false

    func run() async throws {
        let registry = try makeRegistry(profilesFile: profiles)
        let devices = try await inventoryOptions.load(registry: registry)
        let filter = try makeFilter()
        try checkVendorFilter(devices: devices.devices, registry: registry)
        try prepareKnownHosts(knownHosts)
        let archiveStore = try await openGitArchive(archive)
        try await preflightArchive(archiveStore, path: archive, devices: devices.devices)
        let store = try await storage.openStore(create: true)
        let executor = BackupExecutor(
            configuration: BackupExecutorConfiguration(
                policy: policyOption, maxConcurrentSessions: max(filter.maxConcurrent, 1), hostKeyPolicy: hostKey, recovery: .manual),
            inventory: devices, transport: LibSSH2Transport(),
            retriever: ProfileConfigRetriever(registry: registry, options: .init(scrubSecrets: scrubSecrets)),
            archive: archiveStore, store: store)
        let outcome: BackupRunOutcome
        do {
            outcome = try await runBackup(
                executor: executor, filter: filter, createdBy: ProcessInfo.processInfo.environment["USER"], idempotencyKey: idempotencyKey,
                interactive: isatty(STDERR_FILENO) == 1)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        try finish(outcome, archive: archive, json: json)
    }

    var policyOption: BackupPolicy { allowConcurrency.map { .widened(maxConcurrent: $0) } ?? .default }

    var hostKey: HostKeyPolicy { hostKeyPolicy.policy(knownHosts: knownHosts) }

    /// An unknown vendor (a typo) or one no device has would back up nothing: refuse it.
    func checkVendorFilter(devices: [Device], registry: VendorProfileRegistry) throws {
        guard let filterVendor else { return }
        let known = registry.names
        guard known.contains(filterVendor) else {
            throw CommandFailure(.usage, "--filter-vendor: unknown vendor '\(filterVendor)' (known vendors: \(known.joined(separator: ", ")))")
        }
        let present = Set(devices.map(\.vendor))
        guard present.contains(filterVendor) else {
            throw CommandFailure(
                .usage,
                "--filter-vendor: no device in \(inventoryOptions.inventory) has vendor '\(filterVendor)' (vendors there: \(present.sorted().joined(separator: ", ")))")
        }
    }

    func makeFilter() throws -> BackupFilter {
        var violations: [FieldViolation] = []
        var status: DeviceStatus?
        if let filterStatus {
            status = DeviceStatus(rawValue: filterStatus)
            if status == nil { violations.append(FieldViolation(field: "filter_status", value: filterStatus, allowed: "online, offline, maintenance")) }
        }
        let priorityValue = BackupPriority(rawValue: priority)
        if priorityValue == nil { violations.append(FieldViolation(field: "priority", value: priority, allowed: "low, normal, high")) }
        do {
            let filter = try BackupFilter(
                filterStatus: status, filterVendor: filterVendor, asyncExecute: true, priority: priorityValue ?? .normal,
                maxConcurrent: maxConcurrent, timeout: timeout, retryCount: retries, policy: policyOption)
            if !violations.isEmpty { throw BackupModels.ValidationError(violations: violations) }
            return filter
        } catch let error as BackupModels.ValidationError {
            throw BackupModels.ValidationError(violations: violations + error.violations)
        }
    }
}

struct Tasks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, cancel or resume backup tasks in the store.",
        subcommands: [List.self, Show.self, Cancel.self, Resume.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tasks, newest first (and any task whose journal record is damaged).")
        @OptionGroup var storage: StorageOptions
        @Option(help: "Only tasks with this status.") var status: String?
        @Option var page: Int = 1
        @Option var pageSize: Int = 20
        @Flag var json = false

        func run() async throws {
            var statusValue: BackupTaskStatus?
            if let status {
                guard let value = BackupTaskStatus(rawValue: status) else {
                    throw CommandFailure(.usage, "unknown status '\(status)' (pending, running, completed, partial, failed, cancelled)")
                }
                statusValue = value
            }
            let query = try TaskQuery(status: statusValue, page: page, pageSize: pageSize)
            let store = try await storage.openStore(create: false)
            let result: TaskPage
            do {
                result = try await store.tasks(query)
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
            let damage = DamagedTasks(result.damage)
            for line in damage.warnings { printError("netbackup: warning: \(line)") }
            if json {
                print(String(decoding: try JSONEncoder.deviceBackup(pretty: true).encode(result), as: UTF8.self))
                return
            }
            print("TASK ID                               STATUS     DONE/TOTAL  OK    FAILED  CREATED")
            for item in result.items {
                print(
                    item.taskID.padding(toLength: 38, withPad: " ", startingAt: 0)
                        + item.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                        + "\(item.completed)/\(item.total)".padding(toLength: 12, withPad: " ", startingAt: 0)
                        + "\(item.successCount)".padding(toLength: 6, withPad: " ", startingAt: 0)
                        + "\(item.failedCount)".padding(toLength: 8, withPad: " ", startingAt: 0)
                        + item.createdAt.formatted(.iso8601))
            }
            for taskID in damage.quarantined {
                let record = damage.record(of: taskID).map { "\($0.file) line \($0.line): \($0.reason)" } ?? "see the warnings"
                print(taskID.padding(toLength: 38, withPad: " ", startingAt: 0) + "DAMAGED    its journal record is damaged: \(record)")
            }
            print("page \(result.page), \(result.items.count) of \(result.total) tasks")
            if let total = result.damage?.total, total > 0 {
                let tasks = damage.quarantined.count
                print("\(total) damaged journal record\(total == 1 ? "" : "s"); \(tasks) task\(tasks == 1 ? "" : "s") cannot be read.\(damage.copyNote)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task with its failed devices.")
        @OptionGroup var storage: StorageOptions
        @Argument var taskID: String
        @Flag var json = false

        func run() async throws {
            let store = try await storage.openStore(create: false)
            let damage = DamagedTasks(store.damage)
            let task: BackupTask?
            do {
                task = try await store.task(id: taskID)
            } catch {
                try? await store.close()
                if let record = damage.record(of: taskID) {
                    throw CommandFailure(.someFailed, "task \(taskID) cannot be read: its journal record is damaged: \(record)")
                }
                throw error
            }
            try await store.close()
            guard let task else { throw CommandFailure(.usage, "no task \(taskID) in the store at \(storage.store)") }
            if json {
                print(String(decoding: try JSONEncoder.deviceBackup(pretty: true).encode(task), as: UTF8.self))
            } else {
                print(report(task, archive: nil))
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel an unfinished task that no netbackup process is running (press Ctrl-C to cancel a running backup).")
        @OptionGroup var storage: StorageOptions
        @Argument var taskID: String

        func run() async throws {
            let store = try await storage.openStore(create: false)
            let executor = BackupExecutor(
                configuration: .init(recovery: .manual), inventory: StaticInventory(devices: []), transport: LibSSH2Transport(),
                archive: InMemoryArchive(), store: store)
            let task: BackupTask
            do {
                task = try await executor.cancel(taskID: taskID)
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
            print(report(task, archive: nil))
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a cancelled or interrupted task: only devices without a result run.",
            discussion: "Exit status: \(ExitStatus.summary)")
        @Argument var taskID: String
        @OptionGroup var inventoryOptions: InventoryOptions
        @OptionGroup var storage: StorageOptions
        @Option var archive: String = NetBackupPaths.archive
        @Option var hostKeyPolicy: HostKeyChoice = .tofu
        @Option var knownHosts: String = NetBackupPaths.knownHosts
        @Option var profiles: String?
        @Flag var scrubSecrets = false
        @Flag var json = false

        func run() async throws {
            let registry = try makeRegistry(profilesFile: profiles)
            let devices = try await inventoryOptions.load(registry: registry)
            try prepareKnownHosts(knownHosts)
            let archiveStore = try await openGitArchive(archive)
            try await preflightArchive(archiveStore, path: archive, devices: devices.devices)
            let store = try await storage.openStore(create: false)
            let outcome: BackupRunOutcome
            do {
                guard let existing = try await store.task(id: taskID) else {
                    throw CommandFailure(.usage, "no task \(taskID) in the store at \(storage.store)")
                }
                let policy: BackupPolicy = .widened(maxConcurrent: max(10, existing.filter.maxConcurrent))
                let hostKey = hostKeyPolicy.policy(knownHosts: knownHosts)
                let executor = BackupExecutor(
                    configuration: .init(policy: policy, maxConcurrentSessions: existing.filter.maxConcurrent, hostKeyPolicy: hostKey, recovery: .manual),
                    inventory: devices, transport: LibSSH2Transport(),
                    retriever: ProfileConfigRetriever(registry: registry, options: .init(scrubSecrets: scrubSecrets)),
                    archive: archiveStore, store: store)
                outcome = try await runBackup(
                    executor: executor, filter: existing.filter, createdBy: nil, idempotencyKey: nil, resumeTaskID: taskID,
                    interactive: isatty(STDERR_FILENO) == 1)
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
            try finish(outcome, archive: archive, json: json)
        }
    }
}

/// Damaged journal records a store knows of (``FileTaskStore/damage``, carried by every listing): the tasks they
/// make unreadable, where each record was and where the copy of the damaged journal is.
struct DamagedTasks {
    var damage: StoreDamage?

    init(_ damage: StoreDamage?) { self.damage = damage }

    var quarantined: [String] { damage?.quarantinedTasks ?? [] }

    /// The first damaged record of a task.
    func record(of taskID: String) -> DamagedRecord? { damage?.records.first { $0.taskID == taskID } }

    var copies: [String] {
        var copies: [String] = []
        for record in damage?.records ?? [] { if let copy = record.copy, !copies.contains(copy) { copies.append(copy) } }
        return copies
    }

    var copyNote: String {
        copies.isEmpty ? "" : " A copy of the journal as it was found: \(copies.joined(separator: ", "))."
    }

    /// Lines for stderr.
    var warnings: [String] {
        guard let damage else { return [] }
        var lines = damage.records.map { "damaged task journal record: \($0)" }
        if damage.total > damage.records.count { lines.append("… and \(damage.total - damage.records.count) more damaged records") }
        for taskID in damage.quarantinedTasks {
            lines.append("task \(taskID) cannot be read: its journal record is damaged (listed as DAMAGED)")
        }
        return lines
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A device's backups, newest first.")
    @OptionGroup var storage: StorageOptions
    @Argument var deviceID: String
    @Option var limit: Int = 20
    @Flag var json = false

    func validate() throws {
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
    }

    func run() async throws {
        let store = try await storage.openStore(create: false)
        let damage = DamagedTasks(store.damage)
        let entries: [DeviceHistoryEntry]
        do {
            entries = try await store.history(deviceID: DeviceID(deviceID), limit: limit)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        for line in damage.warnings { printError("netbackup: warning: \(line)") }
        if json {
            print(String(decoding: try JSONEncoder.deviceBackup(pretty: true).encode(entries), as: UTF8.self))
            return
        }
        for entry in entries {
            let r = entry.result
            let outcome = r.success ? "ok  \(r.configID.map { String($0.prefix(12)) } ?? "-")\(r.changed == true ? " changed" : "")" : "FAILED \(r.errorCode?.rawValue ?? "?")"
            print("\(r.finishedAt.formatted(.iso8601))  task \(entry.taskID)  \(outcome)")
        }
        if entries.isEmpty { print("no backups of device \(deviceID)") }
    }
}
