import BackupModels

/// The group-commit state machine of ``FileTaskStore``: pure bookkeeping, no I/O, no locks (its owner keeps it
/// behind a `Mutex` and performs the actions it returns).
///
/// Callers append encoded records (each gets the next log sequence number, lsn) and then wait until their lsn is
/// durable. One caller at a time is the *leader*: it takes every pending record as one batch, writes and syncs
/// it, reports the batch durable — which releases every waiter whose lsn it covers — and then hands the
/// leadership to one of the callers still waiting (whose records arrived during the write), or gives it up when
/// nobody waits. So concurrent callers share one write + fsync, and nobody runs a background task.
///
/// `Waiter` is whatever resumes a waiting caller (a continuation in the store, an integer in tests).
struct GroupCommit<Waiter> {
    struct Record {
        var lsn: UInt64
        var json: [UInt8]
    }

    /// A batch the leader writes: records `first...last`, in lsn order.
    struct Batch {
        var records: [Record]
        var first: UInt64
        var last: UInt64
    }

    enum WaitDecision {
        /// The lsn is durable: return.
        case durable
        /// Nobody is writing: the caller is now the leader and must write a batch.
        case lead
        /// The store failed; the change's durability is unknown.
        case failed(BackupError)
        /// Stored: a later ``batchDurable(through:)``, ``handOff()`` or ``fail(_:)`` returns the waiter.
        case wait
    }

    /// The highest lsn handed out.
    private(set) var lastLSN: UInt64
    /// Every lsn up to this one is durable.
    private(set) var durableLSN: UInt64
    private(set) var pending: [Record] = []
    /// Whether a leader is at work.
    private(set) var leading = false
    private(set) var failure: BackupError?
    private var waiters: [(lsn: UInt64, waiter: Waiter)] = []

    init(lsn: UInt64) {
        lastLSN = lsn
        durableLSN = lsn
    }

    var waiterCount: Int { waiters.count }

    /// Queues a record; returns its lsn.
    mutating func append(_ json: [UInt8]) -> UInt64 {
        precondition(failure == nil, "append after failure")
        lastLSN += 1
        pending.append(Record(lsn: lastLSN, json: json))
        return lastLSN
    }

    /// Decides what a caller waiting for `lsn` does; without a waiter (`nil`) a `.wait` decision stores nothing
    /// (use it for a first check).
    mutating func wait(for lsn: UInt64, waiter: Waiter?) -> WaitDecision {
        if lsn <= durableLSN { return .durable }
        if let failure { return .failed(failure) }
        if !leading {
            leading = true
            return .lead
        }
        if let waiter { waiters.append((lsn, waiter)) }
        return .wait
    }

    /// The leader takes every pending record. `nil` when there is nothing to write.
    mutating func takeBatch() -> Batch? {
        precondition(leading, "only the leader takes batches")
        guard let first = pending.first?.lsn, let last = pending.last?.lsn else { return nil }
        let records = pending
        pending.removeAll(keepingCapacity: true)
        return Batch(records: records, first: first, last: last)
    }

    /// The leader wrote and synced everything up to `lsn`: returns the waiters to resume.
    mutating func batchDurable(through lsn: UInt64) -> [Waiter] {
        precondition(leading && lsn >= durableLSN && lsn <= lastLSN)
        durableLSN = lsn
        var done: [Waiter] = []
        var kept: [(lsn: UInt64, waiter: Waiter)] = []
        for entry in waiters {
            if entry.lsn <= lsn { done.append(entry.waiter) } else { kept.append(entry) }
        }
        waiters = kept
        return done
    }

    /// The leader is done: returns the waiter that becomes the next leader (resume it with "lead"), or `nil`
    /// when nobody waits — then leadership is free and the next caller to wait takes it.
    mutating func handOff() -> Waiter? {
        precondition(leading)
        if failure == nil, !waiters.isEmpty {
            // Every waiter left has an lsn beyond durableLSN, so there are pending records for it to write.
            return waiters.removeFirst().waiter
        }
        leading = false
        return nil
    }

    /// A write or sync failed: the store cannot tell what reached the disk. Returns every waiter (resume them with
    /// the error); later waits fail too.
    mutating func fail(_ error: BackupError) -> [Waiter] {
        if failure == nil { failure = error }
        pending.removeAll()
        let all = waiters.map(\.waiter)
        waiters.removeAll()
        leading = false
        return all
    }
}
