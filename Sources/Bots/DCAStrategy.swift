// The DCA bot: buy a fixed quote amount every interval, keep one take-profit sell for the whole position, and rest
// safety buys below the average entry; when the take-profit fills, a new cycle starts (SPEC §5).

import Foundation
import Venues

public struct DCAParameters: Sendable, Codable, Equatable {
    public var quoteAmount: Decimal
    public var intervalSeconds: Int
    public var takeProfitPct: Decimal
    public var safetyOrders: Int?
    public var safetyStepPct: Decimal?

    public init(quoteAmount: Decimal, intervalSeconds: Int, takeProfitPct: Decimal, safetyOrders: Int? = nil, safetyStepPct: Decimal? = nil) {
        self.quoteAmount = quoteAmount
        self.intervalSeconds = intervalSeconds
        self.takeProfitPct = takeProfitPct
        self.safetyOrders = safetyOrders
        self.safetyStepPct = safetyStepPct
    }

    public func validate(rules: SymbolRules, price: Decimal) throws(InvalidParameters) {
        guard self.quoteAmount <= Limits.amount else { throw InvalidParameters(field: "quote_amount", "must be at most \(Limits.amount.plain)") }
        guard self.quoteAmount >= rules.minNotional, self.quoteAmount > 0 else {
            throw InvalidParameters(field: "quote_amount", "must be at least the venue's minimum order value of \(rules.minNotional)")
        }
        guard rules.roundQuantity(self.quoteAmount / price) >= max(rules.minQuantity, rules.stepSize) else {
            throw InvalidParameters(field: "quote_amount", "buys less than the smallest quantity at the current price")
        }
        guard (10...31_536_000).contains(self.intervalSeconds) else {
            throw InvalidParameters(field: "interval_seconds", "must be between 10 and 31,536,000")
        }
        guard self.takeProfitPct > 0, self.takeProfitPct <= 1_000 else {
            throw InvalidParameters(field: "take_profit_pct", "must be above 0 and at most 1000")
        }
        guard (0...20).contains(self.safetyOrders ?? 0) else { throw InvalidParameters(field: "safety_orders", "must be between 0 and 20") }
        let step = self.safetyStepPct ?? 1
        guard step > 0, step * Decimal(self.safetyOrders ?? 0) < 100 else {
            throw InvalidParameters(field: "safety_step_pct", "× safety_orders must stay below 100")
        }
    }
}

public struct DCAState: Sendable, Codable, Equatable {
    public var cycle = 1
    public var buys = 0
    public var nextBuyAt: Date?
    /// Base bought in this cycle and what it cost.
    public var position: Decimal = 0
    public var cost: Decimal = 0
    /// Bumped whenever the position changes, so the take-profit and safety orders are replaced (new keys).
    public var version = 0

    public init() {}

    public var averageEntry: Decimal? { self.position > 0 ? self.cost / self.position : nil }
}

public enum DCAStrategy {
    /// `orders`: the bot's open orders, plus those that filled since the last decision (each reported once).
    public static func decide(_ parameters: DCAParameters, state: inout DCAState, market: MarketState, orders: [BotOrder]) -> Decision {
        let rules = market.rules
        let prefix = "dca-\(state.cycle)-"
        for order in orders where order.status == .filled && order.key.hasPrefix(prefix) {
            let price = order.averagePrice ?? order.price ?? market.price
            if order.side == .buy {
                state.position += order.filled
                state.cost += order.filled * price
                state.version += 1
            } else {
                // The take-profit filled: the cycle is done.
                state.position = 0
                state.cost = 0
                state.cycle += 1
                state.version = 0
            }
        }
        let currentPrefix = "dca-\(state.cycle)-"
        var place: [OrderIntent] = []
        var quote = market.quoteAvailable
        if state.nextBuyAt.map({ market.time >= $0 }) ?? true {
            let quantity = rules.roundQuantity(parameters.quoteAmount / market.price)
            if quote >= parameters.quoteAmount * Decimal(string: "1.002")!, rules.accepts(quantity: quantity, price: market.price) {
                place.append(OrderIntent(key: "\(currentPrefix)buy-\(state.buys)", side: .buy, type: .market, quantity: quantity))
                quote -= parameters.quoteAmount * Decimal(string: "1.002")!
                state.buys += 1
            }
            // An unaffordable buy is skipped, not queued: the next one comes at the next interval.
            state.nextBuyAt = market.time.addingTimeInterval(TimeInterval(parameters.intervalSeconds))
        }
        var wanted = Set(place.map(\.key))
        if let average = state.averageEntry {
            let takeProfit = rules.ceilPrice(average * (1 + parameters.takeProfitPct / 100))
            let quantity = rules.roundQuantity(min(state.position, market.baseAvailable + Self.lockedInTakeProfit(orders, prefix: currentPrefix)))
            let key = "\(currentPrefix)tp-\(state.version)"
            wanted.insert(key)
            if rules.accepts(quantity: quantity, price: takeProfit) && !orders.contains(where: { $0.key == key && $0.isOpen }) {
                place.append(OrderIntent(key: key, side: .sell, type: .limit, quantity: quantity, price: takeProfit))
            }
            let step = parameters.safetyStepPct ?? 1
            for index in 1...max(1, parameters.safetyOrders ?? 0) where (parameters.safetyOrders ?? 0) >= index {
                let price = rules.roundPrice(average * (1 - step * Decimal(index) / 100))
                let size = rules.roundQuantity(parameters.quoteAmount / price)
                let key = "\(currentPrefix)so\(index)-\(state.version)"
                guard price > 0, rules.accepts(quantity: size, price: price) else { continue }
                wanted.insert(key)
                guard !orders.contains(where: { $0.key == key && $0.isOpen }) else { continue }
                let cost = price * size * Decimal(string: "1.002")!
                guard quote >= cost else { continue }
                quote -= cost
                place.append(OrderIntent(key: key, side: .buy, type: .limit, quantity: size, price: price))
            }
        }
        let cancel = orders.filter { $0.isOpen && !wanted.contains($0.key) && $0.type == .limit }.map(\.key).sorted()
        return Decision(place: place, cancel: cancel)
    }

    /// Base already set aside in this cycle's open take-profit (it is replaced, so it counts as available).
    static func lockedInTakeProfit(_ orders: [BotOrder], prefix: String) -> Decimal {
        orders.filter { $0.isOpen && $0.key.hasPrefix("\(prefix)tp-") }.reduce(0) { $0 + $1.quantity - $1.filled }
    }
}
