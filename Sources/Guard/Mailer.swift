// Outgoing mail behind one protocol: the embedded outbox folder now, SMTP with the alerts issue.

import Foundation
import Logging
import Vault

public struct MailMessage: Sendable, Equatable {
    public let to: String
    public let subject: String
    public let body: String

    public init(to: String, subject: String, body: String) {
        self.to = to
        self.subject = subject
        self.body = body
    }
}

public protocol Mailer: Sendable {
    func send(_ message: MailMessage) async throws
}

/// Embedded mode: each message becomes `<data-dir>/outbox/<time>-<id>.eml` (0600), and a log line names the
/// file — never its contents, which may hold a one-time link.
public struct OutboxMailer: Mailer {
    public let directory: URL
    let sender: String
    let logger: Logger

    public init(directory: URL, sender: String, logger: Logger) {
        self.directory = directory
        self.sender = sender
        self.logger = logger
    }

    public func send(_ message: MailMessage) async throws {
        try SecureFile.ensureDirectory(self.directory)
        let now = Date()
        let stamp = now.formatted(
            .iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false).timeSeparator(.omitted)
        )
        let file = self.directory.appendingPathComponent("\(stamp)-\(UUID().uuidString.lowercased().prefix(8)).eml")
        let text = Self.render(message, from: self.sender, date: now)
        try SecureFile.write(Array(text.utf8), to: file)
        self.logger.notice("mail written to outbox", metadata: ["file": .string(file.path), "mail.subject": .string(message.subject)])
    }

    /// RFC 5322 with CRLF line ends; header values are stripped of line breaks (no header injection).
    public static func render(_ message: MailMessage, from sender: String, date: Date) -> String {
        func header(_ value: String) -> String { value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ") }
        let lines =
            [
                "From: \(header(sender))",
                "To: \(header(message.to))",
                "Subject: \(header(message.subject))",
                "Date: \(rfc5322Date(date))",
                "Message-ID: <\(UUID().uuidString.lowercased())@tradekeep>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: 8bit",
                "",
            ] + message.body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
