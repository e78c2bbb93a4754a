import BackupModels
import DeviceTransport
import Foundation
import Logging
import Testing

@testable import VendorProfiles

/// Runs backups against scripted devices.
enum Harness {
    static func device(vendor: String, name: String = "lab-device") -> Device {
        Device(id: 1, name: name, host: "192.0.2.10", vendor: vendor)
    }

    static let plainCredentials = Credentials(username: "backup", password: "login-pw-Xy7")

    struct Run {
        let result: Result<String, BackupError>
        let shell: ScriptedShell?
        let session: ScriptedSession
        let logs: LogRecorder

        var config: String {
            get throws {
                switch result {
                case .success(let text): return text
                case .failure(let error): throw error
                }
            }
        }

        var error: BackupError? {
            if case .failure(let error) = result { return error }
            return nil
        }
    }

    /// Backs up a scripted shell device.
    static func shell(
        vendor: String, script: DeviceScript, credentials: Credentials = plainCredentials, scrub: Bool = false,
        chunkSize: Int = 17, registry: VendorProfileRegistry = VendorProfileRegistry(),
        limits: CLISessionLimits = .init(commandTimeout: .seconds(30), loginTimeout: .seconds(20)),
        clock: TestClock = TestClock(), onRead: (@Sendable () -> Void)? = nil
    ) async -> Run {
        let shell = ScriptedShell(script, chunkSize: chunkSize, onRead: onRead)
        let session = ScriptedSession(shell: shell)
        return await backup(
            vendor: vendor, session: session, shell: shell, credentials: credentials, scrub: scrub, registry: registry,
            limits: limits, clock: clock)
    }

    /// Backs up a scripted exec device.
    static func exec(
        vendor: String, replies: [String: ScriptedSession.ExecReply], credentials: Credentials = plainCredentials,
        scrub: Bool = false, registry: VendorProfileRegistry = VendorProfileRegistry()
    ) async -> Run {
        let session = ScriptedSession(exec: replies)
        return await backup(
            vendor: vendor, session: session, shell: nil, credentials: credentials, scrub: scrub, registry: registry,
            limits: .init(), clock: TestClock())
    }

    private static func backup(
        vendor: String, session: ScriptedSession, shell: ScriptedShell?, credentials: Credentials, scrub: Bool,
        registry: VendorProfileRegistry, limits: CLISessionLimits, clock: TestClock
    ) async -> Run {
        let logs = LogRecorder()
        let retriever = ProfileConfigRetriever(
            registry: registry, options: .init(scrubSecrets: scrub, limits: limits), clock: clock)
        let device = device(vendor: vendor)
        do {
            let config = try await retriever.retrieveConfig(
                from: session, device: device, credentials: credentials, logger: logs.logger())
            return Run(result: .success(config.text), shell: shell, session: session, logs: logs)
        } catch let error as BackupError {
            return Run(result: .failure(error), shell: shell, session: session, logs: logs)
        } catch {
            return Run(result: .failure(BackupError.wrapping(error)), shell: shell, session: session, logs: logs)
        }
    }
}

extension DeviceScript {
    /// The device waits for `command`, echoes it and sends `body` in pages of `linesPerPage` lines, each
    /// followed by `mark`; after the client answers `answer`, it sends `erase` and the next page. The last
    /// page is followed by `prompt`.
    mutating func pagedCommand(
        _ command: String, body: String, prompt: String, mark: String, erase: String, answer: String = " ",
        linesPerPage: Int = 8, newline: String = "\n"
    ) {
        expect(command + newline)
        let lines = body.components(separatedBy: "\r\n")
        var pages: [String] = []
        var index = 0
        while index < lines.count {
            let end = min(lines.count, index + linesPerPage)
            pages.append(lines[index..<end].joined(separator: "\r\n"))
            index = end
        }
        // `body` ends with "\r\n": the last element is empty and belongs to the last page.
        for (number, page) in pages.enumerated() {
            let isFirst = number == 0
            let isLast = number == pages.count - 1
            var text = isFirst ? command + "\r\n" : erase
            text += page
            if isLast {
                text += prompt
                send(text)
            } else {
                text += "\r\n" + mark
                send(text)
                expect(answer)
            }
        }
    }
}

/// Text with `\n` line ends turned into the `\r\n` a PTY sends.
func crlf(_ text: String) -> String { text.replacingOccurrences(of: "\n", with: "\r\n") }
