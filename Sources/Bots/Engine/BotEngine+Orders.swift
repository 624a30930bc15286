// Orders go out here, and nowhere else: each passes the pre-trade checks and the trading gate (the bot is running,
// no halt, its owner active, checked in the statement that saves it as pending) under the bot's lock.

import AuditLog
import Foundation
import Logging
import Metrics
import Synchronization
import Venues

/// What became of an order the engine wanted to send.
enum Placement: Sendable, Equatable {
    case sent(clientOrderID: String)
    /// Not sent; the bot goes on and says why.
    case refused(String)
    /// A risk limit stopped the bot, for this reason.
    case stopped(String)
    /// The gate was closed: the bot was stopped, killed or halted meanwhile.
    case closed
    /// Sent, but the venue's answer never came (a timeout): it stays pending and is looked up by client id.
    case unknown(clientOrderID: String)
}

/// Which of a stopped bot's orders are cancelled.
enum CancelPolicy: Sendable {
    case never
    /// When this stop changed the bot's status (or could not be written): a stop that lost a race with a kill or a
    /// pause leaves what those decided.
    case ifStopped
    case always
}

extension BotEngine {
    // MARK: Placing

    /// Orders a bot decided at once: checked one by one, reserved together behind the gate, sent concurrently
    /// (a kill waits for one round trip, not for each order in turn), recorded together.
    func place(
        _ intents: [OrderIntent],
        runtime: BotRuntime,
        venue: any Venue,
        keys: VenueCredentials,
        market: MarketData,
        funds: Funds
    ) async throws -> [Placement] {
        try await self.locks.withLock(runtime.id) {
            try await self.placeLocked(intents, runtime: runtime, venue: venue, keys: keys, market: market, funds: funds)
        }
    }

    /// The pre-trade checks, then `send`. The bot's lock is held.
    func placeLocked(
        _ intents: [OrderIntent],
        runtime: BotRuntime,
        venue: any Venue,
        keys: VenueCredentials,
        market: MarketData,
        funds: Funds
    ) async throws -> [Placement] {
        guard !runtime.isRetired else { return intents.map { _ in .closed } }
        let state = runtime.read { $0 }
        let now = self.now()
        let open = state.open.values.map(\.order)
        var context = PreTradeContext(
            parameters: state.bot.parameters,
            rules: market.rules,
            price: market.ticker.price,
            position: state.bot.ledger.position,
            committedSells: open.filter { $0.side == .sell }.reduce(Decimal(0)) { $0 + $1.quantity - $1.filled },
            openBuys: open.filter { $0.side == .buy }.reduce(Decimal(0)) { $0 + $1.quantity - $1.filled },
            recentOrders: state.recentOrders,
            now: now,
            priceBand: self.configuration.priceBand
        )
        let (base, quote) = assets(state.bot.symbol, venue: state.bot.venue)
        var outcomes: [Placement?] = Array(repeating: nil, count: intents.count)
        var accepted: [(index: Int, intent: OrderIntent)] = []
        for (index, intent) in intents.enumerated() {
            let asset = intent.side == .buy ? quote : base
            switch PreTradeCheck.evaluate(intent, context, available: funds.available(asset)) {
            case .refuse(let reason):
                Counter(label: "tradekeep_orders_total", dimensions: [("result", "refused")]).increment()
                outcomes[index] = .refused(reason)
            case .breach(let breach):
                Counter(label: "tradekeep_orders_total", dimensions: [("result", "risk_stop")]).increment()
                try await self.riskStopLocked(state.bot, runtime: runtime, breach: breach)
                return intents.map { _ in .stopped(breach.reason) }
            case .accept(let cost):
                guard funds.take(asset, cost) else {
                    outcomes[index] = .refused("Waiting: not enough free \(asset) for the next order.")
                    continue
                }
                accepted.append((index, intent))
                context.recentOrders.append(now)
                if intent.side == .buy { context.openBuys += intent.quantity } else { context.committedSells += intent.quantity }
            }
        }
        let sent = try await self.send(
            accepted.map(\.intent),
            bot: state.bot,
            runtime: runtime,
            venue: venue,
            keys: keys,
            gate: .running,
            price: market.ticker.price
        )
        for (position, entry) in accepted.enumerated() { outcomes[entry.index] = sent[position] }
        return outcomes.map { $0 ?? .closed }
    }

