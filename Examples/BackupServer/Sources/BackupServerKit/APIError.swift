import BackupModels
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import Synchronization

/// The one error shape of the API: `{"error": {"code": "…", "message": "…", "details": …}}`.
///
/// `code` is stable and machine-readable (see ``Code``); `message` is for people; `details` is an object
/// or `null`: for `VALIDATION_FAILED` it is `{"violations": [{"field", "value", "allowed"}, …]}` listing every
/// bad field; for errors about a task or device it names it (`{"task_id": …}`); a library error's hint is
/// in `details.hint`.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// The stable codes this server answers with. Library error codes (`TASK_NOT_FOUND`,
    /// `TASK_ALREADY_FINISHED`, `SHUTTING_DOWN`, `STORE_FAILED`, …) are passed through unchanged.
    public enum Code {
        /// 401: no `Authorization: Bearer …` header, or the wrong token.
        public static let unauthorized = "UNAUTHORIZED"
        /// 422: one or more fields or query parameters are out of range or of the wrong type.
        public static let validationFailed = "VALIDATION_FAILED"
        /// 400: the body is not a JSON object.
        public static let invalidJSON = "INVALID_JSON"
        /// 404: no such task (the library's code).
        public static let taskNotFound = "TASK_NOT_FOUND"
        /// 400: the task has finished and cannot be cancelled (the library's code).
        public static let taskAlreadyFinished = "TASK_ALREADY_FINISHED"
        /// 400: retry asked for a task none of whose devices failed.
        public static let noFailedDevices = "NO_FAILED_DEVICES"
        /// 409: retry asked for a task that is still running.
        public static let taskNotFinished = "TASK_NOT_FINISHED"
        /// 409: the `Idempotency-Key` was used before with a different request (the library's code).
        public static let idempotencyConflict = "IDEMPOTENCY_CONFLICT"
        /// 404: the device is not in the inventory and has no backup history.
        public static let deviceNotFound = "DEVICE_NOT_FOUND"
        /// 404: no such route.
        public static let notFound = "NOT_FOUND"
        /// 405: the route exists, not with this method.
        public static let methodNotAllowed = "METHOD_NOT_ALLOWED"
        /// 400: a WebSocket route was called without a WebSocket upgrade.
        public static let upgradeRequired = "WEBSOCKET_UPGRADE_REQUIRED"
        /// 503: the executor is shutting down (the library's code).
        public static let shuttingDown = "SHUTTING_DOWN"
        /// 500: anything unexpected.
        public static let `internal` = "INTERNAL"
    }

    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: JSONValue
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: JSONValue = .null, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body.
    public var body: JSONValue {
        .object(["error": .object(["code": .string(code), "message": .string(message), "details": details])])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, json: body)
        for field in headers { response.headers.append(field) }
        return response
    }

    // MARK: Factories

    static func validation(_ error: ValidationError) -> APIError {
        let violations: [JSONValue] = error.violations.map {
            .object(["field": .string($0.field), "value": .string($0.value), "allowed": .string($0.allowed)])
        }
        let fields = error.violations.map(\.field).joined(separator: ", ")
        return APIError(
            .unprocessableContent, code: Code.validationFailed, message: "Invalid request: check \(fields).",
            details: .object(["violations": .array(violations)]))
    }

    static func invalidJSON(_ reason: String) -> APIError {
        APIError(.badRequest, code: Code.invalidJSON, message: "The request body is not valid JSON: \(reason)")
    }

    static var unauthorized: APIError {
        APIError(
            .unauthorized, code: Code.unauthorized,
            message: "A valid API token is required: send the header 'Authorization: Bearer <token>'.",
            headers: [.wwwAuthenticate: "Bearer realm=\"backup-server\""])
    }

    /// Maps a library error to its HTTP status; the library's code is kept.
    static func from(_ error: BackupError, taskID: String? = nil) -> APIError {
        let status: HTTPResponse.Status =
            switch error.code {
            case .taskNotFound, .deviceNotFound: .notFound
            case .taskAlreadyFinished, .invalidRequest: .badRequest
            case .idempotencyConflict: .conflict
            case .shuttingDown: .serviceUnavailable
            default: .internalServerError
            }
        var details: [String: JSONValue] = [:]
        if let taskID { details["task_id"] = .string(taskID) }
        if let hint = error.hint { details["hint"] = .string(hint) }
        return APIError(status, code: error.code.rawValue, message: error.message, details: details.isEmpty ? .null : .object(details))
    }
}

/// Turns every error thrown below it into the API's JSON error shape (and logs unexpected ones). A path
/// the router knows asked with another method is a 405 with an `Allow` header, not a 404.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routeMethods: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as ValidationError {
            return try APIError.validation(error).response(from: request, context: context)
        } catch let error as BackupError {
            let apiError = APIError.from(error)
            if apiError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return try apiError.response(from: request, context: context)
        } catch let error as HTTPError {
            if error.status == .notFound {
                let allowed = routeMethods.allowed(for: request.uri.path)
                if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                    return try APIError(
                        .methodNotAllowed, code: APIError.Code.methodNotAllowed,
                        message: "\(request.uri.path) does not answer \(request.method.rawValue); it answers \(allowed.joined(separator: ", ")).",
                        headers: [.allow: allowed.joined(separator: ", ")]
                    ).response(from: request, context: context)
                }
            }
            let code: String =
                switch error.status {
                case .notFound: APIError.Code.notFound
                case .methodNotAllowed: APIError.Code.methodNotAllowed
                case .unauthorized: APIError.Code.unauthorized
                case .badRequest: APIError.Code.invalidJSON
                default: error.status.code >= 500 ? APIError.Code.internal : "HTTP_\(error.status.code)"
                }
            let message = error.body ?? (error.status == .notFound ? "No such route: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return try APIError(error.status, code: code, message: message, headers: error.headers).response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return try APIError(.internalServerError, code: APIError.Code.internal, message: "Unexpected error.")
                .response(from: request, context: context)
        }
    }
}

/// The methods each route answers, filled in once the router has all its routes: for 405 answers.
final class RouteMethods: Sendable {
    private struct Route {
        var segments: [Substring]
        var method: String
    }

    private let routes = Mutex<[Route]>([])

    /// Records the routes as (method, path pattern); `{name}` segments match any one segment.
    func set(_ table: [(method: String, path: String)]) {
        routes.withLock { $0 = table.map { Route(segments: $0.path.split(separator: "/"), method: $0.method) } }
    }

    /// The methods routes matching `path` answer, sorted; empty when no route matches the path.
    func allowed(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        let methods = routes.withLock { routes in
            Set(routes.filter { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { pattern, segment in
                        (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == segment
                    }
            }.map(\.method))
        }
        return methods.sorted()
    }
}
