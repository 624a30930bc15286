// The engine without HTTP and without waiting on wall-clock time: a scripted venue, the real store on in-memory
// SQLite, a clock whose sleeps return at once, and a time the test moves.

import AuditLog
import Foundation
import Synchronization
import Testing
import Venues

@testable import Bots
@testable import Storage

@Suite struct EngineTests {
    static let grid = BotParameters(.grid(GridParameters(lower: 45_000, upper: 55_000, levels: 11, quantity: Decimal(string: "0.01")!)))

    @Test("1,000 bots on one symbol: one ticker call and one rules call per tick, one balance call per account, whatever the number of bots")
    func sharedMarketData() async throws {
        try await EngineHarness.with { harness in
            var users: [UUID] = []
            for _ in 0..<10 { users.append(try await harness.user()) }
            // Two levels each: one buy rests per bot.
            let small = BotParameters(.grid(GridParameters(lower: 45_000, upper: 55_000, levels: 2, quantity: Decimal(string: "0.01")!)))
            for index in 0..<1_000 { _ = try await harness.bot(users[index % users.count], small) }
            let engine = harness.engine()
            await engine.tick()
            #expect(harness.venue.count("ticker") == 1)
            #expect(harness.venue.count("rules") == 1)
            #expect(harness.venue.count("balances") == users.count)
            #expect(harness.venue.count("place") == 1_000, "each grid rests one buy below 50,000")
            await engine.tick()
            #expect(harness.venue.count("ticker") == 2)
            #expect(harness.venue.count("rules") == 1, "symbol rules are cached")
            // Open orders: once per (account, symbol) per tick, never once per bot or per order.
            #expect(harness.venue.count("openOrders") == users.count)
            #expect(harness.venue.count("order") == 0, "no order ended, so none is looked up")
            #expect(harness.venue.count("place") == 1_000, "nothing new to place")
        }
    }

    @Test("A fill is told to the strategy exactly once: across ticks, and across a new engine on the same store")
    func fillReportedOnce() async throws {
        try await EngineHarness.with { harness in
            let owner = try await harness.user()
            let bot = try await harness.bot(owner, Self.grid)
            await harness.engine().tick()
            let buys = try await harness.store.orders(botID: bot.id, openOnly: true)
            let nearest = try #require(buys.max { ($0.order.price ?? 0) < ($1.order.price ?? 0) })
            #expect(nearest.order.price == 49_000)
            harness.venue.fill(nearest.order.clientOrderID)
            let engine = harness.engine()
            await engine.tick()
            await engine.tick()
            // A second process on the same database: it must not tell the same fill again.
            await harness.engine().tick()
            let orders = try await harness.store.orders(botID: bot.id, openOnly: false)
            let sells = orders.filter { $0.order.side == .sell }
            #expect(sells.count == 1, "the filled buy at 49,000 gets exactly one sell one level up")
            #expect(sells.first?.order.price == 50_000)
            #expect(try await harness.audit(.orderFilled).filter { $0["client_order_id"] == nearest.order.clientOrderID }.count == 1)
            let stored = try #require(try await harness.store.bot(id: bot.id))
            guard case .grid(let state) = stored.state else { throw Failure("not a grid state") }
            #expect(state.holding == [4])
            #expect(stored.ledger.position == Decimal(string: "0.01")!)
            #expect(try #require(orders.first { $0.order.clientOrderID == nearest.order.clientOrderID }).reported)
        }
    }

    @Test("A tick cancelled while an order is on its way leaves the bot running, not failed; the next tick carries on")
    func cancellationIsNotFailure() async throws {
        try await EngineHarness.with { harness in
            let owner = try await harness.user()
            let bot = try await harness.bot(owner, Self.grid)
            let engine = harness.engine()
            harness.venue.hold()
            let tick = Task { await engine.tick() }
            var held = harness.venue.placementsHeld.makeAsyncIterator()
            _ = await held.next()
            tick.cancel()
            await tick.value
            #expect(try await harness.status(bot.id) == .running)
            #expect(try await harness.store.bot(id: bot.id)?.statusReason == nil)
            #expect(try await harness.audit(.botFailed).isEmpty)
            harness.venue.release()
            await engine.tick()
            await engine.tick()
            #expect(try await harness.status(bot.id) == .running)
            // The orders cut off mid-send were looked up by client id; the grid rests its six buys, no client id twice.
            let orders = try await harness.store.orders(botID: bot.id, openOnly: false)
            #expect(Set(orders.map(\.order.clientOrderID)).count == orders.count)
            #expect(harness.venue.openOrders.count == 5)
        }
    }

