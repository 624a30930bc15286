// The paper venue's persistence: live state only in memory, changes saved as a few rows, closed orders archived,
// group commit, and failed saves surfaced.

import Foundation
import Testing
import Vault
import VenueFakes

@testable import Venues

@Suite struct PaperPersistenceTests {
    /// BTC alternates between 50,000 and 49,000 each step, so resting buys at 49,500 fill on every other tick.
    struct SwingFeed: PriceFeed {
        var position: UInt64 = 0
        mutating func next(from prices: [String: Decimal]) -> [String: Decimal] {
            self.position += 1
            var moved = prices
            moved["BTCUSDT"] = self.position.isMultiple(of: 2) ? 50_000 : 49_000
            return moved
        }
    }

    struct Outage: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    static let account = VenueCredentials(apiKey: "u", secret: SecretBytes(copying: [UInt8]()))

    static func venue(_ ledger: any PaperLedger, feed: any PriceFeed = SwingFeed()) -> PaperVenue {
        var configuration = PaperConfiguration()
        configuration.halfSpread = 0
        return PaperVenue(exchange: PaperExchange(configuration: configuration, feed: feed), ledger: ledger)
    }

    static func order(_ id: String, _ side: OrderSide, at price: Decimal? = nil, quantity: Decimal = Decimal(string: "0.001")!) -> OrderRequest {
        OrderRequest(symbol: "BTCUSDT", side: side, type: price == nil ? .market : .limit, quantity: quantity, price: price, clientOrderID: id)
    }

    @Test(
        "After thousands of orders filled and cancelled, memory holds only the open orders; each save writes a handful of rows and the archive every order"
    )
    func memoryAndRowsStayFlat() async throws {
        let store = MemoryLedger()
        let ledger = CountingLedger(store)
        let venue = Self.venue(ledger)
        var kept = 0
        for round in 0..<500 {
            _ = try await venue.placeOrder(Self.order("mb\(round)", .buy), credentials: Self.account)
            _ = try await venue.placeOrder(Self.order("ms\(round)", .sell), credentials: Self.account)
            _ = try await venue.placeOrder(Self.order("lc\(round)", .buy, at: 40_000), credentials: Self.account)
            #expect(try await venue.cancelOrder(symbol: "BTCUSDT", clientOrderID: "lc\(round)", credentials: Self.account)?.status == .cancelled)
            // A resting buy that the next swing down fills (maker), sold again at once.
            _ = try await venue.placeOrder(Self.order("lf\(round)", .buy, at: 49_500), credentials: Self.account)
            try await venue.tick()
            try await venue.tick()
            _ = try await venue.placeOrder(Self.order("lfs\(round)", .sell), credentials: Self.account)
            if round.isMultiple(of: 50) {
                _ = try await venue.placeOrder(Self.order("keep\(round)", .buy, at: 30_000), credentials: Self.account)
                kept += 1
            }
        }
        let open = try await venue.openOrders(symbol: nil, credentials: Self.account)
        let inMemory = await venue.exchange.snapshot()
        #expect(open.count == kept)
        #expect(inMemory.orders.count == open.count)
        #expect(inMemory.orders.allSatisfy { $0.status == .open })
        // Every order ever placed is in the archive: growth with orders and fills, not with time or ticks.
        #expect(await store.orders.count == Int(inMemory.nextOrderID - 1))
        #expect(await store.orders.count == 500 * 5 + kept)
        // A save writes at most every price, the meta row, one wallet and the one order a step filled.
        let rows = await ledger.rowsPerSave
        #expect(rows.count >= 500 * 8)
        #expect(rows.max() ?? 0 <= PaperConfiguration().markets.count + 3)
    }

    @Test("With nothing else happening a tick writes the prices and the meta row, the same after a thousand ticks as after one")
    func idleTicksAreFlat() async throws {
        let store = MemoryLedger()
        let ledger = CountingLedger(store)
        let venue = Self.venue(ledger)
        _ = try await venue.placeOrder(Self.order("rest", .buy, at: 30_000), credentials: Self.account)
        let before = await ledger.rowsPerSave.count
        for _ in 0..<1_000 { try await venue.tick() }
        let ticks = await ledger.rowsPerSave.dropFirst(before)
        #expect(ticks.count == 1_000)
        #expect(Set(ticks) == [PaperConfiguration().markets.count + 1])
        #expect(await venue.exchange.snapshot().orders.count == 1)
    }

