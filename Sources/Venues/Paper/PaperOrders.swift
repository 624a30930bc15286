// The orders the paper exchange keeps in memory, indexed so that no operation scans more than the live orders.

import Foundation

/// Open orders, and closed ones until the change that closed them is saved. Indexed by id, by (account, client order
/// id), open ones by account, and resting ones per symbol by price, so matching looks only at the orders a price reaches.
struct PaperOrders {
    struct ClientKey: Hashable {
        var account: String
        var clientOrderID: String
    }

    private(set) var byID: [Int64: PaperOrder] = [:]
    private var byClientID: [ClientKey: Int64] = [:]
    private var openByAccount: [String: Set<Int64>] = [:]
    private var books: [String: Book] = [:]

    init(_ orders: [PaperOrder] = []) {
        for order in orders { self.store(order) }
    }

    var count: Int { self.byID.count }

    subscript(id: Int64) -> PaperOrder? { self.byID[id] }

    func order(account: String, clientOrderID: String) -> PaperOrder? {
        self.byClientID[ClientKey(account: account, clientOrderID: clientOrderID)].flatMap { self.byID[$0] }
    }

    /// The account's open orders, oldest first.
    func open(account: String) -> [PaperOrder] {
        (self.openByAccount[account] ?? []).sorted().compactMap { self.byID[$0] }
    }

    /// The resting orders of `symbol` that the touch reaches (buys priced at or above `ask`, sells at or below `bid`),
    /// oldest first.
    func reached(symbol: String, bid: Decimal, ask: Decimal) -> [PaperOrder] {
        guard let book = self.books[symbol] else { return [] }
        return book.reached(bid: bid, ask: ask).sorted().compactMap { self.byID[$0] }
    }

    /// Add or replace an order; the indexes follow its status (an order's price and owner never change).
    mutating func store(_ order: PaperOrder) {
        let wasOpen = self.byID[order.id]?.isOpen
        self.byID[order.id] = order
        self.byClientID[ClientKey(account: order.account, clientOrderID: order.clientOrderID)] = order.id
        guard wasOpen != order.isOpen else { return }
        if wasOpen == true { self.unindex(order) }
        if order.isOpen { self.index(order) }
    }

    /// Forget an order (its closing change is saved; the ledger has it from now on).
    mutating func evict(_ id: Int64) {
        guard let order = self.byID.removeValue(forKey: id) else { return }
        if order.isOpen { self.unindex(order) }
        let key = ClientKey(account: order.account, clientOrderID: order.clientOrderID)
        if self.byClientID[key] == id { self.byClientID[key] = nil }
    }

    private mutating func index(_ order: PaperOrder) {
        self.openByAccount[order.account, default: []].insert(order.id)
        if order.type == .limit, order.price != nil { self.books[order.symbol, default: Book()].insert(order) }
    }

    private mutating func unindex(_ order: PaperOrder) {
        self.openByAccount[order.account]?.remove(order.id)
        if self.openByAccount[order.account]?.isEmpty == true { self.openByAccount[order.account] = nil }
        self.books[order.symbol]?.remove(order)
        if self.books[order.symbol]?.isEmpty == true { self.books[order.symbol] = nil }
    }

    /// One symbol's resting orders: each side best price first, oldest first at a price.
    struct Book {
        struct Entry {
            var price: Decimal
            var id: Int64
        }

        private var bids: [Entry] = []
        private var asks: [Entry] = []

        var isEmpty: Bool { self.bids.isEmpty && self.asks.isEmpty }

        mutating func insert(_ order: PaperOrder) {
            guard let price = order.price else { return }
            let entry = Entry(price: price, id: order.id)
            switch order.side {
            case .buy: self.bids.insert(entry, at: Self.position(of: entry, in: self.bids, side: .buy))
            case .sell: self.asks.insert(entry, at: Self.position(of: entry, in: self.asks, side: .sell))
            }
        }

        mutating func remove(_ order: PaperOrder) {
            guard let price = order.price else { return }
            let entry = Entry(price: price, id: order.id)
            switch order.side {
            case .buy:
                let index = Self.position(of: entry, in: self.bids, side: .buy)
                if index < self.bids.count, self.bids[index].id == order.id { self.bids.remove(at: index) }
            case .sell:
                let index = Self.position(of: entry, in: self.asks, side: .sell)
                if index < self.asks.count, self.asks[index].id == order.id { self.asks.remove(at: index) }
            }
        }

        /// Ids of the buys priced at or above `ask` and the sells priced at or below `bid`.
        func reached(bid: Decimal, ask: Decimal) -> [Int64] {
            self.bids.prefix { $0.price >= ask }.map(\.id) + self.asks.prefix { $0.price <= bid }.map(\.id)
        }

        /// Where `entry` goes (or is) on its side: the first entry that does not come before it.
        static func position(of entry: Entry, in entries: [Entry], side: OrderSide) -> Int {
            var low = 0
            var high = entries.count
            while low < high {
                let middle = (low + high) / 2
                if Self.comesBefore(entries[middle], entry, side: side) { low = middle + 1 } else { high = middle }
            }
            return low
        }

        static func comesBefore(_ a: Entry, _ b: Entry, side: OrderSide) -> Bool {
            if a.price != b.price { return side == .buy ? a.price > b.price : a.price < b.price }
            return a.id < b.id
        }
    }
}
