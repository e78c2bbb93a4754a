import BackupModels
import DeviceTransport
import Logging
import Synchronization

/// One step of a scripted device conversation.
enum ScriptStep: Sendable, Equatable {
    /// The device sends these bytes (split into reads of at most the shell's chunk size).
    case output([UInt8])
    /// The device waits until the client has written exactly these bytes.
    case expect([UInt8])
    /// The device says nothing more: every read times out.
    case silence
    /// The device closes the channel: reads return end of stream.
    case hangUp
}

/// Builds conversations: what the device sends, and what it waits for.
struct DeviceScript: Sendable {
    var steps: [ScriptStep] = []

    /// The device sends `text` (written with `\r\n` line ends, as PTYs do).
    mutating func send(_ text: String) { steps.append(.output(Array(text.utf8))) }
    /// The device sends raw bytes.
    mutating func sendBytes(_ bytes: [UInt8]) { steps.append(.output(bytes)) }
    /// The device waits for `text` from the client.
    mutating func expect(_ text: String) { steps.append(.expect(Array(text.utf8))) }
    /// The device waits for `command` + newline, echoes it and sends `reply`.
    mutating func command(_ command: String, reply: String, newline: String = "\n") {
        expect(command + newline)
        send(command + "\r\n" + reply)
    }
    mutating func silence() { steps.append(.silence) }
    mutating func hangUp() { steps.append(.hangUp) }
}

/// A ``ShellChannel`` that plays a ``DeviceScript``, recording everything the client does.
///
/// Reads while the device waits for input time out (as a real transport would after its idle timeout);
/// a client write that does not match the awaited input — or that comes while the device is still
/// sending, i.e. typed ahead — is recorded in ``violations``.
final class ScriptedShell: ShellChannel, Sendable {
    struct State {
        var steps: [ScriptStep]
        var position = 0
        var pending: [UInt8] = []
        var pendingOffset = 0
        var inputBuffer: [UInt8] = []
        var written: [UInt8] = []
        var writesAfterScript: [UInt8] = []
        var violations: [String] = []
        var idleTimeouts: [Duration] = []
        var reads = 0
        var closed = false
    }

    private let state: Mutex<State>
    let chunkSize: Int
    private let onRead: (@Sendable () -> Void)?

    init(_ script: DeviceScript, chunkSize: Int = 64, onRead: (@Sendable () -> Void)? = nil) {
        state = Mutex(State(steps: script.steps))
        self.chunkSize = max(1, chunkSize)
        self.onRead = onRead
    }

    func write(_ bytes: [UInt8]) async throws {
        state.withLock { s in
            s.written.append(contentsOf: bytes)
            if s.closed { s.violations.append("write after close: \(Self.show(bytes))") }
            // Reacting to the last line while the rest of that same line is still arriving is fine (input
            // is buffered; the device printed it in one go); writing while further lines are due is typing
            // ahead.
            if s.pending[s.pendingOffset...].contains(0x0A) {
                s.violations.append("typed ahead while the device was still sending: \(Self.show(bytes))")
            }
            if s.position >= s.steps.count {
                s.writesAfterScript.append(contentsOf: bytes)
                return
            }
            if case .output = s.steps[s.position] {
                s.violations.append("typed ahead before the device's next output: \(Self.show(bytes))")
            }
            s.inputBuffer.append(contentsOf: bytes)
            while s.position < s.steps.count, case .expect(let expected) = s.steps[s.position] {
                if s.inputBuffer.starts(with: expected) {
                    s.inputBuffer.removeFirst(expected.count)
                    s.position += 1
                } else if expected.starts(with: s.inputBuffer) {
                    return  // partial input; wait for more
                } else {
                    s.violations.append("expected \(Self.show(expected)), got \(Self.show(s.inputBuffer))")
                    s.inputBuffer.removeAll()
                    return
                }
            }
            if s.position >= s.steps.count, !s.inputBuffer.isEmpty {
                s.writesAfterScript.append(contentsOf: s.inputBuffer)
                s.inputBuffer.removeAll()
            }
        }
    }

