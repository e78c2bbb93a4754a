public import BackupModels

/// Where the executor finds devices and their credentials.
///
/// Implement it over your own database or CMDB; ``StaticInventory`` holds a fixed list.
public protocol DeviceInventory: Sendable {
    /// Every device that can be backed up; the executor applies the filter.
    func devices() async throws -> [Device]
    /// The credentials for `device` (usually looked up by `Device.credentialsRef`).
    func credentials(for device: Device) async throws -> Credentials
}

/// A fixed inventory: a device list and credentials by reference name.
public struct StaticInventory: DeviceInventory {
    /// The devices, in inventory order.
    public var deviceList: [Device]
    /// Credentials by `Device.credentialsRef`.
    public var credentialsByRef: [String: Credentials]
    /// Credentials for devices without a reference (or with an unknown one, when set).
    public var defaultCredentials: Credentials?

    /// Creates an inventory of `devices`; credentials are looked up by `Device.credentialsRef` in
    /// `credentialsByRef`, else `defaultCredentials`.
    public init(devices: [Device], credentialsByRef: [String: Credentials] = [:], defaultCredentials: Credentials? = nil) {
        self.deviceList = devices
        self.credentialsByRef = credentialsByRef
        self.defaultCredentials = defaultCredentials
    }

    public func devices() async throws -> [Device] { deviceList }

    public func credentials(for device: Device) async throws -> Credentials {
        if let ref = device.credentialsRef, let credentials = credentialsByRef[ref] { return credentials }
        if let defaultCredentials { return defaultCredentials }
        throw BackupError(
            .authFailed,
            "No credentials for device \(device.name) (credentials_ref: \(device.credentialsRef ?? "none")).",
            hint: "Add the reference to the inventory's credentials or set default credentials.")
    }
}

/// Receives a task when it finishes, for tasks submitted with `notify_on_complete`.
///
/// Errors thrown by a notifier are logged and never change the task.
public protocol BackupNotifier: Sendable {
    /// Called once when a task submitted with `notify_on_complete` has finished, with the final task.
    func taskDidFinish(_ task: BackupTask) async throws
}

/// A notifier that calls a closure.
public struct ClosureNotifier: BackupNotifier {
    private let body: @Sendable (BackupTask) async throws -> Void

    /// Creates a notifier that calls `body` with each finished task.
    public init(_ body: @escaping @Sendable (BackupTask) async throws -> Void) { self.body = body }

    /// Calls the closure with the finished task.
    public func taskDidFinish(_ task: BackupTask) async throws { try await body(task) }
}
