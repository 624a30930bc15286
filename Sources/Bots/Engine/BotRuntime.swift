// A running bot as the engine holds it in memory between steps (loaded once, written through): its record, its
// open orders, the orders that ended but were not yet told to its strategy, and when its recent orders went out.

import Foundation
import Synchronization
import Venues

final class BotRuntime: Sendable {
    struct State: Sendable {
        var bot: BotRecord
        /// Live or pending orders, by client order id.
        var open: [String: BotOrderRecord]
        /// Orders that ended (filled at once, say) and that the strategy has not been told about yet.
        var unreported: [BotOrderRecord]
        var recentOrders: [Date] = []
        /// The waiting reason last written to the bot's row, so it is written (and logged) only when it changes.
        var waitingReason: String?
        /// The reason is what the bot could not do (a skipped buy, a refused order): it stays until the bot next sends
        /// an order or has a new reason, instead of lasting one step. A transient one (the venue unreachable, an
        /// order's outcome unknown) is cleared by the next step that goes through.
        var waitingHeld = false
        /// Set when the bot stops: a step in flight stops acting at its next order.
        var retired = false
    }

    let id: UUID
    private let state: Mutex<State>

    init(bot: BotRecord, orders: [BotOrderRecord]) {
        self.id = bot.id
        let open = Dictionary(
            orders.filter { $0.order.isOpen }.map { ($0.order.clientOrderID, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let unreported = orders.filter { !$0.order.isOpen && !$0.reported }
        self.state = Mutex(State(bot: bot, open: open, unreported: unreported, waitingReason: bot.statusReason))
    }

    var bot: BotRecord { self.state.withLock { $0.bot } }
    var isRetired: Bool { self.state.withLock { $0.retired } }
    var openOrders: [BotOrderRecord] { self.state.withLock { Array($0.open.values) } }

    func read<T>(_ body: (State) -> T) -> T { self.state.withLock { body($0) } }
    func update<T>(_ body: (inout State) -> T) -> T { self.state.withLock { body(&$0) } }

    func retire() { self.state.withLock { $0.retired = true } }

    /// Base the bot's open sells already promise.
    var committedSells: Decimal {
        self.state.withLock { state in
            state.open.values.filter { $0.order.side == .sell }.reduce(Decimal(0)) { $0 + $1.order.quantity - $1.order.filled }
        }
    }

    /// Fold the venue's news about orders into the record kept in memory (after it was written).
    func apply(_ updates: [OrderUpdate], reported: Set<String>, state strategyState: StrategyState?, ledger: BotLedger?, at: Date) {
        self.state.withLock { state in
            for update in updates {
                guard
                    var record = state.open[update.clientOrderID] ?? state.unreported.first(where: { $0.order.clientOrderID == update.clientOrderID })
                else { continue }
                record.order.filled = update.filled
                record.order.averagePrice = update.averagePrice
                record.order.status = update.status
                record.reported = update.reported
                record.updatedAt = at
                state.unreported.removeAll { $0.order.clientOrderID == update.clientOrderID }
                if update.status.isOpen {
                    state.open[update.clientOrderID] = record
                } else {
                    state.open[update.clientOrderID] = nil
                    if !update.reported { state.unreported.append(record) }
                }
            }
            state.unreported.removeAll { reported.contains($0.order.clientOrderID) }
            if let strategyState { state.bot.state = strategyState }
            if let ledger { state.bot.ledger = ledger }
        }
    }
}

/// How an order's news changes the bot's ledger: the fill since we last looked, at its price.
enum FillAccounting {
    /// The base and quote of the part of `current` filled since `previous` was recorded.
    static func delta(previous: BotOrder, filled: Decimal, averagePrice: Decimal?, fallbackPrice: Decimal) -> (quantity: Decimal, quote: Decimal) {
        let quantity = filled - previous.filled
        guard quantity > 0 else { return (0, 0) }
        let newQuote = filled * (averagePrice ?? previous.price ?? fallbackPrice)
        let oldQuote = previous.filled * (previous.averagePrice ?? previous.price ?? fallbackPrice)
        return (quantity, newQuote - oldQuote)
    }

    static func apply(_ ledger: inout BotLedger, side: OrderSide, quantity: Decimal, quote: Decimal) {
        guard quantity > 0 else { return }
        switch side {
        case .buy:
            ledger.position += quantity
            ledger.quoteFlow -= quote
        case .sell:
            ledger.position -= quantity
            ledger.quoteFlow += quote
        }
    }
}