    /// Reserve the orders' client ids behind the gate, send them, record the venues' answers. The bot's lock is held.
    func send(
        _ intents: [OrderIntent],
        bot: BotRecord,
        runtime: BotRuntime?,
        venue: any Venue,
        keys: VenueCredentials,
        gate: TradingGate,
        price: Decimal
    ) async throws -> [Placement] {
        guard !intents.isEmpty else { return [] }
        let now = self.now()
        guard let reserved = try await self.bots.reserveOrders(botID: bot.id, intents: intents, gate: gate, at: now) else {
            runtime?.retire()
            Counter(label: "tradekeep_orders_total", dimensions: [("result", "gate_closed")]).increment()
            return intents.map { _ in .closed }
        }
        runtime?.update { state in
            for record in reserved { state.open[record.order.clientOrderID] = record }
            state.recentOrders = state.recentOrders.filter { $0 > now.addingTimeInterval(-60) } + reserved.map { _ in now }
        }
        let answers = await self.concurrently(reserved, limit: 8) { record in
            let order = record.order
            let request = OrderRequest(
                symbol: bot.symbol,
                side: order.side,
                type: order.type,
                quantity: order.quantity,
                price: order.price,
                clientOrderID: order.clientOrderID,
                reduceOnly: gate == .closing
            )
            return await Result { try await venue.placeOrder(request, credentials: keys) }
        }
        var ledger = runtime?.bot.ledger ?? bot.ledger
        var updates: [OrderUpdate] = []
        var audit: [AuditEvent] = []
        var told: Set<String> = []
        var outcomes: [Placement] = []
        for (record, answer) in zip(reserved, answers) {
            let id = record.order.clientOrderID
            switch answer {
            case .success(let placed):
                let delta = FillAccounting.delta(
                    previous: record.order,
                    filled: placed.filledQuantity,
                    averagePrice: placed.averagePrice,
                    fallbackPrice: price
                )
                FillAccounting.apply(&ledger, side: record.order.side, quantity: delta.quantity, quote: delta.quote)
                var order = record.order
                order.filled = placed.filledQuantity
                order.averagePrice = placed.averagePrice
                order.status = placed.status
                audit.append(self.placedEvent(bot, order, at: now))
                if placed.status == .filled { audit.append(self.fillEvent(bot, order)) }
                updates.append(
                    OrderUpdate(clientOrderID: id, filled: order.filled, averagePrice: order.averagePrice, status: order.status, reported: false)
                )
                outcomes.append(.sent(clientOrderID: id))
                Counter(label: "tradekeep_orders_total", dimensions: [("result", "sent")]).increment()
            case .failure(VenueError.rejected(let venueID, let code, let message)):
                updates.append(OrderUpdate(clientOrderID: id, filled: 0, averagePrice: nil, status: .rejected, reported: true))
                told.insert(id)
                outcomes.append(.refused("Waiting: \(venueID.displayName) refused an order (\(code): \(Self.clean(message, keys: keys)))."))
                Counter(label: "tradekeep_orders_total", dimensions: [("result", "rejected")]).increment()
                self.logger.info("order refused by the venue", metadata: ["bot": .string(bot.id.uuidString.lowercased()), "code": .string(code)])
            case .failure(let error):
                // A timeout, say: the order may or may not be at the venue. It stays pending; the next step looks it
                // up by client id before anything is decided again.
                if !(error is CancellationError) {
                    self.failed("order outcome unknown; looked up by client id next step", error, kind: "send", bot: bot.id)
                }
                outcomes.append(.unknown(clientOrderID: id))
            }
        }
        let changedLedger = ledger == (runtime?.bot.ledger ?? bot.ledger) ? nil : ledger
        try await self.bots.record(StepRecord(botID: bot.id, orders: updates, ledger: changedLedger, audit: audit))
        runtime?.apply(updates, reported: told, state: nil, ledger: changedLedger, at: now)
        // A cancelled step ends here, quietly: what it sent is recorded, what it did not know is looked up next time.
        if answers.contains(where: { if case .failure(let error) = $0 { error is CancellationError } else { false } }) {
            throw CancellationError()
        }
        return outcomes
    }

    func placedEvent(_ bot: BotRecord, _ order: BotOrder, at now: Date) -> AuditEvent {
        AuditEvent(
            .orderPlaced,
            user: bot.userID,
            client: .engine,
            [
                "bot_id": bot.id.uuidString.lowercased(),
                "client_order_id": order.clientOrderID,
                "side": order.side.rawValue,
                "quantity": order.quantity.plain,
                "price": order.price?.plain ?? "market",
            ],
            at: now
        )
    }

