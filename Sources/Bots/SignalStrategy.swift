// The signal bot: each webhook signal becomes one market order (SPEC §5); `close` sells the whole position.

import Foundation
import Venues

public struct SignalParameters: Sendable, Codable, Equatable {
    /// What a signal that names no quantity buys or sells.
    public var quantity: Decimal
    /// The most one signal may ask for (default `quantity`): whoever holds the webhook secret cannot size orders beyond it.
    public var maxSignalQuantity: Decimal?

    public init(quantity: Decimal, maxSignalQuantity: Decimal? = nil) {
        self.quantity = quantity
        self.maxSignalQuantity = maxSignalQuantity
    }

    /// The largest quantity one signal may ask for.
    public var signalLimit: Decimal { self.maxSignalQuantity ?? self.quantity }

    public func validate(rules: SymbolRules, price: Decimal) throws(InvalidParameters) {
        guard self.quantity <= Limits.quantity else { throw InvalidParameters(field: "quantity", "must be at most \(Limits.quantity.plain)") }
        guard self.quantity > 0, self.quantity == rules.roundQuantity(self.quantity), rules.accepts(quantity: self.quantity, price: price) else {
            throw InvalidParameters(
                field: "quantity",
                "must be a multiple of \(rules.stepSize), at least \(rules.minQuantity), worth at least \(rules.minNotional)"
            )
        }
        if let limit = self.maxSignalQuantity {
            guard limit >= self.quantity, limit <= Limits.quantity, limit == rules.roundQuantity(limit) else {
                throw InvalidParameters(
                    field: "max_signal_quantity",
                    "must be a multiple of \(rules.stepSize), at least quantity (\(self.quantity.plain)) and at most \(Limits.quantity.plain)"
                )
            }
        }
    }
}

public enum SignalStrategy {
    /// The order for one signal, or nil when there is nothing to do (selling with nothing held). `market.baseAvailable`
    /// is what the bot itself holds: a signal bot sells only what it bought. The caller has checked the signal's
    /// quantity against `signalLimit`.
    public static func decide(_ parameters: SignalParameters, signal: Signal, market: MarketState) -> OrderIntent? {
        let key = "sig-\(signal.id)"
        switch signal.action {
        case .buy:
            let quantity = market.rules.roundQuantity(signal.quantity ?? parameters.quantity)
            return market.rules.accepts(quantity: quantity, price: market.price)
                ? OrderIntent(key: key, side: .buy, type: .market, quantity: quantity) : nil
        case .sell:
            let quantity = market.rules.roundQuantity(min(signal.quantity ?? parameters.quantity, market.baseAvailable))
            return market.rules.accepts(quantity: quantity, price: market.price)
                ? OrderIntent(key: key, side: .sell, type: .market, quantity: quantity) : nil
        case .close:
            let quantity = market.rules.roundQuantity(market.baseAvailable)
            return market.rules.accepts(quantity: quantity, price: market.price)
                ? OrderIntent(key: key, side: .sell, type: .market, quantity: quantity) : nil
        }
    }
}