    func read(idleTimeout: Duration) async throws -> [UInt8] {
        onRead?()
        enum Outcome {
            case bytes([UInt8])
            case timeout
        }
        let outcome: Outcome = state.withLock { s in
            s.idleTimeouts.append(idleTimeout)
            s.reads += 1
            if s.pendingOffset >= s.pending.count {
                s.pending = []
                s.pendingOffset = 0
                if s.position < s.steps.count, case .output(let bytes) = s.steps[s.position] {
                    s.pending = bytes
                    s.position += 1
                }
            }
            if s.pendingOffset < s.pending.count {
                let end = min(s.pending.count, s.pendingOffset + chunkSize)
                let chunk = Array(s.pending[s.pendingOffset..<end])
                s.pendingOffset = end
                return .bytes(chunk)
            }
            guard s.position < s.steps.count else { return .timeout }
            switch s.steps[s.position] {
            case .hangUp: return .bytes([])
            case .silence, .expect, .output: return .timeout
            }
        }
        switch outcome {
        case .bytes(let bytes): return bytes
        case .timeout:
            throw BackupError(.commandTimeout, "scripted device: no data within \(idleTimeout)")
        }
    }

    func close() async {
        state.withLock { $0.closed = true }
    }

    var violations: [String] { state.withLock { $0.violations } }
    var written: String { state.withLock { String(decoding: $0.written, as: UTF8.self) } }
    var writesAfterScript: String { state.withLock { String(decoding: $0.writesAfterScript, as: UTF8.self) } }
    var idleTimeouts: [Duration] { state.withLock { $0.idleTimeouts } }
    var isClosed: Bool { state.withLock { $0.closed } }
    var reads: Int { state.withLock { $0.reads } }
    /// Whether every step of the script was played (the client may leave the rest of the last line,
    /// such as cursor moves after a prompt, unread).
    var finished: Bool {
        state.withLock { s in
            s.position >= s.steps.count && !s.pending[s.pendingOffset...].contains(0x0A)
        }
    }

    private static func show(_ bytes: [UInt8]) -> String {
        String(reflecting: String(decoding: bytes.prefix(120), as: UTF8.self))
    }
}

/// A ``DeviceSession`` with one scripted shell and scripted exec commands.
final class ScriptedSession: DeviceSession, Sendable {
    enum ExecReply: Sendable {
        case output(CommandOutput)
        case timeout
    }

    private let shell: ScriptedShell?
    private let execReplies: [String: ExecReply]
    private let state = Mutex<(shellOptions: [ShellOptions], executed: [(String, Duration?)], closed: Bool)>(
        ([], [], false))

    init(shell: ScriptedShell? = nil, exec: [String: ExecReply] = [:]) {
        self.shell = shell
        self.execReplies = exec
    }

    func execute(_ command: String, timeout: Duration?) async throws -> CommandOutput {
        state.withLock { $0.executed.append((command, timeout)) }
        switch execReplies[command] {
        case .output(let output): return output
        case .timeout: throw BackupError(.commandTimeout, "scripted exec: '\(command)' timed out")
        case nil: return CommandOutput(stdout: [], stderr: Array("unknown command \(command)\n".utf8), exitStatus: 127)
        }
    }

    func openShell(_ options: ShellOptions) async throws -> any ShellChannel {
        state.withLock { $0.shellOptions.append(options) }
        guard let shell else { throw BackupError(.commandFailed, "scripted session has no shell") }
        return shell
    }

    func close() async { state.withLock { $0.closed = true } }

    var executed: [String] { state.withLock { $0.executed.map(\.0) } }
    var execTimeouts: [Duration?] { state.withLock { $0.executed.map(\.1) } }
    var shellOptions: [ShellOptions] { state.withLock { $0.shellOptions } }
}

/// A clock that only moves when told to.
final class TestClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let current = Mutex(Instant(offset: .zero))
    var now: Instant { current.withLock { $0 } }
    var minimumResolution: Duration { .nanoseconds(1) }
    func advance(by duration: Duration) { current.withLock { $0 = $0.advanced(by: duration) } }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        advance(by: now.duration(to: deadline))
    }
}

/// Collects every log record, message and metadata, as text.
final class LogRecorder: Sendable {
    private let records = Mutex<[String]>([])

    var lines: [String] { records.withLock { $0 } }
    func append(_ line: String) { records.withLock { $0.append(line) } }

    /// A trace-level logger writing here.
    func logger(label: String = "test") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
