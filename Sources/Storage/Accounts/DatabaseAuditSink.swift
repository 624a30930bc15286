// Audit events in a plain table. The audit-log issue replaces the table with the signed, hash-chained log.

import AuditLog
import Foundation
import Logging
import SQLKit

public struct DatabaseAuditSink: AuditSink {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func record(_ event: AuditEvent) async throws {
        let details = String(decoding: try JSONEncoder.sorted.encode(event.details), as: UTF8.self)
        let sql = try self.database.database(logger: self.logger) as! any SQLDatabase
        try await sql.insert(into: "audit_events")
            .columns("id", "user_id", "action", "ip", "user_agent", "details", "created_at")
            .values(
                SQLBind(UUID()),
                SQLBind(event.userID),
                SQLBind(event.action.rawValue),
                SQLBind(event.ip),
                SQLBind(event.userAgent.map { String($0.prefix(512)) }),
                SQLBind(details),
                SQLBind(event.at)
            )
            .run()
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
        let sql = try self.database.database(logger: self.logger) as! any SQLDatabase
        return try await sql.select().column("*").from("audit_events").where("user_id", .equal, userID)
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
