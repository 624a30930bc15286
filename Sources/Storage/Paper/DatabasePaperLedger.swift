// The paper venue's ledger in the database: a row per market price, wallet and order, and one meta row. Each save
// writes only what changed, in one transaction; closed orders stay as rows, the archive.

import FluentKit
import Foundation
import Logging
import SQLKit
import Venues

public enum PaperLedgerError: Error, CustomStringConvertible {
    case damaged(String)

    public var description: String {
        switch self {
        case .damaged(let why): "the paper venue's saved state is damaged (\(why)); restore the database from a backup"
        }
    }
}

public struct DatabasePaperLedger: PaperLedger {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Open orders: the rows `load` reads back into memory (paper_orders_status serves this).
    static let openStatuses = [OrderStatus.open.rawValue, OrderStatus.partiallyFilled.rawValue]
    /// Order rows per INSERT: 500 rows of 13 binds stay under SQLite's (32,766) and PostgreSQL's (65,535) binds per statement.
    static let rowsPerStatement = 500

    public func load() async throws -> PaperSnapshot? {
        try await self.database.database(logger: self.logger).transaction { transaction in
            try await Self.load(from: transaction as! any SQLDatabase)
        }
    }

    public func save(_ changes: PaperChanges) async throws {
        try await self.database.database(logger: self.logger).transaction { transaction in
            try await Self.write(changes, to: transaction as! any SQLDatabase)
        }
    }

