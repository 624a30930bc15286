// Where bots, their orders and the trading halt are kept. Storage implements it on SQLite and PostgreSQL;
// every change writes its audit entries in the same transaction, so neither exists without the other.

import AuditLog
import Foundation
import Venues

/// The gate an order passes in the same statement that reserves its client order id: nothing is sent for a bot
/// that is no longer allowed to trade, whoever stopped it and from wherever.
public enum TradingGate: Sendable {
    /// The bot is running, no administrator halt is in force, and its owner's account is active.
    case running
    /// Closing a position as part of a kill: the bot is no longer running, but no halt may be in force and its
    /// owner's account must be active.
    case closing
}

/// What an order row learns from the venue.
public struct OrderUpdate: Sendable, Equatable {
    public var clientOrderID: String
    public var filled: Decimal
    public var averagePrice: Decimal?
    public var status: OrderStatus
    /// Whether the strategy has now been told this order ended.
    public var reported: Bool

    public init(clientOrderID: String, filled: Decimal, averagePrice: Decimal?, status: OrderStatus, reported: Bool) {
        self.clientOrderID = clientOrderID
        self.filled = filled
        self.averagePrice = averagePrice
        self.status = status
        self.reported = reported
    }
}

/// Everything one engine step learned and decided, written in one transaction.
public struct StepRecord: Sendable {
    public var botID: UUID
    public var orders: [OrderUpdate]
    public var state: StrategyState?
    public var ledger: BotLedger?
    public var audit: [AuditEvent]

    public init(botID: UUID, orders: [OrderUpdate] = [], state: StrategyState? = nil, ledger: BotLedger? = nil, audit: [AuditEvent] = []) {
        self.botID = botID
        self.orders = orders
        self.state = state
        self.ledger = ledger
        self.audit = audit
    }

    public var isEmpty: Bool { self.orders.isEmpty && self.state == nil && self.ledger == nil && self.audit.isEmpty }
}

public enum StartOutcome: Sendable, Equatable {
    case started
    case alreadyRunning
    case halted
    case runningLimitReached
    /// The bot's exchange key was disabled (why): a disabled key is never traded with again.
    case credentialDisabled(String)
    case notFound
}

public enum ParametersOutcome: Sendable, Equatable {
    case updated
    case running
    case notFound
}

public protocol BotRepository: Sendable {
    // MARK: Reading (owner-scoped, except where the engine or a webhook needs any owner's bot)

    func bots(userID: UUID) async throws -> [BotRecord]
    func bot(id: UUID, userID: UUID) async throws -> BotRecord?
    /// Any owner's bot: for the engine and for signal webhooks (which name a bot, not a user).
    func bot(id: UUID) async throws -> BotRecord?
    func bots(ids: [UUID]) async throws -> [BotRecord]
    func runningBotIDs() async throws -> [UUID]
    func orders(botID: UUID, openOnly: Bool) async throws -> [BotOrderRecord]
    /// Open (or pending) orders of these bots: what the engine loads when it takes a bot on.
    func openOrders(botIDs: [UUID]) async throws -> [BotOrderRecord]
    func orders(userID: UUID, openOnly: Bool) async throws -> [BotOrderRecord]
    func isHalted() async throws -> Bool

    // MARK: Changes, each in one transaction with its audit entries

    /// Insert the bot unless its owner already has `limit` bots (checked atomically); false when at the limit.
    func create(_ bot: BotRecord, limit: Int, audit: AuditEvent) async throws -> Bool
    /// New parameters (and a fresh state) for a bot that is not running.
    func updateParameters(
        id: UUID,
        userID: UUID,
        parameters: BotParameters,
        state: StrategyState,
        audit: AuditEvent
    ) async throws
        -> ParametersOutcome
    /// Mark the bot running unless halted or its owner already runs `runningLimit` bots (checked atomically).
    func start(id: UUID, userID: UUID, runningLimit: Int, audit: AuditEvent) async throws -> StartOutcome
    /// Set the status (when the bot's current status is in `from`, or in any status when nil); false when not changed.
    func setStatus(id: UUID, _ status: BotStatus, reason: String?, from: Set<BotStatus>?, audit: [AuditEvent]) async throws -> Bool
    /// What a running bot is waiting for (or nil once it trades again); not audited, it changes no decision.
    func setWaitingReason(id: UUID, _ reason: String?) async throws
    func setWebhookSecret(id: UUID, userID: UUID, hash: Data, audit: AuditEvent) async throws -> Bool
    func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool
    func setHalted(_ halted: Bool, by userID: UUID, audit: AuditEvent) async throws
    /// Remember a signal id with its audit entry; false if this bot saw the id before.
    func recordSignal(botID: UUID, signalID: String, audit: AuditEvent) async throws -> Bool

    // MARK: The engine's writes

    /// Take the bot's next sequence numbers and save the orders as `pending` under their derived client order ids, in
    /// one transaction whose first statement is guarded by `gate`; nil (and nothing saved) when the gate is closed.
    func reserveOrders(botID: UUID, intents: [OrderIntent], gate: TradingGate, at: Date) async throws -> [BotOrderRecord]?
    func record(_ step: StepRecord) async throws
}

/// A stored record that exists but cannot be read (a corrupt column). Storage errors of this kind stop the bot
/// they belong to; every other error from a repository is treated as transient.
public protocol UnreadableRecordError: Error {}
