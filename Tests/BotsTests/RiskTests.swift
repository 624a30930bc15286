// Risk limits and pre-trade checks as pure functions: each limit at, below and above its threshold, the daily
// window across midnight UTC, and the checks every order passes before it is sent.

import Foundation
import Testing

@testable import Bots
@testable import Venues

@Suite struct RiskLimitTests {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static func date(_ day: Int, _ hour: Int, _ minute: Int, _ second: Int = 0) -> Date {
        Self.utc.date(from: DateComponents(year: 2026, month: 12, day: day, hour: hour, minute: minute, second: second))!
    }

    @Test("max_position: a position at the limit is fine, above it breaches")
    func maxPosition() {
        let limits = RiskLimits(maxPosition: 1)
        #expect(Risk.breach(limits, ledger: BotLedger(position: Decimal(string: "0.5")!), price: 100) == nil)
        #expect(Risk.breach(limits, ledger: BotLedger(position: 1), price: 100) == nil)
        let above = Risk.breach(limits, ledger: BotLedger(position: Decimal(string: "1.0001")!), price: 100)
        #expect(above?.limit == .maxPosition)
        #expect(above?.reason.contains("position") == true)
        // A buy is judged by where it would take the position.
        #expect(Risk.positionBreach(limits, position: Decimal(string: "0.5")!, buying: Decimal(string: "0.5")!) == nil)
        #expect(Risk.positionBreach(limits, position: Decimal(string: "0.5")!, buying: Decimal(string: "0.6")!)?.limit == .maxPosition)
    }

    @Test("max_orders_per_minute: the limit-th order in a minute is allowed, one more breaches; older orders do not count")
    func orderRate() {
        let limits = RiskLimits(maxOrdersPerMinute: 3)
        let now = Self.date(1, 12, 0)
        let two = [now.addingTimeInterval(-10), now.addingTimeInterval(-5)]
        #expect(Risk.orderRateBreach(limits, recentOrders: two, now: now) == nil)
        let three = two + [now.addingTimeInterval(-1)]
        #expect(Risk.orderRateBreach(limits, recentOrders: three, now: now)?.limit == .orderRate)
        let stale = [now.addingTimeInterval(-61), now.addingTimeInterval(-70)] + two
        #expect(Risk.orderRateBreach(limits, recentOrders: stale, now: now) == nil)
        #expect(Risk.orderRateBreach(RiskLimits(), recentOrders: three + three, now: now) == nil)
    }

    @Test("max_daily_loss: a loss equal to the limit is fine, above it breaches, a gain never does")
    func dailyLoss() {
        let limits = RiskLimits(maxDailyLoss: 100)
        var ledger = BotLedger(position: 1, quoteFlow: -1_000)
        Risk.rollDay(&ledger, now: Self.date(1, 9, 0), price: 1_000)
        #expect(ledger.dayStartEquity == 0)
        #expect(Risk.breach(limits, ledger: ledger, price: 950) == nil)  // loss 50
        #expect(Risk.breach(limits, ledger: ledger, price: 900) == nil)  // loss 100: at the limit
        #expect(Risk.breach(limits, ledger: ledger, price: Decimal(string: "899.99")!)?.limit == .dailyLoss)  // 100.01
        #expect(Risk.breach(limits, ledger: ledger, price: 2_000) == nil)  // a gain
    }

    @Test("The daily window starts at midnight UTC: yesterday's loss does not count today, whatever the server's time zone")
    func acrossMidnight() {
        let limits = RiskLimits(maxDailyLoss: 100)
        var ledger = BotLedger(position: 1, quoteFlow: -1_000)
        #expect(Risk.rollDay(&ledger, now: Self.date(1, 23, 0), price: 1_000))
        // 23:59:59 the same UTC day: 150 lost since the day began.
        #expect(!Risk.rollDay(&ledger, now: Self.date(1, 23, 59, 59), price: 850))
        #expect(Risk.breach(limits, ledger: ledger, price: 850)?.limit == .dailyLoss)
        // 00:00:00 the next day: the day starts over at the equity then.
        #expect(Risk.rollDay(&ledger, now: Self.date(2, 0, 0, 0), price: 850))
        #expect(ledger.dayStart == Self.date(2, 0, 0))
        #expect(Risk.breach(limits, ledger: ledger, price: 850) == nil)
        #expect(Risk.breach(limits, ledger: ledger, price: 760) == nil)  // 90 lost today
        #expect(Risk.breach(limits, ledger: ledger, price: 740)?.limit == .dailyLoss)  // 110 lost today
        #expect(Risk.dayStart(Self.date(2, 0, 0, 1)) == Self.date(2, 0, 0))
    }
}

