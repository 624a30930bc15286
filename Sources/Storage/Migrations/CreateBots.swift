// Bots, their orders (client order ids unique, so a retry or restart cannot create a second order), and seen signal ids.

import FluentKit
import SQLKit

struct CreateBots: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("bots")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id"))
            .field("name", .string, .required)
            .field("strategy", .string, .required)
            .field("venue", .string, .required)
            .field("credential_id", .uuid)
            .field("symbol", .string, .required)
            .field("params", .string, .required)
            .field("status", .string, .required)
            .field("status_reason", .string)
            .field("state", .string, .required)
            .field("sequence", .int64, .required)
            .field("webhook_secret_hash", .data)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .create()

        try await database.schema("bot_orders")
            .id()
            .field("bot_id", .uuid, .required, .references("bots", "id", onDelete: .cascade))
            .field("user_id", .uuid, .required)
            .field("client_order_id", .string, .required)
            .field("key", .string, .required)
            .field("side", .string, .required)
            .field("type", .string, .required)
            .field("price", .string)
            .field("quantity", .string, .required)
            .field("filled_quantity", .string, .required)
            .field("average_price", .string)
            .field("status", .string, .required)
            .field("reported", .bool, .required)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "client_order_id")
            .create()

        try await database.schema("bot_signals")
            .field("bot_id", .uuid, .required, .references("bots", "id", onDelete: .cascade))
            .field("signal_id", .string, .required)
            .field("received_at", .datetime, .required)
            .unique(on: "bot_id", "signal_id")
            .create()

        // The administrators' global trading halt (one row), kept across restarts.
        try await database.schema("trading_halt")
            .field("id", .int, .identifier(auto: false))
            .field("halted", .bool, .required)
            .field("changed_by", .uuid)
            .field("changed_at", .datetime, .required)
            .create()

        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX bots_user ON bots (user_id)").run()
            try await sql.raw("CREATE INDEX bot_orders_bot ON bot_orders (bot_id, status)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("trading_halt").delete()
        try await database.schema("bot_signals").delete()
        try await database.schema("bot_orders").delete()
        try await database.schema("bots").delete()
    }
}
