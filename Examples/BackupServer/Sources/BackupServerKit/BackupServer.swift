import BackupExecutor
import BackupModels
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import TaskStore

/// Settings of the HTTP side of the server.
public struct BackupServerConfiguration: Sendable {
    /// Address to listen on; `127.0.0.1` by default (reachable from this machine only).
    public var host: String
    /// Port; 0 picks a free one.
    public var port: Int
    /// Bearer token, or explicitly none.
    public var auth: AuthMode
    /// The directory holding `index.html` (the status page), served at `/` without authentication.
    public var publicDirectory: String
    /// The OpenAPI document served at `/openapi.yaml` without authentication.
    public var openAPIFile: String
    /// Allowed `limit` of the backup-history route (1...100 by default); its upper bound is capped at
    /// ``maxHistoryLimit`` whatever is configured.
    public var historyLimit: ClosedRange<Int> {
        get { storedHistoryLimit }
        set { storedHistoryLimit = newValue.clamped(to: 1...Self.maxHistoryLimit) }
    }
    private var storedHistoryLimit: ClosedRange<Int>

    /// The largest `limit` the backup-history route can ever allow.
    public static let maxHistoryLimit = 10_000

    public init(
        host: String = "127.0.0.1", port: Int = 8080, auth: AuthMode,
        publicDirectory: String = BackupServerConfiguration.packageDirectory + "/Public",
        openAPIFile: String = BackupServerConfiguration.packageDirectory + "/openapi.yaml",
        historyLimit: ClosedRange<Int> = 1...100
    ) {
        self.host = host
        self.port = port
        self.auth = auth
        self.publicDirectory = publicDirectory
        self.openAPIFile = openAPIFile
        self.storedHistoryLimit = historyLimit.clamped(to: 1...Self.maxHistoryLimit)
    }

    /// The example package's directory as it was when this file was compiled (an example runs from its
    /// sources). Override ``publicDirectory`` and ``openAPIFile`` when the binary runs elsewhere.
    public static var packageDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // BackupServerKit
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent().path  // BackupServer
    }
}

/// The request context of every route (WebSocket-capable).
public typealias BackupRequestContext = BasicWebSocketRequestContext

/// Builds the router: every route of the API, the status page and the OpenAPI document.
///
/// The router is also the route table: `router.routes` lists every (method, path) the server answers,
/// which the OpenAPI test compares with `openapi.yaml`. `readiness` answers `/health/ready`: run the
/// executor through it (``BackupServer`` does) so that it knows whether the executor runs.
public func buildRouter(
    configuration: BackupServerConfiguration, executor: BackupExecutor, inventory: any DeviceInventory, readiness: ServerReadiness
) -> Router<BackupRequestContext> {
    let router = Router(context: BackupRequestContext.self)
    let routeMethods = RouteMethods()
    router.add(middleware: ErrorMiddleware(routeMethods: routeMethods))
    let api = BackupAPI(executor: executor, inventory: inventory, configuration: configuration)

    // Public: no data in them.
    router.get("/") { _, context in try await api.staticFile("index.html", contentType: "text/html; charset=utf-8", context: context) }
    router.get("/openapi.yaml") { _, context in
        try await api.file(configuration.openAPIFile, contentType: "application/yaml; charset=utf-8", context: context)
    }
    // Liveness: the process answers. `/health` is kept with this meaning.
    router.get("/health") { _, _ in JSONResponse.make(status: .ok, json: .object(["status": .string("ok")])) }
    router.get("/health/live") { _, _ in JSONResponse.make(status: .ok, json: .object(["status": .string("ok")])) }
    // Readiness: the executor runs and the task store accepts writes (no details beyond the state names:
    // the route is public).
    router.get("/health/ready") { _, _ in
        let report = await readiness.check()
        return JSONResponse.make(
            status: report.isReady ? .ok : .serviceUnavailable,
            json: .object([
                "status": .string(report.isReady ? "ready" : "not_ready"),
                "checks": .object(["executor": .string(report.executor.rawValue), "store": .string(report.store)]),
            ]))
    }

    // Everything else needs the token.
    let protected = router.group()
    if case .bearerToken(let token) = configuration.auth {
        protected.add(middleware: BearerAuthMiddleware(token: token))
    }
    protected.post("/configurations/backup-all") { request, context in try await api.backupAll(request, context: context) }
    protected.get("/configurations/backup-tasks") { request, _ in try await api.listTasks(request) }
    protected.get("/configurations/backup-tasks/{task_id}") { _, context in try await api.getTask(context.taskID()) }
    protected.post("/configurations/backup-tasks/{task_id}/cancel") { _, context in try await api.cancel(context.taskID()) }
    protected.post("/configurations/backup-tasks/{task_id}/retry") { request, context in try await api.retry(context.taskID(), request) }
    protected.get("/configurations/backup-tasks/{task_id}/events") { _, context in try await api.serverSentEvents(context.taskID()) }
    protected.ws("/configurations/backup-tasks/{task_id}/ws") { request, context in
        try await api.shouldUpgrade(request, taskID: context.taskID())
    } onUpgrade: { inbound, outbound, context in
        await api.streamWebSocket(taskID: context.requestContext.parameters.get("task_id") ?? "", inbound: inbound, outbound: outbound)
    }
    protected.get("/devices/all") { _, _ in try await api.devices() }
    protected.get("/configurations/devices/{device_id}/backup-history") { request, context in
        try await api.history(deviceID: context.parameters.require("device_id"), request)
    }
    routeMethods.set(router.routes.map { (method: $0.method.rawValue, path: "\($0.path)") })
    return router
}

/// Builds the Hummingbird application (HTTP/1.1 with WebSocket upgrade) around a router from
/// ``buildRouter(configuration:executor:inventory:readiness:)``. The executor is *not* one of its
/// services: run both with ``BackupServer`` (or, in tests, `readiness.withRunning(executor)` around
/// `app.test`).
public func buildApplication(
    configuration: BackupServerConfiguration, executor: BackupExecutor, inventory: any DeviceInventory, readiness: ServerReadiness,
    logger: Logger = Logger(label: "backup-server"),
    onServerRunning: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, executor: executor, inventory: inventory, readiness: readiness)
    return Application(
        router: router,
        server: .http1WebSocketUpgrade(webSocketRouter: router),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "backup-server"),
        onServerRunning: { (channel: any Channel) in await onServerRunning(channel.localAddress?.port) },
        logger: logger)
}

/// The whole server: the HTTP application and the backup executor in one swift-service-lifecycle
/// `ServiceGroup`, stopped gracefully on SIGTERM/SIGINT.
///
/// Shutdown order: the executor first (it takes no new tasks, lets running devices finish within its
/// grace period, records everything; live event streams of interrupted tasks end), then the HTTP server.
/// So while the executor drains, clients still read tasks and get `503 SHUTTING_DOWN` for new ones.
public struct BackupServer<App: ApplicationProtocol>: Service {
    public let application: App
    public let executor: BackupExecutor
    /// Observes the executor for `/health/ready` (the same instance the application was built with).
    public let readiness: ServerReadiness
    public let logger: Logger

    public init(application: App, executor: BackupExecutor, readiness: ServerReadiness, logger: Logger) {
        self.application = application
        self.executor = executor
        self.readiness = readiness
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT (or graceful shutdown of an enclosing group).
    public func run() async throws {
        // ServiceGroup shuts services down in reverse order: the executor before the HTTP server.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: application), .init(service: ObservedExecutorService(executor: executor, readiness: readiness))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

extension BackupRequestContext {
    func taskID() throws -> String { try parameters.require("task_id") }
}
