// TransportBenchmark: LibSSH2Transport against OpenSSH's `ssh` client on the same workload.
//
//   swift run -c release transport-benchmark            # the matrix
//   swift run -c release transport-benchmark soak 10000 # leak soak
//
// Workload per device: connect to a local OpenSSH sshd (127.0.0.1, own host key, strict known_hosts,
// Ed25519 key login), open a PTY shell whose forced command plays a Cisco-like CLI, wait for the prompt,
// `terminal length 0`, `show running-config` (a 200 KB configuration), `exit`, read to EOF, close.
// The same through `ssh -tt` (one process per device, commands on stdin, KexAlgorithms=curve25519-sha256).
// Needs root (sshd) and runs only on 127.0.0.1.

import BackupModels
import BenchmarkSupport
import DeviceTransport
import DeviceTransportLibSSH2
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Measurements (BenchmarkSupport: ProcessUsage, spawnProcess)

struct Result {
    var client: String
    var sessions: Int
    var concurrency: Int
    var seconds: Double
    var cpuSeconds: Double
    var peakRSSKiB: Int
    var failures: Int
    var note: String = ""
    /// For the ssh client: the largest single process.
    var perProcessRSSKiB = 0

    var devicesPerSecond: Double { Double(sessions - failures) / seconds }
    var cpuMillisPerSession: Double { cpuSeconds / Double(sessions) * 1000 }
}

// MARK: - Processes

@discardableResult
func run(_ arguments: [String]) -> String {
    let output = "/tmp/transport-benchmark-\(getpid()).out"
    defer { unlink(output) }
    let pid = spawnProcess(arguments, output: output)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    precondition(status == 0, "\(arguments.joined(separator: " ")) failed: \(text)")
    return text
}

// MARK: - The server

final class BenchmarkServer: Sendable {
    let directory: String
    let port: Int
    let pid: pid_t
    let knownHosts: String
    let keyPath: String
    let expectedTranscript: [UInt8]
    let configSize: Int

    static let prompt = "router1#"

    init(configSize: Int) throws {
        var template = Array("/tmp/transport-benchmark-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", directory + "/hostkey"])
        run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", directory + "/id_ed25519"])
        keyPath = directory + "/id_ed25519"
        try FileManager.default.copyItem(atPath: keyPath + ".pub", toPath: directory + "/authorized_keys")

        var config = "Building configuration...\n\nCurrent configuration : \(configSize) bytes\n!\nversion 15.2\nhostname router1\n!\n"
        var index = 0
        while config.utf8.count < configSize {
            config += "interface GigabitEthernet0/\(index)\n description uplink \(index) to core-\(index % 7)\n"
            config += " ip address 10.\(index / 250 % 250).\(index % 250).1 255.255.255.0\n no shutdown\n!\n"
            index += 1
        }
        config += "end\n"
        self.configSize = config.utf8.count
        try config.write(toFile: directory + "/running-config", atomically: true, encoding: .utf8)
        let cli = """
            #!/bin/sh
            printf 'Welcome to router1\\n\\n\(Self.prompt)'
            while IFS= read -r line; do
              case "$line" in
                "terminal length 0") ;;
                "show running-config") cat '\(directory)/running-config' ;;
                "exit") exit 0 ;;
                "") ;;
                *) printf '%% Invalid input detected at marker.\\n' ;;
              esac
              printf '\(Self.prompt)'
            done

            """
        try cli.write(toFile: directory + "/cli.sh", atomically: true, encoding: .utf8)
        let transcript =
            "Welcome to router1\n\n\(Self.prompt)terminal length 0\n\(Self.prompt)show running-config\n\(config)\(Self.prompt)exit\n"
            .replacingOccurrences(of: "\n", with: "\r\n")
        expectedTranscript = Array(transcript.utf8)

