public import Foundation

extension JSONEncoder {
    /// An encoder for the library's wire format: ISO 8601 UTC dates with milliseconds
    /// (`2026-11-29T02:18:14.123Z`), sorted keys.
    public static func deviceBackup(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(BackupTimestamp.format(date))
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
            guard let date = BackupTimestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "Expected an ISO 8601 date, got \(text)")
            }
            return date
        }
        decoder.userInfo[BackupPolicy.userInfoKey] = policy
        return decoder
    }
}

extension Date {
    /// The date rounded to whole milliseconds: the precision of the wire format, so that timestamps
    /// survive an encode/decode round trip unchanged.
    public var roundedToMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}

/// Millisecond-exact ISO 8601 timestamps.
enum BackupTimestamp {
    private static let whole = Date.ISO8601FormatStyle()

    static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = millis.floorDiv(1000)
        let fraction = millis - seconds * 1000
        let base = Date(timeIntervalSince1970: Double(seconds)).formatted(whole)  // ends in "Z"
        let digits = String(fraction)
        return base.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    static func parse(_ text: String) -> Date? {
        guard let dot = text.firstIndex(of: "."), text.hasSuffix("Z") else {
            return try? whole.parse(text)
        }
        let fractionText = text[text.index(after: dot)..<text.index(before: text.endIndex)]
        guard !fractionText.isEmpty, fractionText.allSatisfy(\.isASCII), let fraction = Int64(fractionText.prefix(3).padding(toLength: 3, withPad: "0", startingAt: 0)),
              let base = try? whole.parse(String(text[..<dot]) + "Z")
        else { return nil }
        let millis = Int64(base.timeIntervalSince1970.rounded()) * 1000 + fraction
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
