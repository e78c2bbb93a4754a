import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation

/// The built-in demo: twelve made-up devices behind ``MockTransport`` — no SSH, no network traffic.
///
/// Why the mock and not the in-process `DeviceSimulator`: the demo should start at once, anywhere, with
/// nothing to trust (no host keys, no ports) and without swift-crypto's C++ in this package's build; and it
/// should show every outcome the API reports — success, a retried success, `AUTH_FAILED` (never retried),
/// `MAX_RETRIES_EXCEEDED` after timeouts, `HOST_UNREACHABLE` on an offline device — on every run. The
/// simulator is the right tool for testing the SSH path; the server's subject is the API around it.
///
/// Every device takes `latency` (varied ±50 % per device, fixed per device) per attempt, so a browser
/// can watch a progress bar move. Configs are small generated texts.
public enum DemoNetwork {
    public struct Entry: Sendable {
        public var device: Device
        /// `nil`: always succeeds.
        public var failure: Failure?
    }

    public enum Failure: Sendable {
        /// Fails the first attempt with this code, then succeeds (shows a retry).
        case once(BackupError.Code)
        /// Fails every attempt with this code.
        case always(BackupError.Code)
    }

    /// The demo devices and how each behaves.
    public static let entries: [Entry] = {
        func device(_ id: Int, _ name: String, _ vendor: String, _ status: DeviceStatus = .online, groups: [String]) -> Device {
            Device(id: DeviceID(id), name: name, host: "\(name).demo.invalid", vendor: vendor, status: status, groups: groups)
        }
        return [
            Entry(device: device(1, "core-sw1", "cisco_ios", groups: ["core"])),
            Entry(device: device(2, "core-sw2", "cisco_ios", groups: ["core"])),
            Entry(device: device(3, "dist-sw1", "arista_eos", groups: ["distribution"]), failure: .once(.connectionLost)),
            Entry(device: device(4, "dist-sw2", "arista_eos", groups: ["distribution"])),
            Entry(device: device(5, "edge-fw1", "fortinet_fortios", groups: ["edge"]), failure: .always(.authFailed)),
            Entry(device: device(6, "edge-rtr1", "juniper_junos", groups: ["edge"])),
            Entry(device: device(7, "edge-rtr2", "juniper_junos", groups: ["edge"])),
            Entry(device: device(8, "branch-sw1", "huawei_vrp", groups: ["branch"]), failure: .always(.connectionTimeout)),
            Entry(device: device(9, "branch-sw2", "huawei_vrp", groups: ["branch"])),
            Entry(device: device(10, "lab-sw1", "cisco_ios", .maintenance, groups: ["lab"])),
            Entry(device: device(11, "old-rtr1", "cisco_ios", .offline, groups: ["branch"]), failure: .always(.hostUnreachable)),
            Entry(device: device(12, "dc-leaf1", "arista_eos", groups: ["datacenter"])),
        ]
    }()

    /// The demo inventory (one shared, made-up credential).
    public static var inventory: StaticInventory {
        StaticInventory(devices: entries.map(\.device), defaultCredentials: Credentials(username: "demo", password: "demo-password"))
    }

    /// A mock transport playing the demo devices with `latency` per attempt (on the real clock).
    public static func transport(latency: Duration) -> MockTransport {
        let transport = MockTransport()
        for (index, entry) in entries.enumerated() {
            // A fixed spread per device: 0.5x … 1.5x the base latency.
            let factor = 0.5 + Double((index * 7) % 11) / 10
            let delay = latency * factor
            let device = entry.device
            let failure = entry.failure
            transport.setBehavior(
                .custom { attempt in
                    if delay > .zero { try await Task.sleep(for: delay) }
                    switch failure {
                    case .always(let code):
                        throw BackupError(code, message(code, device), hint: hint(code))
                    case .once(let code) where attempt == 1:
                        throw BackupError(code, message(code, device), hint: hint(code))
                    default:
                        return config(for: device)
                    }
                },
                for: device.id)
        }
        return transport
    }

    static func message(_ code: BackupError.Code, _ device: Device) -> String {
        switch code {
        case .authFailed: "\(device.host) rejected the credentials of user demo."
        case .connectionTimeout: "No SSH answer from \(device.host):\(device.port) within 10 s."
        case .connectionLost: "The connection to \(device.host) was reset while reading the configuration."
        case .hostUnreachable: "\(device.host) is unreachable (no route to host)."
        default: "\(code) on \(device.host)."
        }
    }

    static func hint(_ code: BackupError.Code) -> String? {
        switch code {
        case .authFailed: "Check the device's credentials in the inventory."
        case .connectionTimeout, .hostUnreachable: "Check that the device is up and reachable from the server."
        default: nil
        }
    }

    static func config(for device: Device) -> String {
        """
        ! demo configuration of \(device.name) (\(device.vendor))
        hostname \(device.name)
        interface Loopback0
         ip address 192.0.2.\(device.id.intValue ?? 1) 255.255.255.255
        ntp server 192.0.2.123
        end

        """
    }
}
