// Bots and their orders (SPEC §5), scoped to their owner except where the engine or a webhook names a bot.
// Decimals are stored as text and read back exactly; statuses and parameters are typed on the way out.

import AuditLog
import Bots
import FluentKit
import Foundation
import Logging
import SQLKit
import Venues

public enum StorageDataError: UnreadableRecordError, CustomStringConvertible {
    /// A stored value that does not parse: refused rather than read as a default.
    case corrupt(table: String, id: String, column: String)

    public var description: String {
        switch self {
        case .corrupt(let table, let id, let column): "\(table) row \(id): column \(column) does not hold a valid value"
        }
    }
}

public struct BotStore: BotRepository {
    let database: TradekeepDatabase
    let logger: Logger
    /// The engine's writes (reservations, step records) share transactions when many bots write at once.
    let commits: GroupCommit

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
        self.commits = GroupCommit(database: database, logger: logger)
    }

    func sql() throws -> any SQLDatabase { try self.database.sql(logger: self.logger) }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (AuditedTransaction) async throws -> T) async throws -> T {
        try await self.database.transaction(logger: self.logger, body)
    }

    // MARK: Reading

    public func bots(userID: UUID) async throws -> [BotRecord] {
        try await self.sql().select().column("*").from("bots").where("user_id", .equal, userID).orderBy("created_at")
            .all(decoding: BotRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
    }

    public func bot(id: UUID, userID: UUID) async throws -> BotRecord? {
        try await self.sql().select().column("*").from("bots").where("id", .equal, id).where("user_id", .equal, userID)
            .first(decoding: BotRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record()
    }

    public func bot(id: UUID) async throws -> BotRecord? {
        try await self.sql().select().column("*").from("bots").where("id", .equal, id)
            .first(decoding: BotRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record()
    }

    public func bots(ids: [UUID]) async throws -> [BotRecord] {
        guard !ids.isEmpty else { return [] }
        var records: [BotRecord] = []
        // Chunks keep the IN list within every database's parameter limit.
        for chunk in ids.chunked(500) {
            records += try await self.sql().select().column("*").from("bots").where("id", .in, Array(chunk))
                .all(decoding: BotRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
        }
        return records
    }

    public func runningBotIDs() async throws -> [UUID] {
        try await self.sql().select().column("id").from("bots").where("status", .equal, BotStatus.running.rawValue).all()
            .map { try $0.decode(column: "id", as: UUID.self) }
    }

    public func orders(botID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        var query = try self.sql().select().column("*").from("bot_orders").where("bot_id", .equal, botID)
        if openOnly { query = query.where("status", .in, Self.openStatuses) }
        return try await query.orderBy("created_at").all(decoding: OrderRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
    }

    /// Open or pending orders of these bots, and ended ones their strategy has not been told about.
    public func openOrders(botIDs: [UUID]) async throws -> [BotOrderRecord] {
        guard !botIDs.isEmpty else { return [] }
        var records: [BotOrderRecord] = []
        for chunk in botIDs.chunked(500) {
            records += try await self.sql().select().column("*").from("bot_orders").where("bot_id", .in, Array(chunk))
                .where(group: { $0.where("status", .in, Self.openStatuses).orWhere("reported", .equal, false) })
                .orderBy("created_at").all(decoding: OrderRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
        }
        return records
    }

    public func orders(userID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        var query = try self.sql().select().column("*").from("bot_orders").where("user_id", .equal, userID)
        if openOnly { query = query.where("status", .in, Self.openStatuses) }
        return try await query.orderBy("created_at").all(decoding: OrderRow.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
    }

    public func isHalted() async throws -> Bool {
        try await Self.isHalted(self.sql())
    }

    static func isHalted(_ sql: any SQLDatabase) async throws -> Bool {
        try await sql.select().column("halted").from("trading_halt").where("id", .equal, 1).first()?.decode(column: "halted", as: Bool.self) ?? false
    }

    static let openStatuses = OrderStatus.allCases.filter(\.isOpen).map(\.rawValue)

    // MARK: Changes

    public func create(_ bot: BotRecord, limit: Int, audit: AuditEvent) async throws -> Bool {
        let row = try BotRow(bot)
        return try await self.transaction { transaction in
            let sql = transaction.sql
            // The owner's row is locked (PostgreSQL; SQLite serialises writers), so concurrent creations count in turn.
            try await Self.lockOwner(bot.userID, sql)
            let count =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("bots")
                .where("user_id", .equal, bot.userID).first()?.decode(column: "n", as: Int.self) ?? 0
            guard count < limit else { return false }
            try await sql.insert(into: "bots").model(row, keyEncodingStrategy: .convertToSnakeCase).run()
            try await transaction.record(audit)
            return true
        }
    }

    static func lockOwner(_ userID: UUID, _ sql: any SQLDatabase) async throws {
        _ = try await sql.select().column("id").from("users").where("id", .equal, userID).for(.update).first()
    }

    public func updateParameters(
        id: UUID,
        userID: UUID,
        parameters: BotParameters,
        state: StrategyState,
        audit: AuditEvent
    ) async throws
        -> ParametersOutcome
    {
        let params = try BotRow.text(parameters)
        let stateText = try state.encoded()
        return try await self.transaction { transaction in
            let updated = try await transaction.sql.update("bots").set("params", to: params).set("state", to: stateText)
                .set("updated_at", to: audit.at)
                .where("id", .equal, id).where("user_id", .equal, userID).where("status", .notEqual, BotStatus.running.rawValue)
                .returning("id").all()
            guard updated.isEmpty else {
                try await transaction.record(audit)
                return .updated
            }
            let exists = try await transaction.sql.select().column("id").from("bots").where("id", .equal, id).where("user_id", .equal, userID).first()
            return exists == nil ? .notFound : .running
        }
    }

    public func start(id: UUID, userID: UUID, runningLimit: Int, audit: AuditEvent) async throws -> StartOutcome {
        try await self.transaction { transaction in
            let sql = transaction.sql
            guard try await !Self.isHalted(sql) else { return .halted }
            try await Self.lockOwner(userID, sql)
            guard
                let row = try await sql.select().columns("status", "credential_id").from("bots").where("id", .equal, id)
                    .where("user_id", .equal, userID).first()
            else { return .notFound }
            if try row.decode(column: "status", as: String.self) == BotStatus.running.rawValue { return .alreadyRunning }
            // Checked under the owner's lock, which disabling a key takes too: a key disabled while the bot was being
            // started is seen here, never after the bot runs.
            if let credentialID = try row.decode(column: "credential_id", as: UUID?.self),
                let reason = try await sql.select().column("disabled_reason").from("exchange_credentials").where("id", .equal, credentialID)
                    .where("disabled_at", .isNot, SQLLiteral.null).first()?.decode(column: "disabled_reason", as: String?.self)
            {
                return .credentialDisabled(reason ?? "it was disabled.")
            }
            let running =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("bots")
                .where("user_id", .equal, userID).where("status", .equal, BotStatus.running.rawValue).first()?.decode(column: "n", as: Int.self) ?? 0
            guard running < runningLimit else { return .runningLimitReached }
            try await sql.update("bots").set("status", to: BotStatus.running.rawValue).set("status_reason", to: SQLLiteral.null)
                .set("updated_at", to: audit.at).where("id", .equal, id).where("user_id", .equal, userID).run()
            try await transaction.record(audit)
            return .started
        }
    }

    public func setStatus(id: UUID, _ status: BotStatus, reason: String?, from: Set<BotStatus>?, audit: [AuditEvent]) async throws -> Bool {
        try await self.transaction { transaction in
            var update = transaction.sql.update("bots").set("status", to: status.rawValue).set("status_reason", to: reason)
                .set("updated_at", to: audit.first?.at ?? Date()).where("id", .equal, id)
            if let from { update = update.where("status", .in, from.map(\.rawValue)) }
            let changed = try await update.returning("id").all()
            guard !changed.isEmpty else { return false }
            try await transaction.record(audit)
            return true
        }
    }

    public func setWaitingReason(id: UUID, _ reason: String?) async throws {
        try await self.sql().update("bots").set("status_reason", to: reason).where("id", .equal, id)
            .where("status", .equal, BotStatus.running.rawValue).run()
    }

    public func setWebhookSecret(id: UUID, userID: UUID, hash: Data, audit: AuditEvent) async throws -> Bool {
        try await self.transaction { transaction in
            let changed = try await transaction.sql.update("bots").set("webhook_secret_hash", to: hash).set("updated_at", to: audit.at)
                .where("id", .equal, id).where("user_id", .equal, userID).returning("id").all()
            guard !changed.isEmpty else { return false }
            try await transaction.record(audit)
            return true
        }
    }

    public func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool {
        try await self.transaction { transaction in
            let sql = transaction.sql
            guard try await sql.select().column("id").from("bots").where("id", .equal, id).where("user_id", .equal, userID).first() != nil else {
                return false
            }
            try await sql.delete(from: "bot_signals").where("bot_id", .equal, id).run()
            try await sql.delete(from: "bot_orders").where("bot_id", .equal, id).where("user_id", .equal, userID).run()
            try await sql.delete(from: "bots").where("id", .equal, id).where("user_id", .equal, userID).run()
            try await transaction.record(audit)
            return true
        }
    }

    public func setHalted(_ halted: Bool, by userID: UUID, audit: AuditEvent) async throws {
        try await self.transaction { transaction in
            try await transaction.sql.insert(into: "trading_halt").columns("id", "halted", "changed_by", "changed_at")
                .values(SQLBind(1), SQLBind(halted), SQLBind(userID), SQLBind(audit.at))
                .onConflict(with: "id") { $0.set("halted", to: halted).set("changed_by", to: userID).set("changed_at", to: audit.at) }.run()
            try await transaction.record(audit)
        }
    }

    /// The unique index on (bot, signal id) settles races: the second of two equal ids is refused.
    public func recordSignal(botID: UUID, signalID: String, audit: AuditEvent) async throws -> Bool {
        do {
            try await self.transaction { transaction in
                try await transaction.sql.insert(into: "bot_signals").columns("bot_id", "signal_id", "received_at")
                    .values(SQLBind(botID), SQLBind(signalID), SQLBind(audit.at)).run()
                try await transaction.record(audit)
            }
            return true
        } catch {
            let seen = try await self.sql().select().column("signal_id").from("bot_signals").where("bot_id", .equal, botID)
                .where("signal_id", .equal, signalID).first()
            if seen != nil { return false }
            throw error
        }
    }

    // MARK: The engine's writes

    /// The trading gate and the reservation are one statement: the sequence moves only while the bot may trade.
    public func reserveOrders(botID: UUID, intents: [OrderIntent], gate: TradingGate, at now: Date) async throws -> [BotOrderRecord]? {
        guard !intents.isEmpty else { return [] }
        return try await self.commits.run { transaction in
            let sql = transaction.sql
            let allowed: SQLQueryString = """
                NOT EXISTS (SELECT 1 FROM trading_halt WHERE trading_halt.id = 1 AND trading_halt.halted = \(bind: true)) \
                AND EXISTS (SELECT 1 FROM users WHERE users.id = bots.user_id AND users.status = \(bind: "active"))
                """
            let condition: SQLQueryString =
                switch gate {
                case .running: "status = \(bind: BotStatus.running.rawValue) AND \(allowed)"
                case .closing: allowed
                }
            let rows = try await sql.raw(
                """
                UPDATE bots SET sequence = sequence + \(bind: Int64(intents.count)), updated_at = \(bind: now) \
                WHERE id = \(bind: botID) AND \(condition) RETURNING sequence, user_id
                """
            ).all()
            guard let row = rows.first else { return nil }
            let last = try row.decode(column: "sequence", as: Int64.self)
            let userID = try row.decode(column: "user_id", as: UUID.self)
            let first = last - Int64(intents.count) + 1
            let records = intents.enumerated().map { offset, intent in
                let order = BotOrder(
                    key: intent.key,
                    clientOrderID: ClientOrderID.make(bot: botID, sequence: first + Int64(offset)),
                    side: intent.side,
                    type: intent.type,
                    price: intent.price,
                    quantity: intent.quantity,
                    status: .pending
                )
                return BotOrderRecord(id: UUID(), botID: botID, userID: userID, order: order, createdAt: now, updatedAt: now)
            }
            // `.asNil`: a market order (no price) and a limit order reserved together are rows of one insert.
            try await sql.insert(into: "bot_orders")
                .models(records.map(OrderRow.init), keyEncodingStrategy: .convertToSnakeCase, nilEncodingStrategy: .asNil)
                .run()
            return records
        }
    }

    public func record(_ step: StepRecord) async throws {
        guard !step.isEmpty else { return }
        let now = step.audit.first?.at ?? Date()
        let state = try step.state?.encoded()
        try await self.commits.run { transaction in
            let sql = transaction.sql
            // Orders that end the same way (a kill's cancels, say) are one statement.
            let groups = Dictionary(grouping: step.orders) {
                OrderOutcome(filled: $0.filled, averagePrice: $0.averagePrice, status: $0.status, reported: $0.reported)
            }
            for (outcome, updates) in groups {
                for chunk in updates.map(\.clientOrderID).chunked(500) {
                    try await sql.update("bot_orders")
                        .set("filled_quantity", to: outcome.filled.plain)
                        .set("average_price", to: outcome.averagePrice?.plain)
                        .set("status", to: outcome.status.rawValue)
                        .set("reported", to: outcome.reported)
                        .set("updated_at", to: now)
                        .where("client_order_id", .in, Array(chunk)).where("bot_id", .equal, step.botID)
                        .run()
                }
            }
            if state != nil || step.ledger != nil {
                var bot = sql.update("bots").set("updated_at", to: now)
                if let state { bot = bot.set("state", to: state) }
                if let ledger = step.ledger {
                    bot = bot.set("position", to: ledger.position.plain).set("quote_flow", to: ledger.quoteFlow.plain)
                        .set("day_start", to: ledger.dayStart).set("day_start_equity", to: ledger.dayStartEquity?.plain)
                }
                try await bot.where("id", .equal, step.botID).run()
            }
            try await transaction.record(step.audit)
        }
    }
}

/// What an order update sets, so equal updates share one statement.
struct OrderOutcome: Hashable {
    let filled: Decimal
    let averagePrice: Decimal?
    let status: OrderStatus
    let reported: Bool
}

// MARK: Rows

struct BotRow: Codable {
    var id: UUID
    var userId: UUID
    var name: String
    var strategy: String
    var venue: String
    var credentialId: UUID?
    var symbol: String
    var params: String
    var status: String
    var statusReason: String?
    var state: String
    var sequence: Int64
    var webhookSecretHash: Data?
    var position: String
    var quoteFlow: String
    var dayStart: Date?
    var dayStartEquity: String?
    var createdAt: Date
    var updatedAt: Date

    init(_ bot: BotRecord) throws {
        self.id = bot.id
        self.userId = bot.userID
        self.name = bot.name
        self.strategy = bot.strategy.rawValue
        self.venue = bot.venue.rawValue
        self.credentialId = bot.credentialID
        self.symbol = bot.symbol
        self.params = try Self.text(bot.parameters)
        self.status = bot.status.rawValue
        self.statusReason = bot.statusReason
        self.state = try bot.state.encoded()
        self.sequence = bot.sequence
        self.webhookSecretHash = bot.webhookSecretHash
        self.position = bot.ledger.position.plain
        self.quoteFlow = bot.ledger.quoteFlow.plain
        self.dayStart = bot.ledger.dayStart
        self.dayStartEquity = bot.ledger.dayStartEquity?.plain
        self.createdAt = bot.createdAt
        self.updatedAt = bot.updatedAt
    }

    static func text(_ parameters: BotParameters) throws -> String {
        String(decoding: try BotCoding.encoder.encode(parameters), as: UTF8.self)
    }

    func record() throws -> BotRecord {
        func corrupt(_ column: String) -> StorageDataError { .corrupt(table: "bots", id: self.id.uuidString, column: column) }
        guard let strategy = Strategy(rawValue: self.strategy) else { throw corrupt("strategy") }
        guard let venue = VenueID(rawValue: self.venue) else { throw corrupt("venue") }
        guard let status = BotStatus(rawValue: self.status) else { throw corrupt("status") }
        guard let parameters = try? BotCoding.decoder.decode(BotParameters.self, from: Data(self.params.utf8)),
            parameters.strategy.strategy == strategy
        else { throw corrupt("params") }
        guard let state = try? StrategyState.decode(strategy, from: self.state) else { throw corrupt("state") }
        guard let position = Decimal.exactly(self.position) else { throw corrupt("position") }
        guard let quoteFlow = Decimal.exactly(self.quoteFlow) else { throw corrupt("quote_flow") }
        let dayStartEquity = try self.dayStartEquity.map { text in
            guard let value = Decimal.exactly(text) else { throw corrupt("day_start_equity") }
            return value
        }
        return BotRecord(
            id: self.id,
            userID: self.userId,
            name: self.name,
            venue: venue,
            credentialID: self.credentialId,
            symbol: self.symbol,
            parameters: parameters,
            status: status,
            statusReason: self.statusReason,
            state: state,
            sequence: self.sequence,
            webhookSecretHash: self.webhookSecretHash,
            ledger: BotLedger(position: position, quoteFlow: quoteFlow, dayStart: self.dayStart, dayStartEquity: dayStartEquity),
            createdAt: self.createdAt,
            updatedAt: self.updatedAt
        )
    }
}

struct OrderRow: Codable {
    var id: UUID
    var botId: UUID
    var userId: UUID
    var clientOrderId: String
    var key: String
    var side: String
    var type: String
    var price: String?
    var quantity: String
    var filledQuantity: String
    var averagePrice: String?
    var status: String
    var reported: Bool
    var createdAt: Date
    var updatedAt: Date

    init(_ record: BotOrderRecord) {
        self.id = record.id
        self.botId = record.botID
        self.userId = record.userID
        self.clientOrderId = record.order.clientOrderID
        self.key = record.order.key
        self.side = record.order.side.rawValue
        self.type = record.order.type.rawValue
        self.price = record.order.price?.plain
        self.quantity = record.order.quantity.plain
        self.filledQuantity = record.order.filled.plain
        self.averagePrice = record.order.averagePrice?.plain
        self.status = record.order.status.rawValue
        self.reported = record.reported
        self.createdAt = record.createdAt
        self.updatedAt = record.updatedAt
    }

    func record() throws -> BotOrderRecord {
        func corrupt(_ column: String) -> StorageDataError { .corrupt(table: "bot_orders", id: self.id.uuidString, column: column) }
        func decimal(_ text: String?, _ column: String) throws -> Decimal? {
            guard let text else { return nil }
            guard let value = Decimal.exactly(text) else { throw corrupt(column) }
            return value
        }
        guard let side = OrderSide(rawValue: self.side) else { throw corrupt("side") }
        guard let type = OrderType(rawValue: self.type) else { throw corrupt("type") }
        guard let status = OrderStatus(rawValue: self.status) else { throw corrupt("status") }
        guard let quantity = try decimal(self.quantity, "quantity"), let filled = try decimal(self.filledQuantity, "filled_quantity") else {
            throw corrupt("quantity")
        }
        let order = BotOrder(
            key: self.key,
            clientOrderID: self.clientOrderId,
            side: side,
            type: type,
            price: try decimal(self.price, "price"),
            quantity: quantity,
            filled: filled,
            averagePrice: try decimal(self.averagePrice, "average_price"),
            status: status
        )
        return BotOrderRecord(
            id: self.id,
            botID: self.botId,
            userID: self.userId,
            order: order,
            reported: self.reported,
            createdAt: self.createdAt,
            updatedAt: self.updatedAt
        )
    }
}

extension Decimal {
    /// A decimal written as text by `plain`, read back exactly (no locale, no binary floating point).
    static func exactly(_ text: String) -> Decimal? {
        Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}
