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
            Exit status: 0 every device backed up; 1 some or all failed; 2 bad usage or invalid input; \
            130 interrupted (Ctrl-C: the task is cancelled and can be resumed with 'netbackup tasks resume').
            Files live under $NETBACKUP_HOME (default ~/.netbackup) unless --store/--archive say otherwise.
            """,
        subcommands: [Backup.self, Tasks.self, History.self] + extraCommands)

    static func main() async {
        do {
            var command = try parseAsRoot()
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
            printError("netbackup: \(error)")
            Glibc.exit(error.code == .invalidRequest || error.code == .taskNotFound ? ExitStatus.usage.rawValue : 1)
        } catch {
            exit(withError: error)
        }
    }
}

/// Options for where tasks and configs are kept.
struct StorageOptions: ParsableArguments {
    @Option(help: "Directory of the task store (default: $NETBACKUP_HOME/tasks).")
    var store: String = NetBackupPaths.store

    func openStore() async throws -> FileTaskStore {
        do {
            return try await FileTaskStore.open(directory: store)
        } catch let error as BackupError {
            throw CommandFailure(.someFailed, "\(error)")
        }
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

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Back up the devices of an inventory file.")

    @Option(help: "Inventory file (.yaml, .yml, .json or .csv).") var inventory: String
    @Option(help: "Only devices with this status: online, offline or maintenance.") var filterStatus: String?
    @Option(help: "Only devices of this vendor profile.") var filterVendor: String?
    @Option(help: "Devices backed up at the same time (1-10 unless --allow-concurrency widens it).") var maxConcurrent: Int = 3
    @Option(help: "Allow --max-concurrent up to this value (large fleets).") var allowConcurrency: Int?
    @Option(help: "Seconds one attempt on one device may take (60-3600).") var timeout: Int = 300
    @Option(help: "Retries after the first attempt (0-5), with exponential backoff.") var retries: Int = 2
    @Option(help: "low, normal or high.") var priority: String = "normal"
    @OptionGroup var storage: StorageOptions
    @Option(help: "Git repository for the configs (default: $NETBACKUP_HOME/configs).") var archive: String = NetBackupPaths.archive
    @Option(help: "Submitting again with the same key returns the earlier task.") var idempotencyKey: String?
    @Option(help: "strict, tofu (default: record new hosts, then enforce) or accept-any (unsafe).") var hostKeyPolicy: HostKeyChoice = .tofu
    @Option(help: "known_hosts file (default: $NETBACKUP_HOME/known_hosts).") var knownHosts: String = NetBackupPaths.knownHosts
    @Option(help: "A JSON or YAML file of extra vendor profiles.") var profiles: String?
    @Flag(help: "Remove passwords, secrets and SNMP communities from the stored configs.") var scrubSecrets = false
    @Flag(help: "Print the final task as JSON (the seed's wire format) on stdout.") var json = false

    func run() async throws {
        let registry = try makeRegistry(profilesFile: profiles)
        let devices = try InventoryFile.load(path: inventory, knownVendors: Set(registry.names))
        let filter = try makeFilter()
        try FileManager.default.createDirectory(atPath: (knownHosts as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let store = try await storage.openStore()
        let archiveStore = try await GitArchive(repository: archive)
        let policy = policyOption
        let executor = BackupExecutor(
            configuration: BackupExecutorConfiguration(
                policy: policy, maxConcurrentSessions: max(filter.maxConcurrent, 1), hostKeyPolicy: hostKey, recovery: .manual),
            inventory: devices, transport: LibSSH2Transport(),
            retriever: ProfileConfigRetriever(registry: registry, options: .init(scrubSecrets: scrubSecrets)),
            archive: archiveStore, store: store)
        let task = try await runBackup(
            executor: executor, filter: filter, createdBy: ProcessInfo.processInfo.environment["USER"], idempotencyKey: idempotencyKey,
            interactive: isatty(STDERR_FILENO) == 1)
        try await store.close()
        output(task)
        throw ExitCode(ExitStatus.forTask(task.status).rawValue)
    }

    var policyOption: BackupPolicy { allowConcurrency.map { .widened(maxConcurrent: $0) } ?? .default }

    var hostKey: HostKeyPolicy { hostKeyPolicy.policy(knownHosts: knownHosts) }

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

    func output(_ task: BackupTask) {
        if json {
            let data = (try? JSONEncoder.deviceBackup(pretty: true).encode(task)) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            printError(report(task, archive: archive))
        }
    }
}

struct Tasks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, cancel or resume backup tasks in the store.",
        subcommands: [List.self, Show.self, Cancel.self, Resume.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tasks, newest first.")
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
            let store = try await storage.openStore()
            let result = try await store.tasks(query)
            try await store.close()
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
            print("page \(result.page), \(result.items.count) of \(result.total) tasks")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task with its failed devices.")
        @OptionGroup var storage: StorageOptions
        @Argument var taskID: String
        @Flag var json = false

        func run() async throws {
            let store = try await storage.openStore()
            let task = try await store.task(id: taskID)
            try await store.close()
            guard let task else { throw CommandFailure(.usage, "no task \(taskID)") }
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
            let store = try await storage.openStore()
            let executor = BackupExecutor(
                configuration: .init(recovery: .manual), inventory: StaticInventory(devices: []), transport: LibSSH2Transport(),
                archive: InMemoryArchive(), store: store)
            let task = try await executor.cancel(taskID: taskID)
            try await store.close()
            print(report(task, archive: nil))
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a cancelled or interrupted task: only devices without a result run.")
        @Argument var taskID: String
        @Option(help: "Inventory file (.yaml, .yml, .json or .csv).") var inventory: String
        @OptionGroup var storage: StorageOptions
        @Option var archive: String = NetBackupPaths.archive
        @Option var hostKeyPolicy: HostKeyChoice = .tofu
        @Option var knownHosts: String = NetBackupPaths.knownHosts
        @Option var profiles: String?
        @Flag var scrubSecrets = false
        @Flag var json = false

        func run() async throws {
            let registry = try makeRegistry(profilesFile: profiles)
            let devices = try InventoryFile.load(path: inventory, knownVendors: Set(registry.names))
            let store = try await storage.openStore()
            guard let existing = try await store.task(id: taskID) else { throw CommandFailure(.usage, "no task \(taskID)") }
            let policy: BackupPolicy = .widened(maxConcurrent: max(10, existing.filter.maxConcurrent))
            let hostKey = hostKeyPolicy.policy(knownHosts: knownHosts)
            let executor = BackupExecutor(
                configuration: .init(policy: policy, maxConcurrentSessions: existing.filter.maxConcurrent, hostKeyPolicy: hostKey, recovery: .manual),
                inventory: devices, transport: LibSSH2Transport(),
                retriever: ProfileConfigRetriever(registry: registry, options: .init(scrubSecrets: scrubSecrets)),
                archive: try await GitArchive(repository: archive), store: store)
            let task = try await runBackup(
                executor: executor, filter: existing.filter, createdBy: nil, idempotencyKey: nil, resumeTaskID: taskID,
                interactive: isatty(STDERR_FILENO) == 1)
            try await store.close()
            if json {
                print(String(decoding: try JSONEncoder.deviceBackup(pretty: true).encode(task), as: UTF8.self))
            } else {
                printError(report(task, archive: archive))
            }
            throw ExitCode(ExitStatus.forTask(task.status).rawValue)
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A device's backups, newest first.")
    @OptionGroup var storage: StorageOptions
    @Argument var deviceID: String
    @Option var limit: Int = 20
    @Flag var json = false

    func run() async throws {
        let store = try await storage.openStore()
        let entries = try await store.history(deviceID: DeviceID(deviceID), limit: limit)
        try await store.close()
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
