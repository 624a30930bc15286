// Account mail (verification, lockout, reset, high-impact audit mail) is written to the outbox folder first, as in
// embedded mode, and this service relays it over SMTP when TRADEKEEP_SMTP_URL is set: a request never waits for a
// mail server, a crash loses nothing (an unsent message is still a file), and an SMTP outage only delays mail.
// A relayed message is deleted (it may hold a one-time link); one that fails is retried with backoff and, after
// the last attempt, moved to outbox/failed/ and logged.

import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Vault

final class OutboxRelay: Service, Sendable {
    let directory: URL
    let smtp: SMTPMailer
    let logger: Logger
    let poll: Duration
    /// Retries 10 s, 20 s, … 640 s apart (about 21 min in all); the eighth failure moves the message to failed/.
    let retries: RetrySchedule
    private let failures = Mutex([String: (count: Int, next: Date)]())

    init(
        directory: URL,
        smtp: SMTPMailer,
        logger: Logger,
        poll: Duration = .seconds(1),
        retries: RetrySchedule = RetrySchedule(firstRetry: 10, factor: 2, attempts: 8)
    ) {
        self.directory = directory
        self.smtp = smtp
        self.logger = logger
        self.poll = poll
        self.retries = retries
    }

    /// Relay every message that is due; returns how many were sent.
    @discardableResult
    func relayDue(now: Date = Date()) async -> Int {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: self.directory.path)) ?? [])
            .filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted()
        var sent = 0
        for name in names {
            if let failure = self.failures.withLock({ $0[name] }), failure.next > now { continue }
            let file = self.directory.appendingPathComponent(name)
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            guard let recipient = Self.recipient(text) else {
                self.giveUp(name, file: file, reason: "the message has no To: header")
                continue
            }
            do {
                try await self.smtp.deliver(text, to: recipient)
                try? FileManager.default.removeItem(at: file)
                self.failures.withLock { _ = $0.removeValue(forKey: name) }
                sent += 1
            } catch {
                let count = (self.failures.withLock { $0[name]?.count } ?? 0) + 1
                if let next = self.retries.retryAt(after: count, now: now) {
                    self.failures.withLock { $0[name] = (count, next) }
                    self.logger.warning(
                        "mail not relayed; retried",
                        metadata: ["file": .string(name), "attempt": "\(count)", "error": .string(String(describing: error))]
                    )
                } else {
                    self.giveUp(name, file: file, reason: String(describing: error))
                }
            }
        }
        return sent
    }

    func giveUp(_ name: String, file: URL, reason: String) {
        let failed = self.directory.appendingPathComponent("failed")
        try? SecureFile.ensureDirectory(failed)
        try? FileManager.default.moveItem(at: file, to: failed.appendingPathComponent(name))
        self.failures.withLock { _ = $0.removeValue(forKey: name) }
        self.logger.error("mail not relayed; given up", metadata: ["file": .string("failed/\(name)"), "error": .string(reason)])
    }

    /// The address in the message's To: header (which the outbox wrote, one recipient, no line breaks).
    static func recipient(_ text: String) -> String? {
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.isEmpty { return nil }
            if line.hasPrefix("To: ") { return String(line.dropFirst(4)) }
        }
        return nil
    }

    func run() async throws {
        try SecureFile.ensureDirectory(self.directory)
        while !Task.isCancelledOrShuttingDown {
            await self.relayDue()
            try? await Task.sleep(for: self.poll)
        }
        // What is due at shutdown goes out before the process ends.
        await self.relayDue()
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
