// The strategies' decision functions on hand-made market states: grids, DCA cycles and signals, edge cases included.

import Foundation
import Testing

@testable import Bots
@testable import Venues

@Suite struct GridStrategyTests {
    static let rules = SymbolRules(
        symbol: "BTCUSDT",
        tickSize: Decimal(string: "0.01")!,
        stepSize: Decimal(string: "0.0001")!,
        minQuantity: Decimal(string: "0.0001")!,
        minNotional: 5
    )
    static let parameters = GridParameters(lower: 45_000, upper: 55_000, levels: 11, quantity: Decimal(string: "0.01")!)

    static func market(_ price: Decimal, quote: Decimal = 10_000, base: Decimal = 0) -> MarketState {
        MarketState(price: price, rules: Self.rules, time: Date(timeIntervalSince1970: 1_700_000_000), quoteAvailable: quote, baseAvailable: base)
    }

    static func open(_ intents: [OrderIntent]) -> [BotOrder] {
        intents.map { BotOrder(key: $0.key, clientOrderID: "c-\($0.key)", side: $0.side, type: $0.type, price: $0.price, quantity: $0.quantity) }
    }

    @Test("At start the levels are fixed and a buy rests on every level below the price, nearest first")
    func initialBuys() {
        var state = GridState()
        let decision = GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_500), orders: [])
        #expect(state.levels == stride(from: 45_000, through: 55_000, by: 1_000).map { Decimal($0) })
        #expect(decision.place.map(\.price) == [50_000, 49_000, 48_000, 47_000, 46_000, 45_000])
        #expect(decision.place.allSatisfy { $0.side == .buy && $0.type == .limit && $0.quantity == Decimal(string: "0.01")! })
        #expect(decision.cancel.isEmpty)
    }

    @Test("A filled buy is sold one level up; the filled sell re-opens the buy below it and counts a cycle")
    func oppositeOrders() {
        var state = GridState()
        var orders = Self.open(GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_500), orders: []).place)
        let buyIndex = orders.firstIndex { $0.key == "grid-buy-5" }!
        orders[buyIndex].status = .filled
        orders[buyIndex].filled = orders[buyIndex].quantity
        let afterBuy = GridStrategy.decide(
            Self.parameters,
            state: &state,
            market: Self.market(49_900, base: Decimal(string: "0.01")!),
            orders: orders
        )
        #expect(afterBuy.place == [OrderIntent(key: "grid-sell-5", side: .sell, type: .limit, quantity: Decimal(string: "0.01")!, price: 51_000)])
        #expect(state.holding == [5])

        var next = orders.filter(\.isOpen) + Self.open(afterBuy.place)
        let sellIndex = next.firstIndex { $0.key == "grid-sell-5" }!
        next[sellIndex].status = .filled
        next[sellIndex].filled = next[sellIndex].quantity
        let afterSell = GridStrategy.decide(Self.parameters, state: &state, market: Self.market(51_200), orders: next)
        // The buy below the filled sell re-opens; the price now stands above level 6 too, so it gets a buy as well.
        #expect(afterSell.place.map(\.key) == ["grid-buy-6", "grid-buy-5"])
        #expect(state.holding.isEmpty && state.completedCycles == 1)
    }

    @Test("A partially filled buy keeps resting and is not yet sold")
    func partialFill() {
        var state = GridState()
        var orders = Self.open(GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_500), orders: []).place)
        orders[0].status = .partiallyFilled
        orders[0].filled = Decimal(string: "0.004")!
        let decision = GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_000), orders: orders)
        #expect(decision == Decision())
        #expect(state.holding.isEmpty)
    }

    @Test("Price leaving the grid: above it nothing new is bought; below it no buy is wanted and nothing crashes")
    func priceLeavesTheGrid() {
        var state = GridState()
        let orders = Self.open(GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_500), orders: []).place)
        let above = GridStrategy.decide(Self.parameters, state: &state, market: Self.market(60_000), orders: orders)
        // Every level is below 60,000: the six resting buys stay, the four new levels get buys.
        #expect(above.cancel.isEmpty && above.place.map(\.key) == ["grid-buy-9", "grid-buy-8", "grid-buy-7", "grid-buy-6"])
        var fresh = GridState()
        #expect(GridStrategy.decide(Self.parameters, state: &fresh, market: Self.market(40_000), orders: []) == Decision())
    }

    @Test("Insufficient balance: only the buys the free quote covers are placed, nearest first")
    func insufficientBalance() {
        var state = GridState()
        let decision = GridStrategy.decide(Self.parameters, state: &state, market: Self.market(50_500, quote: 1_000), orders: [])
        #expect(decision.place.map(\.price) == [50_000, 49_000])
    }

    @Test("Parameters: lower < upper, levels 2…200, size within the symbol's rules, one of the two range forms")
    func validation() throws {
        try Self.parameters.validate(rules: Self.rules, price: 50_000)
        try GridParameters(rangePct: 10, levels: 5, quantity: Decimal(string: "0.01")!).validate(rules: Self.rules, price: 50_000)
        let bad: [GridParameters] = [
            GridParameters(lower: 55_000, upper: 45_000, levels: 5, quantity: 1),
            GridParameters(lower: 45_000, upper: 55_000, levels: 1, quantity: 1),
            GridParameters(lower: 45_000, upper: 55_000, levels: 201, quantity: 1),
            GridParameters(lower: 45_000, upper: 55_000, levels: 5, quantity: Decimal(string: "0.00001")!),
            GridParameters(lower: 45_000, upper: 55_000, rangePct: 5, levels: 5, quantity: 1),
            GridParameters(levels: 5, quantity: 1),
            GridParameters(lower: 1, upper: 2, levels: 5, quantity: Decimal(string: "0.0001")!),
        ]
        for parameters in bad { #expect(throws: InvalidParameters.self) { try parameters.validate(rules: Self.rules, price: 50_000) } }
    }
}

