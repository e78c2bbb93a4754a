internal import CLibSSH2
internal import BackupModels
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Process-wide libssh2 state: `libssh2_init` runs exactly once, and every session allocates through
/// counting allocators so that tests and the soak benchmark can prove that no libssh2 memory is left
/// behind. `libssh2_exit` is never called: sessions may live until the process ends.
package enum LibSSH2Runtime {
    /// The result of the one `libssh2_init(0)` call (a `static let` initialises once, thread-safely).
    private static let initResult: Int32 = libssh2_init(0)

    /// Initialises libssh2 on first use; throws when the library cannot start.
    static func ensureInitialized() throws(BackupError) {
        let rc = initResult
        if rc != 0 {
            throw BackupError(.internal, "libssh2_init failed with code \(rc).", hint: "Check the libssh2 and OpenSSL installation.")
        }
    }

    /// Memory blocks currently allocated by libssh2 through our allocators, over all sessions.
    package static var liveAllocations: Int { liveBlocks.load(ordering: .relaxed) }
}

/// Blocks libssh2 holds right now (allocations minus frees).
private let liveBlocks = Atomic<Int>(0)

/// `malloc` for libssh2, counted.
let libssh2CountingAlloc: @convention(c) (Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> UnsafeMutableRawPointer? = {
    size, _ in
    let pointer = malloc(size)
    if pointer != nil { liveBlocks.add(1, ordering: .relaxed) }
    return pointer
}

/// `free` for libssh2, counted.
let libssh2CountingFree: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Void = {
    pointer, _ in
    guard let pointer else { return }
    liveBlocks.subtract(1, ordering: .relaxed)
    free(pointer)
}

/// `realloc` for libssh2, counted (a `nil` input allocates a new block).
let libssh2CountingRealloc:
    @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> UnsafeMutableRawPointer? = {
        pointer, size, _ in
        let result = realloc(pointer, size)
        if pointer == nil, result != nil { liveBlocks.add(1, ordering: .relaxed) }
        return result
    }
