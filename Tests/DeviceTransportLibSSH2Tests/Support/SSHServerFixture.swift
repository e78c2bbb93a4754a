import BackupModels
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A private OpenSSH `sshd` for one test: its own directory, host key, user keys, authorized_keys,
/// config and PAM service, listening only on 127.0.0.1 (and ::1 when asked) at free ports.
///
/// Password and keyboard-interactive logins need PAM (OpenSSH on Linux offers keyboard-interactive only
/// through PAM, and root has no usable password). sshd names its PAM service after the program it runs
/// as, so the fixture starts sshd through a uniquely named symlink and writes a matching
/// `/etc/pam.d/<name>` whose only auth module is `pam_exec` running a script that compares the password
/// with the fixture's. The file is removed again when the fixture stops. This needs root, as do the
/// tests (CI runs them as root).
final class SSHServerFixture: Sendable {
    struct Options: Sendable {
        /// Also listen on [::1].
        var ipv6 = false
        /// Extra global sshd_config lines; they win over the fixture's defaults.
        var extraConfig: [String] = []
        /// Generate an RSA user key (slow-ish) and accept ssh-rsa signatures.
        var rsaUserKey = false
        var logLevel = "VERBOSE"
        /// Also serve an ECDSA host key (besides the Ed25519 one).
        var ecdsaHostKey = false
        /// Serve the Ed25519 host key (off, with ``ecdsaHostKey``, for a server with only an ECDSA key).
        var ed25519HostKey = true
    }

    static let username = "root"
    /// The test password (a test-only secret, checked by the PAM script).
    static let password = "Correct-Horse-42!"
    /// A password for which the PAM script takes 5 s to answer (authentication timeout tests).
    static let slowPassword = "Slow-Password-7"
    static let keyPassphrase = "key-passphrase-9"
    /// The CLI prompt of the forced command on ``cliPort``.
    static let prompt = "router1#"

    let directory: String
    /// Plain port: any command runs.
    let port: Int
    /// Port whose sessions all run the Cisco-like CLI (`ForceCommand`).
    let cliPort: Int
    /// The running sshd (changes with ``restart(_:)``).
    var pid: pid_t { sshdPID.load(ordering: .relaxed) }
    private let sshdPID: Atomic<pid_t>
    let pamServicePath: String
    /// `ssh-ed25519 AAAA…` of the server's host key.
    let hostKeyPublic: String
    /// A different Ed25519 public key (for mismatch tests).
    let otherHostKeyPublic: String
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    let hostKeyFingerprint: String
    let runningConfig: [UInt8]
    let ipv6: Bool

    var ed25519KeyPath: String { directory + "/id_ed25519" }
    var encryptedKeyPath: String { directory + "/id_ed25519_enc" }
    var ecdsaKeyPath: String { directory + "/id_ecdsa" }
    var rsaKeyPath: String { directory + "/id_rsa" }
    var logPath: String { directory + "/sshd.log" }

    private let stopped = Atomic<Bool>(false)

    private init(
        directory: String, port: Int, cliPort: Int, pid: pid_t, pamServicePath: String, hostKeyPublic: String,
        otherHostKeyPublic: String, hostKeyFingerprint: String, runningConfig: [UInt8], ipv6: Bool
    ) {
        self.directory = directory
        self.port = port
        self.cliPort = cliPort
        self.sshdPID = Atomic(pid)
        self.pamServicePath = pamServicePath
        self.hostKeyPublic = hostKeyPublic
        self.otherHostKeyPublic = otherHostKeyPublic
        self.hostKeyFingerprint = hostKeyFingerprint
        self.runningConfig = runningConfig
        self.ipv6 = ipv6
    }

    /// Runs `body` with a started server and always stops it.
    static func with<T>(_ options: Options = Options(), _ body: (SSHServerFixture) async throws -> T) async throws -> T {
        let fixture = try await start(options)
        do {
            let result = try await body(fixture)
            fixture.stop()
            // Every test closes what it opened: no libssh2 memory may outlive it.
            #expect(LibSSH2Runtime.liveAllocations == 0, "libssh2 blocks still allocated after the test")
            return result
        } catch {
            fixture.stop()
            throw error
        }
    }