@Suite struct DCAStrategyTests {
    static let rules = GridStrategyTests.rules
    static let parameters = DCAParameters(quoteAmount: 100, intervalSeconds: 3_600, takeProfitPct: 2, safetyOrders: 2, safetyStepPct: 1)
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    static func market(_ price: Decimal, at seconds: TimeInterval = 0, quote: Decimal = 10_000, base: Decimal = 0) -> MarketState {
        MarketState(price: price, rules: Self.rules, time: Self.start.addingTimeInterval(seconds), quoteAvailable: quote, baseAvailable: base)
    }

    @Test(
        "A market buy of quote_amount at once, then one per interval; after a fill: a take-profit for the position and safety buys below the average"
    )
    func cycle() {
        var state = DCAState()
        let first = DCAStrategy.decide(Self.parameters, state: &state, market: Self.market(50_000), orders: [])
        #expect(first.place == [OrderIntent(key: "dca-1-buy-0", side: .buy, type: .market, quantity: Decimal(string: "0.002")!)])
        #expect(DCAStrategy.decide(Self.parameters, state: &state, market: Self.market(50_000, at: 60), orders: []) == Decision())

        let filled = BotOrder(
            key: "dca-1-buy-0",
            clientOrderID: "c0",
            side: .buy,
            type: .market,
            price: nil,
            quantity: Decimal(string: "0.002")!,
            filled: Decimal(string: "0.002")!,
            averagePrice: 50_000,
            status: .filled
        )
        let after = DCAStrategy.decide(
            Self.parameters,
            state: &state,
            market: Self.market(50_000, at: 61, base: Decimal(string: "0.002")!),
            orders: [filled]
        )
        #expect(state.averageEntry == 50_000)
        #expect(
            after.place == [
                OrderIntent(key: "dca-1-tp-1", side: .sell, type: .limit, quantity: Decimal(string: "0.002")!, price: 51_000),
                OrderIntent(key: "dca-1-so1-1", side: .buy, type: .limit, quantity: Decimal(string: "0.002")!, price: 49_500),
                OrderIntent(key: "dca-1-so2-1", side: .buy, type: .limit, quantity: Decimal(string: "0.0020")!, price: 49_000),
            ]
        )
        let next = DCAStrategy.decide(Self.parameters, state: &state, market: Self.market(50_000, at: 3_601, base: 0), orders: [])
        #expect(next.place.first?.key == "dca-1-buy-1")
    }

    @Test("A filled safety buy moves the average: the take-profit and safety orders are replaced; a filled take-profit starts a new cycle")
    func replaceAndNewCycle() {
        var state = DCAState()
        state.nextBuyAt = Self.start.addingTimeInterval(3_600)
        state.position = Decimal(string: "0.002")!
        state.cost = 100
        state.version = 1
        let open = [
            BotOrder(key: "dca-1-tp-1", clientOrderID: "t", side: .sell, type: .limit, price: 51_000, quantity: Decimal(string: "0.002")!),
            BotOrder(key: "dca-1-so2-1", clientOrderID: "s2", side: .buy, type: .limit, price: 49_000, quantity: Decimal(string: "0.002")!),
        ]
        let safetyFilled = BotOrder(
            key: "dca-1-so1-1",
            clientOrderID: "s1",
            side: .buy,
            type: .limit,
            price: 49_500,
            quantity: Decimal(string: "0.002")!,
            filled: Decimal(string: "0.002")!,
            averagePrice: 49_500,
            status: .filled
        )
        let decision = DCAStrategy.decide(
            Self.parameters,
            state: &state,
            market: Self.market(49_400, at: 100, base: Decimal(string: "0.002")!),
            orders: open + [safetyFilled]
        )
        #expect(state.position == Decimal(string: "0.004")! && state.version == 2)
        #expect(decision.cancel == ["dca-1-so2-1", "dca-1-tp-1"])
        #expect(decision.place.first == OrderIntent(key: "dca-1-tp-2", side: .sell, type: .limit, quantity: Decimal(string: "0.004")!, price: 50_745))

        let tpFilled = BotOrder(
            key: "dca-1-tp-2",
            clientOrderID: "t2",
            side: .sell,
            type: .limit,
            price: 50_745,
            quantity: Decimal(string: "0.004")!,
            filled: Decimal(string: "0.004")!,
            status: .filled
        )
        _ = DCAStrategy.decide(Self.parameters, state: &state, market: Self.market(50_800, at: 200), orders: [tpFilled])
        #expect(state.cycle == 2 && state.position == 0 && state.averageEntry == nil)
    }

    @Test("Insufficient balance: the interval's buy is skipped (not queued), and safety orders wait for funds")
    func insufficientBalance() {
        var state = DCAState()
        #expect(DCAStrategy.decide(Self.parameters, state: &state, market: Self.market(50_000, quote: 50), orders: []) == Decision())
        #expect(state.nextBuyAt == Self.start.addingTimeInterval(3_600) && state.buys == 0)
    }

    @Test("Parameters are validated against the symbol's rules")
    func validation() throws {
        try Self.parameters.validate(rules: Self.rules, price: 50_000)
        let bad = [
            DCAParameters(quoteAmount: 1, intervalSeconds: 3_600, takeProfitPct: 2),
            DCAParameters(quoteAmount: 100, intervalSeconds: 1, takeProfitPct: 2),
            DCAParameters(quoteAmount: 100, intervalSeconds: 3_600, takeProfitPct: 0),
            DCAParameters(quoteAmount: 100, intervalSeconds: 3_600, takeProfitPct: 2, safetyOrders: 50),
            DCAParameters(quoteAmount: 100, intervalSeconds: 3_600, takeProfitPct: 2, safetyOrders: 10, safetyStepPct: 20),
        ]
        for parameters in bad { #expect(throws: InvalidParameters.self) { try parameters.validate(rules: Self.rules, price: 50_000) } }
    }
}