    @Test("A filled order leaves memory once saved and is still found by its client order id, through the ledger; an unknown id is unknown_order")
    func archivedOrdersAreFound() async throws {
        let store = MemoryLedger()
        let ledger = CountingLedger(store)
        let venue = Self.venue(ledger)
        let placed = try await venue.placeOrder(Self.order("m1", .buy), credentials: Self.account)
        #expect(placed.status == .filled)
        #expect(await venue.exchange.snapshot().orders.isEmpty)
        await #expect(throws: PaperError.unknownOrder) { try await venue.exchange.order(account: "u", clientOrderID: "m1") }
        let found = try await venue.order(symbol: "BTCUSDT", clientOrderID: "m1", credentials: Self.account)
        #expect(found == placed)
        #expect(found.averagePrice == 50_000)
        let error = await #expect(throws: VenueError.self) {
            try await venue.order(symbol: "BTCUSDT", clientOrderID: "never", credentials: Self.account)
        }
        guard case .rejected(.paper, let code, _) = error else {
            Issue.record("expected a rejection, got \(String(describing: error))")
            return
        }
        #expect(code == "unknown_order")
    }

    @Test("A client order id is refused while its order is open or not yet saved, and names a new order once the old one is archived")
    func duplicateClientOrderIDs() async throws {
        // Without saves nothing is archived: a filled order still holds its id.
        let exchange = PaperExchange(feed: SwingFeed())
        _ = try await exchange.place(account: "u", Self.order("m1", .buy))
        await #expect(throws: PaperError.duplicateClientOrderID) { try await exchange.place(account: "u", Self.order("m1", .buy)) }

        let venue = Self.venue(MemoryLedger())
        _ = try await venue.placeOrder(Self.order("r1", .buy, at: 40_000), credentials: Self.account)
        let refused = await #expect(throws: VenueError.self) {
            try await venue.placeOrder(Self.order("r1", .buy, at: 40_000), credentials: Self.account)
        }
        guard case .rejected(.paper, "duplicate_client_order_id", _) = refused else {
            Issue.record("expected duplicate_client_order_id, got \(String(describing: refused))")
            return
        }
        let first = try await venue.placeOrder(Self.order("m1", .buy), credentials: Self.account)
        let second = try await venue.placeOrder(Self.order("m1", .buy), credentials: Self.account)
        #expect(first.venueOrderID != second.venueOrderID)
        #expect(try await venue.order(symbol: "BTCUSDT", clientOrderID: "m1", credentials: Self.account).venueOrderID == second.venueOrderID)
    }

    @Test("Callers that change the exchange while a save runs wait for the next save, and that one save covers them all")
    func groupCommit() async throws {
        let exchange = PaperExchange(feed: SwingFeed())
        let store = MemoryLedger()
        let ledger = CountingLedger(store)
        let commits = PaperGroupCommit(exchange: exchange, ledger: ledger)
        await ledger.holdNextSave()
        let first = try await exchange.applying { try $0.place(account: "u", Self.order("a", .buy, at: 40_000)) }.version
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await commits.save(through: first) }
            await ledger.saveStarted()
            var versions: [UInt64] = []
            for index in 0..<20 {
                versions.append(try await exchange.applying { try $0.place(account: "u", Self.order("b\(index)", .buy, at: 40_000)) }.version)
            }
            for version in versions { group.addTask { try await commits.save(through: version) } }
            await ledger.release()
            try await group.waitForAll()
        }
        // The held save wrote the first order; the 20 callers queued behind it shared one save.
        #expect(await ledger.rowsPerSave.count == 2)
        #expect(await store.orders.count == 21)
    }

    @Test("A failed save makes placeOrder throw, and the change is kept for the next save instead of dropped; a tick throws the ledger's error")
    func failedSaves() async throws {
        let store = MemoryLedger()
        let ledger = CountingLedger(store)
        let venue = Self.venue(ledger)
        await ledger.fail(with: Outage())
        let error = await #expect(throws: VenueError.self) {
            try await venue.placeOrder(Self.order("r1", .buy, at: 40_000), credentials: Self.account)
        }
        guard case .unreachable(.paper, let why) = error else {
            Issue.record("expected unreachable, got \(String(describing: error))")
            return
        }
        #expect(why.contains("disk full"))
        await #expect(throws: Outage.self) { try await venue.tick() }
        #expect(await store.orders.isEmpty)
        // Not acknowledged, but not lost either: it is in memory, and the next save writes it.
        #expect(try await venue.order(symbol: "BTCUSDT", clientOrderID: "r1", credentials: Self.account).status == .open)
        await ledger.fail(with: nil)
        try await venue.tick()
        #expect(await store.orders.values.map(\.clientOrderID) == ["r1"])
    }
}

/// A ledger in memory, keeping rows as a database would.
actor MemoryLedger: PaperLedger {
    private(set) var prices: [String: Decimal] = [:]
    private(set) var meta: PaperMeta?
    private(set) var accounts: [String: PaperAccount] = [:]
    private(set) var orders: [Int64: PaperOrder] = [:]

    func load() -> PaperSnapshot? {
        guard let meta = self.meta else { return nil }
        return PaperSnapshot(
            prices: self.prices,
            accounts: self.accounts,
            orders: self.orders.values.filter { $0.status == .open || $0.status == .partiallyFilled }.sorted { $0.id < $1.id },
            nextOrderID: meta.nextOrderID,
            feedPosition: meta.feedPosition,
            time: meta.time
        )
    }

    func save(_ changes: PaperChanges) {
        for (symbol, price) in changes.prices ?? [:] { self.prices[symbol] = price }
        if let meta = changes.meta { self.meta = meta }
        self.accounts.merge(changes.accounts) { _, new in new }
        for order in changes.orders { self.orders[order.id] = order }
    }

    func archivedOrder(account: String, clientOrderID: String) -> PaperOrder? {
        self.orders.values.filter { $0.account == account && $0.clientOrderID == clientOrderID }.max { $0.id < $1.id }
    }
}
