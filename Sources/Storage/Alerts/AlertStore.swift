// Alerts, their deduplication, their deliveries and the scanner's reading position. Raising an alert is one
// transaction: the (kind, subject) dedup row is claimed by one atomic upsert (so two scanners, or a scanner and a
// key check, racing on the same episode store one alert), the alert and one delivery row per recipient are
// inserted, and the `alert.raised` audit entry commits with them.

import AuditLog
import FluentKit
import Foundation
import Guard
import Logging
import SQLKit

public struct AlertRecord: Sendable, Equatable, Codable {
    public let id: UUID
    public let userID: UUID?
    public let kind: String
    public let subject: String
    public let message: String
    public let details: [String: String]
    public let createdAt: Date
    public let acknowledgedAt: Date?
}

/// A way an alert reaches a person.
public enum AlertChannel: String, Sendable, Codable, Hashable {
    case email
    case telegram
}

/// Where a delivery stands: waiting for its (next) attempt, done, or given up after the last retry.
public enum DeliveryStatus: String, Sendable, Codable {
    case pending
    case delivered
    case failed
}

/// Where one alert goes: a channel and an address on it.
public struct AlertRecipient: Sendable, Hashable {
    public let channel: AlertChannel
    public let recipient: String

    public init(channel: AlertChannel, recipient: String) {
        self.channel = channel
        self.recipient = recipient
    }
}

public struct AlertDelivery: Sendable, Equatable {
    public let id: UUID
    public let alertID: UUID
    public let channel: AlertChannel
    public let recipient: String
    public let status: DeliveryStatus
    public let attempts: Int
    public let lastError: String?
}

