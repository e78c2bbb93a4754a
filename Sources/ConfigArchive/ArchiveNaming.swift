public import BackupModels

/// How an archive names each device's file.
///
/// Both namings turn a text (the device's id or its name) into a file name with the same reversible
/// rule, so two different texts never give the same file:
///
/// - ASCII letters, digits, `-`, `_` and `.` are kept as they are, except a `.` at the start;
/// - Unicode letters, marks and digits (Chinese, Cyrillic, accented Latin, …) are kept as they are,
///   so names stay readable;
/// - everything else — `/`, `%`, spaces, punctuation, symbols, control and format characters, and a
///   leading `.` — is written as `%XX` per UTF-8 byte (upper-case hex);
/// - `.cfg` is appended.
///
/// | Text | File |
/// | --- | --- |
/// | `sw1`, `core_sw1`, `edge-1.lab` | `sw1.cfg`, `core_sw1.cfg`, `edge-1.lab.cfg` (as before) |
/// | `core/sw1` | `core%2Fsw1.cfg` |
/// | `路由器1`, `交换机1` | `路由器1.cfg`, `交换机1.cfg` |
/// | `sw 1 (lab)` | `sw%201%20%28lab%29.cfg` |
/// | `100%` | `100%25.cfg` |
/// | `.hidden` | `%2Ehidden.cfg` |
///
/// Names made only of ASCII letters, digits, `-`, `_` and `.` (not starting with `.`) get the same
/// file name as in earlier versions, so existing archives keep their files. A text that is empty, or
/// whose encoded form is longer than ``maximumFileComponentBytes`` bytes, has no file name: the archive
/// refuses such a device (in ``ConfigArchive/prepare(for:)``, before anything connects, and in
/// `store`).
public enum ArchiveFileNaming: Sendable, Hashable {
    /// `<device id>.cfg`: stable across renames, never collides.
    case deviceID
    /// `<device name>.cfg`: readable; two devices with the same name would share a file, so an archive
    /// refuses a task that has duplicate names.
    case deviceName

    /// The longest encoded name (in UTF-8 bytes, without `.cfg`) a file may have; file systems allow
    /// 255 bytes per name, and the atomic write adds a temporary suffix.
    public static let maximumFileComponentBytes = 200

    /// The text the file name is made from: the device's id or its name.
    public func key(for device: DeviceRef) -> String {
        switch self {
        case .deviceID: device.id.rawValue
        case .deviceName: device.name
        }
    }

    /// The file name of `device` (`<encoded key>.cfg`), whether or not it is usable; see
    /// ``fileNameProblem(for:)``.
    public func fileName(for device: DeviceRef) -> String {
        archiveFileComponent(key(for: device)) + ".cfg"
    }

    /// Why `device` cannot have a file (empty, or too long once encoded), or `nil` when it can.
    public func fileNameProblem(for device: DeviceRef) -> String? {
        let key = key(for: device)
        let what = self == .deviceID ? "id" : "name"
        if key.isEmpty { return "its \(what) is empty" }
        let bytes = archiveFileComponent(key).utf8.count
        if bytes > Self.maximumFileComponentBytes {
            return "its \(what) is \(bytes) bytes long as a file name (at most \(Self.maximumFileComponentBytes))"
        }
        return nil
    }
}

/// Encodes `text` as one path component by the rule ``ArchiveFileNaming`` describes: reversible (no two
/// texts give the same result), readable for Unicode letters, never containing `/`, never starting
/// with `.`.
package func archiveFileComponent(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    var leading = true
    for scalar in text.unicodeScalars {
        if keepsLiterally(scalar, leading: leading) {
            out.unicodeScalars.append(scalar)
        } else {
            for byte in String(scalar).utf8 {
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hexDigits[Int(byte >> 4)])
                out.unicodeScalars.append(hexDigits[Int(byte & 0xF)])
            }
        }
        leading = false
    }
    return out
}

/// Reverses ``archiveFileComponent(_:)``; `nil` for text it cannot have produced.
package func decodedArchiveFileComponent(_ component: String) -> String? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(component.utf8.count)
    var iterator = component.utf8.makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private let hexDigits: [Unicode.Scalar] = Array("0123456789ABCDEF".unicodeScalars)

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

private func keepsLiterally(_ scalar: Unicode.Scalar, leading: Bool) -> Bool {
    if scalar.isASCII {
        switch scalar.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F: return true  // 0-9 A-Z a-z - _
        case 0x2E: return !leading  // .
        default: return false
        }
    }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
        .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
        return true
    default:
        return false
    }
}
