import BackupModels
import Synchronization

/// The simulator's devices and their runtime state, shared by every connection (lock-protected).
final class DeviceRegistry: Sendable {
    struct Entry {
        var device: SimulatedDevice
        /// `nil` until the configuration is changed at run time: until then it is regenerated on demand
        /// (deterministic), so 1,000 devices with 200 KB configurations do not sit in memory.
        var changedConfig: GeneratedConfig?
        var runs = 0
    }

    private let state: Mutex<[DeviceID: Entry]>
    private let counters = Mutex(SimulatorStatistics())
    private let sessions = Mutex(0)
    let order: [DeviceID]

    init(devices: [SimulatedDevice]) {
        var entries: [DeviceID: Entry] = [:]
        var order: [DeviceID] = []
        for device in devices where entries[device.id] == nil {
            entries[device.id] = Entry(device: device)
            order.append(device.id)
        }
        self.state = Mutex(entries)
        self.order = order
    }

    func device(_ id: DeviceID) -> SimulatedDevice? {
        state.withLock { $0[id]?.device }
    }

    /// The device a login name selects on the shared port: `<id>:<username>`, or a username that only one
    /// device has.
    func device(forLogin login: String) -> SimulatedDevice? {
        state.withLock { entries in
            if let colon = login.firstIndex(of: ":") {
                let id = DeviceID(String(login[..<colon]))
                let user = String(login[login.index(after: colon)...])
                if let entry = entries[id], DeviceAuthDelegate.loginMatches(user, entry.device) { return entry.device }
            }
            let matches = entries.values.filter { $0.device.username == login }
            return matches.count == 1 ? matches[0].device : nil
        }
    }

    func config(of id: DeviceID) -> GeneratedConfig? {
        let entry = state.withLock { $0[id] }
        guard let entry else { return nil }
        return entry.changedConfig ?? entry.device.generatedConfig
    }

    /// The configuration and the next run number.
    func nextRun(of id: DeviceID) -> (GeneratedConfig, Int)? {
        let result: (SimulatedDevice, GeneratedConfig?, Int)? = state.withLock { entries in
            guard var entry = entries[id] else { return nil }
            entry.runs += 1
            entries[id] = entry
            return (entry.device, entry.changedConfig, entry.runs)
        }
        guard let (device, changed, run) = result else { return nil }
        return (changed ?? device.generatedConfig, run)
    }

    func changeConfig(of id: DeviceID, _ body: (inout GeneratedConfig) -> Bool) -> Bool {
        // Generate outside the lock when needed, then apply under it.
        guard let device = device(id) else { return false }
        let fresh = state.withLock { $0[id]?.changedConfig } == nil ? device.generatedConfig : nil
        return state.withLock { entries in
            guard var entry = entries[id] else { return false }
            var config = entry.changedConfig ?? fresh ?? entry.device.generatedConfig
            let changed = body(&config)
            entry.changedConfig = config
            entries[id] = entry
            return changed
        }
    }

    func update(_ id: DeviceID, _ body: (inout SimulatedDevice) -> Void) -> Bool {
        state.withLock { entries in
            guard var entry = entries[id] else { return false }
            let vendor = entry.device.vendor.name
            body(&entry.device)
            if entry.device.vendor.name != vendor { entry.changedConfig = nil }
            entries[id] = entry
            return true
        }
    }

    /// A number per session (banners with login statistics change per session).
    func nextSessionNumber() -> Int {
        sessions.withLock {
            $0 += 1
            return $0
        }
    }

    func count(_ body: (inout SimulatorStatistics) -> Void) {
        counters.withLock { body(&$0) }
    }

    var statistics: SimulatorStatistics { counters.withLock { $0 } }
}

/// Counters of what a ``DeviceSimulator`` has served since it started.
public struct SimulatorStatistics: Sendable, Hashable {
    /// TCP connections accepted.
    public var connectionsAccepted = 0
    /// TCP connections currently open.
    public var connectionsOpen = 0
    /// Successful logins.
    public var loginsSucceeded = 0
    /// Refused logins (wrong credentials, unknown user on the shared port, ``DeviceFault/authFailure``).
    public var loginsFailed = 0
    /// Shell and exec sessions started.
    public var sessionsStarted = 0
    /// Configurations printed (each is one "run" whose volatile lines differ).
    public var configsServed = 0

    /// Creates zeroed counters.
    public init() {}
}