public struct AlertStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.sql(logger: self.logger) }

    // MARK: Raising

    /// Store `anomaly` as an alert unless one of the same kind and subject was raised within `dedupWindow`; returns
    /// the alert when stored.
    public func raise(_ anomaly: Anomaly, recipients: [AlertRecipient], dedupWindow: TimeInterval, now: Date) async throws -> AlertRecord? {
        let details = String(decoding: try JSONEncoder.sorted.encode(anomaly.details), as: UTF8.self)
        return try await self.database.transaction(logger: self.logger) { transaction in
            let claimed = try await transaction.sql.raw(
                """
                INSERT INTO alert_dedup (kind, subject, last_at) VALUES (\(bind: anomaly.kind.rawValue), \(bind: anomaly.subject), \(bind: now))
                ON CONFLICT (kind, subject) DO UPDATE SET last_at = excluded.last_at
                WHERE alert_dedup.last_at <= \(bind: now.addingTimeInterval(-dedupWindow))
                RETURNING kind
                """
            ).all()
            guard !claimed.isEmpty else { return nil }
            let alert = AlertRecord(
                id: UUID(),
                userID: anomaly.userID,
                kind: anomaly.kind.rawValue,
                subject: anomaly.subject,
                message: anomaly.message,
                details: anomaly.details,
                createdAt: now,
                acknowledgedAt: nil
            )
            try await transaction.sql.insert(into: "alerts")
                .columns("id", "user_id", "kind", "subject", "message", "details", "created_at")
                .values(
                    SQLBind(alert.id),
                    SQLBind(alert.userID),
                    SQLBind(alert.kind),
                    SQLBind(alert.subject),
                    SQLBind(alert.message),
                    SQLBind(details),
                    SQLBind(now)
                )
                .run()
            for target in Set(recipients) {
                try await transaction.sql.insert(into: "alert_deliveries")
                    .columns("id", "alert_id", "channel", "recipient", "status", "attempts", "next_attempt_at", "updated_at")
                    .values(
                        SQLBind(UUID()),
                        SQLBind(alert.id),
                        SQLBind(target.channel.rawValue),
                        SQLBind(target.recipient),
                        SQLBind(DeliveryStatus.pending.rawValue),
                        SQLBind(0),
                        SQLBind(now),
                        SQLBind(now)
                    )
                    .run()
            }
            try await transaction.record(
                AuditEvent(
                    .alertRaised,
                    user: anomaly.userID,
                    client: .scanner,
                    ["alert_id": alert.id.uuidString.lowercased(), "kind": alert.kind, "recipients": String(Set(recipients).count)],
                    at: now
                )
            )
            return alert
        }
    }

    // MARK: Reading

    struct AlertRow: Decodable {
        var id: UUID
        var userId: UUID?
        var kind: String
        var subject: String
        var message: String
        var details: String
        var createdAt: Date
        var acknowledgedAt: Date?

        var record: AlertRecord {
            AlertRecord(
                id: self.id,
                userID: self.userId,
                kind: self.kind,
                subject: self.subject,
                message: self.message,
                details: (try? JSONDecoder().decode([String: String].self, from: Data(self.details.utf8))) ?? [:],
                createdAt: self.createdAt,
                acknowledgedAt: self.acknowledgedAt
            )
        }
    }

    static let columns = ["id", "user_id", "kind", "subject", "message", "details", "created_at", "acknowledged_at"]

    /// Alerts newest first, `limit` at most, after the alert `before` (a page's last) when given; one user's, or
    /// every alert (`nil`). Nil when `before` names no alert of theirs.
    public func alerts(userID: UUID?, before: UUID? = nil, limit: Int) async throws -> [AlertRecord]? {
        var query = try self.sql().select().columns(Self.columns.map { SQLIdentifier($0) }).from("alerts")
        if let userID { query = query.where("user_id", .equal, userID) }
        if let before {
            guard let last = try await self.alert(id: before), userID == nil || last.userID == userID else { return nil }
            // Compared in SQL with the stored time (a date read back and bound again may not be equal to itself).
            let time = SQLQueryString("(SELECT created_at FROM alerts WHERE id = \(bind: last.id))")
            query = query.where(
                SQLQueryString("(created_at < \(time) OR (created_at = \(time) AND id < \(bind: last.id)))")
            )
        }
        return try await query.orderBy("created_at", .descending).orderBy("id", .descending).limit(limit)
            .all(decoding: AlertRow.self, keyDecodingStrategy: .convertFromSnakeCase).map(\.record)
    }

    /// One user's alerts newer than their alert `after`, oldest first: what a live poll has not shown yet, in one
    /// indexed read (nothing when `after` is not one of theirs).
    public func alerts(userID: UUID, after: UUID, limit: Int) async throws -> [AlertRecord] {
        let time = SQLQueryString("(SELECT created_at FROM alerts WHERE id = \(bind: after) AND user_id = \(bind: userID))")
        return try await self.sql().select().columns(Self.columns.map { SQLIdentifier($0) }).from("alerts").where("user_id", .equal, userID)
            .where(SQLQueryString("(created_at > \(time) OR (created_at = \(time) AND id > \(bind: after)))"))
            .orderBy("created_at", .ascending).orderBy("id", .ascending).limit(limit)
            .all(decoding: AlertRow.self, keyDecodingStrategy: .convertFromSnakeCase).map(\.record)
    }

    public func alert(id: UUID) async throws -> AlertRecord? {
        try await self.sql().select().columns(Self.columns.map { SQLIdentifier($0) }).from("alerts").where("id", .equal, id)
            .first(decoding: AlertRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record
    }

    /// Mark one of the user's alerts read; false when the user has no such alert. Audited once.
    public func acknowledge(id: UUID, userID: UUID, client: ClientInfo, now: Date) async throws -> Bool {
        try await self.database.transaction(logger: self.logger) { transaction in
            let rows = try await transaction.sql.raw(
                """
                UPDATE alerts SET acknowledged_at = \(bind: now)
                WHERE id = \(bind: id) AND user_id = \(bind: userID) AND acknowledged_at IS NULL RETURNING id
                """
            ).all()
            if !rows.isEmpty {
                try await transaction.record(
                    AuditEvent(.alertAcknowledged, user: userID, client: client, ["alert_id": id.uuidString.lowercased()], at: now)
                )
                return true
            }
            return try await transaction.sql.select().column("id").from("alerts").where("id", .equal, id).where("user_id", .equal, userID)
                .first() != nil
        }
    }

    // MARK: Deliveries

    /// Deliveries due now: pending, and their next attempt reached; oldest first.
    public func dueDeliveries(now: Date, limit: Int) async throws -> [AlertDelivery] {
        try await self.deliveries { $0.where("status", .equal, DeliveryStatus.pending.rawValue).where("next_attempt_at", .lessThanOrEqual, now) }
            .prefix(limit).map { $0 }
    }

    public func deliveries(alertID: UUID) async throws -> [AlertDelivery] {
        try await self.deliveries { $0.where("alert_id", .equal, alertID) }
    }

    func deliveries(_ filter: (SQLSelectBuilder) -> SQLSelectBuilder) async throws -> [AlertDelivery] {
        struct Row: Decodable {
            var id: UUID
            var alertId: UUID
            var channel: AlertChannel
            var recipient: String
            var status: DeliveryStatus
            var attempts: Int
            var lastError: String?
        }
        let query = try self.sql().select().columns("id", "alert_id", "channel", "recipient", "status", "attempts", "last_error")
            .from("alert_deliveries")
        return try await filter(query).orderBy("next_attempt_at").all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase).map {
            AlertDelivery(
                id: $0.id,
                alertID: $0.alertId,
                channel: $0.channel,
                recipient: $0.recipient,
                status: $0.status,
                attempts: $0.attempts,
                lastError: $0.lastError
            )
        }
    }

    /// Record one attempt: delivered, or failed with `error` and tried again at `retryAt` (nil: given up). The
    /// outcome is audited once it is final. Only a pending delivery changes (two workers never both settle one).
    public func settle(
        _ delivery: AlertDelivery,
        userID: UUID?,
        error: String?,
        retryAt: Date?,
        now: Date
    ) async throws {
        let status: DeliveryStatus = error == nil ? .delivered : (retryAt == nil ? .failed : .pending)
        try await self.database.transaction(logger: self.logger) { transaction in
            let rows = try await transaction.sql.raw(
                """
                UPDATE alert_deliveries SET status = \(bind: status.rawValue), attempts = attempts + 1, last_error = \(bind: error),
                  next_attempt_at = \(bind: retryAt ?? now), updated_at = \(bind: now)
                WHERE id = \(bind: delivery.id) AND status = \(bind: DeliveryStatus.pending.rawValue) AND attempts = \(bind: delivery.attempts) RETURNING id
                """
            ).all()
            guard !rows.isEmpty, status != .pending else { return }
            try await transaction.record(
                AuditEvent(
                    status == .delivered ? .alertDelivered : .alertDeliveryFailed,
                    user: userID,
                    client: .scanner,
                    [
                        "alert_id": delivery.alertID.uuidString.lowercased(), "channel": delivery.channel.rawValue,
                        "attempts": String(delivery.attempts + 1),
                    ],
                    at: now
                )
            )
        }
    }

    /// An event that changes nothing else (a scan requested).
    public func record(_ event: AuditEvent) async throws {
        try await DatabaseAuditSink(database: self.database, logger: self.logger).record(event)
    }

    // MARK: Recipients

    /// The email address of each of `users` (active accounts only), and of every active admin.
    public func emails(of users: Set<UUID>) async throws -> (users: [UUID: String], admins: [(id: UUID, email: String)]) {
        struct Row: Decodable {
            var id: UUID
            var email: String
            var role: String
        }
        var query = try self.sql().select().columns("id", "email", "role").from("users").where("status", .equal, "active")
        query = query.where { group in
            var group = group.where("role", .equal, "admin")
            for batch in Array(users).chunked(500) { group = group.orWhere("id", .in, Array(batch)) }
            return group
        }
        let rows = try await query.all(decoding: Row.self)
        var byUser: [UUID: String] = [:]
        for row in rows where users.contains(row.id) { byUser[row.id] = row.email }
        return (byUser, rows.filter { $0.role == "admin" }.map { ($0.id, $0.email) }.sorted { $0.email < $1.email })
    }

    // MARK: The scanner's position

    public func scannedUntil(_ name: String = "anomaly") async throws -> Date? {
        struct Row: Decodable { var scannedUntil: Date? }
        return try await self.sql().select().column("scanned_until").from("anomaly_scans").where("name", .equal, name)
            .first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)?.scannedUntil
    }

    public func setScannedUntil(_ date: Date, name: String = "anomaly", in sql: (any SQLDatabase)? = nil) async throws {
        try await (sql ?? self.sql()).raw(
            """
            INSERT INTO anomaly_scans (name, scanned_until) VALUES (\(bind: name), \(bind: date))
            ON CONFLICT (name) DO UPDATE SET scanned_until = excluded.scanned_until
            """
        ).run()
    }
}