    /// `body` for each element, at most `limit` at a time; results in the elements' order.
    func concurrently<T: Sendable, R: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) async -> R) async -> [R] {
        await withTaskGroup(of: (Int, R).self) { group in
            var results: [R?] = Array(repeating: nil, count: items.count)
            var next = 0
            while next < min(limit, items.count) {
                let index = next
                group.addTask { (index, await body(items[index])) }
                next += 1
            }
            for await (index, result) in group {
                results[index] = result
                if next < items.count {
                    let index = next
                    group.addTask { (index, await body(items[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }

    /// A venue's refusal text, without anything that could be key material, short.
    static func clean(_ message: String, keys: VenueCredentials) -> String {
        var text = message.replacingOccurrences(of: keys.apiKey, with: "…")
        if let quoted = text.range(of: "origin_string") { text = String(text[..<quoted.lowerBound]) }
        return String(text.prefix(160)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Cancelling

    /// The strategy no longer wants this order.
    func cancel(_ key: String, runtime: BotRuntime, venue: any Venue, keys: VenueCredentials, price: Decimal) async throws {
        try await self.locks.withLock(runtime.id) {
            guard !runtime.isRetired, let record = runtime.read({ $0.open.values.first { $0.order.key == key } }) else { return }
            let bot = runtime.bot
            // Nil: the venue no longer has it open; the next step learns how it ended.
            guard
                let result = try await venue.cancelOrder(symbol: bot.symbol, clientOrderID: record.order.clientOrderID, credentials: keys)
            else { return }
            let (update, audit, ledger) = self.cancelled(record, result, bot: bot, ledger: bot.ledger, reason: "strategy", price: price)
            try await self.bots.record(StepRecord(botID: bot.id, orders: [update], ledger: ledger == bot.ledger ? nil : ledger, audit: audit))
            runtime.apply([update], reported: update.reported ? [update.clientOrderID] : [], state: nil, ledger: ledger, at: self.now())
        }
    }

    /// The row update, audit entries and ledger after the venue answered a cancel with the order's final state.
    func cancelled(
        _ record: BotOrderRecord,
        _ result: VenueOrder,
        bot: BotRecord,
        ledger: BotLedger,
        reason: String,
        price: Decimal?
    ) -> (OrderUpdate, [AuditEvent], BotLedger) {
        var ledger = ledger
        let delta = FillAccounting.delta(
            previous: record.order,
            filled: result.filledQuantity,
            averagePrice: result.averagePrice,
            fallbackPrice: price ?? record.order.price ?? 0
        )
        FillAccounting.apply(&ledger, side: record.order.side, quantity: delta.quantity, quote: delta.quote)
        var audit: [AuditEvent] = []
        if result.status == .cancelled {
            audit.append(
                AuditEvent(
                    .orderCancelled,
                    user: bot.userID,
                    client: .engine,
                    ["bot_id": bot.id.uuidString.lowercased(), "client_order_id": record.order.clientOrderID, "reason": reason],
                    at: self.now()
                )
            )
        }
        var order = record.order
        order.filled = result.filledQuantity
        order.averagePrice = result.averagePrice
        order.status = result.status
        // A fill, whole or partial before the cancel, is audited like any other.
        if result.status == .filled || delta.quantity > 0 { audit.append(self.fillEvent(bot, order)) }
        // A cancelled order needs no telling; one that filled before the cancel arrived does.
        let update = OrderUpdate(
            clientOrderID: order.clientOrderID,
            filled: order.filled,
            averagePrice: order.averagePrice,
            status: order.status,
            reported: result.status != .filled
        )
        return (update, audit, ledger)
    }

    // MARK: Stopping

    /// Stop a running bot for a risk limit it breached: its orders are cancelled, the breach is its reason.
    func riskStopLocked(_ bot: BotRecord, runtime: BotRuntime, breach: RiskBreach) async throws {
        try await self.stopLocked(
            bot,
            runtime: runtime,
            status: .riskStopped,
            reason: breach.reason,
            action: .botRiskStop,
            from: [.running],
            cancel: .ifStopped
        )
    }

    /// Stop the bot: no order goes out for it from now on, its status and reason are written with `action`'s audit
    /// entry (tried again if the write fails, and reported), and with `cancel`, every open order is cancelled after
    /// the last send in flight. The bot's lock is held.
    @discardableResult
    func stopLocked(
        _ bot: BotRecord,
        runtime: BotRuntime?,
        status: BotStatus,
        reason: String,
        action: AuditAction,
        client: ClientInfo = .engine,
        details: [String: String] = [:],
        from: Set<BotStatus>? = nil,
        cancel: CancelPolicy,
        closePositions: Bool = false
    ) async throws -> StopReport {
        runtime?.retire()
        self.retire(bot.id)
        var fields = details
        fields["bot_id"] = bot.id.uuidString.lowercased()
        fields["reason"] = reason
        let event = AuditEvent(action, user: bot.userID, client: client, fields, at: self.now())
        var report = StopReport()
        var statusError: (any Error)?
        do {
            report.stopped = try await self.writeStatus(bot.id, status, reason: reason, from: from, audit: event)
        } catch {
            // This process trades the bot no more (retired); the stop is written by a later tick, and reported now.
            self.pendingStops.withLock { $0[bot.id] = PendingStop(status: status, reason: reason, from: from, audit: event) }
            self.failed("bot stop not written; retried every tick", error, kind: "status_write", bot: bot.id)
            statusError = error
        }
        if report.stopped {
            self.logger.notice(
                "bot stopped",
                metadata: ["bot": .string(bot.id.uuidString.lowercased()), "status": .string(status.rawValue), "reason": .string(reason)]
            )
            Counter(label: "tradekeep_bot_stops_total", dimensions: [("status", status.rawValue)]).increment()
        }
        let cancelling =
            switch cancel {
            case .never: false
            case .ifStopped: report.stopped || statusError != nil
            case .always: true
            }
        if cancelling || closePositions {
            let outcome = try await self.cancelOpenOrders(bot, closePositions: closePositions)
            report.cancelled = outcome.cancelled
            report.closed = outcome.closed
            report.failed = outcome.failed
        }
        if let statusError { throw statusError }
        return report
    }

    /// Write a stop, trying again a few times: a stop that is not written would let the bot run after a restart.
    func writeStatus(_ id: UUID, _ status: BotStatus, reason: String, from: Set<BotStatus>?, audit: AuditEvent) async throws -> Bool {
        var attempt = 0
        while true {
            do {
                return try await self.bots.setStatus(id: id, status, reason: reason, from: from, audit: [audit])
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                attempt += 1
                guard attempt < self.configuration.statusWriteAttempts else { throw error }
                Counter(label: "tradekeep_engine_failures_total", dimensions: [("kind", "status_write_retry")]).increment()
                try await self.clock.sleep(for: .milliseconds(50 * attempt))
            }
        }
    }

    /// Stops that could not be written: tried again at the start of every tick until they are.
    func retryPendingStops() async {
        let pending = self.pendingStops.withLock { $0 }
        for (id, stop) in pending {
            do {
                _ = try await self.bots.setStatus(id: id, stop.status, reason: stop.reason, from: stop.from, audit: [stop.audit])
                self.pendingStops.withLock { _ = $0.removeValue(forKey: id) }
                self.logger.notice("bot stop written after a retry", metadata: ["bot": .string(id.uuidString.lowercased())])
            } catch {
                self.failed("bot stop still not written; retried next tick", error, kind: "status_write", bot: id)
            }
        }
    }

    /// Cancel every open (or pending) order of the bot, all at once; each cancel is tried up to three times and
    /// failures are returned, never dropped. With `closePositions`, what the bot holds is then sold (reduce-only).
    func cancelOpenOrders(_ bot: BotRecord, closePositions: Bool) async throws -> (cancelled: Int, closed: Int, failed: [String]) {
        let current = try await self.bots.bot(id: bot.id) ?? bot
        let open = try await self.bots.orders(botID: bot.id, openOnly: true)
        guard !open.isEmpty || (closePositions && current.ledger.position > 0) else { return (0, 0, []) }
        let venue: any Venue
        let keys: VenueCredentials
        do {
            venue = try self.venues.venue(bot.venue)
            keys = try await self.keys.keys(for: bot)
        } catch {
            // Without its key nothing can be cancelled: every open order is reported as not cancelled.
            self.failed("the bot's orders cannot be cancelled: no key or venue", error, kind: "cancel", bot: bot.id)
            return (0, 0, open.map(\.order.clientOrderID))
        }
        // The price values fills that carry none (market orders) and sizes the closing sell.
        var price = self.lastPrice(venue: bot.venue, symbol: bot.symbol)
        do {
            price = try await venue.ticker(symbol: bot.symbol).price
        } catch {
            self.failed("no fresh price for a kill", error, kind: "market_data", bot: bot.id)
        }
        let results = await self.concurrently(open, limit: 50) { record in
            (record, await self.cancelForKill(record, bot: bot, venue: venue, keys: keys))
        }
        var ledger = current.ledger
        var updates: [OrderUpdate] = []
        var audit: [AuditEvent] = []
        var failed: [String] = []
        var cancelled = 0
        for (record, result) in results {
            guard let result else {
                failed.append(record.order.clientOrderID)
                continue
            }
            let (update, entries, after) = self.cancelled(record, result, bot: current, ledger: ledger, reason: "kill", price: price)
            ledger = after
            updates.append(update)
            audit += entries
            if result.status == .cancelled { cancelled += 1 }
        }
        if !updates.isEmpty {
            try await self.bots.record(StepRecord(botID: bot.id, orders: updates, ledger: ledger == current.ledger ? nil : ledger, audit: audit))
        }
        var closed = 0
        if closePositions, ledger.position > 0 {
            guard let price else {
                return (cancelled, 0, failed + ["close-position"])
            }
            let rules = try await self.symbolRules(bot, venue: venue)
            let quantity = rules.roundQuantity(ledger.position)
            if quantity > 0 {
                var holder = current
                holder.ledger = ledger
                let intent = OrderIntent(key: "close", side: .sell, type: .market, quantity: quantity)
                switch try await self.send([intent], bot: holder, runtime: nil, venue: venue, keys: keys, gate: .closing, price: price).first {
                case .sent?: closed = 1
                case .unknown(let id)?: failed.append(id)
                default: failed.append("close-position")
                }
            }
        }
        return (cancelled, closed, failed)
    }

    /// One order's cancel for a kill, tried three times. Its final state at the venue, or nil if it could not be
    /// cancelled. An order the venue no longer has open is looked up: it filled, or (pending) it never arrived.
    func cancelForKill(_ record: BotOrderRecord, bot: BotRecord, venue: any Venue, keys: VenueCredentials) async -> VenueOrder? {
        for attempt in 0..<3 {
            do {
                if let result = try await venue.cancelOrder(symbol: bot.symbol, clientOrderID: record.order.clientOrderID, credentials: keys) {
                    return result
                }
                if let found = try await self.lookUp(record, bot: bot, venue: venue, keys: keys) {
                    // Still open (a race with a fill), or pending and not yet arrived from a send in another process:
                    // look again shortly.
                    if found.status.isOpen || (found.status == .rejected && record.order.status == .pending && attempt < 2) {
                        try await self.clock.sleep(for: .milliseconds(100 * (attempt + 1)))
                        continue
                    }
                    return found
                }
                // Not pending and unknown to the venue: nothing there to cancel.
                var gone = record.order
                gone.status = .cancelled
                return VenueOrder(
                    venueOrderID: "",
                    clientOrderID: gone.clientOrderID,
                    symbol: bot.symbol,
                    side: gone.side,
                    type: gone.type,
                    price: gone.price,
                    quantity: gone.quantity,
                    filledQuantity: gone.filled,
                    averagePrice: gone.averagePrice,
                    status: .cancelled
                )
            } catch {
                self.logger.warning(
                    "cancel failed",
                    metadata: [
                        "bot": .string(bot.id.uuidString.lowercased()), "attempt": .stringConvertible(attempt + 1),
                        "error": .string(String(describing: error)),
                    ]
                )
                if attempt < 2 { try? await self.clock.sleep(for: .milliseconds(100 * (attempt + 1))) }
            }
        }
        return nil
    }
}

/// What a stop did: whether the status changed, and what happened to the bot's orders.
public struct StopReport: Sendable, Equatable {
    public var stopped = false
    public var cancelled = 0
    public var closed = 0
    public var failed: [String] = []

    public init() {}
}

struct PendingStop: Sendable {
    let status: BotStatus
    let reason: String
    let from: Set<BotStatus>?
    let audit: AuditEvent
}
