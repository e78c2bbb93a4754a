internal import BackupModels
internal import BackupSupport
internal import CLibSSH2

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A server host key as libssh2 reports it after the handshake.
struct ServerHostKey: Sendable {
    /// `LIBSSH2_HOSTKEY_TYPE_*`.
    var type: Int32
    /// The raw key blob (SSH wire format).
    var blob: [UInt8]
    /// `SHA256:` + unpadded base64 of the SHA-256 of the blob, as OpenSSH prints it.
    var fingerprint: String

    /// The OpenSSH key-type name (`ssh-ed25519`, …).
    var typeName: String { HostKeyType(libssh2Type: type)?.name ?? "unknown" }
}

extension ServerHostKey {
    /// A key of `type` with the given blob; the fingerprint is computed here.
    init(_ type: HostKeyType, blob: [UInt8]) {
        self.init(type: type.libssh2Type, blob: blob, fingerprint: "SHA256:" + Base64.encodeUnpadded(SHA256Digest.hash(blob)))
    }
}

/// The host key types libssh2 1.10 knows, with their known_hosts mask and host-key algorithm names.
enum HostKeyType: CaseIterable {
    case rsa, dss, ecdsa256, ecdsa384, ecdsa521, ed25519

    init?(libssh2Type: Int32) {
        switch libssh2Type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: self = .rsa
        case LIBSSH2_HOSTKEY_TYPE_DSS: self = .dss
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: self = .ecdsa256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: self = .ecdsa384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: self = .ecdsa521
        case LIBSSH2_HOSTKEY_TYPE_ED25519: self = .ed25519
        default: return nil
        }
    }

    /// `LIBSSH2_HOSTKEY_TYPE_*`.
    var libssh2Type: Int32 {
        switch self {
        case .rsa: LIBSSH2_HOSTKEY_TYPE_RSA
        case .dss: LIBSSH2_HOSTKEY_TYPE_DSS
        case .ecdsa256: LIBSSH2_HOSTKEY_TYPE_ECDSA_256
        case .ecdsa384: LIBSSH2_HOSTKEY_TYPE_ECDSA_384
        case .ecdsa521: LIBSSH2_HOSTKEY_TYPE_ECDSA_521
        case .ed25519: LIBSSH2_HOSTKEY_TYPE_ED25519
        }
    }

    /// The key name in known_hosts and the host-key algorithm libssh2 negotiates for it.
    var name: String {
        switch self {
        case .rsa: "ssh-rsa"
        case .dss: "ssh-dss"
        case .ecdsa256: "ecdsa-sha2-nistp256"
        case .ecdsa384: "ecdsa-sha2-nistp384"
        case .ecdsa521: "ecdsa-sha2-nistp521"
        case .ed25519: "ssh-ed25519"
        }
    }

    /// The host-key algorithms that present a key of this type, strongest first: an RSA key is shown
    /// with an `rsa-sha2-512`, `rsa-sha2-256` or (SHA-1) `ssh-rsa` signature.
    var algorithms: [String] {
        switch self {
        case .rsa: ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        default: [name]
        }
    }

    /// The key type a host-key algorithm presents (`rsa-sha2-256` → `.rsa`); `nil` for unknown names.
    init?(algorithm: String) {
        guard let type = HostKeyType.allCases.first(where: { $0.algorithms.contains(algorithm) }) else { return nil }
        self = type
    }

    /// `LIBSSH2_KNOWNHOST_KEY_*`: the key-type part of the `checkp` type mask.
    var knownHostMask: Int32 {
        switch self {
        case .rsa: 2 << 18
        case .dss: 3 << 18
        case .ecdsa256: 4 << 18
        case .ecdsa384: 5 << 18
        case .ecdsa521: 6 << 18
        case .ed25519: 7 << 18
        }
    }
}

/// Reading, checking and recording known_hosts entries through libssh2_knownhost.
enum KnownHosts {
    /// Reads of known-hosts and key files go through one serial queue (recording a new host has its
    /// own, ``recordQueue``).
    static let fileQueue = BlockingIOPool(label: "DeviceBackup.known-hosts", serial: true)