@Suite struct PreTradeCheckTests {
    static let rules = SymbolRules(
        symbol: "BTCUSDT",
        tickSize: Decimal(string: "0.01")!,
        stepSize: Decimal(string: "0.001")!,
        minQuantity: Decimal(string: "0.001")!,
        minNotional: 5
    )
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func context(
        _ strategy: StrategyParameters,
        risk: RiskLimits = RiskLimits(),
        position: Decimal = 0,
        openBuys: Decimal = 0
    )
        -> PreTradeContext
    {
        PreTradeContext(
            parameters: BotParameters(strategy, risk: risk),
            rules: Self.rules,
            price: 50_000,
            position: position,
            openBuys: openBuys,
            recentOrders: [],
            now: Self.now,
            priceBand: Decimal(string: "0.05")!
        )
    }

    static let signal = StrategyParameters.signal(SignalParameters(quantity: Decimal(string: "0.001")!))

    @Test("A signal bot's order is bounded by max_signal_quantity (default: its quantity), whatever the signal asked")
    func signalBound() {
        let small = OrderIntent(key: "s", side: .buy, type: .market, quantity: Decimal(string: "0.001")!)
        let large = OrderIntent(key: "s", side: .buy, type: .market, quantity: Decimal(string: "0.15")!)
        #expect(PreTradeCheck.evaluate(small, Self.context(Self.signal), available: 10_000) == .accept(cost: Decimal(string: "50.1")!))
        guard case .refuse(let reason) = PreTradeCheck.evaluate(large, Self.context(Self.signal), available: 100_000) else {
            Issue.record("a 0.15 BTC buy of a 0.001 BTC signal bot was not refused")
            return
        }
        #expect(reason.contains("0.001"))
        let wider = StrategyParameters.signal(SignalParameters(quantity: Decimal(string: "0.001")!, maxSignalQuantity: Decimal(string: "0.2")!))
        #expect(PreTradeCheck.evaluate(large, Self.context(wider), available: 100_000) != .refuse(""))
    }

    @Test("max_position is checked against the order: a market buy that would exceed it breaches; a resting buy waits")
    func positionIncludesTheOrder() {
        let risk = RiskLimits(maxPosition: Decimal(string: "0.001")!)
        let wide = StrategyParameters.signal(SignalParameters(quantity: Decimal(string: "0.001")!, maxSignalQuantity: 1))
        let market = OrderIntent(key: "s", side: .buy, type: .market, quantity: Decimal(string: "0.002")!)
        guard case .breach(let breach) = PreTradeCheck.evaluate(market, Self.context(wide, risk: risk), available: 100_000) else {
            Issue.record("a market buy past max_position was not a breach")
            return
        }
        #expect(breach.limit == .maxPosition)
        let exact = OrderIntent(key: "s", side: .buy, type: .market, quantity: Decimal(string: "0.001")!)
        #expect(PreTradeCheck.evaluate(exact, Self.context(wide, risk: risk), available: 100_000) == .accept(cost: Decimal(string: "50.1")!))
        let grid = StrategyParameters.grid(GridParameters(rangePct: 5, levels: 5, quantity: Decimal(string: "0.001")!))
        let resting = OrderIntent(key: "g", side: .buy, type: .limit, quantity: Decimal(string: "0.001")!, price: 49_000)
        guard case .refuse = PreTradeCheck.evaluate(resting, Self.context(grid, risk: risk, openBuys: Decimal(string: "0.001")!), available: 100_000)
        else {
            Issue.record("a resting buy past max_position (counting open buys) was sent")
            return
        }
    }

    @Test("Cost within the free balance, sells within what the bot holds, prices within the band")
    func fundsHoldingsAndBand() {
        let grid = StrategyParameters.grid(GridParameters(rangePct: 5, levels: 5, quantity: Decimal(string: "0.01")!))
        let buy = OrderIntent(key: "g", side: .buy, type: .limit, quantity: Decimal(string: "0.01")!, price: 49_000)
        #expect(PreTradeCheck.evaluate(buy, Self.context(grid), available: 490) != .accept(cost: 0))
        if case .accept = PreTradeCheck.evaluate(buy, Self.context(grid), available: 490) { Issue.record("a buy above the free balance was sent") }
        if case .accept = PreTradeCheck.evaluate(buy, Self.context(grid), available: 500) {} else { Issue.record("an affordable buy was refused") }
        let sell = OrderIntent(key: "g", side: .sell, type: .limit, quantity: Decimal(string: "0.01")!, price: 51_000)
        if case .accept = PreTradeCheck.evaluate(sell, Self.context(grid, position: 0), available: 1) {
            Issue.record("sold what the bot does not hold")
        }
        if case .accept = PreTradeCheck.evaluate(sell, Self.context(grid, position: Decimal(string: "0.01")!), available: 1) {
        } else {
            Issue.record("a sell of what the bot holds was refused")
        }
        let fatFinger = OrderIntent(key: "g", side: .buy, type: .limit, quantity: Decimal(string: "0.01")!, price: 60_000)
        if case .refuse(let reason) = PreTradeCheck.evaluate(fatFinger, Self.context(grid), available: 10_000) {
            #expect(reason.contains("above the market"))
        } else {
            Issue.record("a buy 20 % above the market was sent")
        }
        let dump = OrderIntent(key: "g", side: .sell, type: .limit, quantity: Decimal(string: "0.01")!, price: 40_000)
        if case .accept = PreTradeCheck.evaluate(dump, Self.context(grid, position: 1), available: 1) { Issue.record("a sell 20 % below was sent") }
        let inBand = OrderIntent(key: "g", side: .buy, type: .limit, quantity: Decimal(string: "0.01")!, price: 52_000)
        if case .accept = PreTradeCheck.evaluate(inBand, Self.context(grid), available: 10_000) {
        } else {
            Issue.record("a buy 4 % above the market (inside the band) was refused")
        }
    }

