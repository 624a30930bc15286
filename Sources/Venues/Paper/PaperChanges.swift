// What the paper venue changed since its last save: the rows its ledger writes, never its whole history.

import Foundation

/// The venue's counters and clock: the ledger's one meta row.
public struct PaperMeta: Sendable, Equatable {
    public var nextOrderID: Int64
    public var feedPosition: UInt64
    public var time: Date

    public init(nextOrderID: Int64, feedPosition: UInt64, time: Date) {
        self.nextOrderID = nextOrderID
        self.feedPosition = feedPosition
        self.time = time
    }
}

/// One save: the current value of everything the exchange changed up to `version`.
public struct PaperChanges: Sendable, Equatable {
    /// Every change the exchange made up to this version is in the set.
    public var version: UInt64
    /// Every market's price, when any moved.
    public var prices: [String: Decimal]?
    public var meta: PaperMeta?
    /// The wallets touched, by account.
    public var accounts: [String: PaperAccount]
    /// The orders touched (placed, filled, cancelled), in id order; closed ones leave memory once this is saved.
    public var orders: [PaperOrder]

    public init(version: UInt64, prices: [String: Decimal]?, meta: PaperMeta?, accounts: [String: PaperAccount], orders: [PaperOrder]) {
        self.version = version
        self.prices = prices
        self.meta = meta
        self.accounts = accounts
        self.orders = orders
    }

    public var isEmpty: Bool { self.rowCount == 0 }

    /// The rows this set writes: one per price, the meta row, one per wallet and one per order.
    public var rowCount: Int { (self.prices?.count ?? 0) + (self.meta == nil ? 0 : 1) + self.accounts.count + self.orders.count }
}

/// What changed since the last save, each entry stamped with the epoch of its latest change. Taking a change set
/// closes the current epoch, so a save of epoch `e` clears what it covered and keeps what changed again meanwhile.
struct PaperChangeLog {
    /// Starts above the savers' "nothing saved yet" (0), so the first change always needs a save.
    private(set) var epoch: UInt64 = 1
    private(set) var orders: [Int64: UInt64] = [:]
    private(set) var accounts: [String: UInt64] = [:]
    private(set) var prices: UInt64?
    private(set) var meta: UInt64?

    /// Nothing is saved yet: the first save writes every price and the meta row.
    static var unsaved: PaperChangeLog {
        var log = PaperChangeLog()
        log.touchPrices()
        log.touchMeta()
        return log
    }

    mutating func touch(order id: Int64) { self.orders[id] = self.epoch }
    mutating func touch(account: String) { self.accounts[account] = self.epoch }
    mutating func touchPrices() { self.prices = self.epoch }
    mutating func touchMeta() { self.meta = self.epoch }

    /// Close the current epoch: changes from now on belong to the next save.
    mutating func closeEpoch() -> UInt64 {
        defer { self.epoch += 1 }
        return self.epoch
    }

    /// Forget what a save through `version` covered; returns the ids of the orders it saved.
    mutating func saved(through version: UInt64) -> [Int64] {
        let saved = self.orders.filter { $0.value <= version }.map(\.key)
        for id in saved { self.orders[id] = nil }
        self.accounts = self.accounts.filter { $0.value > version }
        if let prices = self.prices, prices <= version { self.prices = nil }
        if let meta = self.meta, meta <= version { self.meta = nil }
        return saved
    }

    /// Everything is as saved (after a restore from the ledger), except `orders` still to be written.
    mutating func reset(unsavedOrders: [Int64]) {
        self.orders = Dictionary(uniqueKeysWithValues: unsavedOrders.map { ($0, self.epoch) })
        self.accounts = [:]
        self.prices = nil
        self.meta = nil
    }
}
