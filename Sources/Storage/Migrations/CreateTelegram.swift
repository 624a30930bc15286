// Telegram (issue 14): which chat is linked to which account, and the single-use codes that link them.

import FluentKit
import SQLKit

struct CreateTelegram: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("telegram_links")
            .field("user_id", .uuid, .required)
            .field("chat_id", .int64, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "user_id")
            .unique(on: "chat_id")
            .create()
        try await database.schema("telegram_link_codes")
            .field("code_hash", .string, .required)
            .field("user_id", .uuid, .required)
            .field("expires_at", .datetime, .required)
            .unique(on: "code_hash")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("telegram_link_codes").delete()
        try await database.schema("telegram_links").delete()
    }
}
