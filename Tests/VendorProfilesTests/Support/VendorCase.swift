import BackupModels
import Foundation
import Testing

/// A realistic session with one built-in shell profile's device, and what the backup must be.
struct ShellVendorCase: Sendable, CustomTestStringConvertible {
    let vendor: String
    var credentials: Credentials = Harness.plainCredentials
    /// The conversation. `variant` changes what changes between runs of an unchanged device (banners,
    /// timestamps, volatile lines); `pagingRefused` makes the device reject its paging command and page
    /// the backup output.
    let build: @Sendable (_ variant: Int, _ pagingRefused: Bool) -> DeviceScript
    /// The backup, byte for byte.
    let expected: String
    /// Secret values in the configuration that scrubbing must remove.
    let secrets: [String]
    /// What the client sends at logout.
    var logout = "exit\n"
    /// A session whose configuration is cut short (the profile's guard must notice).
    let truncated: @Sendable () -> DeviceScript

    var testDescription: String { vendor }
}

extension DeviceScript {
    /// Sends `command`'s `body` followed by `prompt`, paged when `paged`.
    mutating func backupCommand(
        _ command: String, body: String, prompt: String, paged: Bool, mark: String, erase: String,
        linesPerPage: Int = 6, newline: String = "\n"
    ) {
        if paged {
            pagedCommand(
                command, body: body, prompt: prompt, mark: mark, erase: erase, linesPerPage: linesPerPage,
                newline: newline)
        } else {
            self.command(command, reply: body + prompt, newline: newline)
        }
    }
}

/// The first `fraction` of the lines of `body` (CRLF), for truncated sessions.
func cutShort(_ body: String, keeping fraction: Double = 0.5) -> String {
    let lines = body.components(separatedBy: "\r\n")
    let kept = max(1, Int(Double(lines.count) * fraction))
    return lines.prefix(kept).joined(separator: "\r\n") + "\r\n"
}

/// `count` backspaces.
func backspaces(_ count: Int) -> String { String(repeating: "\u{8}", count: count) }