    private static let counter = Atomic<Int>(0)

    static func start(_ options: Options) async throws -> SSHServerFixture {
        let serial = counter.add(1, ordering: .relaxed).newValue
        var template = Array("/tmp/devicebackup-sshd-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FixtureError("mkdtemp failed") }
        let directory = String(cString: made)
        let fm = FileManager.default

        // Keys.
        try runTool(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostkey", "-f", directory + "/hostkey"])
        try runTool(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "otherkey", "-f", directory + "/otherkey"])
        if options.ecdsaHostKey {
            try runTool(["/usr/bin/ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", "hostkey-ecdsa", "-f", directory + "/hostkey_ecdsa"])
        }
        try runTool(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "user", "-f", directory + "/id_ed25519"])
        try runTool([
            "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", keyPassphrase, "-C", "user-enc", "-f", directory + "/id_ed25519_enc",
        ])
        try runTool(["/usr/bin/ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", "user-ecdsa", "-f", directory + "/id_ecdsa"])
        var publicKeys = ["id_ed25519", "id_ed25519_enc", "id_ecdsa"]
        if options.rsaUserKey {
            // PEM format: what older tooling and devices' users have.
            try runTool([
                "/usr/bin/ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "user-rsa", "-f",
                directory + "/id_rsa",
            ])
            publicKeys.append("id_rsa")
        }
        var authorized = ""
        for name in publicKeys { authorized += try String(contentsOfFile: "\(directory)/\(name).pub", encoding: .utf8) }
        try authorized.write(toFile: directory + "/authorized_keys", atomically: true, encoding: .utf8)
        let hostKeyPublic = try String(contentsOfFile: directory + "/hostkey.pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        let otherHostKeyPublic = try String(contentsOfFile: directory + "/otherkey.pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        let fingerprintLine = try runTool(["/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f", directory + "/hostkey.pub"])
        guard let fingerprint = fingerprintLine.split(separator: " ").first(where: { $0.hasPrefix("SHA256:") }) else {
            throw FixtureError("no fingerprint in '\(fingerprintLine)'")
        }

        // The device CLI and its 200 KB configuration.
        let runningConfig = Array(makeRunningConfig(targetSize: 200 * 1024).utf8)
        try Data(runningConfig).write(to: URL(fileURLWithPath: directory + "/running-config"))
        try cliScript(configPath: directory + "/running-config").write(toFile: directory + "/cli.sh", atomically: true, encoding: .utf8)

        // PAM: a service named like the sshd symlink, checking the password with pam_exec.
        let service = "devicebackup-test-\(getpid())-\(serial)"
        let check = """
            #!/bin/sh
            IFS= read -r pw || true
            pw=$(printf '%s' "$pw" | tr -d '\\000')
            if [ "$pw" = '\(slowPassword)' ]; then sleep 5; exit 1; fi
            [ "$pw" = '\(password)' ]

            """
        try check.write(toFile: directory + "/check-password.sh", atomically: true, encoding: .utf8)
        chmod(directory + "/check-password.sh", 0o755)
        let pamServicePath = "/etc/pam.d/" + service
        let pam = """
            auth requisite pam_exec.so quiet expose_authtok \(directory)/check-password.sh
            auth required pam_permit.so
            account required pam_permit.so
            session required pam_permit.so
            password required pam_deny.so

            """
        try pam.write(toFile: pamServicePath, atomically: true, encoding: .utf8)
        let sshdPath = directory + "/" + service
        try fm.createSymbolicLink(atPath: sshdPath, withDestinationPath: "/usr/sbin/sshd")
        // sshd refuses to start without its privilege-separation directory (normally made by systemd).
        if !fm.fileExists(atPath: "/run/sshd") { mkdir("/run/sshd", 0o755) }

        let port = try freePort()
        var cliPort = try freePort()
        while cliPort == port { cliPort = try freePort() }
        try writeConfig(options, directory: directory, port: port, cliPort: cliPort)
        let pid = try spawn([sshdPath, "-D", "-e", "-f", directory + "/sshd_config"], output: directory + "/sshd.log")
        let fixture = SSHServerFixture(
            directory: directory, port: port, cliPort: cliPort, pid: pid, pamServicePath: pamServicePath,
            hostKeyPublic: hostKeyPublic, otherHostKeyPublic: otherHostKeyPublic, hostKeyFingerprint: String(fingerprint),
            runningConfig: runningConfig, ipv6: options.ipv6)
        do {
            try await fixture.waitUntilListening()
        } catch {
            fixture.stop()
            throw error
        }
        return fixture
    }

    /// Writes sshd_config for `options`.
    private static func writeConfig(_ options: Options, directory: String, port: Int, cliPort: Int) throws {
        var config = [
            "ListenAddress 127.0.0.1:\(port)",
            "ListenAddress 127.0.0.1:\(cliPort)",
        ]
        if options.ipv6 { config.append("ListenAddress [::1]:\(port)") }
        // sshd keeps the first value of a keyword: the test's own lines go before the defaults.
        config += options.extraConfig
        config += [
            options.ed25519HostKey ? "HostKey \(directory)/hostkey" : "",
            options.ecdsaHostKey ? "HostKey \(directory)/hostkey_ecdsa" : "",
            "PidFile none",
            "UsePAM yes",
            "StrictModes no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication yes",
            "AuthorizedKeysFile \(directory)/authorized_keys",
            "MaxStartups 1000",
            "MaxSessions 100",
            "MaxAuthTries 10",
            "LoginGraceTime 60",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "LogLevel \(options.logLevel)",
            // Commands run through root's shell, which reads ~/.bashrc; a developer's rc file (pyenv, …) must
            // not slow or break the tests, so HOME is the fixture's empty directory.
            "SetEnv HOME=\(directory)",
        ]
        if options.rsaUserKey { config.append("PubkeyAcceptedAlgorithms +ssh-rsa") }
        if try sshdVersionAtLeast(9, 8) { config.append("PerSourcePenalties no") }
        config += ["Match LocalPort \(cliPort)", "    ForceCommand /bin/sh \(directory)/cli.sh"]
        try (config.joined(separator: "\n") + "\n").write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
    }

    /// Waits until sshd says it listens on every address.
    private func waitUntilListening() async throws {
        let expected = (ipv6 ? 3 : 2)
        for _ in 0..<250 {
            let log = self.log()
            if log.components(separatedBy: "Server listening on").count - 1 >= expected { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                sshdPID.store(0, ordering: .relaxed)  // reaped: never signal that pid again
                throw FixtureError("sshd exited: \(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw FixtureError("sshd did not start listening")
    }

    /// Stops sshd and starts it again on the same ports and directory with other options (host keys,
    /// config lines; ``Options/ipv6`` and ``Options/rsaUserKey`` stay as they were at start). Missing
    /// host keys are generated. Connections open at the time are dropped.
    func restart(_ options: Options) async throws {
        if options.ecdsaHostKey, !FileManager.default.fileExists(atPath: directory + "/hostkey_ecdsa") {
            try Self.runTool([
                "/usr/bin/ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", "hostkey-ecdsa", "-f", directory + "/hostkey_ecdsa",
            ])
        }
        terminateSSHD()
        try Self.writeConfig(options, directory: directory, port: port, cliPort: cliPort)
        let sshdPath = directory + "/" + (pamServicePath as NSString).lastPathComponent
        sshdPID.store(try Self.spawn([sshdPath, "-D", "-e", "-f", directory + "/sshd_config"], output: logPath), ordering: .relaxed)
        try await waitUntilListening()
    }

    /// SIGTERM, then SIGKILL; reaps the process.
    private func terminateSSHD() {
        let pid = sshdPID.exchange(0, ordering: .relaxed)
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<200 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    /// Stops sshd (SIGTERM, then SIGKILL) and removes the PAM service and the directory. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        terminateSSHD()
        cleanUpFiles()
    }

    private func cleanUpFiles() {
        unlink(pamServicePath)
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    // MARK: - Helpers for tests

    /// A target at 127.0.0.1 (or `host`).
    func target(
        host: String = "127.0.0.1", port: Int? = nil, policy: HostKeyPolicy = .acceptAnyUnsafe,
        timeouts: TransportTimeouts = TransportTimeouts(connect: .seconds(20), authentication: .seconds(20), idleRead: .seconds(30)),
        algorithms: AlgorithmPreferences = .init(), keepalive: Duration? = nil
    ) -> ConnectionTarget {
        ConnectionTarget(
            host: host, port: port ?? self.port, hostKeyPolicy: policy, algorithms: algorithms, timeouts: timeouts,
            keepaliveInterval: keepalive)
    }

    var passwordCredentials: Credentials { Credentials(username: Self.username, password: Secret(Self.password)) }

    var keyCredentials: Credentials {
        let key = (try? String(contentsOfFile: ed25519KeyPath, encoding: .utf8)) ?? ""
        return Credentials(username: Self.username, privateKey: .inMemory(Secret(key)))
    }

    /// Writes a known_hosts file with the server's key (or another key) for `[127.0.0.1]:port`.
    func writeKnownHosts(name: String, matching: Bool, port: Int? = nil, extraLines: [String] = []) throws -> String {
        let path = directory + "/" + name
        let key = matching ? hostKeyPublic : otherHostKeyPublic
        let lines = ["# test known_hosts"] + extraLines + ["[127.0.0.1]:\(port ?? self.port) \(key)"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `ecdsa-sha2-nistp256 AAAA…` of the ECDSA host key (with ``Options/ecdsaHostKey``).
    var ecdsaHostKeyPublic: String {
        ((try? String(contentsOfFile: directory + "/hostkey_ecdsa.pub", encoding: .utf8)) ?? "")
            .split(separator: " ").prefix(2).joined(separator: " ")
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    // MARK: - Files and processes

    /// A Cisco-like CLI: greeting, prompt, `terminal length 0`, `show running-config`, `exit`; anything else
    /// is "% Invalid input". Output uses bare "\n" (the PTY turns it into "\r\n").
    static func cliScript(configPath: String) -> String {
        """
        #!/bin/sh
        printf 'Welcome to router1\\n\\n\(prompt)'
        while IFS= read -r line; do
          case "$line" in
            "terminal length 0") ;;
            "show running-config") cat '\(configPath)' ;;
            "exit") exit 0 ;;
            "") ;;
            *) printf '%% Invalid input detected at marker.\\n' ;;
          esac
          printf '\(prompt)'
        done

        """
    }

    /// A deterministic IOS-style running configuration of at least `targetSize` bytes.
    static func makeRunningConfig(targetSize: Int) -> String {
        var text = "Building configuration...\n\nCurrent configuration : \(targetSize) bytes\n!\nversion 15.2\nhostname router1\n!\n"
        var index = 0
        while text.utf8.count < targetSize {
            text += "interface GigabitEthernet0/\(index)\n description uplink \(index) to core-\(index % 7)\n"
            text += " ip address 10.\(index / 250 % 250).\(index % 250).1 255.255.255.0\n no shutdown\n!\n"
            index += 1
        }
        return text + "end\n"
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw FixtureError("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func sshdVersionAtLeast(_ major: Int, _ minor: Int) throws -> Bool {
        // "OpenSSH_9.2p1 Debian-2, OpenSSL ..." (ssh -V prints to stderr).
        let text = try runTool(["/usr/bin/ssh", "-V"])
        guard let range = text.range(of: "OpenSSH_") else { return false }
        let digits = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        guard digits.count >= 2 else { return false }
        return (digits[0], digits[1]) >= (major, minor)
    }

    /// Runs a tool to completion; returns stdout+stderr; throws on a non-zero exit.
    @discardableResult
    static func runTool(_ arguments: [String]) throws -> String {
        let output = "/tmp/devicebackup-tool-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue).out"
        defer { unlink(output) }
        let pid = try spawn(arguments, output: output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw FixtureError("\(arguments.joined(separator: " ")) failed (\(status)): \(text)") }
        return text
    }

    /// Starts a process with stdin from /dev/null and stdout+stderr into `output`.
    static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw FixtureError("posix_spawn \(arguments[0]) failed: \(rc)") }
        return pid
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The tests start sshd and write a PAM service: they need root (CI runs them as root).
let runningAsRoot = geteuid() == 0