    @Test("A stop whose write fails is retried and reported; until written, the bot trades no more; a later tick writes it")
    func failedStatusWrite() async throws {
        try await EngineHarness.with { harness in
            let owner = try await harness.user()
            // Five buys at once with at most two orders a minute: the third breaches max_orders_per_minute.
            let limited = BotParameters(Self.grid.strategy, risk: RiskLimits(maxOrdersPerMinute: 2))
            let bot = try await harness.bot(owner, limited)
            let flaky = FlakyStatusWrites(base: harness.store, failures: 4)
            let engine = harness.engine(bots: flaky, configuration: EngineConfiguration(statusWriteAttempts: 3))
            await engine.tick()
            #expect(flaky.attempts == 3, "three attempts in the tick")
            #expect(try await harness.status(bot.id) == .running, "not written yet")
            #expect(engine.pendingStops.withLock { $0[bot.id] } != nil)
            #expect(harness.venue.openOrders.isEmpty, "the stop's cancel pass ran even though the status was not written")
            let placed = harness.venue.count("place")
            await engine.tick()
            #expect(flaky.attempts == 4)
            #expect(try await harness.status(bot.id) == .running, "still failing")
            #expect(harness.venue.count("place") == placed, "a bot whose stop is pending does not trade")
            await engine.tick()
            #expect(try await harness.status(bot.id) == .riskStopped, "written on the next try")
            #expect(engine.pendingStops.withLock { $0.isEmpty })
            #expect(try await harness.audit(.botRiskStop).count == 1)
        }
    }

    @Test("A database that fails to answer while bots load is not the bots' fault: they stay running and trade once it answers")
    func databaseOutageIsTransient() async throws {
        try await EngineHarness.with { harness in
            let owner = try await harness.user()
            let bot = try await harness.bot(owner, Self.grid)
            let outage = FlakyStatusWrites(base: harness.store, failures: 0)
            outage.recordReadsFail.withLock { $0 = true }
            let engine = harness.engine(bots: outage)
            await engine.tick()
            await engine.tick()
            #expect(try await harness.status(bot.id) == .running)
            #expect(try await harness.audit(.botFailed).isEmpty)
            #expect(harness.venue.count("place") == 0)
            outage.recordReadsFail.withLock { $0 = false }
            await engine.tick()
            #expect(try await harness.status(bot.id) == .running)
            #expect(harness.venue.count("place") > 0, "trading resumes with the database")
        }
    }

    @Test("The daily-loss limit: a drop above it within one UTC day stops the bot; the same drop split across midnight does not")
    func dailyLossAcrossMidnight() async throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let utc = { (day: Int, hour: Int, minute: Int) in
            calendar.date(from: DateComponents(year: 2026, month: 12, day: day, hour: hour, minute: minute))!
        }
        let parameters = BotParameters(.signal(SignalParameters(quantity: Decimal(string: "0.1")!)), risk: RiskLimits(maxDailyLoss: 300))
        for split in [false, true] {
            try await EngineHarness.with(now: utc(1, 10, 0)) { harness in
                let bot = try await harness.bot(try await harness.user(), parameters)
                let engine = harness.engine()
                // 0.1 BTC bought at 50,000: a 4,000 drop is a 400 loss.
                #expect(try await engine.act(on: Signal(id: "buy", action: .buy), bot: bot) != .nothingToDo)
                if split {
                    harness.venue.setPrice("BTCUSDT", 48_000)
                    harness.time.withLock { $0 = utc(1, 23, 59) }
                    await engine.tick()  // 200 lost on day 1: within the limit
                    harness.time.withLock { $0 = utc(2, 0, 1) }
                    await engine.tick()  // day 2 starts at 48,000
                    harness.venue.setPrice("BTCUSDT", 46_000)
                    harness.time.withLock { $0 = utc(2, 2, 0) }
                    await engine.tick()  // 200 lost on day 2: within the limit
                    #expect(try await harness.status(bot.id) == .running)
                } else {
                    harness.venue.setPrice("BTCUSDT", 46_000)
                    harness.time.withLock { $0 = utc(1, 23, 59) }
                    await engine.tick()  // 400 lost on day 1
                    #expect(try await harness.status(bot.id) == .riskStopped)
                    #expect(try await harness.store.bot(id: bot.id)?.statusReason?.contains("midnight UTC") == true)
                }
            }
        }
    }
}

