import BackupModels
import BackupServerKit
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Testing
import Yams

/// The routes the app registers, as "METHOD /path/{param}".
func registeredRoutes() -> Set<String> {
    Set(Harness().router.routes.map { "\($0.method.rawValue) \($0.path)" })
}

let publicRoutes: Set<String> = ["GET /", "GET /openapi.yaml", "GET /health", "GET /health/live", "GET /health/ready"]

/// A concrete URI for a route pattern.
func concrete(_ path: String) -> String {
    path.replacingOccurrences(of: "{task_id}", with: "some-task").replacingOccurrences(of: "{device_id}", with: "1")
}

@Suite struct AuthTests {
    @Test func everyAPIRouteNeedsTheToken() async throws {
        let routes = registeredRoutes().subtracting(publicRoutes)
        #expect(routes.count == 9)
        let harness = Harness()
        try await harness.withRunning { client in
            for route in routes.sorted() {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(String(parts[0]))!
                let uri = concrete(String(parts[1]))
                for headers: HTTPFields in [
                    [:], [.authorization: "Bearer wrong-token-0123456789abc"], [.authorization: "Bearer \(Harness.token)x"],
                    [.authorization: "Basic \(Harness.token)"], [.authorization: "Bearer"],
                ] {
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: json("{}"))
                    #expect(response.status == .unauthorized, "\(route) with \(headers)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(route)")
                    #expect(try errorBody(response).code == "UNAUTHORIZED")
                    #expect(!String(buffer: response.body).contains(Harness.token))
                }
            }
            // Scheme is case-insensitive; the right token passes.
            let ok = try await client.execute(uri: "/devices/all", method: .get, headers: [.authorization: "bearer \(Harness.token)"])
            #expect(ok.status == .ok)
        }
    }

    @Test func insecureModeNeedsNoToken() async throws {
        let harness = Harness(auth: .disabledInsecure)
        try await harness.withRunning { client in
            let response = try await client.execute(uri: "/devices/all", method: .get)
            #expect(response.status == .ok)
        }
    }
}

@Suite struct OpenAPITests {
    static var documentPath: String { BackupServerConfiguration.packageDirectory + "/openapi.yaml" }

    static func document() throws -> [String: Any] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    @Test func documentIsOpenAPI31() throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let schemes = ((document["components"] as? [String: Any])?["securitySchemes"] as? [String: Any])?["bearerAuth"] as? [String: Any]
        #expect(schemes?["scheme"] as? String == "bearer")
    }

    @Test func documentedOperationsEqualRegisteredRoutes() throws {
        let paths = try #require(try Self.document()["paths"] as? [String: Any])
        var documented: Set<String> = []
        for (path, item) in paths {
            for (method, _) in try #require(item as? [String: Any]) where Self.methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let registered = registeredRoutes()
        #expect(documented == registered, "only documented: \(documented.subtracting(registered)); only registered: \(registered.subtracting(documented))")
    }

    @Test func documentedErrorResponsesExist() throws {
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: Any])
        let components = try #require(document["components"] as? [String: Any])
        let sharedResponses = try #require(components["responses"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        #expect(schemas["Error"] != nil && schemas["BackupFilter"] != nil && schemas["BackupTask"] != nil && schemas["BackupEvent"] != nil)

        func responses(_ method: String, _ path: String) throws -> [String: Any] {
            let item = try #require(paths[path] as? [String: Any], "\(path)")
            let operation = try #require(item[method] as? [String: Any], "\(method) \(path)")
            return try #require(operation["responses"] as? [String: Any])
        }
        // Every protected operation documents 401; every task-id operation 404.
        for route in registeredRoutes().subtracting(publicRoutes) {
            let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
            let documented = try responses(parts[0].lowercased(), parts[1])
            #expect(documented["401"] != nil, "\(route) documents 401")
            if parts[1].contains("{task_id}") { #expect(documented["404"] != nil, "\(route) documents 404") }
        }
        let backupAll = try responses("post", "/configurations/backup-all")
        for status in ["200", "202", "400", "401", "422"] { #expect(backupAll[status] != nil, "backup-all \(status)") }
        #expect(try responses("get", "/configurations/backup-tasks")["422"] != nil)
        #expect(try responses("post", "/configurations/backup-tasks/{task_id}/cancel")["400"] != nil)
        #expect(try responses("post", "/configurations/backup-tasks/{task_id}/retry")["400"] != nil)
        #expect(try responses("get", "/configurations/backup-tasks/{task_id}/ws")["426"] != nil)
        // Every $ref to a shared response resolves.
        for name in ["Unauthorized", "ValidationFailed", "InvalidJSON", "TaskNotFound", "ShuttingDown"] {
            #expect(sharedResponses[name] != nil, "components.responses.\(name)")
        }
        let text = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        let refs = text.matches(of: /\$ref: "#\/components\/(responses|schemas|parameters)\/([A-Za-z]+)"/)
        #expect(!refs.isEmpty)
        for ref in refs {
            let section = try #require(components[String(ref.output.1)] as? [String: Any])
            #expect(section[String(ref.output.2)] != nil, "unresolved \(ref.output.0)")
        }
    }

    @Test func documentedBackupFilterRangesAreTheLibrarysPolicy() throws {
        let schemas = try #require((try Self.document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let properties = try #require((schemas["BackupFilter"] as? [String: Any])?["properties"] as? [String: [String: Any]])
        let policy = BackupPolicy.default
        #expect(properties["max_concurrent"]?["minimum"] as? Int == policy.maxConcurrent.lowerBound)
        #expect(properties["max_concurrent"]?["maximum"] as? Int == policy.maxConcurrent.upperBound)
        #expect(properties["timeout"]?["minimum"] as? Int == policy.timeoutSeconds.lowerBound)
        #expect(properties["timeout"]?["maximum"] as? Int == policy.timeoutSeconds.upperBound)
        #expect(properties["retry_count"]?["minimum"] as? Int == policy.retryCount.lowerBound)
        #expect(properties["retry_count"]?["maximum"] as? Int == policy.retryCount.upperBound)
        #expect(properties["device_ids"]?["maxItems"] as? Int == policy.maxDeviceIDs)
        #expect((schemas["BackupFilter"] as? [String: Any])?["additionalProperties"] as? Bool == false)
        #expect(Set(properties.keys) == Set(BackupFilter.fieldNames))
    }
}
