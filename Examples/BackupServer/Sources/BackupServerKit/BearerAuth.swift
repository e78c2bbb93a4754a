import Hummingbird
import HTTPTypes
import Logging

/// How API requests are authenticated.
public enum AuthMode: Sendable {
    /// Every API, SSE and WebSocket request must send `Authorization: Bearer <token>`.
    case bearerToken(String)
    /// No authentication at all: only for a server nobody else can reach (`--insecure-no-auth`).
    case disabledInsecure
}

/// Rejects requests without the right bearer token with 401 and `WWW-Authenticate: Bearer`.
///
/// The token is compared in constant time (the time does not depend on how many leading bytes match),
/// and never logged.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], let presented = Self.bearerToken(in: header),
            Self.constantTimeEquals(Array(presented.utf8), token)
        else {
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
    static func bearerToken(in header: String) -> Substring? {
        let trimmed = header.drop { $0 == " " }
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        let token = trimmed.dropFirst(7).drop { $0 == " " }
        return token.isEmpty ? nil : token
    }

    /// Compares without an early exit: runs over the whole expected token whatever the input.
    static func constantTimeEquals(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: presented.count ^ expected.count)
        if presented.count != expected.count { difference |= 1 }
        for index in 0..<expected.count {
            let other = index < presented.count ? presented[index] : 0
            difference |= other ^ expected[index]
        }
        return difference == 0
    }
}
