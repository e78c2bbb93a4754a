/// The operational status of a device in the inventory, used by `filter_status`.
public enum DeviceStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// In service: the usual target of a nightly backup.
    case online
    /// Known to be down or unreachable.
    case offline
    /// In a maintenance window.
    case maintenance
}

/// A network device to back up.
///
/// A device names its vendor profile (`cisco_ios`, `juniper_junos`, …) and refers to its credentials by
/// name (`credentials_ref`) instead of carrying secrets: inventories and task records stay free of
/// passwords. The executor asks its inventory (`DeviceInventory.credentials(for:)`) for the secrets when it
/// connects.
public struct Device: Sendable, Codable, Hashable, Identifiable {
    /// Inventory id (`device_id` in results).
    public var id: DeviceID
    /// Display name, usually the hostname (`device_name` in results).
    public var name: String
    /// Address or DNS name to connect to (IPv4, IPv6 or a host name).
    public var host: String
    /// SSH port.
    public var port: Int
    /// The vendor profile name, such as `cisco_ios`; also what `filter_vendor` matches.
    public var vendor: String
    /// Operational status; `filter_status` matches it.
    public var status: DeviceStatus
    /// Groups or tags the device belongs to.
    public var groups: [String]
    /// The name under which the inventory finds this device's credentials; `nil` means the inventory's
    /// default credentials.
    public var credentialsRef: String?

    /// Creates a device; the port defaults to 22, the status to online.
    public init(
        id: DeviceID,
        name: String,
        host: String,
        port: Int = 22,
        vendor: String,
        status: DeviceStatus = .online,
        groups: [String] = [],
        credentialsRef: String? = nil
    ) {
        self.id = id
        self.name = name
        self.host = host
        self.port = port
        self.vendor = vendor
        self.status = status
        self.groups = groups
        self.credentialsRef = credentialsRef
    }

    enum CodingKeys: String, CodingKey {
        case id, name, host, port, vendor, status, groups
        case credentialsRef = "credentials_ref"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(DeviceID.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        host = try c.decode(String.self, forKey: .host)
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 22
        vendor = try c.decode(String.self, forKey: .vendor)
        status = try c.decodeIfPresent(DeviceStatus.self, forKey: .status) ?? .online
        groups = try c.decodeIfPresent([String].self, forKey: .groups) ?? []
        credentialsRef = try c.decodeIfPresent(String.self, forKey: .credentialsRef)
        guard (1...65535).contains(port) else {
            throw DecodingError.dataCorruptedError(
                forKey: .port, in: c, debugDescription: "port \(port) of device \(id) is outside 1–65535")
        }
    }

    /// The reference stored in a task record for this device.
    public var ref: DeviceRef { DeviceRef(id: id, name: name, vendor: vendor) }
}

/// What a task remembers of a device it backs up: enough to report and to resume, nothing secret.
public struct DeviceRef: Sendable, Codable, Hashable {
    /// The device's inventory id.
    public var id: DeviceID
    /// The device's name.
    public var name: String
    /// The device's vendor profile name.
    public var vendor: String

    /// Creates a reference.
    public init(id: DeviceID, name: String, vendor: String) {
        self.id = id
        self.name = name
        self.vendor = vendor
    }

    enum CodingKeys: String, CodingKey {
        case id = "device_id"
        case name = "device_name"
        case vendor
    }
}