extension EngineTests {
    @Test("News read before the bot's lock never rolls an order back: a smaller fill, or a 'never arrived' for an order since confirmed, is ignored")
    func staleNewsIgnored() async throws {
        try await EngineHarness.with { harness in
            let owner = try await harness.user()
            let bot = try await harness.bot(owner, Self.grid)
            let order = BotOrder(
                key: "grid-buy-4",
                clientOrderID: "tk-stale-1",
                side: .buy,
                type: .limit,
                price: 49_000,
                quantity: 1,
                filled: Decimal(string: "0.6")!,
                averagePrice: 49_000,
                status: .partiallyFilled
            )
            let record = BotOrderRecord(id: UUID(), botID: bot.id, userID: owner, order: order, createdAt: harness.now, updatedAt: harness.now)
            let runtime = BotRuntime(bot: bot, orders: [record])
            let engine = harness.engine()
            func venueOrder(filled: Decimal, status: OrderStatus, venueID: String) -> VenueOrder {
                VenueOrder(
                    venueOrderID: venueID,
                    clientOrderID: "tk-stale-1",
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .limit,
                    price: 49_000,
                    quantity: 1,
                    filledQuantity: filled,
                    averagePrice: 49_000,
                    status: status
                )
            }
            let smaller = engine.fold(
                runtime,
                news: ["tk-stale-1": venueOrder(filled: Decimal(string: "0.3")!, status: .partiallyFilled, venueID: "9")],
                price: 49_000
            )
            #expect(smaller.updates.isEmpty && smaller.ledger == bot.ledger)
            let neverArrived = engine.fold(runtime, news: ["tk-stale-1": venueOrder(filled: 0, status: .rejected, venueID: "")], price: 49_000)
            #expect(neverArrived.updates.isEmpty)
            let filled = engine.fold(runtime, news: ["tk-stale-1": venueOrder(filled: 1, status: .filled, venueID: "9")], price: 49_000)
            #expect(filled.updates.count == 1 && filled.ledger.position == Decimal(string: "0.4")!)
        }
    }
}

