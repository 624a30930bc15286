// One step of one bot: what its orders did since the last step, its risk limits, the strategy's decision, all
// written in one transaction; then the decision's cancels and orders, each under the bot's lock.

import AuditLog
import Foundation
import Logging
import Metrics
import Venues

extension BotEngine {
    /// A step whose failure is handled here, bot by bot: the server and the other bots go on.
    func supervisedStep(_ runtime: BotRuntime, _ data: TickData) async {
        do {
            try await self.step(runtime, data)
            Counter(label: "tradekeep_bot_steps_total", dimensions: [("result", "ok")]).increment()
        } catch is CancellationError {
            // A cancelled tick (not a graceful shutdown, which lets steps finish): the bot stays running and its
            // orders are reconciled by client id next time. Never a failure of the bot.
            Counter(label: "tradekeep_bot_steps_total", dimensions: [("result", "cancelled")]).increment()
        } catch {
            Counter(label: "tradekeep_bot_steps_total", dimensions: [("result", "error")]).increment()
            await self.handle(error, runtime)
        }
    }

    func step(_ runtime: BotRuntime, _ data: TickData) async throws {
        let bot = runtime.bot
        guard let marketResult = data.markets[MarketKey(bot)], let accountResult = data.accounts[AccountKey(bot)] else { return }
        let market = try marketResult.get()
        let account = try accountResult.get()
        let venue = try self.venues.venue(bot.venue)
        let listed = try data.openOrders[OpenOrdersKey(account: AccountKey(bot), symbol: bot.symbol)]?.get()
        let news = try await self.news(for: runtime.openOrders, listed: listed, bot: bot, venue: venue, keys: account.keys)
        let decision: Decided? = try await self.locks.withLock(bot.id) {
            guard !runtime.isRetired else { return nil }
            return try await self.decide(runtime, news: news, market: market, funds: account.funds)
        }
        guard let decision else { return }
        for key in decision.cancel {
            try await self.cancel(key, runtime: runtime, venue: venue, keys: account.keys, price: market.ticker.price)
        }
        // The first reason wins; what the bot could not do is held, an unknown outcome is not.
        var waiting = decision.waiting.map { (reason: $0, held: true) }
        var sent = false
        for outcome in try await self.place(decision.place, runtime: runtime, venue: venue, keys: account.keys, market: market, funds: account.funds)
        {
            switch outcome {
            case .sent: sent = true
            case .refused(let reason): waiting = waiting ?? (reason, true)
            case .unknown:
                waiting = waiting ?? ("Waiting: an order's outcome is not known yet; it is looked up by client order id next step.", false)
            case .stopped, .closed: return
            }
        }
        // A step that decided nothing keeps what the bot could not do last time (a DCA buy skipped for funds says so
        // until the next buy, not for one tick).
        if waiting == nil, !sent, runtime.read({ $0.waitingHeld }) { return }
        try await self.setWaiting(runtime, waiting?.reason, held: waiting?.held ?? false)
    }

    // MARK: What happened to the bot's orders

    /// The venue's current view of each of these orders: from the tick's open-order list when it is there, else
    /// looked up one by one (it ended, or it was placed after the list was fetched).
    func news(
        for orders: [BotOrderRecord],
        listed: [String: VenueOrder]?,
        bot: BotRecord,
        venue: any Venue,
        keys: VenueCredentials
    ) async throws -> [String: VenueOrder] {
        var news: [String: VenueOrder] = [:]
        for record in orders {
            let id = record.order.clientOrderID
            if let order = listed?[id] {
                news[id] = order
            } else if let found = try await self.lookUp(record, bot: bot, venue: venue, keys: keys) {
                news[id] = found
            }
        }
        return news
    }

    /// One order by client id. A `pending` order the venue does not know never reached it (a crash between saving
    /// and sending): it is reported rejected, so it can be decided again.
    func lookUp(_ record: BotOrderRecord, bot: BotRecord, venue: any Venue, keys: VenueCredentials) async throws -> VenueOrder? {
        do {
            return try await venue.order(symbol: bot.symbol, clientOrderID: record.order.clientOrderID, credentials: keys)
        } catch VenueError.rejected {
            guard record.order.status == .pending else { return nil }
            return VenueOrder(
                venueOrderID: "",
                clientOrderID: record.order.clientOrderID,
                symbol: bot.symbol,
                side: record.order.side,
                type: record.order.type,
                price: record.order.price,
                quantity: record.order.quantity,
                filledQuantity: 0,
                status: .rejected
            )
        }
    }

    /// What the venue's news changes: order rows, the ledger (fills), the audit entries of fills, and the orders that
    /// ended and must be told to the strategy (once: the rows are marked told in the same transaction as its state).
    struct Folded {
        var updates: [OrderUpdate] = []
        var done: [BotOrder] = []
        var told: Set<String> = []
        var ledger: BotLedger
        var audit: [AuditEvent] = []
    }

