// What a strategy sees and what it decides: pure values, so each strategy is a function testable without I/O.

import Foundation
import Venues

/// The market and the bot's funds as the engine saw them just now.
public struct MarketState: Sendable, Equatable {
    public var price: Decimal
    public var rules: SymbolRules
    public var time: Date
    /// Free quote (e.g. USDT) and base (e.g. BTC) the bot may use.
    public var quoteAvailable: Decimal
    public var baseAvailable: Decimal

    public init(price: Decimal, rules: SymbolRules, time: Date, quoteAvailable: Decimal, baseAvailable: Decimal) {
        self.price = price
        self.rules = rules
        self.time = time
        self.quoteAvailable = quoteAvailable
        self.baseAvailable = baseAvailable
    }
}

/// One of the bot's orders as the venue last reported it; `key` is the strategy's name for its role.
public struct BotOrder: Sendable, Codable, Equatable {
    public var key: String
    public var clientOrderID: String
    public var side: OrderSide
    public var type: OrderType
    public var price: Decimal?
    public var quantity: Decimal
    public var filled: Decimal
    public var averagePrice: Decimal?
    public var status: OrderStatus

    public init(
        key: String,
        clientOrderID: String,
        side: OrderSide,
        type: OrderType,
        price: Decimal?,
        quantity: Decimal,
        filled: Decimal = 0,
        averagePrice: Decimal? = nil,
        status: OrderStatus = .open
    ) {
        self.key = key
        self.clientOrderID = clientOrderID
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.filled = filled
        self.averagePrice = averagePrice
        self.status = status
    }

    public var isOpen: Bool { self.status.isOpen }
}

/// An order the strategy wants; the engine gives it a client order id derived from the bot and a sequence.
public struct OrderIntent: Sendable, Equatable {
    public var key: String
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Decimal
    public var price: Decimal?

    public init(key: String, side: OrderSide, type: OrderType, quantity: Decimal, price: Decimal? = nil) {
        self.key = key
        self.side = side
        self.type = type
        self.quantity = quantity
        self.price = price
    }
}

/// What a decision asks the engine to do.
public struct Decision: Sendable, Equatable {
    public var place: [OrderIntent] = []
    /// Keys of open orders to cancel.
    public var cancel: [String] = []

    public init(place: [OrderIntent] = [], cancel: [String] = []) {
        self.place = place
        self.cancel = cancel
    }
}

/// A TradingView-style signal (SPEC §5).
public struct Signal: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable { case buy, sell, close }
    public var id: String
    public var action: Action
    public var quantity: Decimal?

    public init(id: String, action: Action, quantity: Decimal? = nil) {
        self.id = id
        self.action = action
        self.quantity = quantity
    }
}

/// A parameter problem, for the API's 422: which parameter, and what it must be.
public struct InvalidParameters: Error, Sendable, Equatable, CustomStringConvertible {
    /// The parameter at fault as the API names it under `params` (`quantity`, `risk.max_position`), if one is.
    public let field: String?
    public let message: String

    public init(field: String, _ problem: String) {
        self.field = field
        self.message = "`params.\(field)` \(problem)."
    }

    public init(_ message: String) {
        self.field = nil
        self.message = message
    }

    public var description: String { self.message }
}

extension SymbolRules {
    /// Up to the next tick (sell prices that must not undercut a target).
    func ceilPrice(_ price: Decimal) -> Decimal {
        let floor = self.roundPrice(price)
        return floor == price ? floor : floor + self.tickSize
    }

    /// Whether an order of this size at this price meets the venue's minimums.
    func accepts(quantity: Decimal, price: Decimal) -> Bool {
        quantity > 0 && quantity >= self.minQuantity && quantity * price >= self.minNotional
    }
}
