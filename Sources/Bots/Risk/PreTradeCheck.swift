// The checks every order passes before it is sent, from any strategy or signal: its size within the bot's own
// bounds, the position it leads to within max_position, the rate within max_orders_per_minute, its cost within
// the account's free balance, and its price within a band around the market.

import Foundation
import Venues

/// What the check needs to know about the bot and the market, as the engine saw them just now.
public struct PreTradeContext: Sendable {
    public var parameters: BotParameters
    public var rules: SymbolRules
    /// The market price now.
    public var price: Decimal
    /// What the bot's own fills hold, the base its open sells already promise, and what its open buys would add.
    public var position: Decimal
    public var committedSells: Decimal
    public var openBuys: Decimal
    /// When the bot's recent orders went out.
    public var recentOrders: [Date]
    public var now: Date
    /// How far (a fraction: 0.05 = 5 %) a limit price may be on the wrong side of the market.
    public var priceBand: Decimal
    /// Fees set aside on top of a buy's value (the strategies plan with 0.2 %).
    public var feeMargin: Decimal

    public init(
        parameters: BotParameters,
        rules: SymbolRules,
        price: Decimal,
        position: Decimal,
        committedSells: Decimal = 0,
        openBuys: Decimal = 0,
        recentOrders: [Date],
        now: Date,
        priceBand: Decimal,
        feeMargin: Decimal = Decimal(string: "0.002")!
    ) {
        self.parameters = parameters
        self.rules = rules
        self.price = price
        self.position = position
        self.committedSells = committedSells
        self.openBuys = openBuys
        self.recentOrders = recentOrders
        self.now = now
        self.priceBand = priceBand
        self.feeMargin = feeMargin
    }
}

public enum PreTradeVerdict: Sendable, Equatable {
    /// Send it; `cost` is the quote (buys) or base (sells) it sets aside.
    case accept(cost: Decimal)
    /// Not sent, and the bot keeps running: it says why in its status (a person can fix the cause).
    case refuse(String)
    /// Not sent, and the bot stops: a risk limit would be breached.
    case breach(RiskBreach)
}

public enum PreTradeCheck {
    /// `available` is the account's free quote (buys) or base (sells) right now.
    public static func evaluate(_ intent: OrderIntent, _ context: PreTradeContext, available: Decimal) -> PreTradeVerdict {
        let rules = context.rules
        guard intent.quantity > 0, intent.quantity == rules.roundQuantity(intent.quantity) else {
            return .refuse("Waiting: an order of \(intent.quantity.plain) is not a positive multiple of \(rules.stepSize.plain).")
        }
        if let limit = Self.maximumQuantity(intent, context), intent.quantity > limit {
            return .refuse("Refused an order of \(intent.quantity.plain): above this bot's bound of \(limit.plain).")
        }
        let reference = intent.price ?? context.price
        if let price = intent.price {
            let band = context.priceBand
            if intent.side == .buy, price > context.price * (1 + band) {
                return .refuse(
                    "Refused a buy at \(price.plain): more than \((band * 100).plain) % above the market price of \(context.price.plain)."
                )
            }
            if intent.side == .sell, price < context.price * (1 - band) {
                return .refuse(
                    "Refused a sell at \(price.plain): more than \((band * 100).plain) % below the market price of \(context.price.plain)."
                )
            }
        }
        if let breach = Risk.orderRateBreach(context.parameters.risk, recentOrders: context.recentOrders, now: context.now) {
            return .breach(breach)
        }
        switch intent.side {
        case .buy:
            // The position it could lead to: what the bot holds, plus every open buy and this one filled. A market
            // order fills at once, so exceeding the limit with one is a breach; a resting buy is held back instead.
            let exposure = context.position + context.openBuys
            if let breach = Risk.positionBreach(context.parameters.risk, position: exposure, buying: intent.quantity) {
                guard intent.type == .market else {
                    return .refuse("Waiting: another buy would take the position to \((exposure + intent.quantity).plain), above max_position.")
                }
                return .breach(breach)
            }
            let cost = intent.quantity * reference * (1 + context.feeMargin)
            guard cost <= available else {
                return .refuse("Waiting: not enough free quote to buy \(intent.quantity.plain) (needs \(cost.plain), has \(available.plain)).")
            }
            return .accept(cost: cost)
        case .sell:
            let held = context.position - context.committedSells
            guard intent.quantity <= held else {
                return .refuse("Refused a sell of \(intent.quantity.plain): the bot holds only \(max(held, 0).plain) it has not already offered.")
            }
            guard intent.quantity <= available else {
                return .refuse("Waiting: not enough free base to sell \(intent.quantity.plain) (has \(available.plain)).")
            }
            return .accept(cost: intent.quantity)
        }
    }

    /// The most one order of this bot may be: the grid's quantity, a DCA buy worth its quote amount (plus
    /// rounding), a signal's `max_signal_quantity`. Sells are bounded by what the bot holds instead.
    static func maximumQuantity(_ intent: OrderIntent, _ context: PreTradeContext) -> Decimal? {
        guard intent.side == .buy else { return nil }
        switch context.parameters.strategy {
        case .grid(let grid):
            return grid.quantity
        case .dca(let dca):
            let price = intent.price ?? context.price
            guard price > 0 else { return 0 }
            // The DCA strategy sizes with the market (or safety) price; one step of rounding is its slack.
            return dca.quoteAmount * Decimal(string: "1.01")! / price + context.rules.stepSize
        case .signal(let signal):
            return signal.signalLimit
        }
    }
}
