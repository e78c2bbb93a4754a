import ArgumentParser
import BackupExecutor
import BackupServerKit
import Foundation
import Logging

@main
struct BackupServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup-server",
        abstract: "An HTTP API (and status page) for batch backups of network-device configurations.",
        discussion: """
            Without --inventory it serves a built-in demo network (twelve made-up devices behind a mock \
            transport: no SSH, no traffic). Every API route needs 'Authorization: Bearer <token>'; pass the \
            token in BACKUP_SERVER_TOKEN (preferred: not visible in ps) or --token. Stop with Ctrl-C or SIGTERM: \
            running devices get --shutdown-grace-seconds to finish, and every task is recorded.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @Option(help: "API token (at least 16 characters). Prefer the BACKUP_SERVER_TOKEN environment variable.")
    var token: String?
    @Flag(help: "Serve the API without any authentication (loopback --host only). Never on a shared machine.")
    var insecureNoAuth = false
    @Option(help: "Keep tasks in this directory (a crash-safe file store); default: in memory, lost on exit.")
    var store: String?
    @Option(help: "Devices file (YAML/JSON, see README) of real devices backed up over SSH; default: the demo network.")
    var inventory: String?
    @Option(help: "Store backed-up configs in this directory (default: in memory).") var archive: String?
    @Option(help: "known_hosts file for SSH host keys (with --inventory).") var knownHosts: String?
    @Flag(help: "Record unknown SSH host keys on first contact instead of refusing them (with --inventory).")
    var trustOnFirstUse = false
    @Option(help: "Demo network: base time per device attempt in milliseconds (each device 0.5x-1.5x of it).")
    var demoLatencyMs = 800
    @Option(help: "Most device sessions at once across all tasks.") var maxSessions = 50
    @Option(help: "Allow max_concurrent up to this value (default 10, the seed's policy).") var allowConcurrency: Int?
    @Option(help: "On shutdown, seconds running devices may go on before they are cancelled.") var shutdownGraceSeconds = 10
    @Option(help: "First delay between attempts on a device, in milliseconds (doubling per retry, at most 2 minutes).")
    var retryBaseDelayMs = 2000
    @Option(help: "Tasks left unfinished by a previous run: resume or fail.") var recovery: RecoveryChoice = .resume
    @Option(help: "Directory with the status page (index.html).") var publicDir: String?
    @Option(help: "The OpenAPI document to serve at /openapi.yaml.") var openapiFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    enum RecoveryChoice: String, ExpressibleByArgument, CaseIterable {
        case resume
        case fail
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "backup-server")

        let auth = try authMode()
        var serverConfiguration = BackupServerConfiguration(host: host, port: port, auth: auth)
        if let publicDir { serverConfiguration.publicDirectory = publicDir }
        if let openapiFile { serverConfiguration.openAPIFile = openapiFile }
        for file in [serverConfiguration.publicDirectory + "/index.html", serverConfiguration.openAPIFile]
        where !FileManager.default.fileExists(atPath: file) {
            throw ValidationError("\(file) does not exist: run from the package's sources, or pass --public-dir / --openapi-file.")
        }

        var options = BackupServerSetup.Options()
        options.storeDirectory = store
        options.inventoryFile = inventory
        options.archiveDirectory = archive
        options.knownHostsFile = knownHosts
        options.trustOnFirstUse = trustOnFirstUse
        options.demoLatency = .milliseconds(max(0, demoLatencyMs))
        options.maxSessions = max(1, maxSessions)
        options.allowConcurrency = allowConcurrency
        options.shutdownGrace = .seconds(max(0, shutdownGraceSeconds))
        options.retryBaseDelay = .milliseconds(min(max(0, retryBaseDelayMs), 120_000))
        options.recovery = recovery == .resume ? .resume : .markFailed

        let setup: BackupServerSetup
        do {
            setup = try await BackupServerSetup.make(options, logger: logger)
        } catch let error as InventoryLoadError {
            throw ValidationError(error.description)
        }
        let host = self.host
        let inventoryNote = inventory.map { "inventory \($0)" } ?? "demo network (mock transport)"
        let storeNote = store.map { "file store \($0)" } ?? "in-memory store"
        let application = buildApplication(
            configuration: serverConfiguration, executor: setup.executor, inventory: setup.inventory, readiness: setup.readiness,
            logger: logger
        ) { port in
            let address = "http://\(host.contains(":") ? "[\(host)]" : host):\(port.map(String.init) ?? "?")"
            logger.notice("backup-server listening on \(address) — \(inventoryNote), \(storeNote)")
            logger.notice("status page: \(address)/#token=<your token>   OpenAPI: \(address)/openapi.yaml")
        }
        do {
            try await BackupServer(application: application, executor: setup.executor, readiness: setup.readiness, logger: logger).run()
        } catch {
            try? await setup.close()
            throw error
        }
        try await setup.close()
        logger.notice("backup-server stopped; every task is recorded")
    }

    private func authMode() throws -> AuthMode {
        let token = self.token ?? ProcessInfo.processInfo.environment["BACKUP_SERVER_TOKEN"]
        if insecureNoAuth {
            guard token == nil else { throw ValidationError("Give either a token or --insecure-no-auth, not both.") }
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else {
                throw ValidationError("--insecure-no-auth is only allowed with a loopback --host (127.0.0.1, ::1, localhost).")
            }
            return .disabledInsecure
        }
        guard let token, !token.isEmpty else {
            throw ValidationError(
                "An API token is required: set BACKUP_SERVER_TOKEN (e.g. export BACKUP_SERVER_TOKEN=$(openssl rand -hex 32)) "
                    + "or pass --token; --insecure-no-auth turns authentication off explicitly.")
        }
        guard token.count >= 16 else { throw ValidationError("The API token must have at least 16 characters.") }
        guard token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ValidationError("The API token must be visible ASCII characters (no spaces).")
        }
        return .bearerToken(token)
    }
}
