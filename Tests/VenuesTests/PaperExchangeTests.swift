// The paper venue's matching engine: fills, partial fills, fees, reservations, PnL, feeds and snapshots.

import Foundation
import Testing

@testable import Venues

@Suite struct PaperExchangeTests {
    /// A flat feed: prices move only when a test sets them.
    struct FlatFeed: PriceFeed {
        var position: UInt64 = 0
        mutating func next(from prices: [String: Decimal]) -> [String: Decimal] {
            self.position += 1
            return prices
        }
    }

    static func exchange(depth: Decimal = 1) -> PaperExchange {
        var configuration = PaperConfiguration()
        configuration.halfSpread = 0
        configuration.markets = configuration.markets.map {
            var market = $0
            market.depthPerTick = depth
            return market
        }
        return PaperExchange(configuration: configuration, feed: FlatFeed())
    }

    static func order(_ id: String, _ side: OrderSide, _ quantity: String, at price: Decimal? = nil, type: OrderType = .limit) -> OrderRequest {
        OrderRequest(
            symbol: "BTCUSDT",
            side: side,
            type: price == nil ? .market : type,
            quantity: Decimal(string: quantity)!,
            price: price,
            clientOrderID: id
        )
    }

    static func free(_ exchange: PaperExchange, _ asset: String) async -> Decimal {
        await exchange.balances(account: "u").first { $0.asset == asset }?.available ?? 0
    }

    @Test("A limit buy below the price rests with its funds set aside; when the price reaches it, it fills at its price with the maker fee")
    func restingLimitFills() async throws {
        let paper = Self.exchange()
        let placed = try await paper.place(account: "u", Self.order("b1", .buy, "0.1", at: 49_000))
        #expect(placed.status == .open)
        // 0.1 × 49,000 × 1.001 is set aside.
        #expect(await Self.free(paper, "USDT") == 10_000 - 4_904.9)
        try await paper.setPrice("BTCUSDT", 48_900)
        let filled = try await paper.order(account: "u", clientOrderID: "b1")
        #expect(filled.status == .filled && filled.averagePrice == 49_000)
        #expect(await Self.free(paper, "USDT") == 10_000 - 4_904.9)
        #expect(await Self.free(paper, "BTC") == Decimal(string: "0.1")!)
        #expect(await paper.positions(account: "u") == [Position(symbol: "BTCUSDT", quantity: Decimal(string: "0.1")!, entryPrice: 49_000)])
        #expect(await paper.openOrders(account: "u", symbol: nil).isEmpty)
    }

    @Test("An order larger than one step's depth fills partially, step by step")
    func partialFills() async throws {
        let paper = Self.exchange(depth: Decimal(string: "0.05")!)
        _ = try await paper.place(account: "u", Self.order("b1", .buy, "0.12", at: 49_000))
        try await paper.setPrice("BTCUSDT", 48_000)
        var order = try await paper.order(account: "u", clientOrderID: "b1")
        #expect(order.status == .partiallyFilled && order.filledQuantity == Decimal(string: "0.05")!)
        await paper.tick()
        await paper.tick()
        order = try await paper.order(account: "u", clientOrderID: "b1")
        #expect(order.status == .filled && order.filledQuantity == Decimal(string: "0.12")!)
        // Nothing stays locked once filled: the reservation was exactly the cost.
        #expect(await paper.balances(account: "u").first { $0.asset == "USDT" }.map { $0.total == $0.available } == true)
    }

    @Test("A market buy fills at once at the ask with the taker fee; selling it higher realises the gain minus both fees")
    func marketOrdersAndPnL() async throws {
        let paper = Self.exchange()
        let bought = try await paper.place(account: "u", Self.order("m1", .buy, "0.1"))
        #expect(bought.status == .filled && bought.averagePrice == 50_000)
        #expect(await Self.free(paper, "USDT") == 10_000 - 5_005)
        try await paper.setPrice("BTCUSDT", 51_000)
        let unrealized = await paper.pnl(account: "u")["BTCUSDT"]?.unrealized
        #expect(unrealized == 100)
        _ = try await paper.place(account: "u", Self.order("m2", .sell, "0.1"))
        let realized = await paper.pnl(account: "u")["BTCUSDT"]?.realized
        // +100 gain, −5 buy fee, −5.1 sell fee.
        #expect(realized == Decimal(string: "89.9")!)
        #expect(await Self.free(paper, "USDT") == Decimal(string: "10089.9")!)
    }

