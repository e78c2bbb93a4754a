import BackupModels
import Foundation
import Hummingbird
import HTTPTypes
import Logging

/// A JSON value, for error details and small response envelopes.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let value = try? c.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? c.decode(Double.self) {
            self = .number(value)
        } else if let value = try? c.decode(String.self) {
            self = .string(value)
        } else if let value = try? c.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let value): try c.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { try c.encode(Int64(value)) } else { try c.encode(value) }
        case .string(let value): try c.encode(value)
        case .array(let value): try c.encode(value)
        case .object(let value): try c.encode(value)
        }
    }
}

/// JSON responses in the library's wire format (snake_case, ISO 8601 UTC dates with milliseconds).
enum JSONResponse {
    static func make(status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSONEncoder.deviceBackup().encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// For values that cannot fail to encode.
    static func make(status: HTTPResponse.Status, json: JSONValue) -> Response {
        let data = (try? JSONEncoder.deviceBackup().encode(json)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Request bodies: read, then decode with the library's decoder for requests (which validates
/// `BackupFilter`s strictly — unknown keys, `null` lists, out-of-range values — and reports every bad field
/// in one ``ValidationError``).
enum JSONBody {
    /// The most a request body may hold.
    static let limit = 1 << 20

    /// Decodes the body as `T`; an empty body decodes as `{}` (all defaults).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, policy: BackupPolicy) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, code: "BODY_TOO_LARGE", message: "The request body is larger than \(limit) bytes.")
        }
        var bytes = Data(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { bytes = Data("{}".utf8) }
        // Reject non-objects and malformed text as INVALID_JSON before the typed decode, so that a type
        // error inside a valid object is a validation error (422) and broken JSON is a 400.
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
        } catch {
            throw APIError.invalidJSON("it could not be parsed.")
        }
        guard object is [String: Any] else { throw APIError.invalidJSON("expected a JSON object.") }
        do {
            return try JSONDecoder.deviceBackupRequest(policy: policy).decode(T.self, from: bytes)
        } catch let error as ValidationError {
            throw error
        } catch let error as DecodingError {
            throw APIError.invalidJSON(Self.describe(error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
