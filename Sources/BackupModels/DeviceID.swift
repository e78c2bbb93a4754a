/// The identifier of a device in an inventory.
///
/// The seed's API uses integer ids (`"device_id": 1`); many inventories use names or UUIDs. A `DeviceID`
/// holds either: it decodes from a JSON number or string, and encodes back as a number when it is a
/// canonical integer, so numeric ids keep the seed's wire format.
public struct DeviceID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral
{
    /// The id as text.
    public let rawValue: String

    /// Creates an id from text.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates an id from an integer.
    public init(_ value: Int) { self.rawValue = String(value) }

    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// The id as an integer, when it is one in canonical form (`"42"`, not `"042"`).
    public var intValue: Int? {
        guard let value = Int(rawValue), String(value) == rawValue else { return nil }
        return value
    }

    public var description: String { rawValue }

    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool {
        switch (lhs.intValue, rhs.intValue) {
        case let (l?, r?): return l < r
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return lhs.rawValue < rhs.rawValue
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let int = try? container.decode(Int.self) {
            self.init(int)
        } else {
            let text = try container.decode(String.self)
            guard !text.isEmpty else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "A device id must not be empty.")
            }
            self.init(text)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let int = intValue { try container.encode(int) } else { try container.encode(rawValue) }
    }
}