    func fold(_ runtime: BotRuntime, news: [String: VenueOrder], price: Decimal) -> Folded {
        let state = runtime.read { $0 }
        let bot = state.bot
        var folded = Folded(ledger: bot.ledger)
        for record in state.unreported {
            folded.done.append(record.order)
            folded.told.insert(record.order.clientOrderID)
            let order = record.order
            folded.updates.append(
                OrderUpdate(
                    clientOrderID: order.clientOrderID,
                    filled: order.filled,
                    averagePrice: order.averagePrice,
                    status: order.status,
                    reported: true
                )
            )
        }
        for record in state.open.values {
            guard let current = news[record.order.clientOrderID] else { continue }
            guard current.status != record.order.status || current.filledQuantity != record.order.filled else { continue }
            // News fetched before the lock may be older than what the bot recorded since (a send that completed, a
            // fill seen by a signal): a fill never shrinks, and "never arrived" only holds for a still-pending order.
            guard current.filledQuantity >= record.order.filled else { continue }
            guard current.status != .rejected || record.order.status == .pending || current.venueOrderID != "" else { continue }
            let delta = FillAccounting.delta(
                previous: record.order,
                filled: current.filledQuantity,
                averagePrice: current.averagePrice,
                fallbackPrice: price
            )
            FillAccounting.apply(&folded.ledger, side: record.order.side, quantity: delta.quantity, quote: delta.quote)
            let ended = !current.status.isOpen
            var order = record.order
            order.filled = current.filledQuantity
            order.averagePrice = current.averagePrice
            order.status = current.status
            folded.updates.append(
                OrderUpdate(
                    clientOrderID: order.clientOrderID,
                    filled: order.filled,
                    averagePrice: order.averagePrice,
                    status: order.status,
                    reported: ended
                )
            )
            if ended { folded.told.insert(order.clientOrderID) }
            // A pending order the venue turns out to have: its placement is recorded now (the send's own record failed).
            if record.order.status == .pending, order.status != .rejected { folded.audit.append(self.placedEvent(bot, order, at: self.now())) }
            if order.status == .filled {
                folded.done.append(order)
                folded.audit.append(self.fillEvent(bot, order))
            } else if delta.quantity > 0, !order.status.isOpen {
                folded.audit.append(self.fillEvent(bot, order))
            }
        }
        return folded
    }

    func fillEvent(_ bot: BotRecord, _ order: BotOrder) -> AuditEvent {
        AuditEvent(
            .orderFilled,
            user: bot.userID,
            client: .engine,
            [
                "bot_id": bot.id.uuidString.lowercased(),
                "client_order_id": order.clientOrderID,
                "quantity": order.filled.plain,
                "price": order.averagePrice?.plain ?? "",
                "status": order.status.rawValue,
            ],
            at: self.now()
        )
    }

    // MARK: Deciding

    struct Decided: Sendable {
        var place: [OrderIntent]
        var cancel: [String]
        /// Why the strategy could not do what it wanted (funds), for the bot's status.
        var waiting: String?
    }

    /// Fold the news in, check the limits, decide, and write it all in one transaction. The bot's lock is held.
    func decide(_ runtime: BotRuntime, news: [String: VenueOrder], market: MarketData, funds: Funds) async throws -> Decided? {
        let price = market.ticker.price
        let now = self.now()
        var folded = self.fold(runtime, news: news, price: price)
        let bot = runtime.bot
        Risk.rollDay(&folded.ledger, now: now, price: price)
        if let breach = Risk.breach(bot.parameters.risk, ledger: folded.ledger, price: price) {
            try await self.write(runtime, folded, state: nil, at: now)
            try await self.riskStopLocked(bot, runtime: runtime, breach: breach)
            return nil
        }
        let (base, quote) = assets(bot.symbol, venue: bot.venue)
        let marketState = MarketState(
            price: price,
            rules: market.rules,
            time: now,
            quoteAvailable: funds.available(quote),
            baseAvailable: funds.available(base)
        )
        let open = runtime.read { state in
            state.open.values.map(\.order).filter { order in
                !folded.updates.contains { $0.clientOrderID == order.clientOrderID && !$0.status.isOpen }
            }.map { order in
                guard let update = folded.updates.first(where: { $0.clientOrderID == order.clientOrderID }) else { return order }
                var updated = order
                updated.filled = update.filled
                updated.averagePrice = update.averagePrice
                updated.status = update.status
                return updated
            }
        }
        var state = bot.state
        var decision = Decision()
        var waiting: String?
        switch (bot.parameters.strategy, state) {
        case (.grid(let parameters), .grid(var grid)):
            decision = GridStrategy.decide(parameters, state: &grid, market: marketState, orders: open + folded.done)
            state = .grid(grid)
            if decision.place.isEmpty, open.isEmpty, folded.ledger.position <= 0 {
                let needed = parameters.quantity * price * Decimal(string: "1.002")!
                if needed > marketState.quoteAvailable {
                    waiting = "Waiting: a grid order needs about \(needed.plain) \(quote) but only \(marketState.quoteAvailable.plain) is free."
                }
            }
        case (.dca(let parameters), .dca(var dca)):
            let due = dca.nextBuyAt.map { now >= $0 } ?? true
            let buys = dca.buys
            decision = DCAStrategy.decide(parameters, state: &dca, market: marketState, orders: open + folded.done)
            state = .dca(dca)
            if due, dca.buys == buys {
                waiting =
                    "Waiting: the DCA buy of \(parameters.quoteAmount.plain) \(quote) was skipped: only \(marketState.quoteAvailable.plain) is free."
            }
        default:
            break
        }
        try await self.write(runtime, folded, state: state == bot.state ? nil : state, at: now)
        return Decided(place: decision.place, cancel: decision.cancel, waiting: waiting)
    }