extension EngineTests {
    /// Found by CI on PostgreSQL: a skipped DCA buy said so for one step only, then the status went blank for the rest
    /// of the interval, so a slow reader saw a bot idling silently.
    @Test("What a bot could not do stays in its status until it next places an order, not for one step")
    func waitingReasonHeldUntilNextOrder() async throws {
        try await EngineHarness.with { harness in
            harness.venue.setQuoteBalance(500)
            let parameters = BotParameters(.dca(DCAParameters(quoteAmount: 1_000, intervalSeconds: 60, takeProfitPct: 5)))
            let bot = try await harness.bot(try await harness.user(), parameters)
            let engine = harness.engine()
            await engine.tick()
            let skipped = try #require(try await harness.store.bot(id: bot.id)?.statusReason)
            #expect(skipped.hasPrefix("Waiting: the DCA buy of 1000 USDT was skipped"), "\(skipped)")
            for _ in 0..<5 {
                harness.advance(5)
                await engine.tick()
                #expect(try await harness.store.bot(id: bot.id)?.statusReason == skipped)
            }
            #expect(harness.venue.count("place") == 0)
            // The next buy is due and affordable: it goes out and the reason is cleared.
            harness.venue.setQuoteBalance(10_000)
            harness.advance(60)
            await engine.tick()
            #expect(harness.venue.count("place") >= 1)
            #expect(try await harness.store.bot(id: bot.id)?.statusReason == nil)
            #expect(try await harness.status(bot.id) == .running)
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// The real store, with the first `failures` status writes failing.
final class FlakyStatusWrites: BotRepository, Sendable {
    let base: BotStore
    let remaining: Mutex<Int>
    let tries = Mutex(0)

    init(base: BotStore, failures: Int) {
        self.base = base
        self.remaining = Mutex(failures)
    }

    var attempts: Int { self.tries.withLock { $0 } }
    /// While set, reading bot records fails as a busy database does (a pool timeout), not as a corrupt row.
    let recordReadsFail = Mutex(false)

    struct Refused: Error {}
    struct PoolTimeout: Error {}

    func readRecord() throws {
        if self.recordReadsFail.withLock({ $0 }) { throw PoolTimeout() }
    }

    func setStatus(id: UUID, _ status: BotStatus, reason: String?, from: Set<BotStatus>?, audit: [AuditEvent]) async throws -> Bool {
        self.tries.withLock { $0 += 1 }
        let fail = self.remaining.withLock { remaining -> Bool in
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }
        if fail { throw Refused() }
        return try await self.base.setStatus(id: id, status, reason: reason, from: from, audit: audit)
    }

    func bots(userID: UUID) async throws -> [BotRecord] { try await self.base.bots(userID: userID) }
    func bot(id: UUID, userID: UUID) async throws -> BotRecord? { try await self.base.bot(id: id, userID: userID) }
    func bot(id: UUID) async throws -> BotRecord? {
        try self.readRecord()
        return try await self.base.bot(id: id)
    }
    func bots(ids: [UUID]) async throws -> [BotRecord] {
        try self.readRecord()
        return try await self.base.bots(ids: ids)
    }
    func runningBotIDs() async throws -> [UUID] { try await self.base.runningBotIDs() }
    func orders(botID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] { try await self.base.orders(botID: botID, openOnly: openOnly) }
    func openOrders(botIDs: [UUID]) async throws -> [BotOrderRecord] { try await self.base.openOrders(botIDs: botIDs) }
    func orders(userID: UUID, openOnly: Bool) async throws -> [BotOrderRecord] { try await self.base.orders(userID: userID, openOnly: openOnly) }
    func isHalted() async throws -> Bool { try await self.base.isHalted() }
    func create(_ bot: BotRecord, limit: Int, audit: AuditEvent) async throws -> Bool { try await self.base.create(bot, limit: limit, audit: audit) }
    func updateParameters(
        id: UUID,
        userID: UUID,
        parameters: BotParameters,
        state: StrategyState,
        audit: AuditEvent
    ) async throws
        -> ParametersOutcome
    {
        try await self.base.updateParameters(id: id, userID: userID, parameters: parameters, state: state, audit: audit)
    }
    func start(id: UUID, userID: UUID, runningLimit: Int, audit: AuditEvent) async throws -> StartOutcome {
        try await self.base.start(id: id, userID: userID, runningLimit: runningLimit, audit: audit)
    }
    func setWaitingReason(id: UUID, _ reason: String?) async throws { try await self.base.setWaitingReason(id: id, reason) }
    func setWebhookSecret(id: UUID, userID: UUID, hash: Data, audit: AuditEvent) async throws -> Bool {
        try await self.base.setWebhookSecret(id: id, userID: userID, hash: hash, audit: audit)
    }
    func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool { try await self.base.delete(id: id, userID: userID, audit: audit) }
    func setHalted(_ halted: Bool, by userID: UUID, audit: AuditEvent) async throws {
        try await self.base.setHalted(halted, by: userID, audit: audit)
    }
    func recordSignal(botID: UUID, signalID: String, audit: AuditEvent) async throws -> Bool {
        try await self.base.recordSignal(botID: botID, signalID: signalID, audit: audit)
    }
    func reserveOrders(botID: UUID, intents: [OrderIntent], gate: TradingGate, at: Date) async throws -> [BotOrderRecord]? {
        try await self.base.reserveOrders(botID: botID, intents: intents, gate: gate, at: at)
    }
    func record(_ step: StepRecord) async throws { try await self.base.record(step) }
}
