import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The command line tried with bad input, each case as a user would run it: the exit status the README promises,
/// a message naming the path, line or field and what to do, and nothing created or contacted.
@Suite("netbackup with bad input", .serialized)
struct BadInputTests {
    let cli: NetBackupCLI
    let dir: String
    var home: String { dir + "/home" }
    var env: [String: String] { ["NETBACKUP_HOME": home] }

    init() throws {
        cli = try NetBackupCLI()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbackup-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// An inventory of one device on a closed port of 127.0.0.1: a backup of it fails at once (exit 1), so an exit 2
    /// shows that the input was refused before anything connected.
    func writeClosedPortInventory(_ name: String = "closed.yaml", extra: String = "") throws -> String {
        let path = dir + "/" + name
        try "devices:\n  - { id: 1, name: r1, host: 127.0.0.1, port: 1, vendor: linux, username: u, password: p\(extra) }\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }

    @Test("usage errors exit 2 (not 64): missing --inventory, unknown flag, 'abc' for a number")
    func usageErrorsExit2() throws {
        defer { cleanUp() }
        let inventory = try writeClosedPortInventory()
        let cases: [([String], String)] = [
            (["backup"], "--inventory"),
            (["backup", "--inventory", inventory, "--no-such-flag"], "--no-such-flag"),
            (["backup", "--inventory", inventory, "--max-concurrent", "abc"], "abc"),
            (["tasks", "list", "--page", "abc"], "abc"),
            (["history"], "device-id"),
            (["no-such-command"], "no-such-command"),
        ]
        for (arguments, mention) in cases {
            let (status, _, stderr) = try cli.run(arguments, environment: env)
            #expect(status == 2, "\(arguments): \(status) \(stderr)")
            #expect(stderr.contains(mention), "\(arguments): \(stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: home), "a usage error creates nothing")
        let help = try cli.run(["--help"], environment: env)
        #expect(help.0 == 0)
        let helpText = help.1.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for code in ["0 every device", "1 some or all", "2 bad usage", "3 configs fetched but the archive commit failed", "129/130/143"] {
            #expect(helpText.contains(code), "--help documents \(code)")
        }
    }

    @Test("--filter-vendor with a typo (or a vendor no device has) exits 2 listing the vendors, and stores nothing")
    func unknownFilterVendor() throws {
        defer { cleanUp() }
        let inventory = try writeClosedPortInventory()
        let typo = try cli.run(["backup", "--inventory", inventory, "--filter-vendor", "cisco_iox"], environment: env)
        #expect(typo.0 == 2, "\(typo.2)")
        #expect(typo.2.contains("unknown vendor 'cisco_iox'"))
        #expect(typo.2.contains("cisco_ios") && typo.2.contains("juniper_junos"), "lists the known vendors: \(typo.2)")
        let absent = try cli.run(["backup", "--inventory", inventory, "--filter-vendor", "cisco_ios"], environment: env)
        #expect(absent.0 == 2, "\(absent.2)")
        #expect(absent.2.contains("no device in") && absent.2.contains("vendors there: linux"), "\(absent.2)")
        #expect(!FileManager.default.fileExists(atPath: home + "/tasks"), "no task was stored")
    }

    @Test("reading commands never create a store: a typo in --store exits 2 and creates nothing")
    func readingCommandsDoNotCreate() throws {
        defer { cleanUp() }
        let typo = dir + "/typo/a/b"
        let commands: [[String]] = [
            ["tasks", "list", "--store", typo],
            ["tasks", "list", "--store", typo, "--json"],
            ["tasks", "show", "0000", "--store", typo],
            ["tasks", "cancel", "0000", "--store", typo],
            ["history", "1", "--store", typo],
            ["tasks", "list"],  // the default store under $NETBACKUP_HOME, before any backup
        ]
        for arguments in commands {
            let (status, _, stderr) = try cli.run(arguments, environment: env)
            #expect(status == 2, "\(arguments): \(status) \(stderr)")
            #expect(stderr.contains("no task store at"), "\(arguments): \(stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/typo"))
        #expect(!FileManager.default.fileExists(atPath: home))
        // An existing directory that is not a store is not turned into one either.
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        let other = try cli.run(["tasks", "list", "--store", dir + "/other"], environment: env)
        #expect(other.0 == 2 && other.2.contains("no task journal"), "\(other.2)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/other").isEmpty)
    }

    @Test("a CSV inventory with CRLF line endings and a byte order mark is accepted")
    func crlfCSV() throws {
        defer { cleanUp() }
        let path = dir + "/devices.csv"
        try "\u{FEFF}id,name,host,port,vendor,username,password\r\n1,r1,127.0.0.1,1,linux,admin,secret\r\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let run = try cli.run(["backup", "--inventory", path, "--retries", "0", "--json"], environment: env)
        // Exit 1: the inventory was accepted and the (closed) port tried; 2 would be the old "unknown column 'password⏎'".
        #expect(run.0 == 1, "\(run.2)")
        #expect(!run.2.contains("unknown column"))
        let task = try #require(try JSONSerialization.jsonObject(with: Data(run.1.utf8)) as? [String: Any])
        #expect(task["total"] as? Int == 1)
    }

    @Test("invalid inventories exit 2 before anything connects, naming the file, line and field")
    func invalidInventories() throws {
        defer { cleanUp() }
        let long = String(repeating: "x", count: 300)
        let cases: [(String, String)] = [
            ("devices:\n  - { id: 1, name: \(long), host: 127.0.0.1, port: 1, vendor: linux, username: u }\n", ":2: field 'name': device name"),
            ("devices:\n  - { id: 1, name: '', host: 127.0.0.1, port: 1, vendor: linux, username: u }\n", ":2: field 'name'"),
            ("devices:\n  - { id: ~, host: 127.0.0.1, port: 1, vendor: linux, username: u }\n", ":2: field 'id'"),
            ("devices:\n  - { id: \"1\\n2\", host: 127.0.0.1, port: 1, vendor: linux, username: u }\n", ":2: field 'id'"),
            ("devices:\n  - id: 1\n    id: 2\n    host: 127.0.0.1\n", ":3: field 'id'"),
            ("devices:\n  - { id: 1, host: 127.0.0.1, port: 1, vendor: linux }\n", ":2: field 'username'"),
            ("devices:\n  - { id: 1, name: a, host: 127.0.0.1, port: 1, vendor: linux, username: u }\n  - { id: 2, name: a, host: 127.0.0.1, port: 1, vendor: linux, username: u }\n", ":3: field 'name': duplicate device name"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let path = dir + "/inv\(index).yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let (status, _, stderr) = try cli.run(["backup", "--inventory", path, "--retries", "0"], environment: env)
            #expect(status == 2, "case \(index): \(status) \(stderr)")
            #expect(stderr.contains(path + expected), "case \(index): \(stderr)")
        }
        // The size limit: checked before reading, documented, overridable.
        let inventory = try writeClosedPortInventory()
        let small = try cli.run(["backup", "--inventory", inventory, "--max-inventory-bytes", "20"], environment: env)
        #expect(small.0 == 2 && small.2.contains("too large") && small.2.contains("--max-inventory-bytes"), "\(small.2)")
        #expect(!FileManager.default.fileExists(atPath: home + "/tasks"), "nothing was stored")
    }

    @Test("file-system problems name the path and what to do, never a raw NSCocoaErrorDomain text")
    func fileSystemErrors() throws {
        defer { cleanUp() }
        let inventory = try writeClosedPortInventory()
        let file = dir + "/a-file"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let cases: [([String], [String])] = [
            (["--archive", file], [file, "is a file, not a directory", "--archive"]),
            (["--archive", file + "/sub"], [file + "/sub", "--archive"]),
            (["--archive", "/proc/netbackup-archive"], ["/proc/netbackup-archive", "--archive"]),
            (["--store", file], [file, "not a task store directory", "--store"]),
            (["--store", file + "/sub"], [file + "/sub", "--store"]),
            (["--profiles", dir + "/missing.yaml"], [dir + "/missing.yaml", "no such file"]),
            (["--profiles", file], [file, ".json, .yaml or .yml"]),
            (["--known-hosts", file + "/known_hosts"], [file, "--known-hosts"]),
        ]
        for (extra, mentions) in cases {
            let (status, _, stderr) = try cli.run(["backup", "--inventory", inventory, "--retries", "0"] + extra, environment: env)
            #expect(status == 2, "\(extra): \(status) \(stderr)")
            #expect(!stderr.contains("NSCocoaErrorDomain") && !stderr.contains("Code="), "\(extra): \(stderr)")
            for mention in mentions { #expect(stderr.contains(mention), "\(extra) should mention \(mention): \(stderr)") }
        }
    }

    @Test("the same --idempotency-key with another request exits 2 (IDEMPOTENCY_CONFLICT); the same request returns the earlier task")
    func idempotencyConflict() throws {
        defer { cleanUp() }
        let inventory = try writeClosedPortInventory()
        let base = ["backup", "--inventory", inventory, "--idempotency-key", "nightly-1", "--json", "--retries", "0"]
        let first = try cli.run(base, environment: env)
        #expect(first.0 == 1, "\(first.2)")
        let firstTask = try #require(try JSONSerialization.jsonObject(with: Data(first.1.utf8)) as? [String: Any])
        let conflict = try cli.run(base.dropLast() + ["1"], environment: env)
        #expect(conflict.0 == 2, "\(conflict.2)")
        #expect(conflict.2.contains("IDEMPOTENCY_CONFLICT"), "\(conflict.2)")
        #expect(conflict.2.contains("--idempotency-key"))
        let again = try cli.run(base, environment: env)
        #expect(again.0 == 1, "\(again.2)")
        let againTask = try #require(try JSONSerialization.jsonObject(with: Data(again.1.utf8)) as? [String: Any])
        #expect(againTask["task_id"] as? String == firstTask["task_id"] as? String)
        let list = try cli.run(["tasks", "list", "--json"], environment: env)
        let page = try #require(try JSONSerialization.jsonObject(with: Data(list.1.utf8)) as? [String: Any])
        #expect(page["total"] as? Int == 1)
    }

    @Test("a damaged journal record: tasks list says so, in the listing and on stderr, with the copy's path")
    func damagedRecord() throws {
        defer { cleanUp() }
        let inventory = try writeClosedPortInventory()
        for _ in 0..<2 {
            let run = try cli.run(["backup", "--inventory", inventory, "--retries", "0"], environment: env)
            #expect(run.0 == 1, "\(run.2)")
        }
        let journal = home + "/tasks/journal.jsonl"
        var text = try String(contentsOfFile: journal, encoding: .utf8)
        // Flip one bit inside the first task's creation record (in its device list, away from the task id).
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let createLine = try #require(lines.firstIndex { $0.contains("\"op\":\"create\"") })
        let damaged = lines[createLine].replacingOccurrences(of: "\"device_name\":\"r1\"", with: "\"device_name\":\"s1\"")
        try #require(damaged != String(lines[createLine]))
        text = (lines[..<createLine] + [Substring(damaged)] + lines[(createLine + 1)...]).joined(separator: "\n")
        try text.write(toFile: journal, atomically: false, encoding: .utf8)

        let list = try cli.run(["tasks", "list"], environment: env)
        #expect(list.0 == 0, "\(list.2)")
        #expect(list.1.contains("DAMAGED"), "\(list.1)")
        #expect(list.2.contains("damaged"), "\(list.2)")
        #expect(list.2.contains("journal.jsonl.damaged-"), "the copy's path: \(list.2)")
        #expect(list.2.contains("line \(createLine + 1)"), "where the record was: \(list.2)")
        // Later listings still say so (the copy is found again).
        let again = try cli.run(["tasks", "list", "--json"], environment: env)
        #expect(again.0 == 0)
        let page = try #require(try JSONSerialization.jsonObject(with: Data(again.1.utf8)) as? [String: Any])
        let damage = try #require(page["damage"] as? [String: Any], "\(again.1)")
        #expect((damage["quarantined_tasks"] as? [String])?.count == 1)
        let records = try #require(damage["records"] as? [[String: Any]])
        #expect(records.contains { ($0["copy"] as? String)?.contains("journal.jsonl.damaged-") == true })
        #expect(again.2.contains("cannot be read"), "\(again.2)")
    }
}