    /// Write what a step learned and decided in one transaction, then keep it in memory.
    func write(_ runtime: BotRuntime, _ folded: Folded, state: StrategyState?, at now: Date) async throws {
        let bot = runtime.bot
        let record = StepRecord(
            botID: bot.id,
            orders: folded.updates,
            state: state,
            ledger: folded.ledger == bot.ledger ? nil : folded.ledger,
            audit: folded.audit
        )
        guard !record.isEmpty else { return }
        try await self.bots.record(record)
        runtime.apply(record.orders, reported: folded.told, state: record.state, ledger: record.ledger, at: now)
    }

    // MARK: Status

    /// What a running bot is waiting for, written (and logged) only when it changes.
    func setWaiting(_ runtime: BotRuntime, _ reason: String?, held: Bool = false) async throws {
        guard runtime.read({ $0.waitingReason }) != reason else {
            runtime.update { $0.waitingHeld = held }
            return
        }
        try await self.bots.setWaitingReason(id: runtime.id, reason)
        runtime.update {
            $0.waitingReason = reason
            $0.waitingHeld = held
        }
        if let reason {
            self.logger.notice("bot waiting", metadata: ["bot": .string(runtime.id.uuidString.lowercased()), "reason": .string(reason)])
        }
    }

    /// A step failed: a transient failure (the venue is down, the database hiccuped) is reported and retried next
    /// tick; one the bot cannot get past (its key deleted, the venue refusing it) stops it with a sentence for its
    /// owner. The detail (error type and text) goes only to the log, under the error id the sentence quotes.
    func handle(_ error: any Error, _ runtime: BotRuntime) async {
        let bot = runtime.bot
        let errorID = self.failed("bot step failed", error, kind: "step", bot: bot.id)
        let reason: String
        var fatal = false
        switch error {
        case let error as VenueError:
            let venue = error.venue.displayName
            switch error {
            case .rateLimited:
                reason = "Waiting: \(venue) asked us to slow down; it is tried again every tick."
            case .unreachable, .invalidResponse:
                reason = "Waiting: \(venue) could not be reached or answered oddly (error id \(errorID)); it is tried again every tick."
            case .rejected(_, let code, _):
                fatal = true
                reason = "Stopped: \(venue) refused the bot's requests (\(code)). Check that its key still exists at the venue and may trade."
            case .notSupported(_, let what):
                fatal = true
                reason = "Stopped: \(what) on \(venue) is not supported yet."
            case .unavailable:
                fatal = true
                reason = "Stopped: \(venue) is unavailable on this server (error id \(errorID)); the operator can see why in the log."
            }
        case CredentialError.notFound:
            fatal = true
            reason = "Stopped: its exchange key is gone. Create the bot again with one of your current keys."
        case CredentialError.disabled(let why):
            // Its key was disabled while it was being started (the re-check's stop pass had already run).
            fatal = true
            reason = "Stopped: its exchange key was disabled. \(why)"
        default:
            reason = "Waiting: a step failed (error id \(errorID)); it is retried every tick."
        }
        guard fatal else {
            do {
                try await self.setWaiting(runtime, reason)
            } catch {
                self.failed("waiting reason not written", error, kind: "status_write", bot: bot.id)
            }
            return
        }
        do {
            try await self.locks.withLock(bot.id) {
                _ = try await self.stopLocked(
                    bot,
                    runtime: runtime,
                    status: .failed,
                    reason: reason,
                    action: .botFailed,
                    from: [.running],
                    cancel: .ifStopped
                )
            }
        } catch {
            self.failed("failed bot's stop or cancel pass did not complete; retried", error, kind: "status_write", bot: bot.id)
        }
    }
}
