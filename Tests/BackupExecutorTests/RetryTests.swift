import BackupExecutor
import BackupModels
import BackupTestKit
import Foundation
import TaskStore
import Testing

@Suite("Retries, backoff and timeouts", .timeLimit(.minutes(2)))
struct RetryTests {
    @Test("two retryable failures then success: attempts 3, delays grow exponentially within jitter bounds")
    func retryThenSucceed() async throws {
        let clock = ManualClock()
        let transport = MockTransport(defaultBehavior: .fail(.connectionTimeout, times: 2, then: .config("hostname r1\n")))
        var fixture = Fixture(devices: 1, transport: transport)
        fixture.random = .seeded(7)
        let strategy = fixture.configuration.retryStrategy
        let executor = fixture.makeExecutor(clock: clock)
        // Submit and subscribe before the executor runs, so that no attempt_failed can pass unseen.
        let submitted = try await executor.submit(try filter(retryCount: 2))
        let events = try await executor.events(for: submitted.taskID)
        let (task, delays) = try await executor.withRunning { executor in
            var delays: [Double] = []
            for await event in events {
                if case .attemptFailed(_, let attempt, let error, let delay) = event.kind {
                    #expect(attempt == delays.count + 1)
                    #expect(error.code == .connectionTimeout)
                    delays.append(delay)
                    // The backoff must really be slept on the injected clock: wait for it, then advance.
                    await clock.waitForSleeper(remaining: .nanoseconds(Int64((delay * 1e9).rounded())), tolerance: .microseconds(2))
                    clock.advance(by: .nanoseconds(Int64((delay * 1e9).rounded())))
                }
                if event.isTerminal { break }
            }
            return (try await executor.waitForCompletion(of: submitted.taskID), delays)
        }
        let result = try #require(task.results.first)
        #expect(task.status == .completed)
        #expect(result.success)
        #expect(result.attempts == 3)
        #expect(transport.stats.attemptsByDevice[1] == 3)
        #expect(delays.count == 2)
        for (index, delay) in delays.enumerated() {
            let bounds = strategy.delayBounds(afterAttempt: index + 1)
            #expect(bounds.contains(.nanoseconds(Int64((delay * 1e9).rounded()))), "delay \(delay) outside \(bounds)")
        }
        // Exponential: the second nominal delay is twice the first, and the jittered ranges do not overlap.
        #expect(strategy.nominalDelay(afterAttempt: 2) == strategy.nominalDelay(afterAttempt: 1) * 2)
        #expect(delays[1] > delays[0])
    }

    @Test("backoff delays follow base × multiplier^(n−1), capped, jitter within bounds")
    func strategyMath() {
        let strategy = RetryStrategy(baseDelay: .seconds(1), multiplier: 3, maxDelay: .seconds(20), jitter: 0.25)
        #expect(strategy.nominalDelay(afterAttempt: 1) == .seconds(1))
        #expect(strategy.nominalDelay(afterAttempt: 2) == .seconds(3))
        #expect(strategy.nominalDelay(afterAttempt: 3) == .seconds(9))
        #expect(strategy.nominalDelay(afterAttempt: 4) == .seconds(20))
        #expect(strategy.delay(afterAttempt: 2, random: .constant(0)) == .milliseconds(2250))
        #expect(strategy.delay(afterAttempt: 2, random: .constant(0.5)) == .seconds(3))
        #expect(strategy.delay(afterAttempt: 4, random: .constant(0.999)) == .seconds(20))
        let random = RandomSource.seeded(1)
        for attempt in 1...6 {
            for _ in 0..<100 {
                #expect(strategy.delayBounds(afterAttempt: attempt).contains(strategy.delay(afterAttempt: attempt, random: random)))
            }
        }
    }

    @Test("AUTH_FAILED and HOST_KEY_MISMATCH are not retried", arguments: [BackupError.Code.authFailed, .hostKeyMismatch, .hostKeyUnknown])
    func notRetried(code: BackupError.Code) async throws {
        let transport = MockTransport(defaultBehavior: .alwaysFail(BackupError(code, "nope")))
        let executor = Fixture(devices: 1, transport: transport).makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(retryCount: 5, asyncExecute: false)) }
        let result = try #require(task.results.first)
        #expect(result.attempts == 1)
        #expect(result.errorCode == code)
        #expect(transport.stats.attemptsByDevice[1] == 1)
        #expect(task.status == .failed)
    }

    @Test("retry_count 0 means exactly one attempt, with the original error code")
    func noRetries() async throws {
        let transport = MockTransport(defaultBehavior: .fail(.connectionRefused, times: 1, then: .config("x")))
        let executor = Fixture(devices: 1, transport: transport).makeExecutor()
        let task = try await executor.withRunning { try await $0.submit(try filter(retryCount: 0, asyncExecute: false)) }
        let result = try #require(task.results.first)
        #expect(result.attempts == 1)
        #expect(result.errorCode == .connectionRefused)
        #expect(transport.stats.attemptsByDevice[1] == 1)
    }

    @Test("exhausted retries → MAX_RETRIES_EXCEEDED naming the last cause")
    func maxRetriesExceeded() async throws {
        let clock = ManualClock()
        let transport = MockTransport(defaultBehavior: .alwaysFail(BackupError(.hostUnreachable, "no route")))
        let executor = Fixture(devices: 1, transport: transport).makeExecutor(clock: clock)
        let submitted = try await executor.submit(try filter(retryCount: 1))
        let events = try await executor.events(for: submitted.taskID)
        let task = try await executor.withRunning { executor in
            for await event in events {
                if case .attemptFailed(_, _, _, let delay) = event.kind {
                    let duration = Duration.nanoseconds(Int64((delay * 1e9).rounded()))
                    await clock.waitForSleeper(remaining: duration, tolerance: .microseconds(2))
                    clock.advance(by: duration)
                }
                if event.isTerminal { break }
            }
            return try await executor.waitForCompletion(of: submitted.taskID)
        }
        let result = try #require(task.results.first)
        #expect(result.attempts == 2)
        #expect(result.errorCode == .maxRetriesExceeded)
        #expect(result.causeCode == .hostUnreachable)
        #expect(result.errorMessage?.contains("HOST_UNREACHABLE") == true)
    }

    @Test("an attempt that exceeds the per-device timeout ends DEVICE_TIMEOUT and its session is closed")
    func deviceTimeout() async throws {
        let clock = ManualClock()
        let transport = MockTransport(defaultBehavior: .hang)
        let executor = Fixture(devices: 1, transport: transport).makeExecutor(clock: clock)
        let task = try await executor.withRunning { executor in
            let submitted = try await executor.submit(try filter(timeout: 60, retryCount: 0))
            try await eventually("session open") { transport.stats.openSessions == 1 }
            await clock.waitForSleeper(remaining: .seconds(60))
            clock.advance(by: .seconds(60))
            return try await executor.waitForCompletion(of: submitted.taskID)
        }
        let result = try #require(task.results.first)
        #expect(result.errorCode == .deviceTimeout)
        #expect(result.errorMessage?.contains("60 s") == true)
        #expect(transport.stats.openSessions == 0)
        #expect(transport.stats.sessionsClosed == 1)
    }
}

extension Duration {
    static func * (lhs: Duration, rhs: Int) -> Duration { lhs * Double(rhs) }
}