        port = Self.freePort()
        let sshdConfig = """
            ListenAddress 127.0.0.1:\(port)
            HostKey \(directory)/hostkey
            PidFile none
            UsePAM no
            StrictModes no
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            AuthorizedKeysFile \(directory)/authorized_keys
            MaxStartups 1000
            MaxSessions 100
            PrintMotd no
            PrintLastLog no
            UseDNS no
            LogLevel ERROR
            SetEnv HOME=\(directory)
            ForceCommand /bin/sh \(directory)/cli.sh

            """
        try sshdConfig.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: "/run/sshd") { mkdir("/run/sshd", 0o755) }
        pid = spawnProcess(["/usr/sbin/sshd", "-D", "-e", "-f", directory + "/sshd_config"], output: directory + "/sshd.log")
        let hostKey = try String(contentsOfFile: directory + "/hostkey.pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        knownHosts = directory + "/known_hosts"
        try "[127.0.0.1]:\(port) \(hostKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        // Wait until it accepts connections.
        for _ in 0..<500 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: port)
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if ok == 0 { return }
            usleep(10_000)
        }
        fatalError("sshd did not start: \((try? String(contentsOfFile: directory + "/sshd.log", encoding: .utf8)) ?? "")")
    }

    func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

// MARK: - Our transport

struct DeviceFailure: Error, CustomStringConvertible {
    var description: String
}

/// One device through LibSSH2Transport: the CLI workload; verifies the exact transcript.
func backUpOneDevice(_ server: BenchmarkServer, transport: LibSSH2Transport, target: ConnectionTarget, credentials: Credentials)
    async throws
{
    let session = try await transport.connect(to: target, credentials: credentials, logger: silentLogger)
    do {
        try await runCLI(server, session: session)
        await session.close()
    } catch {
        await session.close()
        throw error
    }
}

func runCLI(_ server: BenchmarkServer, session: any DeviceSession) async throws {
    let shell = try await session.openShell(ShellOptions())
    var transcript: [UInt8] = []
    transcript.reserveCapacity(server.expectedTranscript.count)
    let prompt = Array(BenchmarkServer.prompt.utf8)
    func readUntilPrompt() async throws {
        let start = transcript.count
        while transcript.count == start || !transcript.suffix(prompt.count).elementsEqual(prompt) {
            let chunk = try await shell.read(idleTimeout: .seconds(30))
            if chunk.isEmpty { throw DeviceFailure(description: "EOF before the prompt") }
            transcript += chunk
        }
    }
    try await readUntilPrompt()
    try await shell.write("terminal length 0\n")
    try await readUntilPrompt()
    try await shell.write("show running-config\n")
    try await readUntilPrompt()
    try await shell.write("exit\n")
    while true {
        let chunk = try await shell.read(idleTimeout: .seconds(30))
        if chunk.isEmpty { break }
        transcript += chunk
    }
    await shell.close()
    guard transcript == server.expectedTranscript else {
        throw DeviceFailure(description: "transcript differs (\(transcript.count) bytes, expected \(server.expectedTranscript.count))")
    }
}

let silentLogger = Logger(label: "benchmark") { _ in SwiftLogNoOpLogHandler() }

/// Prints the negotiated algorithms (the transport logs them at debug level after the handshake).
struct HandshakeLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        guard event.message.description == "SSH handshake done", let values = event.metadata else { return }
        print("libssh2 negotiated: " + values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}

func printNegotiatedAlgorithms(_ server: BenchmarkServer) async {
    let key = (try? String(contentsOfFile: server.keyPath, encoding: .utf8)) ?? ""
    let target = ConnectionTarget(host: "127.0.0.1", port: server.port, hostKeyPolicy: .strict(knownHostsFile: server.knownHosts))
    let logger = Logger(label: "benchmark") { _ in HandshakeLogHandler() }
    if let session = try? await LibSSH2Transport().connect(
        to: target, credentials: Credentials(username: "root", privateKey: .inMemory(Secret(key))), logger: logger)
    {
        await session.close()
    }
    let ssh = run([
        "/usr/bin/ssh", "-G", "-F", "/dev/null", "-o", "KexAlgorithms=curve25519-sha256", "-p", String(server.port), "127.0.0.1",
    ])
    let offered = ssh.split(separator: "\n").filter { $0.hasPrefix("ciphers ") || $0.hasPrefix("macs ") || $0.hasPrefix("kexalgorithms ") }
    print("ssh client offers (first wins): " + offered.map { String($0.prefix(60)) }.joined(separator: "; "))
}