    public func archivedOrder(account: String, clientOrderID: String) async throws -> PaperOrder? {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().column("*").from("paper_orders").where("account", .equal, account)
            .where("client_order_id", .equal, clientOrderID).orderBy("id", .descending).limit(1)
            .first(decoding: OrderRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.order()
    }

    /// The saved live state: every price and wallet, the open orders, the counters; nil without a meta row.
    static func load(from sql: any SQLDatabase) async throws -> PaperSnapshot? {
        guard
            let meta = try await sql.select().column("*").from("paper_meta").where("id", .equal, 1)
                .first(decoding: MetaRow.self, keyDecodingStrategy: .convertFromSnakeCase)
        else { return nil }
        guard let feedPosition = UInt64(meta.feedPosition) else { throw PaperLedgerError.damaged("feed position \(meta.feedPosition)") }
        var prices: [String: Decimal] = [:]
        for row in try await sql.select().columns("symbol", "price").from("paper_markets").all(decoding: MarketRow.self) {
            prices[row.symbol] = try Self.decimal(row.price)
        }
        var accounts: [String: PaperAccount] = [:]
        for row in try await sql.select().columns("account", "wallet").from("paper_accounts").all(decoding: AccountRow.self) {
            accounts[row.account] = try Self.wallet(row.wallet)
        }
        let orders = try await sql.select().column("*").from("paper_orders").where("status", .in, Self.openStatuses).orderBy("id")
            .all(decoding: OrderRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.order() }
        return PaperSnapshot(
            prices: prices,
            accounts: accounts,
            orders: orders,
            nextOrderID: meta.nextOrderId,
            feedPosition: feedPosition,
            time: Date(timeIntervalSinceReferenceDate: meta.time)
        )
    }

    /// Upsert the rows of `changes`. The CreatePaperLedger migration writes the converted snapshot with this too, so
    /// a later change of these tables needs its own migration and a frozen copy of this for the older one.
    static func write(_ changes: PaperChanges, to sql: any SQLDatabase) async throws {
        if let prices = changes.prices, !prices.isEmpty {
            try await sql.insert(into: "paper_markets")
                .models(prices.sorted { $0.key < $1.key }.map { MarketRow(symbol: $0.key, price: $0.value.description) })
                .onConflict(with: ["symbol"]) { $0.set(excludedValueOf: "price") }.run()
        }
        if let meta = changes.meta {
            let row = MetaRow(
                id: 1,
                nextOrderId: meta.nextOrderID,
                feedPosition: String(meta.feedPosition),
                time: meta.time.timeIntervalSinceReferenceDate
            )
            try await sql.insert(into: "paper_meta").model(row, keyEncodingStrategy: .convertToSnakeCase)
                .onConflict(with: ["id"]) {
                    $0.set(excludedValueOf: "next_order_id").set(excludedValueOf: "feed_position").set(excludedValueOf: "time")
                }
                .run()
        }
        if !changes.accounts.isEmpty {
            let rows = try changes.accounts.sorted { $0.key < $1.key }.map { AccountRow(account: $0.key, wallet: try Self.text($0.value)) }
            try await sql.insert(into: "paper_accounts").models(rows).onConflict(with: ["account"]) { $0.set(excludedValueOf: "wallet") }.run()
        }
        var orders = changes.orders[...]
        while !orders.isEmpty {
            let rows = orders.prefix(Self.rowsPerStatement).map(OrderRow.init)
            orders = orders.dropFirst(Self.rowsPerStatement)
            // Only what a fill or a cancel changes; the rest of an order never does.
            try await sql.insert(into: "paper_orders").models(rows, keyEncodingStrategy: .convertToSnakeCase, nilEncodingStrategy: .asNil)
                .onConflict(with: ["id"]) {
                    $0.set(excludedValueOf: "filled").set(excludedValueOf: "filled_quote").set(excludedValueOf: "status")
                        .set(excludedValueOf: "reserved_quote")
                }.run()
        }
    }

    // MARK: Rows

    struct MarketRow: Codable {
        var symbol: String
        var price: String
    }

    /// Times are seconds since 2001 (`Date`'s own reference) as a double: exact, where a timestamp column would round
    /// to microseconds. The feed position is a UInt64, as text: no SQL integer holds all of it.
    struct MetaRow: Codable {
        var id: Int
        var nextOrderId: Int64
        var feedPosition: String
        var time: Double
    }

    struct AccountRow: Codable {
        var account: String
        var wallet: String
    }

    struct OrderRow: Codable {
        var id: Int64
        var account: String
        var clientOrderId: String
        var symbol: String
        var side: String
        var type: String
        var price: String?
        var quantity: String
        var filled: String
        var filledQuote: String
        var status: String
        var reservedQuote: String
        var createdAt: Double

        init(_ order: PaperOrder) {
            self.id = order.id
            self.account = order.account
            self.clientOrderId = order.clientOrderID
            self.symbol = order.symbol
            self.side = order.side.rawValue
            self.type = order.type.rawValue
            self.price = order.price?.description
            self.quantity = order.quantity.description
            self.filled = order.filled.description
            self.filledQuote = order.filledQuote.description
            self.status = order.status.rawValue
            self.reservedQuote = order.reservedQuote.description
            self.createdAt = order.createdAt.timeIntervalSinceReferenceDate
        }

        func order() throws -> PaperOrder {
            guard let side = OrderSide(rawValue: self.side), let type = OrderType(rawValue: self.type),
                let status = OrderStatus(rawValue: self.status)
            else { throw PaperLedgerError.damaged("order \(self.id): side, type or status") }
            return PaperOrder(
                id: self.id,
                account: self.account,
                clientOrderID: self.clientOrderId,
                symbol: self.symbol,
                side: side,
                type: type,
                price: try self.price.map(DatabasePaperLedger.decimal),
                quantity: try DatabasePaperLedger.decimal(self.quantity),
                filled: try DatabasePaperLedger.decimal(self.filled),
                filledQuote: try DatabasePaperLedger.decimal(self.filledQuote),
                status: status,
                reservedQuote: try DatabasePaperLedger.decimal(self.reservedQuote),
                createdAt: Date(timeIntervalSinceReferenceDate: self.createdAt)
            )
        }
    }

    /// A wallet as a small JSON object whose amounts are decimal text, so they read back exactly.
    struct StoredWallet: Codable {
        var free: [String: String]
        var locked: [String: String]
        var entryPrice: [String: String]
        var realizedPnL: [String: String]
        var feesPaid: String
    }

    static func text(_ wallet: PaperAccount) throws -> String {
        let stored = StoredWallet(
            free: wallet.free.mapValues(\.description),
            locked: wallet.locked.mapValues(\.description),
            entryPrice: wallet.entryPrice.mapValues(\.description),
            realizedPnL: wallet.realizedPnL.mapValues(\.description),
            feesPaid: wallet.feesPaid.description
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(stored), as: UTF8.self)
    }

    static func wallet(_ text: String) throws -> PaperAccount {
        let stored = try JSONDecoder().decode(StoredWallet.self, from: Data(text.utf8))
        return PaperAccount(
            free: try stored.free.mapValues(Self.decimal),
            locked: try stored.locked.mapValues(Self.decimal),
            entryPrice: try stored.entryPrice.mapValues(Self.decimal),
            realizedPnL: try stored.realizedPnL.mapValues(Self.decimal),
            feesPaid: try Self.decimal(stored.feesPaid)
        )
    }

    /// Decimals are stored as their own text (`Decimal.description`: plain digits, no exponent), which reads back exactly.
    static func decimal(_ text: String) throws -> Decimal {
        guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw PaperLedgerError.damaged("\(text) is not a decimal")
        }
        return value
    }
}
