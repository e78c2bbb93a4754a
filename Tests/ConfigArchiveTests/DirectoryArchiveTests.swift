import BackupModels
import BackupSupport
import ConfigArchive
import DeviceTransport
import Foundation
import Testing

@Suite("DirectoryArchive")
struct DirectoryArchiveTests {
    func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("archive-test-\(UUID().uuidString)").path
        return path
    }

    @Test("stores one file per device, reports hash, size and whether it changed")
    func storeAndChange() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir)
        let device = DeviceRef(id: 7, name: "core/sw1", vendor: "cisco_ios")
        let context = ArchiveContext(taskID: "t", fetchedAt: Date())
        let first = try await archive.store(RetrievedConfig(text: "hostname sw1\n"), for: device, context: context)
        #expect(first.changed)
        #expect(first.size == 13)
        #expect(first.configID == configContentID("hostname sw1\n"))
        let again = try await archive.store(RetrievedConfig(text: "hostname sw1\n"), for: device, context: context)
        #expect(!again.changed)
        #expect(again.configID == first.configID)
        let changed = try await archive.store(RetrievedConfig(text: "hostname sw2\n"), for: device, context: context)
        #expect(changed.changed)
        #expect(try await archive.currentConfig(for: device) == "hostname sw2\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["7.cfg"])
        let byName = try DirectoryArchive(directory: dir, naming: .deviceName)
        #expect(byName.path(for: device).hasSuffix("/core_sw1.cfg"))
    }

    @Test("an unwritable archive fails with ARCHIVE_FAILED naming the path")
    func unwritable() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir)
        // Make the target path a directory: the rename over it must fail.
        let device = DeviceRef(id: "x", name: "x", vendor: "v")
        try FileManager.default.createDirectory(atPath: archive.path(for: device) + "/blocker", withIntermediateDirectories: true)
        let error = await #expect(throws: BackupError.self) {
            try await archive.store(RetrievedConfig(text: "a"), for: device, context: ArchiveContext(taskID: "t", fetchedAt: Date()))
        }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains(archive.path(for: device)) == true)
    }

    @Test("concurrent stores for many devices all land intact")
    func concurrent() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir, durable: false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 0..<200 {
                group.addTask {
                    _ = try await archive.store(RetrievedConfig(text: "config \(id)\n"), for: DeviceRef(id: DeviceID(id), name: "d\(id)", vendor: "v"), context: ArchiveContext(taskID: "t", fetchedAt: Date()))
                }
            }
            try await group.waitForAll()
        }
        for id in [0, 57, 199] {
            #expect(try await archive.currentConfig(for: DeviceRef(id: DeviceID(id), name: "d\(id)", vendor: "v")) == "config \(id)\n")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 200)
    }
}
