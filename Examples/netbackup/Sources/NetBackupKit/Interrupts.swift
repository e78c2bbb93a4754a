import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C, `kill` and a closed terminal: the first SIGINT, SIGTERM or SIGHUP calls `onFirst` with the signal
/// (cancel cleanly: running sessions closed, results and configs saved, the task resumable); a second one exits at
/// once with 128 + its number (130, 143, 129).
///
/// A signal that was ignored when netbackup started (`nohup` ignores SIGHUP; a shell's `cmd &` ignores SIGINT)
/// stays ignored: it is not handled.
public final class InterruptHandler: @unchecked Sendable {
    /// The signals handled: SIGINT (Ctrl-C), SIGTERM (`kill`, service managers) and SIGHUP (terminal closed).
    public static let handledSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    // DispatchSources are thread-safe; the array is only touched in init and cancel.
    private let sources: [any DispatchSourceSignal]
    private let handled: [Int32]
    private let state = SignalState()

    /// Starts handling the signals.
    public init(signals: [Int32] = InterruptHandler.handledSignals, onFirst: @escaping @Sendable (Int32) -> Void) {
        var sources: [any DispatchSourceSignal] = []
        var handled: [Int32] = []
        let state = state
        for number in signals {
            // Keep a signal that the parent ignored ignored (nohup, background jobs).
            let previous = Glibc.signal(number, SIG_IGN)
            if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            handled.append(number)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if state.receive(number) {
                    onFirst(number)
                } else {
                    exit(128 + number)
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
        self.handled = handled
    }

    /// Whether a handled signal arrived.
    public var interrupted: Bool { state.first != nil }

    /// The first signal that arrived, if any.
    public var signal: Int32? { state.first }

    /// Stops handling the signals (their default action applies again).
    public func cancel() {
        for source in sources { source.cancel() }
        for number in handled { _ = Glibc.signal(number, SIG_DFL) }
    }

    /// The usual name of a signal: `SIGTERM`.
    public static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }

    private final class SignalState: @unchecked Sendable {
        private var received: [Int32] = []
        private let lock = DispatchQueue(label: "netbackup.interrupts")

        /// Records a signal; `true` for the first one.
        func receive(_ signal: Int32) -> Bool { lock.sync { received.append(signal); return received.count == 1 } }
        var first: Int32? { lock.sync { received.first } }
    }
}
