@testable import DeviceTransportLibSSH2
import Testing

extension LibSSH2Tests {
    @Suite("ReactorTable state machine")
    struct ReactorTableTests {
        let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

        func at(_ ms: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: t0.nanoseconds + ms * 1_000_000) }

        @Test func armThenFireResumesTheWaiterOnce() {
            var table = ReactorTable<String>()
            let token = table.register(fd: 7)
            #expect(table.arm(token, waitID: 1, waiter: "w1", deadline: nil, now: t0) == .armed(fd: 7, wakeReactor: false))
            #expect(table.fire(token) == "w1")
            #expect(table.fire(token) == nil)
            #expect(table.cancel(token, waitID: 1) == nil)
            #expect(table.expire(now: at(10_000)).isEmpty)
        }

        @Test func cancellationBeforeArmingEndsTheWaitImmediately() {
            var table = ReactorTable<String>()
            let token = table.register(fd: 3)
            #expect(table.cancel(token, waitID: 5) == nil)  // cancel handler ran first
            #expect(table.arm(token, waitID: 5, waiter: "w5", deadline: nil, now: t0) == .resolved(.cancelled))
            // A later wait of the same session is not affected.
            #expect(table.arm(token, waitID: 6, waiter: "w6", deadline: nil, now: t0) == .armed(fd: 3, wakeReactor: false))
            #expect(table.cancel(token, waitID: 6) == "w6")
            #expect(table.fire(token) == nil)
        }

        @Test func lateCancellationOfAFinishedWaitIsHarmless() {
            var table = ReactorTable<String>()
            let token = table.register(fd: 3)
            _ = table.arm(token, waitID: 1, waiter: "w1", deadline: nil, now: t0)
            #expect(table.fire(token) == "w1")
            #expect(table.cancel(token, waitID: 1) == nil)
            #expect(table.arm(token, waitID: 2, waiter: "w2", deadline: nil, now: t0) == .armed(fd: 3, wakeReactor: false))
        }

        @Test func deadlinesExpireInOrderAndStaleOnesAreSkipped() {
            var table = ReactorTable<String>()
            let a = table.register(fd: 10)
            let b = table.register(fd: 11)
            let c = table.register(fd: 12)
            _ = table.arm(a, waitID: 1, waiter: "a", deadline: at(300), now: t0)
            _ = table.arm(b, waitID: 2, waiter: "b", deadline: at(100), now: t0)
            _ = table.arm(c, waitID: 3, waiter: "c", deadline: at(200), now: t0)
            #expect(table.prepareToSleep() == at(100))
            table.wake()
            #expect(table.fire(b) == "b")  // b finished early: its deadline is stale
            #expect(table.prepareToSleep() == at(200))
            table.wake()
            #expect(table.expire(now: at(250)) == ["c"])
            #expect(table.expire(now: at(1000)) == ["a"])
            #expect(table.prepareToSleep() == nil)
        }

        @Test func anEarlierDeadlineWakesASleepingReactor() {
            var table = ReactorTable<String>()
            let a = table.register(fd: 10)
            let b = table.register(fd: 11)
            _ = table.arm(a, waitID: 1, waiter: "a", deadline: at(500), now: t0)
            #expect(table.prepareToSleep() == at(500))
            #expect(table.arm(b, waitID: 2, waiter: "b", deadline: at(900), now: t0) == .armed(fd: 11, wakeReactor: false))
            _ = table.cancel(b, waitID: 2)
            #expect(table.arm(b, waitID: 3, waiter: "b2", deadline: at(100), now: t0) == .armed(fd: 11, wakeReactor: true))
            table.wake()
            _ = table.cancel(b, waitID: 3)
            // While awake nobody needs to wake it.
            #expect(table.arm(b, waitID: 4, waiter: "b3", deadline: at(50), now: t0) == .armed(fd: 11, wakeReactor: false))
        }

        @Test func aPassedDeadlineResolvesAtOnce() {
            var table = ReactorTable<String>()
            let a = table.register(fd: 10)
            #expect(table.arm(a, waitID: 1, waiter: "a", deadline: t0, now: at(1)) == .resolved(.timedOut))
        }

        @Test func interruptIsStickyAndDeregisterEndsTheWait() {
            var table = ReactorTable<String>()
            let a = table.register(fd: 10)
            _ = table.arm(a, waitID: 1, waiter: "a", deadline: nil, now: t0)
            #expect(table.interrupt(a) == "a")
            #expect(table.arm(a, waitID: 2, waiter: "a2", deadline: nil, now: t0) == .resolved(.interrupted))
            let b = table.register(fd: 11)
            _ = table.arm(b, waitID: 3, waiter: "b", deadline: at(5), now: t0)
            let removed = table.deregister(b)
            #expect(removed?.fd == 11)
            #expect(removed?.waiter == "b")
            #expect(table.deregister(b) == nil)
            #expect(table.arm(b, waitID: 4, waiter: "b2", deadline: nil, now: t0) == .resolved(.deregistered))
            #expect(table.expire(now: at(10)).isEmpty)
        }

        @Test func staleDeadlinesDoNotGrowTheHeapWithoutBound() {
            var table = ReactorTable<Int>()
            let a = table.register(fd: 10)
            for id in 1...10_000 {
                _ = table.arm(a, waitID: UInt64(id), waiter: id, deadline: at(30_000), now: t0)
                #expect(table.fire(a) == id)
            }
            #expect(table.timerCount <= 65)
        }

        @Test func tokensAreNeverReused() {
            var table = ReactorTable<Int>()
            let a = table.register(fd: 5)
            _ = table.deregister(a)
            let b = table.register(fd: 5)
            #expect(a != b)
            _ = table.arm(b, waitID: 1, waiter: 1, deadline: nil, now: t0)
            #expect(table.fire(a) == nil)  // a late event for the old registration wakes nobody
            #expect(table.fire(b) == 1)
        }
    }
}
