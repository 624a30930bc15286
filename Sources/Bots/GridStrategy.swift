// The grid bot: buy orders on evenly spaced levels below the price; each filled buy is sold one level higher, and
// each filled sell re-opens the buy below it (SPEC §5).

import Foundation
import Venues

public struct GridParameters: Sendable, Codable, Equatable {
    public var lower: Decimal?
    public var upper: Decimal?
    /// Instead of lower/upper: ± this percentage around the price when the bot first runs.
    public var rangePct: Decimal?
    public var levels: Int
    public var quantity: Decimal

    public init(lower: Decimal? = nil, upper: Decimal? = nil, rangePct: Decimal? = nil, levels: Int, quantity: Decimal) {
        self.lower = lower
        self.upper = upper
        self.rangePct = rangePct
        self.levels = levels
        self.quantity = quantity
    }

    public func validate(rules: SymbolRules, price: Decimal) throws(InvalidParameters) {
        guard (2...200).contains(self.levels) else { throw InvalidParameters(field: "levels", "must be between 2 and 200") }
        switch (self.lower, self.upper, self.rangePct) {
        case (let lower?, let upper?, nil):
            guard lower > 0, lower < upper else { throw InvalidParameters(field: "lower", "must be positive and below upper") }
            guard upper <= Limits.amount else { throw InvalidParameters(field: "upper", "must be at most \(Limits.amount.plain)") }
        case (nil, nil, let range?):
            guard range > 0, range < 100 else { throw InvalidParameters(field: "range_pct", "must be between 0 and 100") }
        default:
            throw InvalidParameters("give either lower and upper, or range_pct")
        }
        guard self.quantity <= Limits.quantity else { throw InvalidParameters(field: "quantity", "must be at most \(Limits.quantity.plain)") }
        guard self.quantity > 0, self.quantity == rules.roundQuantity(self.quantity), self.quantity >= rules.minQuantity else {
            throw InvalidParameters(field: "quantity", "must be a positive multiple of \(rules.stepSize) and at least \(rules.minQuantity)")
        }
        let (low, high) = self.bounds(price: price)
        guard self.quantity * low >= rules.minNotional else {
            throw InvalidParameters(field: "quantity", "× the lowest price is below the venue's minimum order value of \(rules.minNotional)")
        }
        guard (high - low) / Decimal(self.levels - 1) >= rules.tickSize else { throw InvalidParameters("the levels are closer than one price tick") }
    }

    func bounds(price: Decimal) -> (Decimal, Decimal) {
        if let lower = self.lower, let upper = self.upper { return (lower, upper) }
        let range = price * (self.rangePct ?? 0) / 100
        return (price - range, price + range)
    }
}

/// Grid state: the level prices (fixed when the bot first runs) and which levels hold a bought quantity.
public struct GridState: Sendable, Codable, Equatable {
    public var levels: [Decimal] = []
    public var holding: Set<Int> = []
    public var completedCycles = 0

    public init() {}
}

public enum GridStrategy {
    static func buyKey(_ level: Int) -> String { "grid-buy-\(level)" }
    static func sellKey(_ level: Int) -> String { "grid-sell-\(level)" }

    /// `orders`: the bot's open orders, plus those that filled since the last decision (each reported once).
    /// Fold in what filled, then want: a sell one level up for each held level, a buy at each free level below the
    /// price (nearest first, as far as the free quote reaches); cancel any open order that is no longer wanted.
    public static func decide(_ parameters: GridParameters, state: inout GridState, market: MarketState, orders: [BotOrder]) -> Decision {
        let rules = market.rules
        if state.levels.isEmpty {
            let (low, high) = parameters.bounds(price: market.price)
            let step = (high - low) / Decimal(parameters.levels - 1)
            state.levels = (0..<parameters.levels).map { rules.roundPrice(low + step * Decimal($0)) }
        }
        for order in orders where order.status == .filled {
            if order.key.hasPrefix("grid-buy-"), let level = Int(order.key.dropFirst("grid-buy-".count)) { state.holding.insert(level) }
            if order.key.hasPrefix("grid-sell-"), let level = Int(order.key.dropFirst("grid-sell-".count)), state.holding.remove(level) != nil {
                state.completedCycles += 1
            }
        }
        let open = Dictionary(orders.filter(\.isOpen).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        var wanted: [OrderIntent] = []
        var base = market.baseAvailable
        var quote = market.quoteAvailable
        // Sells first: they use the base the grid already bought.
        for level in state.holding.sorted() where level + 1 < state.levels.count {
            let key = Self.sellKey(level)
            if open[key] != nil {
                wanted.append(OrderIntent(key: key, side: .sell, type: .limit, quantity: parameters.quantity, price: state.levels[level + 1]))
                continue
            }
            guard base >= parameters.quantity else { continue }
            base -= parameters.quantity
            wanted.append(OrderIntent(key: key, side: .sell, type: .limit, quantity: parameters.quantity, price: state.levels[level + 1]))
        }
        // Buys below the price, nearest first, while the free quote lasts (insufficient balance: the rest wait).
        // A resting buy stays whatever the price does: it fills when the price comes down to it.
        for level in (0..<(state.levels.count - 1)).reversed() where !state.holding.contains(level) {
            let key = Self.buyKey(level)
            let price = state.levels[level]
            if open[key] != nil {
                wanted.append(OrderIntent(key: key, side: .buy, type: .limit, quantity: parameters.quantity, price: price))
                continue
            }
            guard price < market.price else { continue }
            let cost = price * parameters.quantity * Decimal(string: "1.002")!
            guard quote >= cost, rules.accepts(quantity: parameters.quantity, price: price) else { continue }
            quote -= cost
            wanted.append(OrderIntent(key: key, side: .buy, type: .limit, quantity: parameters.quantity, price: price))
        }
        let wantedKeys = Set(wanted.map(\.key))
        return Decision(place: wanted.filter { open[$0.key] == nil }, cancel: open.keys.filter { !wantedKeys.contains($0) }.sorted())
    }
}
