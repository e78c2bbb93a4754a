public import Foundation
import Synchronization

/// The vendor profiles known by name: the built-ins plus those users add.
///
/// Profiles are validated and compiled once, when registered; a profile registered under an existing
/// name replaces it (so users can adjust a built-in without renaming it). Thread-safe.
///
/// ```swift
/// let registry = VendorProfileRegistry()                      // the built-ins
/// try registry.registerProfiles(fromFile: "/etc/devicebackup/profiles.yaml")
/// var custom = VendorProfile.ciscoIOS
/// custom.name = "cisco_ios_rbac"
/// custom.commands = [BackupCommand("show running-config view full")]
/// try registry.register(custom)
/// ```
public final class VendorProfileRegistry: Sendable {
    private let profiles: Mutex<[String: CompiledProfile]>

    /// Creates a registry holding the built-in profiles (``VendorProfile/builtIn``), or none.
    public init(includingBuiltIns: Bool = true) {
        var table: [String: CompiledProfile] = [:]
        if includingBuiltIns {
            for profile in VendorProfile.builtIn {
                do {
                    table[profile.name] = try CompiledProfile(profile)
                } catch {
                    preconditionFailure("Built-in profile \(profile.name) is invalid: \(error)")
                }
            }
        }
        profiles = Mutex(table)
    }

    /// Validates `profile` and registers it, replacing a profile of the same name.
    ///
    /// - Throws: ``VendorProfileError`` naming the offending field.
    public func register(_ profile: VendorProfile) throws(VendorProfileError) {
        let compiled = try CompiledProfile(profile)
        profiles.withLock { $0[profile.name] = compiled }
    }

    /// Registers every profile of a JSON or YAML document (one profile or a list); nothing is registered
    /// unless all of them are valid.
    ///
    /// - Returns: the names registered.
    @discardableResult
    public func registerProfiles(from data: Data, format: VendorProfile.DocumentFormat) throws -> [String] {
        let decoded = try VendorProfile.decodeDocument(data, format: format)
        var compiled: [CompiledProfile] = []
        for profile in decoded { compiled.append(try CompiledProfile(profile)) }
        profiles.withLock { table in
            for profile in compiled { table[profile.name] = profile }
        }
        return compiled.map(\.name)
    }

    /// Registers the profiles of a `.json`, `.yaml` or `.yml` file.
    ///
    /// - Returns: the names registered.
    @discardableResult
    public func registerProfiles(fromFile path: String) throws -> [String] {
        guard let format = VendorProfile.DocumentFormat(path: path) else {
            throw VendorProfileError(
                profile: path, field: "file", message: "the file name must end with .json, .yaml or .yml")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try registerProfiles(from: data, format: format)
    }

    /// Removes a profile; returns whether there was one.
    @discardableResult
    public func remove(named name: String) -> Bool {
        profiles.withLock { $0.removeValue(forKey: name) != nil }
    }

    /// The profile registered under `name`.
    public func profile(named name: String) -> VendorProfile? {
        compiled(named: name)?.profile
    }

    /// The registered names, sorted.
    public var names: [String] {
        profiles.withLock { $0.keys.sorted() }
    }

    func compiled(named name: String) -> CompiledProfile? {
        profiles.withLock { $0[name] }
    }
}