    /// The name known_hosts uses for a host and port: `host`, or `[host]:port` for ports other than 22
    /// (OpenSSH's convention; names lower-cased, IPv6 brackets removed).
    static func hostPattern(host: String, port: Int) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        return port == 22 ? name : "[\(name)]:\(port)"
    }

    /// Reads a known_hosts file off the cooperative pool; a missing file reads as empty.
    static func read(_ path: String) async throws(BackupError) -> [UInt8] {
        let result: Result<[UInt8], FileIOError>
        do {
            result = try await cancellableBlockingCall(pool: fileQueue) { Result { () throws(FileIOError) in try FileIO.read(path) ?? [] } }
        } catch {
            throw BackupError(.cancelled, "Reading the known-hosts file was cancelled.")
        }
        switch result {
        case .success(let bytes): return bytes
        case .failure(let error):
            throw BackupError(
                .hostKeyUnknown, "The known-hosts file cannot be read: \(error).",
                hint: "Check the path and permissions of the known-hosts file.")
        }
    }

    /// What recording a new host found once it held the lock and had read the file again.
    enum RecordOutcome: Equatable, Sendable {
        /// The key was appended (and fsynced).
        case recorded
        /// Another session or process recorded the same key meanwhile; nothing was written.
        case alreadyRecorded
        /// Another session or process recorded a different key, or keys of other types, for the host
        /// meanwhile (their type names); nothing was written.
        case conflict(recordedTypes: [String])
    }

    /// Records a new host's key off the cooperative pool (trust on first use). See
    /// ``recordSync(_:pattern:path:)``.
    static func record(_ key: ServerHostKey, pattern: String, path: String) async throws(BackupError) -> RecordOutcome {
        let result: Result<RecordOutcome, FileIOError>
        do {
            result = try await cancellableBlockingCall(pool: recordQueue) {
                Result { () throws(FileIOError) in try recordSync(key, pattern: pattern, path: path) }
            }
        } catch {
            throw BackupError(.cancelled, "Recording the host key was cancelled.")
        }
        switch result {
        case .success(let outcome): return outcome
        case .failure(let error):
            throw BackupError(
                .hostKeyUnknown, "The new host key could not be recorded: \(error).",
                hint: "Check that the known-hosts file, its directory and \(lockPath(for: path)) are writable.")
        }
    }

    /// Recording runs on a queue of its own: a record waiting for another process's lock never holds up
    /// the reads of the known-hosts file (on ``fileQueue``), and at most one thread of this process waits.
    static let recordQueue = BlockingIOPool(label: "DeviceBackup.known-hosts.record", serial: true)

    /// The lock file beside a known-hosts file that serialises recorders across processes.
    static func lockPath(for path: String) -> String { path + ".lock" }

    /// Records `key` for `pattern` in the file at `path`, atomically across threads and processes:
    /// takes an exclusive `flock` on the sibling lock file (``lockPath(for:)``, created 0600), reads the
    /// file again, checks the host again (another process may have recorded it meanwhile, with the same
    /// key or another one), appends the line only if the host is still unknown, fsyncs the file (and its
    /// directory when the file is new), then releases the lock. A new file is created with mode 0600
    /// (never chmod'ed afterwards), a new directory with 0700. Blocking: call it only off the
    /// cooperative pool.
    static func recordSync(_ key: ServerHostKey, pattern: String, path: String) throws(FileIOError) -> RecordOutcome {
        guard let type = HostKeyType(libssh2Type: key.type) else { throw FileIOError("record", path: path, errno: EINVAL) }
        let directory = FileIO.directoryName(path)
        if directory != "." { try FileIO.createDirectory(directory) }
        let lockFile = lockPath(for: path)
        let lock = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if lock < 0 { throw FileIOError("open", path: lockFile, errno: errno) }
        // Closing the descriptor releases the lock.
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            if errno != EINTR { throw FileIOError("flock", path: lockFile, errno: errno) }
        }

        let existing = try FileIO.read(path)
        let decision: RecordOutcome?? = KnownHostsCollection.offline(contents: existing ?? []) { hosts -> RecordOutcome? in
            switch hosts.check(pattern: pattern, blob: key.blob, type: type) {
            case LIBSSH2_KNOWNHOST_CHECK_MATCH:
                return .alreadyRecorded
            case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
                let recorded = hosts.recordedTypes(pattern: pattern)
                return recorded.isEmpty ? nil : .conflict(recordedTypes: recorded.map(\.name))
            default:
                return .conflict(recordedTypes: hosts.recordedTypes(pattern: pattern).map(\.name))
            }
        }
        guard let decision else { throw FileIOError("libssh2_knownhost_init", path: path, errno: ENOMEM) }
        if let decision { return decision }

        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw FileIOError("open", path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        if let last = existing?.last, last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        bytes += Array(line(pattern: pattern, key: key).utf8)
        bytes.append(UInt8(ascii: "\n"))
        try FileIO.writeAll(fd, bytes, path: path)
        if fsync(fd) != 0 { throw FileIOError("fsync", path: path, errno: errno) }
        if existing == nil { try FileIO.syncDirectory(containing: path) }
        return .recorded
    }

    /// The known_hosts line for a key: `pattern type base64`.
    static func line(pattern: String, key: ServerHostKey) -> String {
        "\(pattern) \(key.typeName) \(Base64.encode(key.blob))"
    }
}