func runOurs(_ server: BenchmarkServer, sessions: Int, concurrency: Int) async -> Result {
    let transport = LibSSH2Transport()
    let key = (try? String(contentsOfFile: server.keyPath, encoding: .utf8)) ?? ""
    let credentials = Credentials(username: "root", privateKey: .inMemory(Secret(key)))
    let target = ConnectionTarget(
        host: "127.0.0.1", port: server.port, hostKeyPolicy: .strict(knownHostsFile: server.knownHosts),
        timeouts: TransportTimeouts(connect: .seconds(60), authentication: .seconds(60), idleRead: .seconds(60)),
        keepaliveInterval: nil)
    ProcessUsage.resetPeakRSS()
    let before = ProcessUsage.selfCPUSeconds()
    let clock = ContinuousClock()
    let start = clock.now
    var failures: [String] = []
    await withTaskGroup(of: String?.self) { group in
        var started = 0
        while started < min(concurrency, sessions) {
            group.addTask { await attempt(server, transport, target, credentials) }
            started += 1
        }
        for await failure in group {
            if let failure { failures.append(failure) }
            if started < sessions {
                group.addTask { await attempt(server, transport, target, credentials) }
                started += 1
            }
        }
    }
    let elapsed = clock.now - start
    let after = ProcessUsage.selfCPUSeconds()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    var result = Result(
        client: "LibSSH2Transport", sessions: sessions, concurrency: concurrency, seconds: seconds,
        cpuSeconds: after - before, peakRSSKiB: ProcessUsage.peakRSSKiB(), failures: failures.count)
    if let first = failures.first { result.note = first }
    return result
}

func attempt(_ server: BenchmarkServer, _ transport: LibSSH2Transport, _ target: ConnectionTarget, _ credentials: Credentials) async
    -> String?
{
    do {
        try await backUpOneDevice(server, transport: transport, target: target, credentials: credentials)
        return nil
    } catch {
        return String(describing: error)
    }
}

// MARK: - OpenSSH client

func runSSH(_ server: BenchmarkServer, sessions: Int, concurrency: Int) -> Result {
    let input = server.directory + "/commands.txt"
    try? "terminal length 0\nshow running-config\nexit\n".write(toFile: input, atomically: true, encoding: .utf8)
    let arguments = [
        "/usr/bin/ssh", "-tt", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=\(server.knownHosts)", "-o", "IdentitiesOnly=yes", "-i", server.keyPath,
        "-o", "KexAlgorithms=curve25519-sha256", "-o", "LogLevel=ERROR", "-p", String(server.port), "root@127.0.0.1",
    ]
    let before = ProcessUsage.childrenCPUSeconds()
    let clock = ContinuousClock()
    let start = clock.now
    var running: [pid_t: String] = [:]
    var started = 0
    var failures: [String] = []
    func startOne() {
        let output = server.directory + "/ssh-\(started).out"
        running[spawnProcess(arguments, stdin: input, output: output)] = output
        started += 1
    }
    while started < min(concurrency, sessions) { startOne() }
    // ru_maxrss of children is useless here (a spawned child's counter starts from our own RSS), so the
    // clients' memory is sampled from /proc: the largest single ssh and the largest sum at one moment.
    var peakProcessKiB = 0
    var peakTotalKiB = 0
    var lastSample = clock.now
    while !running.isEmpty {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        if pid == 0 {
            if sampleClientMemory, clock.now - lastSample > .milliseconds(50) {
                var total = 0
                for child in running.keys {
                    let hwm = ProcessUsage.peakRSSKiB(of: child)
                    peakProcessKiB = max(peakProcessKiB, hwm)
                    total += ProcessUsage.rssKiB(of: child)
                }
                peakTotalKiB = max(peakTotalKiB, total)
                lastSample = clock.now
            }
            usleep(500)
            continue
        }
        if pid < 0 { break }
        guard let output = running.removeValue(forKey: pid) else { continue }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        if status != 0 || size != server.expectedTranscript.count {
            failures.append("ssh exit \(status), \(size) bytes (expected \(server.expectedTranscript.count))")
        }
        unlink(output)
        if started < sessions { startOne() }
    }
    let elapsed = clock.now - start
    let after = ProcessUsage.childrenCPUSeconds()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    var result = Result(
        client: "OpenSSH ssh", sessions: sessions, concurrency: concurrency, seconds: seconds,
        cpuSeconds: after - before, peakRSSKiB: peakTotalKiB, failures: failures.count)
    result.perProcessRSSKiB = peakProcessKiB
    if let first = failures.first { result.note = first }
    return result
}

