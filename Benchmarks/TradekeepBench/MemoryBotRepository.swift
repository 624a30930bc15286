// Bots and orders in memory, for measuring the engine without any database write. Same semantics as BotStore where
// the engine relies on them: the trading gate, sequences, writes by client order id.

import AuditLog
import Bots
import Foundation
import Synchronization
import Venues

final class MemoryBotRepository: BotRepository, Sendable {
    struct State {
        var bots: [UUID: BotRecord] = [:]
        var orders: [UUID: [String: BotOrderRecord]] = [:]
        var halted = false
    }

    let state = Mutex(State())

    func bots(userID: UUID) async throws -> [BotRecord] { self.state.withLock { $0.bots.values.filter { $0.userID == userID } } }
    func bot(id: UUID, userID: UUID) async throws -> BotRecord? { self.state.withLock { $0.bots[id].flatMap { $0.userID == userID ? $0 : nil } } }
    func bot(id: UUID) async throws -> BotRecord? { self.state.withLock { $0.bots[id] } }
    func bots(ids: [UUID]) async throws -> [BotRecord] { self.state.withLock { state in ids.compactMap { state.bots[$0] } } }
    func runningBotIDs() async throws -> [UUID] { self.state.withLock { $0.bots.values.filter { $0.status == .running }.map(\.id) } }
    func orders(botID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        self.state.withLock { Array(($0.orders[botID] ?? [:]).values.filter { !openOnly || $0.order.isOpen }) }
    }
    func openOrders(botIDs: [UUID]) async throws -> [BotOrderRecord] {
        self.state.withLock { state in botIDs.flatMap { (state.orders[$0] ?? [:]).values.filter { $0.order.isOpen || !$0.reported } } }
    }
    func orders(userID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        self.state.withLock { $0.orders.values.flatMap(\.values).filter { $0.userID == userID && (!openOnly || $0.order.isOpen) } }
    }
    func isHalted() async throws -> Bool { self.state.withLock { $0.halted } }
    func create(_ bot: BotRecord, limit: Int, audit: AuditEvent) async throws -> Bool {
        self.state.withLock { $0.bots[bot.id] = bot }
        return true
    }
    func updateParameters(
        id: UUID,
        userID: UUID,
        parameters: BotParameters,
        state: StrategyState,
        audit: AuditEvent
    ) async throws
        -> ParametersOutcome
    { .notFound }
    func start(id: UUID, userID: UUID, runningLimit: Int, audit: AuditEvent) async throws -> StartOutcome {
        self.state.withLock { $0.bots[id]?.status = .running }
        return .started
    }
    func setStatus(id: UUID, _ status: BotStatus, reason: String?, from: Set<BotStatus>?, audit: [AuditEvent]) async throws -> Bool {
        self.state.withLock { state in
            guard let current = state.bots[id]?.status, from?.contains(current) ?? true else { return false }
            state.bots[id]?.status = status
            state.bots[id]?.statusReason = reason
            return true
        }
    }
    func setWaitingReason(id: UUID, _ reason: String?) async throws { self.state.withLock { $0.bots[id]?.statusReason = reason } }
    func setWebhookSecret(id: UUID, userID: UUID, hash: Data, audit: AuditEvent) async throws -> Bool { false }
    func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool { false }
    func setHalted(_ halted: Bool, by userID: UUID, audit: AuditEvent) async throws { self.state.withLock { $0.halted = halted } }
    func recordSignal(botID: UUID, signalID: String, audit: AuditEvent) async throws -> Bool { true }

    func reserveOrders(botID: UUID, intents: [OrderIntent], gate: TradingGate, at now: Date) async throws -> [BotOrderRecord]? {
        self.state.withLock { state in
            guard var bot = state.bots[botID], !state.halted, gate == .closing || bot.status == .running else { return nil }
            var records: [BotOrderRecord] = []
            for intent in intents {
                bot.sequence += 1
                let order = BotOrder(
                    key: intent.key,
                    clientOrderID: ClientOrderID.make(bot: botID, sequence: bot.sequence),
                    side: intent.side,
                    type: intent.type,
                    price: intent.price,
                    quantity: intent.quantity,
                    status: .pending
                )
                let record = BotOrderRecord(id: UUID(), botID: botID, userID: bot.userID, order: order, createdAt: now, updatedAt: now)
                state.orders[botID, default: [:]][order.clientOrderID] = record
                records.append(record)
            }
            state.bots[botID] = bot
            return records
        }
    }

    func record(_ step: StepRecord) async throws {
        self.state.withLock { state in
            for update in step.orders {
                guard var record = state.orders[step.botID]?[update.clientOrderID] else { continue }
                record.order.filled = update.filled
                record.order.averagePrice = update.averagePrice
                record.order.status = update.status
                record.reported = update.reported
                state.orders[step.botID]?[update.clientOrderID] = record
            }
            if let strategy = step.state { state.bots[step.botID]?.state = strategy }
            if let ledger = step.ledger { state.bots[step.botID]?.ledger = ledger }
        }
    }
}
