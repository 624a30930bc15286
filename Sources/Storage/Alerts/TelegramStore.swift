// Telegram links: a code made for a signed-in user (stored hashed, single use, 10 minutes) is sent by a chat as
// `/start <code>`; one atomic delete-and-return consumes it, and the chat is linked to that user (one chat per
// account, one account per chat).

import AuditLog
import FluentKit
import Foundation
import Logging
import SQLKit

public struct TelegramStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.sql(logger: self.logger) }

    /// A new link code for `userID` (earlier unused ones are dropped).
    public func createLinkCode(userID: UUID, codeHash: String, expiresAt: Date) async throws {
        try await self.database.transaction(logger: self.logger) { transaction in
            try await transaction.sql.delete(from: "telegram_link_codes").where("user_id", .equal, userID).run()
            try await transaction.sql.insert(into: "telegram_link_codes").columns("code_hash", "user_id", "expires_at")
                .values(SQLBind(codeHash), SQLBind(userID), SQLBind(expiresAt)).run()
        }
    }

    /// Consume a code and link `chatID` to its user, with the audit entry; nil when the code is unknown, used or expired.
    public func link(codeHash: String, chatID: Int64, now: Date, audit: @escaping @Sendable (UUID) -> AuditEvent) async throws -> UUID? {
        try await self.database.transaction(logger: self.logger) { transaction in
            let rows = try await transaction.sql.raw(
                "DELETE FROM telegram_link_codes WHERE code_hash = \(bind: codeHash) AND expires_at > \(bind: now) RETURNING user_id"
            ).all()
            guard let userID = try rows.first?.decode(column: "user_id", as: UUID.self) else { return nil }
            try await transaction.sql.delete(from: "telegram_links").where("user_id", .equal, userID).orWhere("chat_id", .equal, chatID).run()
            try await transaction.sql.insert(into: "telegram_links").columns("user_id", "chat_id", "created_at")
                .values(SQLBind(userID), SQLBind(chatID), SQLBind(now)).run()
            try await transaction.record(audit(userID))
            return userID
        }
    }

    /// Unlink a chat; returns the user it was linked to.
    public func unlink(chatID: Int64, audit: @escaping @Sendable (UUID) -> AuditEvent) async throws -> UUID? {
        try await self.database.transaction(logger: self.logger) { transaction in
            let rows = try await transaction.sql.raw("DELETE FROM telegram_links WHERE chat_id = \(bind: chatID) RETURNING user_id").all()
            guard let userID = try rows.first?.decode(column: "user_id", as: UUID.self) else { return nil }
            try await transaction.record(audit(userID))
            return userID
        }
    }

    public func user(chatID: Int64) async throws -> UUID? {
        try await self.sql().select().column("user_id").from("telegram_links").where("chat_id", .equal, chatID).first()?
            .decode(column: "user_id", as: UUID.self)
    }

    /// The linked chat of each of `users` that has one.
    public func chats(of users: [UUID]) async throws -> [UUID: Int64] {
        guard !users.isEmpty else { return [:] }
        var found: [UUID: Int64] = [:]
        for batch in users.chunked(500) {
            for row in try await self.sql().select().columns("user_id", "chat_id").from("telegram_links").where("user_id", .in, Array(batch)).all() {
                found[try row.decode(column: "user_id", as: UUID.self)] = try row.decode(column: "chat_id", as: Int64.self)
            }
        }
        return found
    }
}