    @Test("A grid order larger than its quantity, or a DCA buy worth more than its quote amount, is refused")
    func strategyBounds() {
        let grid = StrategyParameters.grid(GridParameters(rangePct: 5, levels: 5, quantity: Decimal(string: "0.01")!))
        let bigGrid = OrderIntent(key: "g", side: .buy, type: .limit, quantity: Decimal(string: "0.02")!, price: 49_000)
        if case .accept = PreTradeCheck.evaluate(bigGrid, Self.context(grid), available: 100_000) {
            Issue.record("a double-size grid order was sent")
        }
        let dca = StrategyParameters.dca(DCAParameters(quoteAmount: 100, intervalSeconds: 60, takeProfitPct: 1))
        let fair = OrderIntent(key: "d", side: .buy, type: .market, quantity: Decimal(string: "0.002")!)
        if case .accept = PreTradeCheck.evaluate(fair, Self.context(dca), available: 100_000) {
        } else {
            Issue.record("a 100 USDT DCA buy was refused")
        }
        let greedy = OrderIntent(key: "d", side: .buy, type: .market, quantity: Decimal(string: "0.01")!)
        if case .accept = PreTradeCheck.evaluate(greedy, Self.context(dca), available: 100_000) { Issue.record("a 500 USDT DCA buy was sent") }
    }
}

@Suite struct ParameterBoundsTests {
    static let rules = PreTradeCheckTests.rules

    @Test("Absurd parameters are refused naming the field: 1e100 quantities, unbounded prices and quote amounts, bad risk limits")
    func absurd() throws {
        func field(_ strategy: Strategy, _ params: [String: Any]) throws -> String? {
            let data = try JSONSerialization.data(withJSONObject: params)
            let raw = try JSONDecoder().decode(JSON.Value.self, from: data)
            do {
                let parameters = try BotParameters.parse(strategy, raw)
                switch parameters.strategy {
                case .grid(let grid): try grid.validate(rules: Self.rules, price: 50_000)
                case .dca(let dca): try dca.validate(rules: Self.rules, price: 50_000)
                case .signal(let signal): try signal.validate(rules: Self.rules, price: 50_000)
                }
                try parameters.risk.validate()
                return nil
            } catch {
                return error.field
            }
        }
        #expect(try field(.signal, ["quantity": 1e100]) == "quantity")
        #expect(try field(.grid, ["range_pct": 5, "levels": 5, "quantity": 1e100]) == "quantity")
        #expect(try field(.grid, ["lower": 1, "upper": 1e30, "levels": 5, "quantity": 0.01]) == "upper")
        #expect(try field(.dca, ["quote_amount": 1e30, "interval_seconds": 60, "take_profit_pct": 1]) == "quote_amount")
        #expect(try field(.grid, ["range_pct": 5, "levels": 2.5, "quantity": 0.01]) == "levels")
        #expect(try field(.signal, ["quantity": 0.001, "max_signal_quantity": 0.0005]) == "max_signal_quantity")
        #expect(try field(.signal, ["quantity": 0.001, "risk": ["max_position": -1]]) == "risk.max_position")
        #expect(try field(.signal, ["quantity": 0.001, "risk": ["max_orders_per_minute": 0]]) == "risk.max_orders_per_minute")
        #expect(try field(.signal, ["quantity": 0.001, "risk": ["max_daily_loss": 0]]) == "risk.max_daily_loss")
        #expect(try field(.signal, ["quantity": "lots"]) == "quantity")
        #expect(try field(.signal, ["quantity": 0.001, "max_signal_quantity": 0.01]) == nil)
    }
}
