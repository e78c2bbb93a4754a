/// How a wait on the reactor ended.
package enum ReactorWaitResult: Sendable, Equatable {
    /// The socket reported readiness (or an error/hang-up): repeat the call that returned EAGAIN.
    case ready
    /// The wait's deadline passed first.
    case timedOut
    /// The waiting task was cancelled.
    case cancelled
    /// Another task is closing the session: give up at once.
    case interrupted
    /// The registration was removed while waiting (or never existed).
    case deregistered
}

/// Socket readiness to wait for (epoll event bits).
package struct IOEvents: OptionSet, Sendable, Hashable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `EPOLLIN`.
    package static let readable = IOEvents(rawValue: 0x001)
    /// `EPOLLOUT`.
    package static let writable = IOEvents(rawValue: 0x004)
}

/// Names one registered file descriptor; never reused, so a late event for a closed (and reused) fd
/// cannot wake the wrong session.
package struct ReactorToken: Hashable, Sendable {
    package let rawValue: UInt64
}

/// The reactor's bookkeeping without any system call: registrations, the single pending wait of each,
/// and the deadline heap.
///
/// A pure state machine (generic over the waiter so that tests can use plain values): ``Reactor`` keeps it
/// in a `Mutex` and performs the epoll calls that its answers ask for. Every pending waiter leaves the
/// table exactly once — through ``fire(_:)``, ``expire(now:)``, ``cancel(_:waitID:)``,
/// ``interrupt(_:)`` or ``deregister(_:)`` — which is what makes each wait resume exactly once.
package struct ReactorTable<Waiter> {
    struct PendingWait {
        var id: UInt64
        var waiter: Waiter
        var deadline: MonotonicInstant?
    }

    struct Entry {
        var fd: Int32
        var pending: PendingWait?
        /// Waits with an id up to this one were cancelled before they were armed.
        var cancelledThrough: UInt64 = 0
        /// Sticky: the session is closing; every wait ends at once.
        var interrupted = false
    }

    /// What ``arm(_:waitID:waiter:deadline:now:)`` decided.
    package enum ArmDecision: Equatable {
        /// The waiter is stored: enable `fd` in epoll; wake the reactor if its sleep is too long now.
        case armed(fd: Int32, wakeReactor: Bool)
        /// The wait is over before it began: resume the waiter with this result.
        case resolved(ReactorWaitResult)
    }

    private var entries: [UInt64: Entry] = [:]
    private var nextToken: UInt64 = 1
    private var timers = TimerHeap()
    private var timedWaits = 0
    /// Until when the reactor thread sleeps in `epoll_wait` (`.max`: no timeout); `nil` while it is awake
    /// (it recomputes its timeout before sleeping again, so nobody needs to wake it).
    private var sleepingUntil: MonotonicInstant?

    package init() {}

    /// Registered descriptors.
    package var registrationCount: Int { entries.count }
    /// Deadlines in the heap (including stale ones not yet dropped).
    package var timerCount: Int { timers.count }

    /// Every registered token.
    package func allTokens() -> [ReactorToken] { entries.keys.map { ReactorToken(rawValue: $0) } }

    /// Adds `fd`; the token is the epoll user data of its events.
    package mutating func register(fd: Int32) -> ReactorToken {
        let token = ReactorToken(rawValue: nextToken)
        nextToken += 1
        entries[token.rawValue] = Entry(fd: fd)
        return token
    }

    /// Removes a registration; returns its fd (to remove from epoll) and a pending waiter to resume with
    /// ``ReactorWaitResult/deregistered``.
    package mutating func deregister(_ token: ReactorToken) -> (fd: Int32, waiter: Waiter?)? {
        guard var entry = entries.removeValue(forKey: token.rawValue) else { return nil }
        return (entry.fd, takePending(&entry))
    }

    /// Stores `waiter` as the pending wait of `token`, unless the wait is already over.
    package mutating func arm(
        _ token: ReactorToken, waitID: UInt64, waiter: Waiter, deadline: MonotonicInstant?, now: MonotonicInstant
    ) -> ArmDecision {
        guard var entry = entries[token.rawValue] else { return .resolved(.deregistered) }
        if entry.interrupted { return .resolved(.interrupted) }
        if waitID <= entry.cancelledThrough { return .resolved(.cancelled) }
        if let deadline, deadline <= now { return .resolved(.timedOut) }
        precondition(entry.pending == nil, "two tasks wait on one SSH session at once")
        entry.pending = PendingWait(id: waitID, waiter: waiter, deadline: deadline)
        entries[token.rawValue] = entry
        var wake = false
        if let deadline {
            timedWaits += 1
            timers.push(TimerHeap.Item(deadline: deadline, token: token.rawValue, waitID: waitID))
            if let sleepingUntil, deadline < sleepingUntil { wake = true }
            compactTimersIfNeeded()
        }
        return .armed(fd: entry.fd, wakeReactor: wake)
    }

    /// The task waiting with `waitID` was cancelled: returns the waiter to resume with `.cancelled`, or
    /// remembers the cancellation if the wait is not armed yet (cancellation can arrive first).
    package mutating func cancel(_ token: ReactorToken, waitID: UInt64) -> Waiter? {
        guard var entry = entries[token.rawValue] else { return nil }
        if let pending = entry.pending, pending.id == waitID {
            let waiter = takePending(&entry)
            entries[token.rawValue] = entry
            return waiter
        }
        entry.cancelledThrough = max(entry.cancelledThrough, waitID)
        entries[token.rawValue] = entry
        return nil
    }

    /// Marks the registration as closing (sticky) and returns a pending waiter to resume with
    /// `.interrupted`.
    package mutating func interrupt(_ token: ReactorToken) -> Waiter? {
        guard var entry = entries[token.rawValue] else { return nil }
        entry.interrupted = true
        let waiter = takePending(&entry)
        entries[token.rawValue] = entry
        return waiter
    }

    /// epoll reported `token`: returns the pending waiter to resume with `.ready`.
    package mutating func fire(_ token: ReactorToken) -> Waiter? {
        guard var entry = entries[token.rawValue], entry.pending != nil else { return nil }
        let waiter = takePending(&entry)
        entries[token.rawValue] = entry
        return waiter
    }

    /// Waiters whose deadline is at or before `now` (to resume with `.timedOut`).
    package mutating func expire(now: MonotonicInstant) -> [Waiter] {
        var expired: [Waiter] = []
        while let top = timers.top, top.deadline <= now {
            timers.pop()
            guard var entry = entries[top.token], let pending = entry.pending, pending.id == top.waitID else { continue }
            if let waiter = takePending(&entry) { expired.append(waiter) }
            entries[top.token] = entry
        }
        return expired
    }

    /// The reactor is about to sleep: returns the earliest live deadline (`nil`: sleep without timeout)
    /// and remembers it, so that an earlier new deadline wakes the reactor.
    package mutating func prepareToSleep() -> MonotonicInstant? {
        while let top = timers.top {
            if let pending = entries[top.token]?.pending, pending.id == top.waitID { break }
            timers.pop()  // stale: that wait ended another way
        }
        let next = timers.top?.deadline
        sleepingUntil = next ?? MonotonicInstant(nanoseconds: .max)
        return next
    }

    /// The reactor woke up and will recompute its timeout before sleeping again.
    package mutating func wake() { sleepingUntil = nil }

    private mutating func takePending(_ entry: inout Entry) -> Waiter? {
        guard let pending = entry.pending else { return nil }
        entry.pending = nil
        if pending.deadline != nil { timedWaits -= 1 }
        return pending.waiter
    }

    /// Stale deadlines (of waits that ended early) stay in the heap until they surface; rebuild the heap
    /// when they outnumber live ones, so a long busy session cannot grow it without bound.
    private mutating func compactTimersIfNeeded() {
        guard timers.count > 64, timers.count > 4 * timedWaits else { return }
        var fresh = TimerHeap()
        for (token, entry) in entries {
            if let pending = entry.pending, let deadline = pending.deadline {
                fresh.push(TimerHeap.Item(deadline: deadline, token: token, waitID: pending.id))
            }
        }
        timers = fresh
    }
}

/// A binary min-heap of deadlines.
struct TimerHeap {
    struct Item {
        var deadline: MonotonicInstant
        var token: UInt64
        var waitID: UInt64
    }

    private var items: [Item] = []

    var count: Int { items.count }
    var top: Item? { items.first }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[child].deadline < items[parent].deadline {
                items.swapAt(child, parent)
                child = parent
            } else {
                break
            }
        }
    }

    @discardableResult
    mutating func pop() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let item = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count, items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return item
    }
}