    @Test("Refusals change nothing: insufficient balance, selling what is not held, a reused client order id, bad sizes and prices, unknown symbols")
    func refusals() async throws {
        let paper = Self.exchange()
        await #expect(throws: PaperError.insufficientBalance("USDT")) {
            try await paper.place(account: "u", Self.order("big", .buy, "1", at: 49_000))
        }
        await #expect(throws: PaperError.insufficientBalance("BTC")) {
            try await paper.place(account: "u", Self.order("s", .sell, "0.1", at: 51_000))
        }
        _ = try await paper.place(account: "u", Self.order("dup", .buy, "0.01", at: 40_000))
        await #expect(throws: PaperError.duplicateClientOrderID) { try await paper.place(account: "u", Self.order("dup", .buy, "0.01", at: 40_000)) }
        await #expect(throws: PaperError.self) { try await paper.place(account: "u", Self.order("step", .buy, "0.000001", at: 40_000)) }
        await #expect(throws: PaperError.self) {
            try await paper.place(account: "u", Self.order("tick", .buy, "0.01", at: Decimal(string: "40000.001")!))
        }
        await #expect(throws: PaperError.self) { try await paper.place(account: "u", Self.order("tiny", .buy, "0.00001", at: 40_000)) }
        await #expect(throws: PaperError.unknownSymbol("DOGEUSDT")) {
            try await paper.place(account: "u", OrderRequest(symbol: "DOGEUSDT", side: .buy, type: .market, quantity: 1, clientOrderID: "d"))
        }
        #expect(await paper.openOrders(account: "u", symbol: nil).count == 1)
        // Another user's account is untouched by all of this, and starts with the default balance.
        #expect(await paper.balances(account: "other") == [Balance(asset: "USDT", total: 10_000, available: 10_000)])
    }

    @Test("Cancelling gives back exactly what was set aside; cancel-all cancels every open order of the symbol")
    func cancelReleases() async throws {
        let paper = Self.exchange()
        for index in 0..<5 { _ = try await paper.place(account: "u", Self.order("b\(index)", .buy, "0.01", at: Decimal(40_000 - index * 100))) }
        #expect(await paper.cancel(account: "u", symbol: "BTCUSDT", clientOrderID: "b0")?.status == .cancelled)
        #expect(await paper.cancel(account: "u", symbol: "BTCUSDT", clientOrderID: "b0") == nil)
        #expect(await paper.cancelAll(account: "u", symbol: "BTCUSDT") == 4)
        #expect(await paper.balances(account: "u") == [Balance(asset: "USDT", total: 10_000, available: 10_000)])
    }

    @Test("A snapshot restores every account, order and price; the restored venue continues where it stopped")
    func snapshotRoundTrip() async throws {
        let paper = Self.exchange()
        _ = try await paper.place(account: "u", Self.order("m1", .buy, "0.1"))
        _ = try await paper.place(account: "u", Self.order("s1", .sell, "0.05", at: 52_000))
        let snapshot = await paper.snapshot()
        let decoded = try JSONDecoder().decode(PaperSnapshot.self, from: try JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        let restored = PaperExchange(configuration: paper.configuration, feed: FlatFeed(), snapshot: decoded)
        #expect(await restored.balances(account: "u") == (await paper.balances(account: "u")))
        await #expect(throws: PaperError.duplicateClientOrderID) { try await restored.place(account: "u", Self.order("m1", .buy, "0.01")) }
        try await restored.setPrice("BTCUSDT", 52_500)
        #expect(try await restored.order(account: "u", clientOrderID: "s1").status == .filled)
    }

    @Test("The random walk is reproducible from its seed and resumes from its persisted state; the CSV feed replays closes and loops")
    func feeds() throws {
        var first = RandomWalkFeed(seed: 42, volatility: 0.01)
        var second = RandomWalkFeed(seed: 42, volatility: 0.01)
        let start: [String: Decimal] = ["BTCUSDT": 50_000, "ETHUSDT": 3_000]
        var a = start
        var b = start
        for _ in 0..<100 {
            a = first.next(from: a)
            b = second.next(from: b)
        }
        #expect(a == b && a != start)
        var resumed = RandomWalkFeed(seed: first.position, volatility: 0.01)
        #expect(resumed.next(from: a) == first.next(from: a))

        var csv = try CSVFeed(text: "time,symbol,open,high,low,close,volume\n1,BTCUSDT,1,1,1,100.5,3\n1,ETHUSDT,1,1,1,10,3\n2,BTCUSDT,1,1,1,101,3\n")
        #expect(csv.next(from: start) == ["BTCUSDT": Decimal(string: "100.5")!, "ETHUSDT": 10])
        #expect(csv.next(from: start)["BTCUSDT"] == 101)
        #expect(csv.next(from: start)["BTCUSDT"] == Decimal(string: "100.5")!)
        #expect(throws: CSVFeed.LoadError.self) { try CSVFeed(text: "time,close\n1,abc\n") }
        #expect(throws: CSVFeed.LoadError.self) { try CSVFeed(text: "time,open\n1,2\n") }
    }
}
