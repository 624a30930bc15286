// The paper venue's ledger: markets, one meta row, a row per wallet and per order (closed ones are the archive).
// Replaces paper_state, whose single JSON snapshot was rewritten whole on every change; its content becomes rows.

import FluentKit
import Foundation
import SQLKit
import Venues

struct CreatePaperLedger: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.transaction { transaction in
            try await transaction.schema("paper_markets")
                .field("symbol", .string, .identifier(auto: false))
                .field("price", .string, .required)
                .create()
            try await transaction.schema("paper_meta")
                .field("id", .int, .identifier(auto: false))
                .field("next_order_id", .int64, .required)
                .field("feed_position", .string, .required)
                .field("time", .double, .required)
                .create()
            try await transaction.schema("paper_accounts")
                .field("account", .string, .identifier(auto: false))
                .field("wallet", .string, .required)
                .create()
            try await transaction.schema("paper_orders")
                .field("id", .int64, .identifier(auto: false))
                .field("account", .string, .required)
                .field("client_order_id", .string, .required)
                .field("symbol", .string, .required)
                .field("side", .string, .required)
                .field("type", .string, .required)
                .field("price", .string)
                .field("quantity", .string, .required)
                .field("filled", .string, .required)
                .field("filled_quote", .string, .required)
                .field("status", .string, .required)
                .field("reserved_quote", .string, .required)
                .field("created_at", .double, .required)
                .create()
            let sql = transaction as! any SQLDatabase
            // Not unique: once an order is archived its client order id may name a new one (look-ups take the newest).
            try await sql.raw("CREATE INDEX paper_orders_client ON paper_orders (account, client_order_id)").run()
            try await sql.raw("CREATE INDEX paper_orders_status ON paper_orders (status)").run()

            if let row = try await sql.select().column("snapshot").from("paper_state").where("id", .equal, 1).first() {
                let json = try row.decode(column: "snapshot", as: String.self)
                let snapshot = try JSONDecoder().decode(PaperSnapshot.self, from: Data(json.utf8))
                let everything = PaperChanges(
                    version: 0,
                    prices: snapshot.prices,
                    meta: PaperMeta(nextOrderID: snapshot.nextOrderID, feedPosition: snapshot.feedPosition, time: snapshot.time),
                    accounts: snapshot.accounts,
                    orders: snapshot.orders
                )
                try await DatabasePaperLedger.write(everything, to: sql)
            }
            try await transaction.schema("paper_state").delete()
        }
    }

    /// Back to one snapshot row: the live state (prices, wallets, open orders, counters) as paper_state held it.
    func revert(on database: any Database) async throws {
        try await database.transaction { transaction in
            let sql = transaction as! any SQLDatabase
            let saved = try await DatabasePaperLedger.load(from: sql)
            try await CreatePaperState().prepare(on: transaction)
            if let saved {
                let json = String(decoding: try JSONEncoder().encode(saved), as: UTF8.self)
                try await sql.insert(into: "paper_state").columns("id", "snapshot", "updated_at").values(SQLBind(1), SQLBind(json), SQLBind(Date()))
                    .run()
            }
            for table in ["paper_orders", "paper_accounts", "paper_meta", "paper_markets"] {
                try await transaction.schema(table).delete()
            }
        }
    }
}
