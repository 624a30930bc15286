// The Venue protocol: key inspection, market data and trading, one implementation per exchange.

import Foundation

public enum OrderSide: String, Sendable, Codable { case buy, sell }
public enum OrderType: String, Sendable, Codable { case limit, market }

public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    /// Saved by Tradekeep before it is sent, so a crash cannot lose it; no venue ever reports this status.
    case pending
    case open
    case partiallyFilled = "partially_filled"
    case filled
    case cancelled
    case rejected

    /// Live at the venue, or possibly so (pending).
    public var isOpen: Bool { self == .pending || self == .open || self == .partiallyFilled }
}

/// An order to place. `clientOrderID` names the order at the venue. Venues refuse a second order with the id of an
/// open one (Bybit and Hyperliquid any earlier one; Binance only open ones), so after an error or timeout callers look
/// the order up by client id (which finds filled and cancelled orders too) before ever placing it again.
public struct OrderRequest: Sendable, Equatable {
    public var symbol: String
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Decimal
    /// Limit price; for market orders on venues without native market orders (Hyperliquid) the worst price accepted.
    public var price: Decimal?
    public var clientOrderID: String
    public var reduceOnly: Bool

    public init(
        symbol: String,
        side: OrderSide,
        type: OrderType,
        quantity: Decimal,
        price: Decimal? = nil,
        clientOrderID: String,
        reduceOnly: Bool = false
    ) {
        self.symbol = symbol
        self.side = side
        self.type = type
        self.quantity = quantity
        self.price = price
        self.clientOrderID = clientOrderID
        self.reduceOnly = reduceOnly
    }
}

/// An order as the venue reports it.
public struct VenueOrder: Sendable, Equatable {
    public var venueOrderID: String
    public var clientOrderID: String?
    public var symbol: String
    public var side: OrderSide
    public var type: OrderType
    public var price: Decimal?
    public var quantity: Decimal
    public var filledQuantity: Decimal
    public var averagePrice: Decimal?
    public var status: OrderStatus

    public init(
        venueOrderID: String,
        clientOrderID: String?,
        symbol: String,
        side: OrderSide,
        type: OrderType,
        price: Decimal?,
        quantity: Decimal,
        filledQuantity: Decimal,
        averagePrice: Decimal? = nil,
        status: OrderStatus
    ) {
        self.venueOrderID = venueOrderID
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.filledQuantity = filledQuantity
        self.averagePrice = averagePrice
        self.status = status
    }
}

public struct Ticker: Sendable, Equatable {
    public var symbol: String
    public var price: Decimal
    public var bid: Decimal?
    public var ask: Decimal?
    public var time: Date
}

/// The venue's rules for orders on one symbol.
public struct SymbolRules: Sendable, Equatable {
    public var symbol: String
    public var tickSize: Decimal
    public var stepSize: Decimal
    public var minQuantity: Decimal
    public var minNotional: Decimal

    /// `price` rounded down to the tick size.
    public func roundPrice(_ price: Decimal) -> Decimal { Self.floor(price, to: self.tickSize) }
    /// `quantity` rounded down to the step size.
    public func roundQuantity(_ quantity: Decimal) -> Decimal { Self.floor(quantity, to: self.stepSize) }

    static func floor(_ value: Decimal, to step: Decimal) -> Decimal {
        guard step > 0 else { return value }
        var steps = value / step
        var whole = Decimal()
        NSDecimalRound(&whole, &steps, 0, .down)
        return whole * step
    }
}

/// A position on a derivatives venue; `quantity` is signed (negative = short).
public struct Position: Sendable, Equatable {
    public var symbol: String
    public var quantity: Decimal
    public var entryPrice: Decimal?
}

public struct Balance: Sendable, Equatable {
    public var asset: String
    public var total: Decimal
    public var available: Decimal
}

/// One exchange. Credentials are passed to each call (adapters hold no secrets); every call may throw `VenueError`.
public protocol Venue: Sendable {
    var id: VenueID { get }

    /// Ask the venue what `credentials` can do: one introspection request, never retried.
    func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection

    func ticker(symbol: String) async throws -> Ticker
    func symbolRules(symbol: String) async throws -> SymbolRules

    func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder
    /// Cancel one order by client order id; returns nil if the venue no longer knows it as open.
    func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder?
    /// Cancel every open order (conditional ones included) on `symbol`; returns how many were cancelled if known.
    func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int
    func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder]
    func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder
    func positions(credentials: VenueCredentials) async throws -> [Position]
    func balances(credentials: VenueCredentials) async throws -> [Balance]
}

/// Inspection-only venues (trading arrives in a later issue) answer a clear error for trading calls.
public protocol InspectionOnlyVenue: Venue {}

extension InspectionOnlyVenue {
    public func ticker(symbol: String) async throws -> Ticker { throw VenueError.notSupported(self.id, "Market data") }
    public func symbolRules(symbol: String) async throws -> SymbolRules { throw VenueError.notSupported(self.id, "Market data") }
    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        throw VenueError.notSupported(self.id, "Trading")
    }
    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        throw VenueError.notSupported(self.id, "Trading")
    }
    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        throw VenueError.notSupported(self.id, "Trading")
    }
    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        throw VenueError.notSupported(self.id, "Trading")
    }
    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        throw VenueError.notSupported(self.id, "Trading")
    }
    public func positions(credentials: VenueCredentials) async throws -> [Position] { throw VenueError.notSupported(self.id, "Trading") }
    public func balances(credentials: VenueCredentials) async throws -> [Balance] { throw VenueError.notSupported(self.id, "Trading") }
}
