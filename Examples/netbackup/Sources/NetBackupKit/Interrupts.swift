import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C handling: the first SIGINT calls `onFirst` (cancel cleanly), a second one exits at once
/// with status 130.
public final class InterruptHandler: @unchecked Sendable {
    // DispatchSource is thread-safe; it is only touched in init and cancel.
    private let source: any DispatchSourceSignal
    private let count = Counter()

    public init(onFirst: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let count = count
        source.setEventHandler {
            if count.increment() == 1 {
                onFirst()
            } else {
                exit(ExitStatus.interrupted.rawValue)
            }
        }
        source.resume()
    }

    /// Whether Ctrl-C was pressed.
    public var interrupted: Bool { count.value > 0 }

    public func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }

    private final class Counter: @unchecked Sendable {
        private var count = 0
        private let lock = DispatchQueue(label: "netbackup.interrupts")
        func increment() -> Int { lock.sync { count += 1; return count } }
        var value: Int { lock.sync { count } }
    }
}
