import Testing

/// Every test of this target runs one after another: the resource tests count the process's threads,
/// file descriptors and libssh2 allocations, which concurrent tests of this target would disturb.
@Suite("DeviceTransportLibSSH2", .serialized)
struct LibSSH2Tests {}
