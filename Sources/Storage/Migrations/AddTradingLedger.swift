// The trading core's columns: each audit entry's state (`pending` until the signed log sequences it), and each bot's
// ledger (what its fills hold and cost, the equity at the start of its UTC day), filled in from its orders.

import FluentKit
import Foundation
import SQLKit
import Venues

struct AddTradingLedger: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        // One column per statement: SQLite alters one at a time. TEXT is what `.string` is on both databases.
        try await sql.raw("ALTER TABLE audit_events ADD COLUMN state TEXT NOT NULL DEFAULT 'pending'").run()
        try await sql.raw("ALTER TABLE bots ADD COLUMN position TEXT NOT NULL DEFAULT '0'").run()
        try await sql.raw("ALTER TABLE bots ADD COLUMN quote_flow TEXT NOT NULL DEFAULT '0'").run()
        try await database.schema("bots").field("day_start", .datetime).update()
        try await database.schema("bots").field("day_start_equity", .string).update()
        try await sql.raw("CREATE INDEX audit_events_state ON audit_events (state)").run()
        try await sql.raw("CREATE INDEX bots_status ON bots (status)").run()
        try await sql.raw("CREATE INDEX bot_orders_user ON bot_orders (user_id, status)").run()
        // Ended orders the engine never needs to tell a strategy about.
        try await sql.update("bot_orders").set("reported", to: true).where("status", .in, ["cancelled", "rejected"]).run()
        // Each existing bot's ledger, from its fills.
        struct Fill: Decodable {
            var botId: UUID
            var side: String
            var price: String?
            var filledQuantity: String
            var averagePrice: String?
        }
        let fills = try await sql.select().columns("bot_id", "side", "price", "filled_quantity", "average_price").from("bot_orders")
            .where("filled_quantity", .notEqual, "0").all(decoding: Fill.self, keyDecodingStrategy: .convertFromSnakeCase)
        var ledgers: [UUID: (position: Decimal, quote: Decimal)] = [:]
        for fill in fills {
            let quantity = Decimal.exactly(fill.filledQuantity) ?? 0
            let price = fill.averagePrice.flatMap(Decimal.exactly) ?? fill.price.flatMap(Decimal.exactly) ?? 0
            var ledger = ledgers[fill.botId] ?? (0, 0)
            if fill.side == "buy" {
                ledger.position += quantity
                ledger.quote -= quantity * price
            } else {
                ledger.position -= quantity
                ledger.quote += quantity * price
            }
            ledgers[fill.botId] = ledger
        }
        for (bot, ledger) in ledgers {
            try await sql.update("bots").set("position", to: ledger.position.plain).set("quote_flow", to: ledger.quote.plain)
                .where("id", .equal, bot).run()
        }
    }

    func revert(on database: any Database) async throws {
        if let sql = database as? any SQLDatabase {
            for index in ["audit_events_state", "bots_status", "bot_orders_user"] { try await sql.raw("DROP INDEX \(ident: index)").run() }
        }
        try await database.schema("audit_events").deleteField(.string("state")).update()
        for field in ["position", "quote_flow", "day_start", "day_start_equity"] {
            try await database.schema("bots").deleteField(.string(field)).update()
        }
    }
}
