// Alerts (SPEC §7): the anomaly scanner's reporter and the delivery worker. Reporting only writes rows (the alert,
// its dedup claim, one delivery per recipient, the audit entry) and wakes the worker, so a channel that is down
// never holds up the scanner or a request. The worker sends due deliveries concurrently, each under a time limit,
// and records every attempt; a failed one is retried with exponential backoff, then given up and audited.

import AuditLog
import Foundation
import Guard
import Logging
import ServiceLifecycle
import Storage
import Venues

struct AlertDeliveryPolicy: Sendable {
    /// Retries 30 s, 2 min, 8 min, 32 min, ~2 h after the failed attempts; the sixth failure is final.
    var retries = RetrySchedule(firstRetry: 30, factor: 4, attempts: 6)
    /// How long one attempt may take.
    var timeout: Duration = .seconds(30)
    /// How often the worker looks for due retries when nothing wakes it.
    var poll: Duration = .seconds(5)
}

final class AlertService: AnomalyReporter, Service, Sendable {
    let store: AlertStore
    let mailer: any Mailer
    /// Telegram, when configured: the client and the linked chats.
    let telegram: (client: TelegramClient, links: TelegramStore)?
    let policy: AlertDeliveryPolicy
    let dedupWindow: TimeInterval
    let logger: Logger
    let now: @Sendable () -> Date
    /// Called with each stored alert (the dashboard's live sockets).
    let published: @Sendable (AlertRecord) -> Void
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(
        store: AlertStore,
        mailer: any Mailer,
        telegram: (client: TelegramClient, links: TelegramStore)? = nil,
        policy: AlertDeliveryPolicy = AlertDeliveryPolicy(),
        dedupWindow: TimeInterval = 1_800,
        logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() },
        published: @escaping @Sendable (AlertRecord) -> Void = { _ in }
    ) {
        self.store = store
        self.mailer = mailer
        self.telegram = telegram
        self.policy = policy
        self.dedupWindow = dedupWindow
        self.logger = logger
        self.now = now
        self.published = published
        (self.wakeUps, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Reporting

    func report(_ anomalies: [Anomaly], now: Date) async throws -> Int {
        let emails = try await self.store.emails(of: Set(anomalies.compactMap(\.userID)))
        let chats = try await self.telegram?.links.chats(of: Array(Set(anomalies.compactMap(\.userID))) + emails.admins.map(\.id)) ?? [:]
        var stored = 0
        for anomaly in anomalies {
            // The owner on every channel they have, and, in parallel, every admin on theirs.
            var recipients = emails.admins.map { AlertRecipient(channel: .email, recipient: $0.email) }
            recipients += emails.admins.compactMap { chats[$0.id].map { AlertRecipient(channel: .telegram, recipient: String($0)) } }
            if let user = anomaly.userID, let email = emails.users[user] { recipients.append(AlertRecipient(channel: .email, recipient: email)) }
            if let user = anomaly.userID, let chat = chats[user] { recipients.append(AlertRecipient(channel: .telegram, recipient: String(chat))) }
            guard let alert = try await self.store.raise(anomaly, recipients: recipients, dedupWindow: self.dedupWindow, now: now) else { continue }
            stored += 1
            self.published(alert)
        }
        if stored > 0 { self.wake.yield() }
        return stored
    }

    /// A re-check disabled a key: its owner (and the admins) are told what changed and how to fix it.
    func keyDisabled(_ record: CredentialRecord, reason: String, stoppedBots: Int) async {
        let now = self.now()
        let stopped =
            stoppedBots == 0 ? "" : " \(stoppedBots) bot\(stoppedBots == 1 ? "" : "s") trading with it stopped and their orders were cancelled."
        let anomaly = Anomaly(
            kind: .keyDisabled,
            userID: record.userID,
            subject: "\(record.userID.uuidString.lowercased()):\(record.id.uuidString.lowercased())",
            message: "Your \(record.venue.displayName) key \u{201C}\(record.label)\u{201D} (\(record.keyHint)) was disabled: \(reason)\(stopped)",
            details: ["credential_id": record.id.uuidString.lowercased(), "venue": record.venue.rawValue, "bots_stopped": String(stoppedBots)],
            time: now
        )
        do {
            _ = try await self.report([anomaly], now: now)
        } catch {
            self.logger.error("key-disabled alert not stored", metadata: ["error": .string(String(describing: error))])
        }
    }

    // MARK: Reading

    /// A page of one user's alerts (`owner`), or of everyone's (nil: the admin feed); nil when `before` is not one
    /// of theirs.
    func alerts(of owner: UUID?, before: UUID?, limit: Int) async throws -> [AlertRecord]? {
        try await self.store.alerts(userID: owner, before: before, limit: limit)
    }

    /// The owner's alerts newer than their alert `after`, oldest first.
    func alerts(of owner: UUID, after: UUID, limit: Int) async throws -> [AlertRecord] {
        try await self.store.alerts(userID: owner, after: after, limit: limit)
    }

    /// Mark one of the owner's alerts read; false when they have no such alert.
    func acknowledge(_ id: UUID, owner: UUID, client: ClientInfo) async throws -> Bool {
        try await self.store.acknowledge(id: id, userID: owner, client: client, now: self.now())
    }

    /// An admin asked for a scan now: audited.
    func scanRequested(by admin: UUID, client: ClientInfo) async throws {
        try await self.store.record(AuditEvent(.anomalyScanRequested, user: admin, client: client, at: self.now()))
    }

    // MARK: Delivering

    /// Send every due delivery at once; returns how many were attempted.
    @discardableResult
    func deliverDue() async throws -> Int {
        let now = self.now()
        let due = try await self.store.dueDeliveries(now: now, limit: 200)
        guard !due.isEmpty else { return 0 }
        await withTaskGroup(of: Void.self) { group in
            for delivery in due { group.addTask { await self.deliver(delivery) } }
        }
        return due.count
    }

    func deliver(_ delivery: AlertDelivery) async {
        do {
            guard let alert = try await self.store.alert(id: delivery.alertID) else { return }
            var failure: String?
            do {
                try await self.send(alert, to: delivery)
            } catch {
                failure = Self.describe(error)
                self.logger.warning(
                    "alert delivery failed",
                    metadata: ["channel": .string(delivery.channel.rawValue), "attempt": "\(delivery.attempts + 1)", "error": .string(failure!)]
                )
            }
            let now = self.now()
            try await self.store.settle(
                delivery,
                userID: alert.userID,
                error: failure,
                retryAt: failure == nil ? nil : self.policy.retries.retryAt(after: delivery.attempts + 1, now: now),
                now: now
            )
        } catch {
            self.logger.error("alert delivery not recorded", metadata: ["error": .string(String(describing: error))])
        }
    }

    func send(_ alert: AlertRecord, to delivery: AlertDelivery) async throws {
        switch delivery.channel {
        case .email:
            let message = Self.mail(alert, to: delivery.recipient)
            let mailer = self.mailer
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await mailer.send(message) }
                group.addTask {
                    try await Task.sleep(for: self.policy.timeout)
                    throw DeliveryTimeout()
                }
                try await group.next()
                group.cancelAll()
            }
        case .telegram:
            guard let telegram = self.telegram, let chat = Int64(delivery.recipient) else { throw UnknownChannel(channel: delivery.channel) }
            let about = alert.userID == nil ? " (server)" : ""
            try await telegram.client.send(chatID: chat, text: "\u{26A0}\u{FE0F} Tradekeep alert\(about): \(alert.message)")
        }
    }

    struct DeliveryTimeout: Error, CustomStringConvertible {
        var description: String { "the channel did not answer in time" }
    }

    struct UnknownChannel: Error, CustomStringConvertible {
        let channel: AlertChannel
        var description: String { "no \(self.channel.rawValue) channel is configured" }
    }

    /// What is recorded about a failure: the error's own description, never more than a line.
    static func describe(_ error: any Error) -> String {
        String(String(describing: error).split(separator: "\n").first ?? "").prefix(200).description
    }

    static func mail(_ alert: AlertRecord, to recipient: String) -> MailMessage {
        let about = alert.userID.map { "account \($0.uuidString.lowercased())" } ?? "the server"
        let body = """
            \(alert.message)

            Alert: \(alert.kind) (\(about)), \(alert.createdAt.formatted(.iso8601)).

            If this was you, acknowledge the alert on the dashboard's Alerts page. If it was not, stop trading now \
            (the kill switch on the dashboard's home page), change your password and review your exchange keys.
            """
        return MailMessage(to: recipient, subject: "Tradekeep alert: \(alert.kind.replacingOccurrences(of: "_", with: " "))", body: body)
    }

    func run() async throws {
        let poll = self.policy.poll
        let wake = self.wake
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: poll)
                    wake.yield()
                }
            }
            for await _ in self.wakeUps.cancelOnGracefulShutdown() {
                do {
                    try await self.deliverDue()
                } catch {
                    self.logger.error("alert deliveries not read", metadata: ["error": .string(String(describing: error))])
                }
            }
            group.cancelAll()
        }
    }
}
