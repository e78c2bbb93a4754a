import BackupModels
import BackupSupport
@testable import ConfigArchive
import DeviceTransport
import Foundation
import Testing

func temporaryPath(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}

func permissions(_ path: String) throws -> Int {
    let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)
    return mode.intValue & 0o777
}

let testContext = ArchiveContext(taskID: "t", fetchedAt: Date())

@Suite("DirectoryArchive")
struct DirectoryArchiveTests {
    @Test("stores one file per device, reports hash, size and whether it changed")
    func storeAndChange() async throws {
        let dir = temporaryPath("archive-test")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir)
        let device = DeviceRef(id: 7, name: "core/sw1", vendor: "cisco_ios")
        let first = try await archive.store(RetrievedConfig(text: "hostname sw1\n"), for: device, context: testContext)
        #expect(first.changed)
        #expect(first.size == 13)
        #expect(first.configID == configContentID("hostname sw1\n"))
        let again = try await archive.store(RetrievedConfig(text: "hostname sw1\n"), for: device, context: testContext)
        #expect(!again.changed)
        #expect(again.configID == first.configID)
        let changed = try await archive.store(RetrievedConfig(text: "hostname sw2\n"), for: device, context: testContext)
        #expect(changed.changed)
        #expect(try await archive.currentConfig(for: device) == "hostname sw2\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["7.cfg"])
        let byName = try DirectoryArchive(directory: dir, naming: .deviceName)
        #expect(byName.path(for: device).hasSuffix("/core%2Fsw1.cfg"))
    }

    @Test("an unwritable archive fails with ARCHIVE_FAILED naming the path")
    func unwritable() async throws {
        let dir = temporaryPath("archive-test")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir)
        // Make the target path a directory: the rename over it must fail.
        let device = DeviceRef(id: "x", name: "x", vendor: "v")
        try FileManager.default.createDirectory(atPath: archive.path(for: device) + "/blocker", withIntermediateDirectories: true)
        let error = await #expect(throws: BackupError.self) {
            try await archive.store(RetrievedConfig(text: "a"), for: device, context: testContext)
        }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains(archive.path(for: device)) == true)
    }

    @Test("concurrent stores for many devices all land intact")
    func concurrent() async throws {
        let dir = temporaryPath("archive-test")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir, durable: false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 0..<200 {
                group.addTask {
                    _ = try await archive.store(RetrievedConfig(text: "config \(id)\n"), for: DeviceRef(id: DeviceID(id), name: "d\(id)", vendor: "v"), context: testContext)
                }
            }
            try await group.waitForAll()
        }
        for id in [0, 57, 199] {
            #expect(try await archive.currentConfig(for: DeviceRef(id: DeviceID(id), name: "d\(id)", vendor: "v")) == "config \(id)\n")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 200)
    }

    // MARK: Names

    @Test(
        "names that used to collide get distinct files, in both namings",
        arguments: [("core/sw1", "core_sw1"), ("路由器1", "交换机1"), ("sw 1", "sw_1"), ("100%", "100%25"), (".", "_.")])
    func distinctFiles(first: String, second: String) async throws {
        let dir = temporaryPath("archive-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for naming in [ArchiveFileNaming.deviceName, .deviceID] {
            let archive = try DirectoryArchive(directory: dir + "/\(naming)", naming: naming, durable: false)
            let a = DeviceRef(id: DeviceID(naming == .deviceID ? first : "1"), name: first, vendor: "v")
            let b = DeviceRef(id: DeviceID(naming == .deviceID ? second : "2"), name: second, vendor: "v")
            try await archive.prepare(for: [a, b])
            #expect(archive.path(for: a) != archive.path(for: b))
            _ = try await archive.store(RetrievedConfig(text: "config of a\n"), for: a, context: testContext)
            _ = try await archive.store(RetrievedConfig(text: "config of b\n"), for: b, context: testContext)
            #expect(try await archive.currentConfig(for: a) == "config of a\n")
            #expect(try await archive.currentConfig(for: b) == "config of b\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/\(naming)").count == 2)
        }
    }

    @Test("Unicode names stay readable; the rest is percent-encoded and decodes back")
    func encoding() {
        #expect(archiveFileComponent("路由器1") == "路由器1")
        #expect(archiveFileComponent("交换机1") == "交换机1")
        #expect(archiveFileComponent("Zürich-sw") == "Zürich-sw")
        #expect(archiveFileComponent("core/sw1") == "core%2Fsw1")
        #expect(archiveFileComponent("sw 1 (lab)") == "sw%201%20%28lab%29")
        #expect(archiveFileComponent("100%") == "100%25")
        #expect(archiveFileComponent(".hidden") == "%2Ehidden")
        #expect(archiveFileComponent("..") == "%2E.")
        #expect(archiveFileComponent("a\u{202E}b") == "a%E2%80%AEb")  // a right-to-left override is not kept
        #expect(archiveFileComponent("line\nbreak") == "line%0Abreak")
        for text in ["core/sw1", "core_sw1", "路由器1", "a%2Fb", "%", ".x", "..", "sw 1", "é\u{301}", "x\u{0}y", "🙂"] {
            #expect(decodedArchiveFileComponent(archiveFileComponent(text)) == text)
            #expect(!archiveFileComponent(text).contains("/"))
            #expect(!archiveFileComponent(text).hasPrefix("."))
        }
    }

    @Test("names of ASCII letters, digits, - _ . keep the file names earlier versions gave them")
    func compatibleWithEarlierNames() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ019-_.")
        var samples = ["sw1", "core_sw1", "edge-1.lab", "R1", "a..b", "x.", "0", "_", "-", "__..__"]
        for _ in 0..<500 {
            let length = Int.random(in: 1...20, using: &generator)
            samples.append(String((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for name in samples where !name.hasPrefix(".") {
            #expect(archiveFileComponent(name) == sanitizedFileComponent(name), "\(name)")
        }
    }

    @Test("prepare refuses duplicate names (two sites with sw1), naming both devices, before anything is written")
    func duplicateNamesRefused() async throws {
        let dir = temporaryPath("archive-dup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir, naming: .deviceName)
        let siteA = DeviceRef(id: "site-a/sw1", name: "sw1", vendor: "cisco_ios")
        let siteB = DeviceRef(id: "site-b/sw1", name: "sw1", vendor: "cisco_ios")
        let error = await #expect(throws: BackupError.self) {
            try await archive.prepare(for: [DeviceRef(id: "r1", name: "r1", vendor: "v"), siteA, siteB])
        }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains("site-a/sw1") == true && error?.message.contains("site-b/sw1") == true)
        #expect(error?.message.contains("sw1.cfg") == true)
        #expect(error?.hint?.contains("unique") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        // By id the same devices are fine.
        let byID = try DirectoryArchive(directory: dir + "/by-id", naming: .deviceID)
        try await byID.prepare(for: [siteA, siteB])
    }

    @Test("a store that would overwrite another device's file fails loudly and leaves the file alone")
    func storeClashRefused() async throws {
        let dir = temporaryPath("archive-clash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir, naming: .deviceName)
        let siteA = DeviceRef(id: "site-a/sw1", name: "sw1", vendor: "cisco_ios")
        let siteB = DeviceRef(id: "site-b/sw1", name: "sw1", vendor: "cisco_ios")
        _ = try await archive.store(RetrievedConfig(text: "config A\n"), for: siteA, context: testContext)
        let error = await #expect(throws: BackupError.self) {
            try await archive.store(RetrievedConfig(text: "config B\n"), for: siteB, context: testContext)
        }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains("site-a/sw1") == true && error?.message.contains("site-b/sw1") == true)
        #expect(try await archive.currentConfig(for: siteA) == "config A\n")
        // A later task whose inventory gives the name to site B (site A renamed) takes it over in prepare.
        let renamedA = DeviceRef(id: "site-a/sw1", name: "sw1-a", vendor: "cisco_ios")
        try await archive.prepare(for: [renamedA, siteB])
        _ = try await archive.store(RetrievedConfig(text: "config B\n"), for: siteB, context: testContext)
        #expect(try await archive.currentConfig(for: siteB) == "config B\n")
    }

    @Test("prepare refuses empty and too long names, naming the devices")
    func unnamableRefused() async throws {
        let dir = temporaryPath("archive-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir, naming: .deviceName)
        let empty = DeviceRef(id: "e1", name: "", vendor: "v")
        let long = DeviceRef(id: "l1", name: String(repeating: "x", count: 300), vendor: "v")
        let longChinese = DeviceRef(id: "l2", name: String(repeating: "路", count: 70), vendor: "v")  // 210 bytes
        let fine = DeviceRef(id: "f1", name: String(repeating: "x", count: 200), vendor: "v")
        try await archive.prepare(for: [fine])
        for device in [empty, long, longChinese] {
            let error = await #expect(throws: BackupError.self) { try await archive.prepare(for: [fine, device]) }
            #expect(error?.code == .archiveFailed)
            #expect(error?.message.contains("id \"\(device.id.rawValue)\"") == true)
            let stored = await #expect(throws: BackupError.self) {
                try await archive.store(RetrievedConfig(text: "x"), for: device, context: testContext)
            }
            #expect(stored?.code == .archiveFailed)
        }
    }

    @Test("prepare refuses a directory where no file can be created, naming it")
    func prepareChecksWritable() async throws {
        let dir = temporaryPath("archive-probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try DirectoryArchive(directory: dir)
        try await archive.prepare(for: [DeviceRef(id: 1, name: "a", vendor: "v")])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "the probe file is removed")
        // The directory is replaced by a file (tests run as root: permission bits would not stop a write).
        try FileManager.default.removeItem(atPath: dir)
        #expect(FileManager.default.createFile(atPath: dir, contents: Data("not a directory".utf8)))
        let error = await #expect(throws: BackupError.self) { try await archive.prepare(for: [DeviceRef(id: 1, name: "a", vendor: "v")]) }
        #expect(error?.code == .archiveFailed)
        #expect(error?.message.contains(dir) == true)
        #expect(error?.hint != nil)
    }

    // MARK: Permissions and leftovers

    @Test("files are created 0600 and directories 0700 by default; both configurable")
    func permissionsByDefault() async throws {
        let root = temporaryPath("archive-modes")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let device = DeviceRef(id: 1, name: "sw1", vendor: "v")
        let archive = try DirectoryArchive(directory: root + "/a/b")
        _ = try await archive.store(RetrievedConfig(text: "secret-ish\n"), for: device, context: testContext)
        #expect(try permissions(root) == 0o700)
        #expect(try permissions(root + "/a/b") == 0o700)
        #expect(try permissions(archive.path(for: device)) == 0o600)
        // A changed config replaces the file with a new one, created with the same mode.
        _ = try await archive.store(RetrievedConfig(text: "changed\n"), for: device, context: testContext)
        #expect(try permissions(archive.path(for: device)) == 0o600)

        let custom = try DirectoryArchive(directory: root + "/c", fileMode: 0o640, directoryMode: 0o750)
        _ = try await custom.store(RetrievedConfig(text: "x\n"), for: device, context: testContext)
        #expect(try permissions(root + "/c") == 0o750)
        #expect(try permissions(custom.path(for: device)) == 0o640)
    }

    @Test("FileIO.writeAtomically creates 0600 files by default")
    func writeAtomicallyDefaultMode() throws {
        let dir = temporaryPath("fileio-mode")
        try FileIO.createDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileIO.writeAtomically(dir + "/f", Array("x".utf8), durable: false)
        #expect(try permissions(dir + "/f") == 0o600)
        #expect(try permissions(dir) == 0o700)
    }

    @Test("temporary files left by a crash are removed when the archive opens; nothing else is")
    func crashLeftoversRemoved() throws {
        let dir = temporaryPath("archive-tmp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let leftovers = ["sw1.cfg.tmp-123-4567", "路由器1.cfg.tmp-1-2"]
        let kept = ["sw1.cfg", "notes.txt", "sw1.cfg.tmp-x-1", "sw1.tmp-1-2", "x.cfg.tmp-1-2.cfg"]
        for name in leftovers + kept { #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("x".utf8))) }
        _ = try DirectoryArchive(directory: dir)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == Set(kept))
    }
}
