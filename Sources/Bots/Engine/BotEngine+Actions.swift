// What people and webhooks ask of running bots: stop, kill, the account kill switch, the administrators' halt,
// a locked owner, a signal. Each takes the bot's lock, so it waits for a send in flight and none starts after it.

import AuditLog
import Foundation
import Logging
import Synchronization
import Venues

/// What a signal did.
public enum SignalOutcome: Sendable, Equatable {
    case placed(clientOrderID: String)
    /// Nothing to do (selling with nothing held, say).
    case nothingToDo
}

/// Why a signal placed nothing, for the webhook's answer.
public enum SignalRefusal: Error, Sendable, Equatable {
    case notRunning
    case refused(String)
    case riskStop(String)
}

extension BotEngine {
    /// Pause: the bot stops deciding; its resting orders stay.
    public func stop(_ bot: BotRecord, client: ClientInfo) async throws -> Bool {
        try await self.locks.withLock(bot.id) {
            try await self.stopLocked(
                bot,
                runtime: nil,
                status: .stopped,
                reason: "Stopped by its owner.",
                action: .botStopped,
                client: client,
                from: [.running],
                cancel: .never
            ).stopped
        }
    }

    /// The kill switch for one bot: it stops, every open order is cancelled after the last send in flight, and with
    /// `closePositions` what it holds is sold.
    public func kill(
        _ bot: BotRecord,
        closePositions: Bool,
        client: ClientInfo,
        reason: String = "Stopped by the kill switch."
    ) async throws
        -> StopReport
    {
        try await self.locks.withLock(bot.id) {
            try await self.stopLocked(
                bot,
                runtime: nil,
                status: .killed,
                reason: reason,
                action: .botKilled,
                client: client,
                details: ["close_positions": String(closePositions)],
                cancel: .always,
                closePositions: closePositions
            )
        }
    }

    /// The account kill switch: these bots killed concurrently, each under its own lock.
    public func killAll(_ bots: [BotRecord], closePositions: Bool, client: ClientInfo) async -> [Result<StopReport, any Error>] {
        await self.concurrently(bots, limit: 16) { bot in
            await Result { try await self.kill(bot, closePositions: closePositions, client: client) }
        }
    }

    /// The free balances a bot's account has now (for checks outside a tick).
    public func accountBalances(for bot: BotRecord) async throws -> [Balance] {
        try await self.venues.venue(bot.venue).balances(credentials: try await self.keys.keys(for: bot))
    }

    /// Stop these bots (those running change status; all have their orders cancelled), concurrently.
    public func stopAll(
        _ bots: [BotRecord],
        reason: String,
        action: AuditAction,
        client: ClientInfo,
        details: [String: String] = [:]
    ) async
        -> [Result<StopReport, any Error>]
    {
        await self.concurrently(bots, limit: 16) { bot in
            await Result {
                try await self.locks.withLock(bot.id) {
                    try await self.stopLocked(
                        bot,
                        runtime: nil,
                        status: .stopped,
                        reason: reason,
                        action: action,
                        client: client,
                        details: details,
                        from: [.running],
                        cancel: .always
                    )
                }
            }
        }
    }

    /// The bot is being deleted: nothing of it may stay live.
    public func forget(_ bot: UUID) {
        self.retire(bot)
        self.locks.forget(bot)
    }

    // MARK: Signals

    /// One signal of a running signal bot: at most one market order, checked like every other order.
    public func act(on signal: Signal, bot: BotRecord) async throws -> SignalOutcome {
        guard case .signal(let parameters) = bot.parameters.strategy else { throw SignalRefusal.refused("This bot does not take signals.") }
        // A stop this process could not write yet still stops the bot here.
        guard self.pendingStops.withLock({ $0[bot.id] }) == nil else { throw SignalRefusal.notRunning }
        let runtime = try await self.runtime(for: bot)
        let venue = try self.venues.venue(bot.venue)
        let keys = try await self.keys.keys(for: bot)
        let market = try await self.marketData(bot)
        let funds = try await self.funds(bot, venue: venue, keys: keys)
        let news = try await self.news(for: runtime.openOrders, listed: nil, bot: bot, venue: venue, keys: keys)
        return try await self.locks.withLock(bot.id) {
            guard !runtime.isRetired else { throw SignalRefusal.notRunning }
            let price = market.ticker.price
            var folded = self.fold(runtime, news: news, price: price)
            Risk.rollDay(&folded.ledger, now: self.now(), price: price)
            try await self.write(runtime, folded, state: nil, at: self.now())
            let current = runtime.bot
            if let breach = Risk.breach(current.parameters.risk, ledger: current.ledger, price: price) {
                try await self.riskStopLocked(current, runtime: runtime, breach: breach)
                throw SignalRefusal.riskStop(breach.reason)
            }
            let (base, quote) = assets(bot.symbol, venue: bot.venue)
            // A signal bot sells only what it bought itself.
            let held = max(current.ledger.position - runtime.committedSells, 0)
            let state = MarketState(
                price: price,
                rules: market.rules,
                time: self.now(),
                quoteAvailable: funds.available(quote),
                baseAvailable: min(funds.available(base), held)
            )
            guard let intent = SignalStrategy.decide(parameters, signal: signal, market: state) else { return .nothingToDo }
            switch try await self.placeLocked([intent], runtime: runtime, venue: venue, keys: keys, market: market, funds: funds).first ?? .closed {
            case .sent(let clientOrderID), .unknown(let clientOrderID):
                return .placed(clientOrderID: clientOrderID)
            case .refused(let reason):
                throw SignalRefusal.refused(reason)
            case .stopped(let reason):
                throw SignalRefusal.riskStop(reason)
            case .closed:
                throw SignalRefusal.notRunning
            }
        }
    }
}
