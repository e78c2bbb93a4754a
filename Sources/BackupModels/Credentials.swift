/// A secret string (password, passphrase, enable secret, private key).
///
/// Its `description`, `debugDescription`, reflection (`dump`, `String(reflecting:)`) and `Encodable`
/// output are all `<redacted>`: a secret cannot reach a log line, an error message or a stored record by
/// accident. Code that must use the value calls ``reveal()`` explicitly.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, Codable, ExpressibleByStringLiteral
{
    private let value: String

    /// Wraps a secret value.
    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.init(value) }

    /// The secret value. Never log or store what this returns.
    public func reveal() -> String { value }

    /// `true` when the secret is the empty string.
    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "Secret(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Decodes the plain value (inventories and configuration files carry secrets in).
    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    /// Always encodes `"<redacted>"`: secrets go into encoders only by explicit ``reveal()``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("<redacted>")
    }
}

/// Where an SSH private key comes from.
public enum PrivateKeySource: Sendable, Hashable, CustomStringConvertible {
    /// A key file on disk (OpenSSH or PEM format); the path itself is not secret.
    case file(path: String)
    /// Key material in memory (OpenSSH or PEM text).
    case inMemory(Secret)

    public var description: String {
        switch self {
        case .file(let path): "key file \(path)"
        case .inMemory: "in-memory key <redacted>"
        }
    }
}

/// How to log in to a device.
///
/// Every secret is a ``Secret``: `print(credentials)`, `dump(credentials)` and `JSONEncoder` show only
/// which kinds of secret are present, never their values.
public struct Credentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, Encodable
{
    /// The login name.
    public var username: String
    /// Password for password or keyboard-interactive authentication.
    public var password: Secret?
    /// A private key for public-key authentication.
    public var privateKey: PrivateKeySource?
    /// The private key's passphrase.
    public var passphrase: Secret?
    /// The secret for `enable` (privileged mode) on devices that need it.
    public var enableSecret: Secret?

    /// Creates credentials; give a password, a private key, or both.
    public init(
        username: String,
        password: Secret? = nil,
        privateKey: PrivateKeySource? = nil,
        passphrase: Secret? = nil,
        enableSecret: Secret? = nil
    ) {
        self.username = username
        self.password = password
        self.privateKey = privateKey
        self.passphrase = passphrase
        self.enableSecret = enableSecret
    }

    public var description: String {
        var parts = ["username: \(username)"]
        if password != nil { parts.append("password: <redacted>") }
        if let privateKey { parts.append("privateKey: \(privateKey)") }
        if passphrase != nil { parts.append("passphrase: <redacted>") }
        if enableSecret != nil { parts.append("enableSecret: <redacted>") }
        return "Credentials(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["username": username, "secrets": description], displayStyle: .struct)
    }

    enum CodingKeys: String, CodingKey {
        case username, password, passphrase
        case privateKey = "private_key"
        case enableSecret = "enable_secret"
    }

    /// Encodes the username and `"<redacted>"` for each secret that is present.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(username, forKey: .username)
        try c.encodeIfPresent(password, forKey: .password)
        try c.encodeIfPresent(privateKey.map { _ in Secret("") }, forKey: .privateKey)
        try c.encodeIfPresent(passphrase, forKey: .passphrase)
        try c.encodeIfPresent(enableSecret, forKey: .enableSecret)
    }

    /// Every secret value held, for tests and scrubbing (never log these).
    public var secretValues: [String] {
        var values = [password, passphrase, enableSecret].compactMap { $0?.reveal() }
        if case .inMemory(let key) = privateKey { values.append(key.reveal()) }
        return values.filter { !$0.isEmpty }
    }
}
