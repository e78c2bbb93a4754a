public import Foundation

extension JSONEncoder {
    /// An encoder for the library's wire format: ISO 8601 dates with milliseconds, sorted keys.
    public static func deviceBackup(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.formatted(ISO8601Format.style))
        }
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension JSONDecoder {
    /// A decoder for the library's wire format: ISO 8601 dates with or without fractional seconds.
    /// `policy` validates decoded ``BackupFilter``s (the seed's policy by default).
    public static func deviceBackup(policy: BackupPolicy = .default) -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            if let date = try? ISO8601Format.style.parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "Expected an ISO 8601 date, got \(text)")
        }
        decoder.userInfo[BackupPolicy.userInfoKey] = policy
        return decoder
    }
}

enum ISO8601Format {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