/// A libssh2 known-hosts collection loaded from file bytes (owned by one session; freed with it).
final class KnownHostsCollection {
    private let hosts: OpaquePointer
    /// Lines libssh2 could not parse (unsupported key types, markers); they are skipped.
    private(set) var skippedLines = 0

    init?(session: OpaquePointer, contents: [UInt8]) {
        guard let hosts = libssh2_knownhost_init(session) else { return nil }
        self.hosts = hosts
        contents.withUnsafeBytes { file in
            var start = 0
            while start < file.count {
                var end = start
                while end < file.count, file[end] != UInt8(ascii: "\n") { end += 1 }
                if !add(line: UnsafeRawBufferPointer(rebasing: file[start..<end])) { skippedLines += 1 }
                start = end + 1
            }
        }
    }

    /// Adds one known_hosts line (without its newline); `false` if libssh2 cannot parse it. Comments and
    /// blank lines count as parsed.
    ///
    /// libssh2 1.10 reads one byte past the given length (looking for a newline) and scans some fields up
    /// to a NUL, so the line is copied and NUL-terminated first: read in place, a '\n' right after the
    /// line (as in every file) would cut the key short and turn a match into a mismatch.
    func add(line raw: UnsafeRawBufferPointer) -> Bool {
        var line = Array(raw)
        while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            line.removeLast()
        }
        guard let first = line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }), first != UInt8(ascii: "#")
        else { return true }
        let length = line.count
        line.append(0)
        let rc = line.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                libssh2_knownhost_readline(hosts, $0.baseAddress, length, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
            }
        }
        return rc == 0
    }

    /// Runs `body` with a collection of `contents` (empty by default) on a session that never connects
    /// (for recording new hosts, tests and tools); `nil` if libssh2 cannot make one.
    static func offline<T>(contents: [UInt8] = [], _ body: (KnownHostsCollection) -> T) -> T? {
        guard (try? LibSSH2Runtime.ensureInitialized()) != nil,
            let session = libssh2_session_init_ex(libssh2CountingAlloc, libssh2CountingFree, libssh2CountingRealloc, nil)
        else { return nil }
        // The collection must be gone before its session is freed.
        let result: T? = {
            guard let collection = KnownHostsCollection(session: session, contents: contents) else { return nil }
            return body(collection)
        }()
        libssh2_session_free(session)
        return result
    }

    deinit { libssh2_knownhost_free(hosts) }

    /// `LIBSSH2_KNOWNHOST_CHECK_*` for a raw key of `type` under the host pattern (no port fallback).
    func check(pattern: String, blob: [UInt8], type: HostKeyType) -> Int32 {
        let typeMask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type.knownHostMask
        return blob.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                libssh2_knownhost_checkp(hosts, pattern, -1, $0.baseAddress, $0.count, typeMask, nil)
            }
        }
    }

    /// Key types recorded for the host (a probe key never matches, so a recorded type reports a mismatch).
    func recordedTypes(pattern: String) -> [HostKeyType] {
        HostKeyType.allCases.filter { check(pattern: pattern, blob: [0], type: $0) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH }
    }
}

/// Standard base64 (RFC 4648) with padding; ``encodeUnpadded(_:)`` for OpenSSH fingerprints.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)], alphabet[Int(value & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encodeUnpadded(_ bytes: [UInt8]) -> String {
        var text = encode(bytes)
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}
