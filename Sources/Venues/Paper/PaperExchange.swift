// The embedded paper venue's matching engine: limit and market orders, partial fills, fees, balances, positions and PnL.

import Foundation

/// One paper market. Prices move with the feed; `depthPerTick` is how much of the base asset resting orders can fill
/// at one price step, so large orders fill partially over several steps.
public struct PaperMarket: Sendable, Codable, Equatable {
    public var symbol: String
    public var base: String
    public var quote: String
    public var tickSize: Decimal
    public var stepSize: Decimal
    public var minNotional: Decimal
    public var price: Decimal
    public var depthPerTick: Decimal

    public static let defaults: [PaperMarket] = [
        PaperMarket(
            symbol: "BTCUSDT",
            base: "BTC",
            quote: "USDT",
            tickSize: Decimal(string: "0.01")!,
            stepSize: Decimal(string: "0.00001")!,
            minNotional: 5,
            price: 50_000,
            depthPerTick: 1
        ),
        PaperMarket(
            symbol: "ETHUSDT",
            base: "ETH",
            quote: "USDT",
            tickSize: Decimal(string: "0.01")!,
            stepSize: Decimal(string: "0.0001")!,
            minNotional: 5,
            price: 3_000,
            depthPerTick: 20
        ),
        PaperMarket(
            symbol: "SOLUSDT",
            base: "SOL",
            quote: "USDT",
            tickSize: Decimal(string: "0.001")!,
            stepSize: Decimal(string: "0.01")!,
            minNotional: 5,
            price: 150,
            depthPerTick: 500
        ),
    ]
}

public struct PaperConfiguration: Sendable {
    public var startingQuote: Decimal = 10_000
    public var makerFee: Decimal = Decimal(string: "0.001")!
    public var takerFee: Decimal = Decimal(string: "0.001")!
    /// Half the bid–ask spread, as a fraction of the price.
    public var halfSpread: Decimal = Decimal(string: "0.0001")!
    public var markets: [PaperMarket] = PaperMarket.defaults

    public init() {}
}

/// An order as the paper venue keeps it.
public struct PaperOrder: Sendable, Codable, Equatable {
    public var id: Int64
    public var account: String
    public var clientOrderID: String
    public var symbol: String
    public var side: OrderSide
    public var type: OrderType
    public var price: Decimal?
    public var quantity: Decimal
    public var filled: Decimal
    public var filledQuote: Decimal
    public var status: OrderStatus
    /// Quote still set aside for an open buy (limit × remaining × (1 + fee)).
    public var reservedQuote: Decimal
    public var createdAt: Date

    public init(
        id: Int64,
        account: String,
        clientOrderID: String,
        symbol: String,
        side: OrderSide,
        type: OrderType,
        price: Decimal?,
        quantity: Decimal,
        filled: Decimal,
        filledQuote: Decimal,
        status: OrderStatus,
        reservedQuote: Decimal,
        createdAt: Date
    ) {
        self.id = id
        self.account = account
        self.clientOrderID = clientOrderID
        self.symbol = symbol
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.filled = filled
        self.filledQuote = filledQuote
        self.status = status
        self.reservedQuote = reservedQuote
        self.createdAt = createdAt
    }

    var remaining: Decimal { self.quantity - self.filled }
    var isOpen: Bool { self.status == .open || self.status == .partiallyFilled }

    var venueOrder: VenueOrder {
        VenueOrder(
            venueOrderID: String(self.id),
            clientOrderID: self.clientOrderID,
            symbol: self.symbol,
            side: self.side,
            type: self.type,
            price: self.price,
            quantity: self.quantity,
            filledQuantity: self.filled,
            averagePrice: self.filled > 0 ? self.filledQuote / self.filled : nil,
            status: self.status
        )
    }
}

/// A user's paper wallet: free and locked amounts per asset, and realised PnL per symbol.
public struct PaperAccount: Sendable, Codable, Equatable {
    public var free: [String: Decimal] = [:]
    public var locked: [String: Decimal] = [:]
    /// Average entry price of the base asset held, per symbol.
    public var entryPrice: [String: Decimal] = [:]
    public var realizedPnL: [String: Decimal] = [:]
    public var feesPaid: Decimal = 0

    public init(
        free: [String: Decimal] = [:],
        locked: [String: Decimal] = [:],
        entryPrice: [String: Decimal] = [:],
        realizedPnL: [String: Decimal] = [:],
        feesPaid: Decimal = 0
    ) {
        self.free = free
        self.locked = locked
        self.entryPrice = entryPrice
        self.realizedPnL = realizedPnL
        self.feesPaid = feesPaid
    }
}

