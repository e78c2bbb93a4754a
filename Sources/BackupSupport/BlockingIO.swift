import Dispatch

/// Runs blocking work (file I/O, `fsync`, `getaddrinfo`, spawning processes) off Swift's cooperative
/// thread pool, so that a slow disk never starves the tasks that drive SSH sessions.
package struct BlockingIOPool: Sendable {
    private let queue: DispatchQueue

    /// A shared pool for the library's own blocking calls.
    package static let shared = BlockingIOPool(label: "DeviceBackup.blocking-io")

    /// Creates a pool on its own dispatch queue: concurrent, or `serial` to run one call at a time.
    package init(label: String, serial: Bool = false) {
        queue = DispatchQueue(label: label, qos: .utility, attributes: serial ? [] : [.concurrent])
    }

    /// Starts `body` on the pool's threads and returns at once. For callers that must be able to stop
    /// waiting for the result (a cancelled task), which ``run(_:)`` cannot offer.
    package func submit(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }

    /// Runs `body` on the pool's threads and returns its result.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