// MARK: - Main


func printRow(_ r: Result) {
    let rss =
        r.client == "OpenSSH ssh"
        ? "\(r.peakRSSKiB / 1024) MiB total (\(r.perProcessRSSKiB / 1024) MiB per process)"
        : "\(r.peakRSSKiB / 1024) MiB"
    print(
        "| \(r.client) | \(r.sessions) | \(r.concurrency) | \(format(r.devicesPerSecond)) | \(format(r.cpuMillisPerSession, 2)) | \(rss) | \(r.failures) |"
    )
    if !r.note.isEmpty { print("<!-- first failure: \(r.note) -->") }
}

var arguments = Array(CommandLine.arguments.dropFirst())
/// `--no-rss-sampling`: do not read the ssh clients' /proc status (checks that sampling costs them nothing).
let sampleClientMemory = !arguments.contains("--no-rss-sampling")
arguments.removeAll { $0 == "--no-rss-sampling" }
guard geteuid() == 0 else {
    print("TransportBenchmark starts its own sshd and needs root.")
    exit(2)
}
let server = try BenchmarkServer(configSize: 200 * 1024)
print("Server: OpenSSH sshd on 127.0.0.1:\(server.port), forced Cisco-like CLI, config \(server.configSize) bytes, transcript \(server.expectedTranscript.count) bytes per device")
print("Machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs; \(run(["/usr/bin/ssh", "-V"]).trimmingCharacters(in: .whitespacesAndNewlines))")

if arguments.first == "soak" {
    let total = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000
    let concurrency = arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1
    print("Soak: \(total) sessions at concurrency \(concurrency)")
    print("| sessions done | RSS (MiB) | open fds | libssh2 live blocks | devices/s (last step) |")
    print("|---|---|---|---|---|")
    let step = max(total / 10, 1)
    var done = 0
    while done < total {
        let result = await runOurs(server, sessions: step, concurrency: concurrency)
        done += step
        print(
            "| \(done) | \(format(Double(ProcessUsage.rssKiB()) / 1024)) | \(ProcessUsage.openFileDescriptors()) | \(LibSSH2Runtime.liveAllocations) | \(format(result.devicesPerSecond)) |"
        )
        if result.failures > 0 { print("<!-- \(result.failures) failures: \(result.note) -->") }
        fflush(nil)
    }
} else {
    await printNegotiatedAlgorithms(server)
    // Warm-up (page cache, sshd, our caches), not reported.
    _ = await runOurs(server, sessions: 20, concurrency: 10)
    _ = runSSH(server, sessions: 20, concurrency: 10)
    let matrix = arguments.isEmpty ? [(100, 20), (100, 50), (500, 20), (500, 50)] : [(Int(arguments[0]) ?? 100, Int(arguments.dropFirst().first ?? "20") ?? 20)]
    print("| client | sessions | concurrency | devices/s | CPU ms/session (client) | peak RSS (client) | failures |")
    print("|---|---|---|---|---|---|---|")
    for (sessions, concurrency) in matrix {
        printRow(await runOurs(server, sessions: sessions, concurrency: concurrency))
        printRow(runSSH(server, sessions: sessions, concurrency: concurrency))
        fflush(nil)
    }
}
server.stop()