/// The paper venue's live state, as it keeps it in memory and continues from after a restart: prices, wallets, and
/// the open orders (plus closed ones whose change is not saved yet; once saved, the ledger archives them).
public struct PaperSnapshot: Sendable, Codable, Equatable {
    public var prices: [String: Decimal]
    public var accounts: [String: PaperAccount]
    public var orders: [PaperOrder]
    public var nextOrderID: Int64
    public var feedPosition: UInt64
    public var time: Date

    public init(
        prices: [String: Decimal],
        accounts: [String: PaperAccount],
        orders: [PaperOrder],
        nextOrderID: Int64,
        feedPosition: UInt64,
        time: Date
    ) {
        self.prices = prices
        self.accounts = accounts
        self.orders = orders
        self.nextOrderID = nextOrderID
        self.feedPosition = feedPosition
        self.time = time
    }
}

public enum PaperError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownSymbol(String)
    case insufficientBalance(String)
    case duplicateClientOrderID
    case invalidOrder(String)
    case unknownOrder

    public var code: String {
        switch self {
        case .unknownSymbol: "unknown_symbol"
        case .insufficientBalance: "insufficient_balance"
        case .duplicateClientOrderID: "duplicate_client_order_id"
        case .invalidOrder: "invalid_order"
        case .unknownOrder: "unknown_order"
        }
    }

    public var description: String {
        switch self {
        case .unknownSymbol(let symbol): "\(symbol) is not a paper market (BTCUSDT, ETHUSDT, SOLUSDT)"
        case .insufficientBalance(let asset): "not enough free \(asset) for this order"
        case .duplicateClientOrderID: "an order with this client order id already exists"
        case .invalidOrder(let why): why
        case .unknownOrder: "no order with this client order id"
        }
    }
}

