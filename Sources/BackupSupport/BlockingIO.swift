import Dispatch

/// Runs blocking work (file I/O, `fsync`, `getaddrinfo`, spawning processes) off Swift's cooperative
/// thread pool, so that a slow disk never starves the tasks that drive SSH sessions.
package struct BlockingIOPool: Sendable {
    private let queue: DispatchQueue

    /// A shared pool for the library's own blocking calls.
    package static let shared = BlockingIOPool(label: "DeviceBackup.blocking-io")

    package init(label: String, serial: Bool = false) {
        queue = DispatchQueue(label: label, qos: .utility, attributes: serial ? [] : [.concurrent])
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
