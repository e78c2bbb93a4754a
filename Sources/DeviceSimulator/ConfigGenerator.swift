import BackupSupport

/// A device's configuration: stable lines and volatile lines (templates rendered anew on every run).
public struct GeneratedConfig: Sendable, Hashable {
    /// One configuration line.
    public enum Line: Sendable, Hashable {
        /// A line that only changes when the configuration changes.
        case stable(String)
        /// A line the device rewrites on every run (a template, see ``ConfigTemplate``).
        case volatile(String)
    }

    /// The lines in device order.
    public var lines: [Line]
    /// Secret strings written into the configuration (passwords, keys, communities).
    public var secrets: [String]
    /// How many trailing lines form the end marker (cut by ``DeviceFault/truncatedConfig``).
    public var endMarkerLines: Int

    /// Creates a configuration.
    public init(lines: [Line], secrets: [String] = [], endMarkerLines: Int = 1) {
        self.lines = lines
        self.secrets = secrets
        self.endMarkerLines = endMarkerLines
    }

    /// The stable lines.
    public var stableLines: [String] {
        lines.compactMap { if case .stable(let text) = $0 { text } else { nil } }
    }

    /// The stable lines without blank lines at the start and the end, joined with `\n`, ending with `\n`:
    /// what a backup must yield (blank lines around a command's output carry no configuration).
    public var stableText: String {
        var text = trimmingBlankEdges(stableLines).joined(separator: "\n")
        text.append("\n")
        return text
    }

    /// Replaces the first stable line equal to `old` (or starting with `old` followed by a space) with `new`;
    /// returns `false` when there is no such line.
    @discardableResult
    public mutating func replaceLine(_ old: String, with new: String) -> Bool {
        guard let index = indexOfStableLine(old) else { return false }
        lines[index] = .stable(new)
        return true
    }

    /// Removes the first stable line equal to `old` (or starting with `old` and a space); returns `false`
    /// when there is no such line.
    @discardableResult
    public mutating func removeLine(_ old: String) -> Bool {
        guard let index = indexOfStableLine(old) else { return false }
        lines.remove(at: index)
        return true
    }

    /// Inserts `line` before the end marker.
    public mutating func insertLineBeforeEnd(_ line: String) {
        lines.insert(.stable(line), at: max(0, lines.count - endMarkerLines))
    }

    private func indexOfStableLine(_ text: String) -> Int? {
        lines.firstIndex {
            guard case .stable(let line) = $0 else { return false }
            return line == text || line.hasPrefix(text + " ")
        }
    }

    /// Renders every line for one run.
    func render(_ context: inout VolatileContext) -> [String] {
        let bytes = stableText.utf8.count
        return lines.map { line in
            switch line {
            case .stable(let text): text
            case .volatile(let template): context.render(template, configBytes: bytes)
            }
        }
    }
}

/// Builds a device's configuration from its vendor's ``ConfigTemplate``.
enum ConfigGenerator {
    static func generate(for device: SimulatedDevice) -> GeneratedConfig {
        let template = device.vendor.config
        var rng = SplitMix64(seed: device.seed ^ fnv1a(device.hostname) ^ fnv1a(device.vendor.name))
        var secrets: [String] = []
        var lines: [GeneratedConfig.Line] = []
        var bytes = 0

        func append(_ raw: String, block n: Int) {
            if raw.hasPrefix("~") {
                lines.append(.volatile(String(raw.dropFirst())))
            } else {
                let text = expand(raw, device: device, block: n, rng: &rng, secrets: &secrets)
                bytes += text.utf8.count + 1
                lines.append(.stable(text))
            }
        }

        for raw in template.header { append(raw, block: 0) }
        var footerBytes = 0
        for raw in template.footer where !raw.hasPrefix("~") { footerBytes += raw.utf8.count + 1 }
        var n = 1
        while !template.block.isEmpty, bytes + footerBytes < device.configSize {
            for raw in template.block { append(raw, block: n) }
            n += 1
        }
        for raw in template.footer { append(raw, block: n) }
        return GeneratedConfig(lines: lines, secrets: secrets, endMarkerLines: template.endMarkerLines)
    }

    private static let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    private static let base64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./")
    private static let hexDigits = Array("0123456789ABCDEF")