/// The matching engine. One actor holds every paper account, so each operation is atomic. It keeps live state only
/// (prices, wallets, open orders) and notes what each operation changed, for the venue to save as rows; a closed
/// order leaves memory once the change that closed it is saved.
public actor PaperExchange {
    public nonisolated let configuration: PaperConfiguration
    private var markets: [String: PaperMarket]
    private var accounts: [String: PaperAccount]
    private var orders: PaperOrders
    private var nextOrderID: Int64
    private var feed: any PriceFeed
    private var time: Date
    private var changes: PaperChangeLog

    /// A fresh exchange, or one that continues from `snapshot` (as saved: only its closed orders still need saving).
    public init(configuration: PaperConfiguration = PaperConfiguration(), feed: any PriceFeed, snapshot: PaperSnapshot? = nil, now: Date = Date()) {
        self.configuration = configuration
        var markets = Dictionary(uniqueKeysWithValues: configuration.markets.map { ($0.symbol, $0) })
        for (symbol, price) in snapshot?.prices ?? [:] where markets[symbol] != nil { markets[symbol]?.price = price }
        self.markets = markets
        self.accounts = snapshot?.accounts ?? [:]
        self.orders = PaperOrders(snapshot?.orders ?? [])
        self.nextOrderID = snapshot?.nextOrderID ?? 1
        self.feed = feed
        self.time = snapshot?.time ?? now
        var changes = PaperChangeLog.unsaved
        if let snapshot { changes.reset(unsavedOrders: snapshot.orders.filter { !$0.isOpen }.map(\.id)) }
        self.changes = changes
    }

    /// Continue from the saved state (after start-up has read it), with the feed resumed where it was; with no saved
    /// state, start fresh on `feed`.
    public func restore(_ snapshot: PaperSnapshot?, feed: any PriceFeed) {
        self.feed = feed
        guard let snapshot else {
            self.changes.touchMeta()
            return
        }
        for (symbol, price) in snapshot.prices where self.markets[symbol] != nil { self.markets[symbol]!.price = price }
        self.accounts = snapshot.accounts
        self.orders = PaperOrders(snapshot.orders)
        self.nextOrderID = snapshot.nextOrderID
        self.time = snapshot.time
        self.changes.reset(unsavedOrders: snapshot.orders.filter { !$0.isOpen }.map(\.id))
    }

    /// What the exchange holds in memory: live state, and closed orders not saved yet.
    public func snapshot() -> PaperSnapshot {
        PaperSnapshot(
            prices: self.markets.mapValues(\.price),
            accounts: self.accounts,
            orders: self.orders.byID.values.sorted { $0.id < $1.id },
            nextOrderID: self.nextOrderID,
            feedPosition: self.feed.position,
            time: self.time
        )
    }

    // MARK: Changes

    /// Run `body` on the exchange; returns its result and the change version it reached. Once a save covering that
    /// version completes, the change is durable.
    func applying<T: Sendable>(_ body: @Sendable (isolated PaperExchange) throws -> T) rethrows -> (result: T, version: UInt64) {
        let result = try body(self)
        return (result, self.changes.epoch)
    }

    /// The current value of everything changed since the last save; later changes go to the next set.
    func pendingChanges() -> PaperChanges {
        let prices = self.changes.prices == nil ? nil : self.markets.mapValues(\.price)
        let meta =
            self.changes.meta == nil ? nil : PaperMeta(nextOrderID: self.nextOrderID, feedPosition: self.feed.position, time: self.time)
        let accounts = Dictionary(uniqueKeysWithValues: self.changes.accounts.keys.compactMap { key in self.accounts[key].map { (key, $0) } })
        let orders = self.changes.orders.keys.sorted().compactMap { self.orders[$0] }
        let version = self.changes.closeEpoch()
        return PaperChanges(version: version, prices: prices, meta: meta, accounts: accounts, orders: orders)
    }

    /// A save through `version` completed: what it covered is clean, and the orders it closed leave memory.
    func didSave(through version: UInt64) {
        for id in self.changes.saved(through: version) where self.orders[id]?.isOpen == false {
            self.orders.evict(id)
        }
    }

    // MARK: Prices

    /// Move every price one feed step and fill the resting orders the new prices reach.
    public func tick(now: Date = Date()) {
        self.time = now
        let moved = self.feed.next(from: self.markets.mapValues(\.price))
        for (symbol, price) in moved where self.markets[symbol] != nil {
            self.markets[symbol]!.price = self.round(price, to: self.markets[symbol]!.tickSize)
        }
        self.changes.touchPrices()
        self.changes.touchMeta()
        for symbol in self.markets.keys.sorted() { self.matchResting(symbol) }
    }

    /// Set a price directly (tests, and CSV start-up), then match.
    public func setPrice(_ symbol: String, _ price: Decimal) throws {
        guard self.markets[symbol] != nil else { throw PaperError.unknownSymbol(symbol) }
        self.markets[symbol]!.price = price
        self.changes.touchPrices()
        self.matchResting(symbol)
    }

    func market(_ symbol: String) throws -> PaperMarket {
        guard let market = self.markets[symbol] else { throw PaperError.unknownSymbol(symbol) }
        return market
    }

    func bid(_ market: PaperMarket) -> Decimal { self.round(market.price * (1 - self.configuration.halfSpread), to: market.tickSize) }
    func ask(_ market: PaperMarket) -> Decimal { self.round(market.price * (1 + self.configuration.halfSpread), to: market.tickSize, up: true) }

    public func ticker(_ symbol: String) throws -> Ticker {
        let market = try self.market(symbol)
        return Ticker(symbol: symbol, price: market.price, bid: self.bid(market), ask: self.ask(market), time: self.time)
    }

    public func rules(_ symbol: String) throws -> SymbolRules {
        let market = try self.market(symbol)
        return SymbolRules(
            symbol: symbol,
            tickSize: market.tickSize,
            stepSize: market.stepSize,
            minQuantity: market.stepSize,
            minNotional: market.minNotional
        )
    }

    // MARK: Orders

    /// Place an order: checked against the market's rules and the account's free balance, funds set aside, and
    /// matched at once if it crosses (taker); what is left of a limit order rests (maker).
    ///
    /// A client order id is refused while an earlier order with it is open or not yet saved, like Binance (which
    /// refuses only open ones): once a closed order is archived, its id may name a new order, and look-ups by client
    /// order id answer the newest.
    public func place(account: String, _ request: OrderRequest) throws -> VenueOrder {
        let market = try self.market(request.symbol)
        guard !request.clientOrderID.isEmpty, request.clientOrderID.count <= 64 else {
            throw PaperError.invalidOrder("client order id must be 1–64 characters")
        }
        guard self.orders.order(account: account, clientOrderID: request.clientOrderID) == nil else {
            throw PaperError.duplicateClientOrderID
        }
        guard request.quantity > 0, request.quantity == SymbolRules.floor(request.quantity, to: market.stepSize) else {
            throw PaperError.invalidOrder("quantity must be a positive multiple of \(market.stepSize.plain)")
        }
        let reference: Decimal
        switch request.type {
        case .limit:
            guard let price = request.price, price > 0, price == SymbolRules.floor(price, to: market.tickSize) else {
                throw PaperError.invalidOrder("a limit order needs a positive price, a multiple of \(market.tickSize.plain)")
            }
            reference = price
        case .market:
            reference = request.side == .buy ? self.ask(market) : self.bid(market)
        }
        guard reference * request.quantity >= market.minNotional else {
            throw PaperError.invalidOrder("order value below the minimum of \(market.minNotional.plain) \(market.quote)")
        }
        var wallet = self.accounts[account] ?? self.newAccount()
        var order = PaperOrder(
            id: self.nextOrderID,
            account: account,
            clientOrderID: request.clientOrderID,
            symbol: request.symbol,
            side: request.side,
            type: request.type,
            price: request.type == .limit ? request.price : nil,
            quantity: request.quantity,
            filled: 0,
            filledQuote: 0,
            status: .open,
            reservedQuote: 0,
            createdAt: self.time
        )
        switch request.side {
        case .buy:
            let needed = reference * request.quantity * (1 + max(self.configuration.makerFee, self.configuration.takerFee))
            guard (wallet.free[market.quote] ?? 0) >= needed else { throw PaperError.insufficientBalance(market.quote) }
            wallet.free[market.quote, default: 0] -= needed
            wallet.locked[market.quote, default: 0] += needed
            order.reservedQuote = needed
        case .sell:
            guard (wallet.free[market.base] ?? 0) >= request.quantity else { throw PaperError.insufficientBalance(market.base) }
            wallet.free[market.base, default: 0] -= request.quantity
            wallet.locked[market.base, default: 0] += request.quantity
        }
        self.nextOrderID += 1
        self.changes.touchMeta()
        self.setWallet(wallet, of: account)
        // A taker fills at the touch, up to one step's depth; a market order's remainder is cancelled (IOC).
        let touch = request.side == .buy ? self.ask(market) : self.bid(market)
        let crosses = request.type == .market || (request.side == .buy ? touch <= reference : touch >= reference)
        if crosses { self.fill(&order, quantity: min(order.remaining, market.depthPerTick), price: touch, fee: self.configuration.takerFee) }
        if order.type == .market && order.isOpen { self.close(&order, as: .cancelled) }
        self.record(order)
        return order.venueOrder
    }

    /// Cancel by client order id; nil if it is not open.
    public func cancel(account: String, symbol: String, clientOrderID: String) -> VenueOrder? {
        guard var order = self.orders.order(account: account, clientOrderID: clientOrderID), order.symbol == symbol, order.isOpen else {
            return nil
        }
        self.close(&order, as: .cancelled)
        self.record(order)
        return order.venueOrder
    }

    public func cancelAll(account: String, symbol: String?) -> Int {
        var count = 0
        for var order in self.orders.open(account: account) where symbol == nil || order.symbol == symbol {
            self.close(&order, as: .cancelled)
            self.record(order)
            count += 1
        }
        return count
    }

    public func openOrders(account: String, symbol: String?) -> [VenueOrder] {
        self.orders.open(account: account).filter { symbol == nil || $0.symbol == symbol }.map(\.venueOrder)
    }

    /// The newest order in memory with this client order id (open, or closed and not saved yet).
    public func order(account: String, clientOrderID: String) throws -> VenueOrder {
        guard let order = self.orders.order(account: account, clientOrderID: clientOrderID) else { throw PaperError.unknownOrder }
        return order.venueOrder
    }

    /// Keep the order's new state in memory, to be saved.
    func record(_ order: PaperOrder) {
        self.orders.store(order)
        self.changes.touch(order: order.id)
    }

    // MARK: Accounts

    func newAccount() -> PaperAccount {
        var account = PaperAccount()
        account.free["USDT"] = self.configuration.startingQuote
        return account
    }

    func setWallet(_ wallet: PaperAccount, of account: String) {
        self.accounts[account] = wallet
        self.changes.touch(account: account)
    }

    public func balances(account: String) -> [Balance] {
        let wallet = self.accounts[account] ?? self.newAccount()
        let assets = Set(wallet.free.keys).union(wallet.locked.keys).sorted()
        return assets.map { asset in
            let free = wallet.free[asset] ?? 0
            return Balance(asset: asset, total: free + (wallet.locked[asset] ?? 0), available: free)
        }
    }

    /// Holdings of each market's base asset, with their average entry price.
    public func positions(account: String) -> [Position] {
        let wallet = self.accounts[account] ?? self.newAccount()
        return self.markets.values.sorted { $0.symbol < $1.symbol }.compactMap { market in
            let held = (wallet.free[market.base] ?? 0) + (wallet.locked[market.base] ?? 0)
            return held > 0 ? Position(symbol: market.symbol, quantity: held, entryPrice: wallet.entryPrice[market.symbol]) : nil
        }
    }

    /// Realised PnL (fees included) and unrealised PnL at the current price, per symbol.
    public func pnl(account: String) -> [String: (realized: Decimal, unrealized: Decimal)] {
        let wallet = self.accounts[account] ?? self.newAccount()
        var result: [String: (Decimal, Decimal)] = [:]
        for market in self.markets.values {
            let held = (wallet.free[market.base] ?? 0) + (wallet.locked[market.base] ?? 0)
            let unrealized = held > 0 ? (market.price - (wallet.entryPrice[market.symbol] ?? market.price)) * held : 0
            result[market.symbol] = (wallet.realizedPnL[market.symbol] ?? 0, unrealized)
        }
        return result
    }

    // MARK: Matching

    /// Resting orders the price has reached fill at their own price (maker), best price first, up to one step's depth.
    func matchResting(_ symbol: String) {
        guard let market = self.markets[symbol] else { return }
        var depth = market.depthPerTick
        // Oldest first, then this sort: the order a scan of every order would give.
        let candidates = self.orders.reached(symbol: symbol, bid: self.bid(market), ask: self.ask(market)).sorted { a, b in
            if a.price != b.price { return a.side == .buy ? a.price! > b.price! : a.price! < b.price! }
            return a.id < b.id
        }
        for var order in candidates where depth > 0 {
            let quantity = min(order.remaining, depth)
            depth -= quantity
            self.fill(&order, quantity: quantity, price: order.price!, fee: self.configuration.makerFee)
            self.record(order)
        }
    }

    /// Move `quantity` at `price` between the order's account balances, charging `fee` in the quote asset.
    func fill(_ order: inout PaperOrder, quantity: Decimal, price: Decimal, fee: Decimal) {
        guard quantity > 0, let market = self.markets[order.symbol], var wallet = self.accounts[order.account] else { return }
        let notional = price * quantity
        let charge = notional * fee
        switch order.side {
        case .buy:
            let cost = notional + charge
            order.reservedQuote -= cost
            wallet.locked[market.quote, default: 0] -= cost
            let held = (wallet.free[market.base] ?? 0) + (wallet.locked[market.base] ?? 0)
            let entry = wallet.entryPrice[market.symbol] ?? 0
            wallet.entryPrice[market.symbol] = (entry * held + notional) / (held + quantity)
            wallet.free[market.base, default: 0] += quantity
            wallet.realizedPnL[market.symbol, default: 0] -= charge
        case .sell:
            wallet.locked[market.base, default: 0] -= quantity
            wallet.free[market.quote, default: 0] += notional - charge
            let entry = wallet.entryPrice[market.symbol] ?? price
            wallet.realizedPnL[market.symbol, default: 0] += (price - entry) * quantity - charge
        }
        wallet.feesPaid += charge
        order.filled += quantity
        order.filledQuote += notional
        order.status = order.filled >= order.quantity ? .filled : .partiallyFilled
        self.setWallet(wallet, of: order.account)
        if order.status == .filled { self.release(&order) }
    }

    /// Stop an order and give back what it still had set aside.
    func close(_ order: inout PaperOrder, as status: OrderStatus) {
        order.status = status
        self.release(&order)
    }

    func release(_ order: inout PaperOrder) {
        guard let market = self.markets[order.symbol], var wallet = self.accounts[order.account] else { return }
        switch order.side {
        case .buy:
            wallet.locked[market.quote, default: 0] -= order.reservedQuote
            wallet.free[market.quote, default: 0] += order.reservedQuote
            order.reservedQuote = 0
        case .sell:
            let left = order.quantity - order.filled
            guard left > 0, order.status != .filled else { break }
            wallet.locked[market.base, default: 0] -= left
            wallet.free[market.base, default: 0] += left
        }
        self.setWallet(wallet, of: order.account)
    }

    func round(_ value: Decimal, to step: Decimal, up: Bool = false) -> Decimal {
        guard step > 0 else { return value }
        var steps = value / step
        var whole = Decimal()
        NSDecimalRound(&whole, &steps, 0, up ? .up : .down)
        return whole * step
    }
}
