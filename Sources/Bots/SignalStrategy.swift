// The signal bot: each webhook signal becomes one market order (SPEC §5); `close` sells the whole position.

import Foundation
import Venues

public struct SignalParameters: Sendable, Codable, Equatable {
    public var quantity: Decimal

    public init(quantity: Decimal) { self.quantity = quantity }

    public func validate(rules: SymbolRules, price: Decimal) throws(InvalidParameters) {
        guard self.quantity > 0, self.quantity == rules.roundQuantity(self.quantity), rules.accepts(quantity: self.quantity, price: price) else {
            throw InvalidParameters(
                "quantity must be a multiple of \(rules.stepSize), at least \(rules.minQuantity), worth at least \(rules.minNotional)"
            )
        }
    }
}

public enum SignalStrategy {
    /// The order for one signal, or nil when there is nothing to do (selling with nothing held).
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