@Suite struct SignalStrategyTests {
    static let market = MarketState(
        price: 50_000,
        rules: GridStrategyTests.rules,
        time: Date(),
        quoteAvailable: 10_000,
        baseAvailable: Decimal(string: "0.03")!
    )

    @Test("buy and sell become market orders keyed by the signal id; close sells everything held; selling with nothing held does nothing")
    func signals() {
        let parameters = SignalParameters(quantity: Decimal(string: "0.01")!)
        #expect(
            SignalStrategy.decide(parameters, signal: Signal(id: "a1", action: .buy), market: Self.market)
                == OrderIntent(key: "sig-a1", side: .buy, type: .market, quantity: Decimal(string: "0.01")!)
        )
        #expect(
            SignalStrategy.decide(parameters, signal: Signal(id: "a2", action: .sell, quantity: 1), market: Self.market)?.quantity == Decimal(
                string: "0.03"
            )!
        )
        #expect(
            SignalStrategy.decide(parameters, signal: Signal(id: "a3", action: .close), market: Self.market)
                == OrderIntent(key: "sig-a3", side: .sell, type: .market, quantity: Decimal(string: "0.03")!)
        )
        var flat = Self.market
        flat.baseAvailable = 0
        #expect(SignalStrategy.decide(parameters, signal: Signal(id: "a4", action: .close), market: flat) == nil)
    }
}
