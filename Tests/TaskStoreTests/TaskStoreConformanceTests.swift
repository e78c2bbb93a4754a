import BackupModels
import Foundation
import Synchronization
import Testing

@testable import TaskStore

/// The guarantees of the `TaskStore` protocol, checked for every store: the same tests, parameterized over the
/// store kind.
@Suite("TaskStore conformance")
struct TaskStoreConformanceTests {
    @Test("create stores a task; reads return it; unknown ids are nil", arguments: StoreKind.allCases)
    func createAndRead(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            let task = makeTask("t-1", devices: 4)
            let creation = try await store.create(task)
            #expect(creation == .created(task))
            #expect(try await store.task(id: "t-1") == task)
            #expect(try await store.summary(id: "t-1") == task.summary)
            #expect(try await store.task(id: "nope") == nil)
            #expect(try await store.summary(id: "nope") == nil)
            #expect(try await store.task(idempotencyKey: "nope") == nil)
        }
    }

    @Test("an idempotency key or a task id already stored returns the existing task", arguments: StoreKind.allCases)
    func idempotency(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            let first = makeTask("t-1", key: "nightly-2025-06-15")
            #expect(try await store.create(first) == .created(first))
            let again = makeTask("t-2", key: "nightly-2025-06-15", devices: 9)
            #expect(try await store.create(again) == .existing(first))
            #expect(try await store.task(id: "t-2") == nil)
            #expect(try await store.task(idempotencyKey: "nightly-2025-06-15") == first)
            #expect(try await store.create(makeTask("t-1", devices: 2)) == .existing(first))
            let other = makeTask("t-3", key: "other")
            #expect(try await store.create(other) == .created(other))
            #expect(try await store.tasks(TaskQuery()).total == 2)
        }
    }

    @Test("concurrent creates with one idempotency key store exactly one task", arguments: StoreKind.allCases)
    func concurrentCreatesWithOneKey(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            let outcomes = try await withThrowingTaskGroup(of: TaskCreation.self) { group in
                for i in 0..<50 {
                    group.addTask { try await store.create(makeTask("t-\(i)", key: "same-key")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = outcomes.filter { if case .created = $0 { true } else { false } }
            #expect(created.count == 1)
            let winner = try #require(created.first?.task.taskID)
            #expect(outcomes.allSatisfy { $0.task.taskID == winner })
            #expect(try await store.tasks(TaskQuery()).total == 1)
            #expect(try await store.task(idempotencyKey: "same-key")?.taskID == winner)
        }
    }

    @Test("recording results counts them; recording a device again replaces its result", arguments: StoreKind.allCases)
    func recordAndReplace(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            _ = try await store.create(makeTask("t-1", devices: 4))
            try await store.record([success(1), failure(2)], taskID: "t-1")
            try await store.record([success(3, at: at(11))], taskID: "t-1")
            var summary = try #require(try await store.summary(id: "t-1"))
            #expect((summary.completed, summary.successCount, summary.failedCount) == (3, 2, 1))

            // Device 2 again (a retry that succeeded), device 1 again (now failing): replaced, not added.
            try await store.record([success(2, at: at(12)), failure(1, at: at(13))], taskID: "t-1")
            summary = try #require(try await store.summary(id: "t-1"))
            #expect((summary.completed, summary.successCount, summary.failedCount) == (3, 2, 1))
            let task = try #require(try await store.task(id: "t-1"))
            #expect(task.results == [failure(1, at: at(13)), success(2, at: at(12)), success(3, at: at(11))])
            #expect(task.remainingDevices.map(\.id) == [4])
            #expect(summary.progressPercentage == 75)

            try await store.record([], taskID: "t-1")
            #expect(try await store.summary(id: "t-1") == summary)
            let error = await backupError { try await store.record([success(1)], taskID: "missing") }
            #expect(error?.code == .taskNotFound)
            let emptyError = await backupError { try await store.record([], taskID: "missing") }
            #expect(emptyError?.code == .taskNotFound)
        }
    }

    @Test("markRunning and finish move the task through its lifecycle", arguments: StoreKind.allCases)
    func lifecycle(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            _ = try await store.create(makeTask("t-1", devices: 2))
            try await store.markRunning(taskID: "t-1", at: at(1), resumed: false)
            var summary = try #require(try await store.summary(id: "t-1"))
            #expect(summary.status == .running)
            #expect(summary.startedAt == at(1))
            #expect(summary.resumeCount == 0)

            try await store.record([success(1)], taskID: "t-1")
            try await store.markRunning(taskID: "t-1", at: at(2), resumed: true)
            summary = try #require(try await store.summary(id: "t-1"))
            #expect(summary.startedAt == at(1))
            #expect(summary.resumeCount == 1)

            let error = BackupError(.internal, "disk on fire")
            try await store.record([failure(2)], taskID: "t-1")
            try await store.finish(taskID: "t-1", status: .partial, message: "1 of 2 failed", error: error, at: at(3))
            summary = try #require(try await store.summary(id: "t-1"))
            #expect(summary.status == .partial)
            #expect(summary.message == "1 of 2 failed")
            #expect(summary.error == error)
            #expect(summary.completedAt == at(3))
            #expect((summary.completed, summary.successCount, summary.failedCount) == (2, 1, 1))

            for call in [
                { try await store.markRunning(taskID: "missing", at: at(1), resumed: false) },
                { try await store.finish(taskID: "missing", status: .failed, message: "", error: nil, at: at(1)) },
            ] as [() async throws -> Void] {
                #expect(await backupError(call)?.code == .taskNotFound)
            }
        }
    }

    @Test("listing is newest first, filtered by status, paged", arguments: StoreKind.allCases)
    func paging(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            for i in 0..<25 { _ = try await store.create(makeTask("t-\(i)", createdAt: at(i))) }
            // Two tasks created in the same second list in creation order, newest first.
            _ = try await store.create(makeTask("t-24b", createdAt: at(24)))
            for i in stride(from: 0, to: 26, by: 3) where i < 25 {
                try await store.finish(taskID: "t-\(i)", status: .completed, message: "done", error: nil, at: at(100))
            }

            let first = try await store.tasks(TaskQuery(page: 1, pageSize: 10))
            #expect(first.total == 26)
            #expect(first.page == 1 && first.pageSize == 10)
            #expect(first.items.map(\.taskID) == ["t-24b"] + (15...24).reversed().map { "t-\($0)" }.prefix(9))
            let third = try await store.tasks(TaskQuery(page: 3, pageSize: 10))
            #expect(third.items.map(\.taskID) == (0...5).reversed().map { "t-\($0)" })
            let beyond = try await store.tasks(TaskQuery(page: 4, pageSize: 10))
            #expect(beyond.items.isEmpty && beyond.total == 26)

            let completed = try await store.tasks(TaskQuery(status: .completed, pageSize: 100))
            #expect(completed.items.map(\.taskID) == [24, 21, 18, 15, 12, 9, 6, 3, 0].map { "t-\($0)" })
            #expect(completed.total == 9)
            let pending = try await store.tasks(TaskQuery(status: .pending, page: 2, pageSize: 5))
            #expect(pending.total == 17)
            #expect(pending.items.map(\.taskID) == ["t-17", "t-16", "t-14", "t-13", "t-11"])
            #expect(try await store.tasks(TaskQuery(status: .cancelled)).total == 0)
        }
    }

    @Test("page and page_size are validated")
    func queryValidation() throws {
        for (page, size, fields) in [
            (1, 0, ["page_size"]), (1, 101, ["page_size"]), (0, 20, ["page"]), (-1, 500, ["page", "page_size"]),
            (Int.max, 20, ["page"]), (TaskQuery.maxPage + 1, 20, ["page"]), (Int.min, Int.max, ["page", "page_size"]),
        ] {
            #expect {
                _ = try TaskQuery(page: page, pageSize: size)
            } throws: { error in
                (error as? ValidationError)?.violations.map(\.field) == fields
            }
        }
        #expect(try TaskQuery(page: 1, pageSize: 100).pageSize == 100)
        #expect(try TaskQuery(page: 7, pageSize: 1).page == 7)
        #expect(try TaskQuery(page: TaskQuery.maxPage, pageSize: TaskQuery.maxPageSize).offset == 99_999_900)
    }

    @Test("paging never traps: the largest page, out-of-bounds values set after validation, pages past the end", arguments: StoreKind.allCases)
    func pagingBounds(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            for i in 0..<5 { _ = try await store.create(makeTask("t-\(i)", createdAt: at(i))) }
            // The largest valid page: empty, with the total.
            let last = try await store.tasks(TaskQuery(page: TaskQuery.maxPage, pageSize: TaskQuery.maxPageSize))
            #expect(last.items.isEmpty && last.total == 5 && last.page == TaskQuery.maxPage)
            // Just past the end: empty, with the total.
            let past = try await store.tasks(TaskQuery(page: 2, pageSize: 5))
            #expect(past.items.isEmpty && past.total == 5)
            // The query that crashed `tasks list --page 9223372036854775807`, had it bypassed validation.
            var query = try TaskQuery(status: .pending)
            for (page, size) in [(Int.max, 20), (Int.max, Int.max), (Int.min, 20), (0, 2), (1, Int.min), (2, Int.max)] {
                query.page = page
                query.pageSize = size
                let result = try await store.tasks(query)
                #expect(result.total == 5)
                #expect(result.items.count <= TaskQuery.maxPageSize)
                if page == 0 { #expect(result.items.map(\.taskID) == ["t-4", "t-3"]) }
                if size == Int.min || page == Int.max || page == 2 { #expect(result.items.isEmpty) }
            }
        }
    }

    @Test("history limits are clamped: at most maxHistoryLimit entries, none for 0 or less", arguments: StoreKind.allCases)
    func historyBounds(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            let count = TaskStoreLimits.maxHistoryLimit + 3
            // Tasks created with their result: one write each, concurrent (the file store shares syncs).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask {
                        var task = makeTask("t-\(i)", devices: 1, createdAt: at(i))
                        task.results = [success(1, at: at(1000 + i))]
                        _ = try await store.create(task)
                    }
                }
                try await group.waitForAll()
            }
            for limit in [Int.max, TaskStoreLimits.maxHistoryLimit + 1, count] {
                let entries = try await store.history(deviceID: 1, limit: limit)
                #expect(entries.count == TaskStoreLimits.maxHistoryLimit)
                #expect(entries.first?.taskID == "t-\(count - 1)")
            }
            #expect(try await store.history(deviceID: 1, limit: 3).map(\.taskID) == ["t-\(count - 1)", "t-\(count - 2)", "t-\(count - 3)"])
            for limit in [0, -1, Int.min] { #expect(try await store.history(deviceID: 1, limit: limit).isEmpty) }
        }
    }

    @Test("prune rejects negative limits with a ValidationError naming them and removes nothing", arguments: StoreKind.allCases)
    func pruneBounds(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            _ = try await store.create(makeTask("done", createdAt: at(0)))
            try await store.finish(taskID: "done", status: .completed, message: "", error: nil, at: at(1))
            for (policy, fields) in [
                (RetentionPolicy(maxFinishedTasks: -1), ["max_finished_tasks"]),
                (RetentionPolicy(maxFinishedTasks: Int.min), ["max_finished_tasks"]),
                (RetentionPolicy(maxAge: .seconds(-1)), ["max_age"]),
                (RetentionPolicy(maxAge: .seconds(-5), maxFinishedTasks: -5), ["max_age", "max_finished_tasks"]),
            ] {
                await #expect {
                    _ = try await store.prune(policy, now: at(100))
                } throws: { error in
                    (error as? ValidationError)?.violations.map(\.field) == fields
                }
            }
            #expect(try await store.task(id: "done") != nil)
            // The extremes that are valid work without trapping.
            #expect(try await store.prune(RetentionPolicy(maxAge: .seconds(Int64.max), maxFinishedTasks: Int.max), now: at(100)) == 0)
            #expect(try await store.prune(RetentionPolicy(maxAge: .zero), now: at(100)) == 1)
        }
    }

    @Test("a device's history is newest first and limited", arguments: StoreKind.allCases)
    func history(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            for i in 1...4 { _ = try await store.create(makeTask("t-\(i)", devices: 2, createdAt: at(i))) }
            try await store.record([success(1, at: at(10))], taskID: "t-1")
            try await store.record([failure(1, at: at(20)), success(2, at: at(21))], taskID: "t-2")
            try await store.record([success(1, at: at(30))], taskID: "t-3")
            // t-4 records device 1 later, but its result finished before t-3's.
            try await store.record([success(1, at: at(25))], taskID: "t-4")

            let all = try await store.history(deviceID: 1, limit: 10)
            #expect(all.map(\.taskID) == ["t-3", "t-4", "t-2", "t-1"])
            #expect(all.map(\.result.finishedAt) == [at(30), at(25), at(20), at(10)])
            #expect(all[2].result == failure(1, at: at(20)))
            let two = try await store.history(deviceID: 1, limit: 2)
            #expect(Set(two.map(\.taskID)) == ["t-3", "t-4"])
            #expect(try await store.history(deviceID: 2, limit: 10).map(\.taskID) == ["t-2"])
            #expect(try await store.history(deviceID: 9, limit: 10).isEmpty)
            #expect(try await store.history(deviceID: 1, limit: 0).isEmpty)

            // A replaced result replaces the history entry too.
            try await store.record([success(1, at: at(40))], taskID: "t-1")
            #expect(try await store.history(deviceID: 1, limit: 1).map(\.taskID) == ["t-1"])
            #expect(try await store.history(deviceID: 1, limit: 10).count == 4)
        }
    }

    @Test("unfinishedTasks returns pending and running tasks with their results", arguments: StoreKind.allCases)
    func unfinished(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            _ = try await store.create(makeTask("pending", createdAt: at(1)))
            _ = try await store.create(makeTask("running", createdAt: at(2)))
            _ = try await store.create(makeTask("done", createdAt: at(3)))
            try await store.markRunning(taskID: "running", at: at(4), resumed: false)
            try await store.record([success(1), failure(2)], taskID: "running")
            try await store.markRunning(taskID: "done", at: at(4), resumed: false)
            try await store.finish(taskID: "done", status: .cancelled, message: "cancelled", error: nil, at: at(5))

            let unfinished = try await store.unfinishedTasks()
            #expect(unfinished.map(\.taskID) == ["pending", "running"])
            #expect(unfinished[1].status == .running)
            #expect(unfinished[1].remainingDevices.map(\.id) == [3])
            #expect(unfinished[1].results == [success(1), failure(2)])
        }
    }

    @Test("prune by age removes old finished tasks and never unfinished ones", arguments: StoreKind.allCases)
    func pruneByAge(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            _ = try await store.create(makeTask("old-done", key: "k-old", createdAt: at(0)))
            _ = try await store.create(makeTask("old-running", createdAt: at(0)))
            _ = try await store.create(makeTask("new-done", createdAt: at(0)))
            try await store.record([success(1)], taskID: "old-done")
            try await store.record([success(1, at: at(2))], taskID: "new-done")
            try await store.finish(taskID: "old-done", status: .completed, message: "", error: nil, at: at(10))
            try await store.markRunning(taskID: "old-running", at: at(1), resumed: false)
            try await store.finish(taskID: "new-done", status: .failed, message: "", error: nil, at: at(1000))

            let now = at(8000)  // old-done finished 7990 s ago, new-done 7000 s ago
            #expect(try await store.prune(RetentionPolicy(maxAge: .seconds(7200)), now: now) == 1)
            #expect(try await store.task(id: "old-done") == nil)
            #expect(try await store.task(idempotencyKey: "k-old") == nil)
            #expect(try await store.task(id: "old-running") != nil)
            #expect(try await store.task(id: "new-done") != nil)
            #expect(try await store.history(deviceID: 1, limit: 10).map(\.taskID) == ["new-done"])
            #expect(try await store.prune(RetentionPolicy(maxAge: .seconds(7200)), now: now) == 0)
            // A freed idempotency key can be used again.
            #expect(try await store.create(makeTask("again", key: "k-old")).task.taskID == "again")
        }
    }

    @Test("prune by count keeps the newest finished tasks and every unfinished one", arguments: StoreKind.allCases)
    func pruneByCount(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            for i in 0..<6 {
                _ = try await store.create(makeTask("done-\(i)", createdAt: at(i)))
                try await store.finish(taskID: "done-\(i)", status: .completed, message: "", error: nil, at: at(100 + i))
            }
            _ = try await store.create(makeTask("pending", createdAt: at(0)))
            #expect(try await store.prune(RetentionPolicy(maxFinishedTasks: 2), now: at(200)) == 4)
            let left = try await store.tasks(TaskQuery(pageSize: 100)).items.map(\.taskID)
            #expect(left == ["done-5", "done-4", "pending"])
            #expect(try await store.prune(RetentionPolicy(maxFinishedTasks: 0), now: at(200)) == 2)
            #expect(try await store.tasks(TaskQuery(pageSize: 100)).items.map(\.taskID) == ["pending"])
            #expect(try await store.unfinishedTasks().map(\.taskID) == ["pending"])
            #expect(try await store.prune(RetentionPolicy(), now: at(200)) == 0)
        }
    }

    @Test("concurrent writers to many tasks keep every task's counters exact", arguments: StoreKind.allCases)
    func concurrentWriters(kind: StoreKind) async throws {
        try await withStore(kind) { store async throws in
            for t in 0..<4 { _ = try await store.create(makeTask("t-\(t)", devices: 50)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<20 {
                    group.addTask {
                        for i in 0..<20 {
                            let device = writer * 20 % 50 + i % 10 + 1
                            let result = (writer + i) % 3 == 0 ? failure(device) : success(device)
                            try await store.record([result], taskID: "t-\(writer % 4)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            for t in 0..<4 {
                let task = try #require(try await store.task(id: "t-\(t)"))
                #expect(task.completed == task.results.count)
                #expect(task.successCount == task.results.filter(\.success).count)
                #expect(task.failedCount == task.results.filter { !$0.success }.count)
                #expect(Set(task.results.map(\.deviceID)).count == task.results.count)
            }
        }
    }
}
