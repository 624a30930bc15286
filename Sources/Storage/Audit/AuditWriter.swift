// Audit entries are written inside the transaction of the change they record, as `pending` rows that the
// signed log (the audit-log issue) sequences. If the transaction fails, neither the change nor its entry exists.

import AuditLog
import FluentKit
import Foundation
import Logging
import SQLKit
import Synchronization

/// Appends audit entries to the database within a transaction the caller opened.
public protocol AuditWriter: Sendable {
    func append(_ events: [AuditEvent], in transaction: any SQLDatabase) async throws
}

/// The default writer: one `pending` row per entry in `audit_events`.
public struct PendingAuditWriter: AuditWriter {
    public init() {}

    public func append(_ events: [AuditEvent], in transaction: any SQLDatabase) async throws {
        guard !events.isEmpty else { return }
        var insert = transaction.insert(into: "audit_events")
            .columns("id", "user_id", "action", "ip", "user_agent", "details", "created_at", "state")
        for event in events {
            let details = String(decoding: try JSONEncoder.sorted.encode(event.details), as: UTF8.self)
            insert = insert.values(
                SQLBind(UUID()),
                SQLBind(event.userID),
                SQLBind(event.action.rawValue),
                SQLBind(event.ip),
                SQLBind(event.userAgent.map { String($0.prefix(512)) }),
                SQLBind(details),
                SQLBind(event.at),
                SQLBind("pending")
            )
        }
        try await insert.run()
    }
}

/// A transaction that can record the audit entries of the change it makes.
public struct AuditedTransaction: Sendable {
    public let sql: any SQLDatabase
    let writer: any AuditWriter
    let recorded: RecordedFlag

    public func record(_ events: [AuditEvent]) async throws {
        try await self.writer.append(events, in: self.sql)
        if !events.isEmpty { self.recorded.value.withLock { $0 = true } }
    }

    public func record(_ event: AuditEvent) async throws {
        try await self.writer.append([event], in: self.sql)
    }
}

extension TradekeepDatabase {
    /// Run `body` in one transaction; entries it records commit or roll back with its changes. Once entries are
    /// committed, the sequencer is woken (`auditCommits`).
    public func transaction<T: Sendable>(logger: Logger, _ body: @escaping @Sendable (AuditedTransaction) async throws -> T) async throws -> T {
        let writer = self.auditWriter
        let recorded = RecordedFlag()
        let result = try await self.database(logger: logger).transaction { transaction in
            try await body(AuditedTransaction(sql: transaction as! any SQLDatabase, writer: writer, recorded: recorded))
        }
        if recorded.value.withLock({ $0 }) { self.auditCommits.signal() }
        return result
    }
}

/// Events that change nothing else (a refused login, a rejected key): each in its own transaction.
public struct DatabaseAuditSink: AuditSink {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func record(_ event: AuditEvent) async throws {
        try await self.database.transaction(logger: self.logger) { try await $0.record(event) }
    }

    /// A user's events, oldest first.
    public func events(userID: UUID, limit: Int = 500) async throws -> [StoredAuditEvent] {
        struct Row: Decodable {
            var id: UUID
            var userId: UUID?
            var action: String
            var ip: String?
            var userAgent: String?
            var details: String
            var createdAt: Date
        }
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().columns("id", "user_id", "action", "ip", "user_agent", "details", "created_at").from("audit_events")
            .where("user_id", .equal, userID)
            .orderBy("created_at").limit(limit)
            .all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
            .map { row in
                let details = (try? JSONDecoder().decode([String: String].self, from: Data(row.details.utf8))) ?? [:]
                return StoredAuditEvent(
                    id: row.id,
                    userID: row.userId,
                    action: row.action,
                    ip: row.ip,
                    userAgent: row.userAgent,
                    details: details,
                    createdAt: row.createdAt
                )
            }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

/// Wakes the audit sequencer when a transaction committed entries: an idle server does no sequencing work at all
/// (dozens of applications polling one SQLite thread pool starved each other's requests).
public final class AuditCommitSignal: Sendable {
    private let continuation: AsyncStream<Void>.Continuation
    /// One element per wake-up; signals while the sequencer works coalesce into one.
    public let wakeUps: AsyncStream<Void>

    public init() {
        (self.wakeUps, self.continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func signal() {
        self.continuation.yield()
    }
}

/// Whether a transaction recorded audit entries.
final class RecordedFlag: Sendable {
    let value = Mutex(false)
}
