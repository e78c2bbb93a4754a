package import BackupModels
internal import CLibSSH2
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private let epollIn: UInt32 = 0x001
private let epollOut: UInt32 = 0x004
private let epollOneShot: UInt32 = 1 << 30
/// epoll user data of the eventfd that wakes (or stops) the reactor thread; tokens start at 1.
private let wakeToken: UInt64 = 0

/// One epoll thread that waits for the sockets of all sessions and resumes the tasks waiting on them.
///
/// Modelled on swift-subprocess's `AsyncIO+Linux.swift`: an eventfd wakes (or stops) the thread and a
/// `Mutex`-guarded registration table (``ReactorTable``) owns the continuations. Each wait arms its
/// descriptor with `EPOLLONESHOT` for the directions libssh2 blocked on, so an idle socket costs
/// nothing and a readiness event is delivered once. Deadlines live in the same table; the thread
/// sleeps until the earliest one. No task ever blocks: a wait suspends on a continuation that the
/// reactor thread, a cancellation handler or an interruption resumes exactly once.
package final class Reactor: Sendable {
    private typealias Continuation = UnsafeContinuation<ReactorWaitResult, Never>

    private let epollFD: Int32
    private let wakeFD: Int32
    private let table = Mutex(ReactorTable<Continuation>())
    private let stopRequested = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)
    private static let waitIDs = Atomic<UInt64>(0)

    /// The reactor every session of the process shares (started on first use).
    package static func shared() throws(BackupError) -> Reactor {
        switch sharedResult {
        case .success(let reactor): return reactor
        case .failure(let error): throw error
        }
    }

    private static let sharedResult: Result<Reactor, BackupError> = Result { () throws(BackupError) in try Reactor.start() }

    /// Creates a reactor and starts its thread. Besides ``shared()``, for tests (stop it with ``shutdown()``).
    package static func start() throws(BackupError) -> Reactor {
        let reactor = try Reactor()
        try reactor.startThread()
        return reactor
    }

    private init() throws(BackupError) {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw Self.failure("epoll_create1", errno) }
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let code = errno
            close(epollFD)
            throw Self.failure("eventfd", code)
        }
        var event = epoll_event(events: epollIn, data: epoll_data(u64: wakeToken))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            let code = errno
            close(wakeFD)
            close(epollFD)
            throw Self.failure("epoll_ctl(ADD eventfd)", code)
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
    }

    private func startThread() throws(BackupError) {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&handle, nil, { context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            devicebackup_set_thread_name("ssh2-reactor")
            reactor.runLoop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Reactor>.fromOpaque(context).release()
            close(wakeFD)
            close(epollFD)
            throw Self.failure("pthread_create", rc)
        }
        thread.withLock { $0 = handle }
    }

    /// Stops the thread and closes the reactor's descriptors. Pending waits end as `.deregistered`.
    /// Only for reactors made with ``start()``; the shared one lives as long as the process.
    package func shutdown() {
        guard !stopRequested.exchange(true, ordering: .sequentiallyConsistent) else { return }
        signalWake()
        if let handle = thread.withLock({ $0.take() }) { pthread_join(handle, nil) }
        let (waiters, fds): ([Continuation], [Int32]) = table.withLock { table in
            var waiters: [Continuation] = []
            var fds: [Int32] = []
            for token in table.allTokens() {
                if let (fd, waiter) = table.deregister(token) {
                    fds.append(fd)
                    if let waiter { waiters.append(waiter) }
                }
            }
            return (waiters, fds)
        }
        for fd in fds { _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil) }
        for waiter in waiters { waiter.resume(returning: .deregistered) }
        close(wakeFD)
        close(epollFD)
    }

    /// Adds a socket (disarmed until the first wait).
    package func register(fd: Int32) throws(BackupError) -> ReactorToken {
        try table.withLock { table throws(BackupError) -> ReactorToken in
            let token = table.register(fd: fd)
            var event = epoll_event(events: epollOneShot, data: epoll_data(u64: token.rawValue))
            if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
                let code = errno
                _ = table.deregister(token)
                throw Self.failure("epoll_ctl(ADD)", code)
            }
            return token
        }
    }

    /// Removes a socket before it is closed; a pending wait ends as `.deregistered`. Idempotent.
    package func deregister(_ token: ReactorToken) {
        let waiter: Continuation? = table.withLock { table in
            guard let (fd, waiter) = table.deregister(token) else { return nil }
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
            return waiter
        }
        waiter?.resume(returning: .deregistered)
    }

    /// Ends the current and every later wait on `token` with `.interrupted` (a session being closed by
    /// another task).
    package func interrupt(_ token: ReactorToken) {
        let waiter = table.withLock { $0.interrupt(token) }
        waiter?.resume(returning: .interrupted)
    }

    /// Suspends until the socket is ready for `events`, the deadline passes, the task is cancelled or the
    /// registration is interrupted or removed. Resumes exactly once.
    package func wait(_ token: ReactorToken, for events: IOEvents, until deadline: MonotonicInstant?) async
        -> ReactorWaitResult
    {
        let waitID = Self.waitIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: Continuation) in
                arm(token, waitID: waitID, events: events, deadline: deadline, continuation: continuation)
            }
        } onCancel: {
            let waiter = table.withLock { $0.cancel(token, waitID: waitID) }
            waiter?.resume(returning: .cancelled)
        }
    }

    private func arm(
        _ token: ReactorToken, waitID: UInt64, events: IOEvents, deadline: MonotonicInstant?, continuation: Continuation
    ) {
        let now = MonotonicInstant.now()
        let (immediate, wake): (ReactorWaitResult?, Bool) = table.withLock { table in
            switch table.arm(token, waitID: waitID, waiter: continuation, deadline: deadline, now: now) {
            case .resolved(let result):
                return (result, false)
            case .armed(let fd, let wake):
                var event = epoll_event(
                    events: events.rawValue | epollOneShot, data: epoll_data(u64: token.rawValue))
                if epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) != 0 {
                    // Cannot watch the socket: let the caller retry its call, which reports the error.
                    _ = table.fire(token)
                    return (.ready, false)
                }
                return (nil, wake)
            }
        }
        if let immediate { continuation.resume(returning: immediate) }
        if wake { signalWake() }
    }

    private func signalWake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(wakeFD, $0.baseAddress, 8) }
    }

    private func runLoop() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var ready: [(Continuation, ReactorWaitResult)] = []
        ready.reserveCapacity(capacity)
        while !stopRequested.load(ordering: .relaxed) {
            let next = table.withLock { $0.prepareToSleep() }
            var timeoutMS: Int32 = -1
            if let next {
                let nanos = MonotonicInstant.now().duration(to: next).nanosecondsSaturated
                timeoutMS = Int32(clamping: (nanos + 999_999) / 1_000_000)
            }
            let count = epoll_wait(epollFD, events, Int32(capacity), timeoutMS)
            if count < 0, errno != EINTR {
                // Not expected (EBADF/EINVAL would be a bug); avoid spinning.
                usleep(1000)
            }
            var drainWake = false
            let now = MonotonicInstant.now()
            table.withLock { table in
                table.wake()
                for index in 0..<max(Int(count), 0) {
                    let token = events[index].data.u64
                    if token == wakeToken {
                        drainWake = true
                    } else if let waiter = table.fire(ReactorToken(rawValue: token)) {
                        ready.append((waiter, .ready))
                    }
                }
                for waiter in table.expire(now: now) { ready.append((waiter, .timedOut)) }
            }
            if drainWake {
                var value: UInt64 = 0
                _ = withUnsafeMutableBytes(of: &value) { read(wakeFD, $0.baseAddress, 8) }
            }
            for (waiter, result) in ready { waiter.resume(returning: result) }
            ready.removeAll(keepingCapacity: true)
        }
    }

    private static func failure(_ call: String, _ code: Int32) -> BackupError {
        BackupError(
            .internal, "The SSH reactor could not start: \(call) failed: \(String(cString: strerror(code))).",
            hint: "The process may have run out of file descriptors or threads.")
    }
}
