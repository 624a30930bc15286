// Bots and their orders, scoped to their owner (the engine alone reads across owners).

import FluentKit
import Foundation
import Logging
import SQLKit

public struct BotRecord: Sendable, Codable, Equatable {
    public var id: UUID
    public var userId: UUID
    public var name: String
    public var strategy: String
    public var venue: String
    public var credentialId: UUID?
    public var symbol: String
    /// Strategy parameters and risk limits, JSON.
    public var params: String
    /// `stopped`, `running`, `risk_stopped`, `killed`, `failed`.
    public var status: String
    public var statusReason: String?
    /// The strategy's state, JSON.
    public var state: String
    /// The last client-order sequence number used: ids are derived from it, and it is saved before each order goes out.
    public var sequence: Int64
    public var webhookSecretHash: Data?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        userId: UUID,
        name: String,
        strategy: String,
        venue: String,
        credentialId: UUID?,
        symbol: String,
        params: String,
        status: String,
        statusReason: String?,
        state: String,
        sequence: Int64,
        webhookSecretHash: Data?,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.userId = userId
        self.name = name
        self.strategy = strategy
        self.venue = venue
        self.credentialId = credentialId
        self.symbol = symbol
        self.params = params
        self.status = status
        self.statusReason = statusReason
        self.state = state
        self.sequence = sequence
        self.webhookSecretHash = webhookSecretHash
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct BotOrderRecord: Sendable, Codable, Equatable {
    public var id: UUID
    public var botId: UUID
    public var userId: UUID
    public var clientOrderId: String
    public var key: String
    public var side: String
    public var type: String
    public var price: String?
    public var quantity: String
    public var filledQuantity: String
    public var averagePrice: String?
    /// `pending` (saved, maybe not yet at the venue), `open`, `partially_filled`, `filled`, `cancelled`, `rejected`.
    public var status: String
    /// Whether the bot's strategy has been told this order filled (each fill is told once).
    public var reported: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        botId: UUID,
        userId: UUID,
        clientOrderId: String,
        key: String,
        side: String,
        type: String,
        price: String?,
        quantity: String,
        filledQuantity: String,
        averagePrice: String?,
        status: String,
        reported: Bool = false,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.botId = botId
        self.userId = userId
        self.clientOrderId = clientOrderId
        self.key = key
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.status = status
        self.reported = reported
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public static let openStatuses = ["pending", "open", "partially_filled"]
}

public struct BotStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.database(logger: self.logger) as! any SQLDatabase }

    public func create(_ bot: BotRecord) async throws {
        try await self.sql().insert(into: "bots").model(bot, keyEncodingStrategy: .convertToSnakeCase).run()
    }

    public func bots(userID: UUID) async throws -> [BotRecord] {
        try await self.sql().select().column("*").from("bots").where("user_id", .equal, userID).orderBy("created_at")
            .all(decoding: BotRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func bot(id: UUID, userID: UUID) async throws -> BotRecord? {
        try await self.sql().select().column("*").from("bots").where("id", .equal, id).where("user_id", .equal, userID)
            .first(decoding: BotRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    /// Any owner's bot: for the engine and for signal webhooks (which name a bot, not a user).
    public func bot(id: UUID) async throws -> BotRecord? {
        try await self.sql().select().column("*").from("bots").where("id", .equal, id)
            .first(decoding: BotRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func running() async throws -> [BotRecord] {
        try await self.sql().select().column("*").from("bots").where("status", .equal, "running")
            .all(decoding: BotRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func setStatus(id: UUID, _ status: String, reason: String?, now: Date = Date()) async throws {
        try await self.sql().update("bots").set("status", to: status).set("status_reason", to: reason).set("updated_at", to: now)
            .where("id", .equal, id).run()
    }

    public func save(id: UUID, state: String, sequence: Int64, now: Date = Date()) async throws {
        try await self.sql().update("bots").set("state", to: state).set("sequence", to: sequence).set("updated_at", to: now)
            .where("id", .equal, id).run()
    }

    /// The client-order sequence alone, saved before each order goes out.
    public func saveSequence(id: UUID, _ sequence: Int64, now: Date = Date()) async throws {
        try await self.sql().update("bots").set("sequence", to: sequence).set("updated_at", to: now).where("id", .equal, id).run()
    }

    public func update(id: UUID, userID: UUID, params: String, state: String, now: Date = Date()) async throws {
        try await self.sql().update("bots").set("params", to: params).set("state", to: state).set("updated_at", to: now)
            .where("id", .equal, id).where("user_id", .equal, userID).run()
    }

    public func setWebhookSecret(id: UUID, hash: Data) async throws {
        try await self.sql().update("bots").set("webhook_secret_hash", to: hash).where("id", .equal, id).run()
    }

    public func delete(id: UUID, userID: UUID) async throws {
        try await self.database.database(logger: self.logger).transaction { transaction in
            let sql = transaction as! any SQLDatabase
            try await sql.delete(from: "bot_signals").where("bot_id", .equal, id).run()
            try await sql.delete(from: "bot_orders").where("bot_id", .equal, id).where("user_id", .equal, userID).run()
            try await sql.delete(from: "bots").where("id", .equal, id).where("user_id", .equal, userID).run()
        }
    }

    // MARK: Orders

    public func insert(_ order: BotOrderRecord) async throws {
        try await self.sql().insert(into: "bot_orders").model(order, keyEncodingStrategy: .convertToSnakeCase).run()
    }

    public func updateOrder(clientOrderID: String, filled: String, averagePrice: String?, status: String, now: Date = Date()) async throws {
        try await self.sql().update("bot_orders").set("filled_quantity", to: filled).set("average_price", to: averagePrice).set("status", to: status)
            .set("updated_at", to: now).where("client_order_id", .equal, clientOrderID).run()
    }

    public func orders(botID: UUID, openOnly: Bool = false) async throws -> [BotOrderRecord] {
        var query = try self.sql().select().column("*").from("bot_orders").where("bot_id", .equal, botID)
        if openOnly { query = query.where("status", .in, BotOrderRecord.openStatuses) }
        return try await query.orderBy("created_at").all(decoding: BotOrderRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func orders(userID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        var query = try self.sql().select().column("*").from("bot_orders").where("user_id", .equal, userID)
        if openOnly { query = query.where("status", .in, BotOrderRecord.openStatuses) }
        return try await query.orderBy("created_at").all(decoding: BotOrderRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    /// Filled orders the strategy has not been told about yet.
    public func unreportedFills(botID: UUID) async throws -> [BotOrderRecord] {
        try await self.sql().select().column("*").from("bot_orders").where("bot_id", .equal, botID).where("status", .equal, "filled")
            .where("reported", .equal, false).orderBy("updated_at").all(decoding: BotOrderRecord.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func markReported(clientOrderIDs: [String]) async throws {
        guard !clientOrderIDs.isEmpty else { return }
        try await self.sql().update("bot_orders").set("reported", to: true).where("client_order_id", .in, clientOrderIDs).run()
    }

    // MARK: Global halt

    public func isHalted() async throws -> Bool {
        try await self.sql().select().column("halted").from("trading_halt").where("id", .equal, 1).first()?.decode(column: "halted", as: Bool.self)
            ?? false
    }

    public func setHalted(_ halted: Bool, by userID: UUID, now: Date = Date()) async throws {
        try await self.sql().insert(into: "trading_halt").columns("id", "halted", "changed_by", "changed_at")
            .values(SQLBind(1), SQLBind(halted), SQLBind(userID), SQLBind(now))
            .onConflict(with: "id") { $0.set("halted", to: halted).set("changed_by", to: userID).set("changed_at", to: now) }.run()
    }

    // MARK: Signals

    /// Record a signal id for the bot; false if it was seen before (the unique index settles races).
    public func recordSignal(botID: UUID, signalID: String, now: Date = Date()) async throws -> Bool {
        do {
            try await self.sql().insert(into: "bot_signals").columns("bot_id", "signal_id", "received_at")
                .values(SQLBind(botID), SQLBind(signalID), SQLBind(now)).run()
            return true
        } catch {
            let seen = try await self.sql().select().column("signal_id").from("bot_signals").where("bot_id", .equal, botID)
                .where("signal_id", .equal, signalID).first()
            if seen != nil { return false }
            throw error
        }
    }
}