    static func expand(
        _ template: String, device: SimulatedDevice, block n: Int, rng: inout SplitMix64, secrets: inout [String]
    ) -> String {
        substitute(template) { name in
            switch name {
            case "hostname": return device.hostname
            case "username": return device.username
            case "n": return String(n)
            case "n0": return String(n - 1)
            case "vlan": return String(100 + n)
            case "a": return String((n / 250) % 250)
            case "b": return String(n % 250 + 1)
            case "port": return String((n - 1) % 48 + 1)
            case "slot": return String((n - 1) / 48 + 1)
            case "secret":
                let value = String((0..<12).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
                secrets.append(value)
                return value
            case "hex":
                let value = String((0..<16).map { _ in hexDigits[Int(rng.next() % 16)] })
                secrets.append(value)
                return value
            case "b64":
                let value = String((0..<43).map { _ in base64[Int(rng.next() % 64)] })
                secrets.append(value)
                return value
            default: return nil
            }
        }
    }
}

/// Replaces `{name}` placeholders through `value`; unknown names stay as they are.
func substitute(_ template: String, _ value: (Substring) -> String?) -> String {
    guard template.contains("{") else { return template }
    var result = ""
    result.reserveCapacity(template.utf8.count + 16)
    var rest = template[...]
    while let open = rest.firstIndex(of: "{") {
        result += rest[..<open]
        guard let close = rest[open...].firstIndex(of: "}") else {
            result += rest[open...]
            return result
        }
        let name = rest[rest.index(after: open)..<close]
        if let replacement = value(name) {
            result += replacement
        } else {
            result += rest[open...close]
        }
        rest = rest[rest.index(after: close)...]
    }
    result += rest
    return result
}

/// What volatile lines are rendered from: the wall clock, the run number and a random source.
///
/// Timestamps are the wall clock plus the run number in seconds, so that two runs within the same second
/// still print different volatile lines.
struct VolatileContext {
    var run: Int
    var epochSeconds: Int
    var milliseconds: Int
    var rng: SplitMix64
    var hostname: String
    var username: String

    init(run: Int, epochSeconds: Int, milliseconds: Int, seed: UInt64, hostname: String, username: String) {
        self.hostname = hostname
        self.username = username
        self.run = run
        self.epochSeconds = epochSeconds + run
        self.milliseconds = milliseconds
        self.rng = SplitMix64(seed: seed)
    }

    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    mutating func render(_ template: String, configBytes: Int = 0) -> String {
        let t = epochSeconds
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secondOfDay = t - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        let weekday = Self.weekdays[((days % 7) + 7) % 7]
        let hms = pad(secondOfDay / 3600) + ":" + pad(secondOfDay / 60 % 60) + ":" + pad(secondOfDay % 60)
        let ms = String(milliseconds + 1000).dropFirst()
        let monthName = Self.months[month - 1]
        return substitute(template) { name in
            switch name {
            case "hostname": return hostname
            case "username": return username
            case "ios_clock": return "\(hms) UTC \(weekday) \(monthName) \(day) \(year)"
            case "asa_clock": return "\(hms).\(ms) UTC \(weekday) \(monthName) \(day) \(year)"
            case "unix_clock": return "\(weekday) \(monthName) \(day < 10 ? " " : "")\(day) \(hms) \(year)"
            case "xr_clock": return "\(weekday) \(monthName) \(day < 10 ? " " : "")\(day) \(hms).\(ms) UTC"
            case "iso": return "\(year)-\(pad(month))-\(pad(day)) \(hms)"
            case "iso_ms": return "\(year)-\(pad(month))-\(pad(day)) \(hms).\(ms)"
            case "ros6_clock": return "\(monthName.lowercased())/\(pad(day))/\(year) \(hms)"
            case "rand": return String(10_000_000 + rng.next() % 90_000_000)
            case "run": return String(run)
            case "bytes": return String(configBytes)
            default: return nil
            }
        }
    }

    private func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }

    /// Days since 1970-01-01 → proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}


/// FNV-1a, a stable string hash (Swift's `Hasher` is seeded per process).
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x100_0000_01b3
    }
    return hash
}

/// `lines` without whitespace-only lines at the start and the end.
public func trimmingBlankEdges(_ lines: [String]) -> [String] {
    var slice = lines[...]
    while let first = slice.first, first.allSatisfy(\.isWhitespace) { slice.removeFirst() }
    while let last = slice.last, last.allSatisfy(\.isWhitespace) { slice.removeLast() }
    return Array(slice)
}
