// Runs every started bot (SPEC §5). Each tick: market data once per (venue, symbol), balances once per account,
// open orders once per (account, symbol); then one step per bot: learn what its orders did, check its risk limits,
// decide, write it all in one transaction, act. Every order passes the pre-trade checks and the trading gate under
// the bot's lock, so a kill, risk stop or halt takes effect against steps in flight.

import AuditLog
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Venues

public struct EngineConfiguration: Sendable {
    /// How often every running bot is stepped.
    public var interval: Duration
    /// How far (a fraction) a limit price may be on the wrong side of the market.
    public var priceBand: Decimal
    /// How long a venue's symbol rules are reused.
    public var rulesLifetime: Duration
    /// How long opened exchange keys stay in memory.
    public var keysLifetime: Duration
    /// Bots stepped at the same time.
    public var concurrency: Int
    /// How often a stop that could not be written is tried again before the next tick.
    public var statusWriteAttempts: Int

    public init(
        interval: Duration = .seconds(1),
        priceBand: Decimal = Decimal(string: "0.05")!,
        rulesLifetime: Duration = .seconds(300),
        keysLifetime: Duration = .seconds(300),
        concurrency: Int = 32,
        statusWriteAttempts: Int = 3
    ) {
        self.interval = interval
        self.priceBand = priceBand
        self.rulesLifetime = rulesLifetime
        self.keysLifetime = keysLifetime
        self.concurrency = concurrency
        self.statusWriteAttempts = statusWriteAttempts
    }
}

public final class BotEngine: Service, Sendable {
    let bots: any BotRepository
    let venues: TradingVenues
    let keys: KeyCache
    let configuration: EngineConfiguration
    let clock: any Clock<Duration>
    let now: @Sendable () -> Date
    let logger: Logger
    let locks = BotLocks()
    let runtimes = Mutex([UUID: BotRuntime]())
    let rules = Mutex([MarketKey: (rules: SymbolRules, until: ContinuousClock.Instant)]())
    /// Stops that could not be written yet; those bots are not traded by this process meanwhile.
    let pendingStops = Mutex([UUID: PendingStop]())
    /// The last price seen per market, for bookkeeping when a venue cannot be asked.
    let lastPrices = Mutex([MarketKey: Decimal]())
    /// The prices seen at each step, per market, newest last (bounded: the dashboard's chart, not a data store).
    let priceHistory = Mutex([MarketKey: [PricePoint]]())
    static let priceHistoryLimit = 500

    public init(
        bots: any BotRepository,
        credentials: any CredentialRepository,
        venues: TradingVenues,
        configuration: EngineConfiguration,
        clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.bots = bots
        self.venues = venues
        self.keys = KeyCache(repository: credentials, lifetime: configuration.keysLifetime)
        self.configuration = configuration
        self.clock = clock
        self.now = now
        self.logger = logger
    }

    // MARK: The loop

    /// One tick per interval until shutdown. Graceful shutdown ends the timer, not the tick in flight: its steps
    /// finish, so no bot is left half-stepped and none is marked failed by a cancellation.
    public func run() async throws {
        try await self.run(on: self.clock)
    }

    private func run<C: Clock<Duration>>(on clock: C) async throws {
        for await _ in PeriodicTimer(interval: self.configuration.interval, clock: clock).cancelOnGracefulShutdown() {
            await self.tick()
        }
    }

    /// An exchange key changed or went away: stop using the copy in memory.
    public func forgetKeys(credentialID: UUID) {
        self.keys.forget(credentialID)
    }

    /// One round: every running bot stepped once, bots on the same market and account sharing what was fetched.
    public func tick() async {
        let started = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - started
            Timer(label: "tradekeep_engine_tick_seconds").recordNanoseconds(
                elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            )
        }
        await self.retryPendingStops()
        let running: [UUID]
        do {
            guard try await !self.bots.isHalted() else {
                // The halt stopped every bot; a bot started meanwhile is refused at the trading gate anyway.
                self.retireAll()
                return
            }
            running = try await self.bots.runningBotIDs()
        } catch {
            self.failed("running bots not read; no bot was stepped", error, kind: "running_list")
            return
        }
        let unstopped = self.pendingStops.withLock { Set($0.keys) }
        let runtimes: [BotRuntime]
        do {
            runtimes = try await self.sync(running.filter { !unstopped.contains($0) })
        } catch {
            self.failed("running bots not loaded; no bot was stepped", error, kind: "load")
            return
        }
        // Signal bots decide on webhooks only, but are stepped too: their fills and risk limits are kept current.
        let stepped = runtimes
        guard !stepped.isEmpty else { return }
        let data = await self.tickData(for: stepped)
        _ = await self.concurrently(stepped, limit: self.configuration.concurrency) { runtime in
            await self.supervisedStep(runtime, data)
        }
    }

    /// Keep exactly the running bots in memory: load the new ones (two queries for all of them), retire the rest.
    func sync(_ running: [UUID]) async throws -> [BotRuntime] {
        let wanted = Set(running)
        let (known, retired) = self.runtimes.withLock { runtimes -> ([BotRuntime], [BotRuntime]) in
            let gone = runtimes.values.filter { !wanted.contains($0.id) || $0.isRetired }
            for runtime in gone { runtimes[runtime.id] = nil }
            return (Array(runtimes.values), gone)
        }
        for runtime in retired { runtime.retire() }
        let knownIDs = Set(known.map(\.id))
        let missing = running.filter { !knownIDs.contains($0) }
        guard !missing.isEmpty else { return known }
        let records = try await self.load(missing).filter { $0.status == .running }
        let orders = Dictionary(grouping: try await self.bots.openOrders(botIDs: records.map(\.id)), by: \.botID)
        let loaded = records.map { BotRuntime(bot: $0, orders: orders[$0.id] ?? []) }
        return self.runtimes.withLock { runtimes in
            for runtime in loaded where runtimes[runtime.id] == nil { runtimes[runtime.id] = runtime }
            return Array(runtimes.values)
        }
    }

    /// The records of these bots. One that cannot be read (a corrupt row) does not keep the others from running: it
    /// is reported, and stopped with a sentence for its owner. A database that does not answer (busy, unreachable) is
    /// not a bot's fault: the error goes up, the tick is skipped, and the next one tries again.
    func load(_ ids: [UUID]) async throws -> [BotRecord] {
        do {
            return try await self.bots.bots(ids: ids)
        } catch let error where Self.isUnreadableRecord(error) {
            var records: [BotRecord] = []
            for id in ids {
                do {
                    if let record = try await self.bots.bot(id: id) { records.append(record) }
                } catch let error where Self.isUnreadableRecord(error) {
                    let errorID = self.failed("a bot's stored record cannot be read; the bot is stopped", error, kind: "load", bot: id)
                    let reason = "Stopped: its stored state could not be read (error id \(errorID)); the operator can see why in the log."
                    let event = AuditEvent(
                        .botFailed,
                        user: nil,
                        client: .engine,
                        ["bot_id": id.uuidString.lowercased(), "reason": reason],
                        at: self.now()
                    )
                    _ = try await self.bots.setStatus(id: id, .failed, reason: reason, from: [.running], audit: [event])
                }
            }
            return records
        }
    }

    /// A stored row that does not parse, as opposed to a database that failed to answer.
    static func isUnreadableRecord(_ error: any Error) -> Bool {
        error is any UnreadableRecordError || error is DecodingError
    }

    /// The runtime of a running bot, loaded if this process does not hold it yet.
    func runtime(for bot: BotRecord) async throws -> BotRuntime {
        if let runtime = self.runtimes.withLock({ $0[bot.id] }), !runtime.isRetired { return runtime }
        let runtime = BotRuntime(
            bot: bot,
            orders: try await self.bots.openOrders(botIDs: [bot.id])
        )
        return self.runtimes.withLock { runtimes in
            if let existing = runtimes[bot.id], !existing.isRetired { return existing }
            runtimes[bot.id] = runtime
            return runtime
        }
    }

    func retire(_ bot: UUID) {
        self.runtimes.withLock { $0.removeValue(forKey: bot) }?.retire()
    }

    func retireAll() {
        let all = self.runtimes.withLock { runtimes -> [BotRuntime] in
            defer { runtimes.removeAll() }
            return Array(runtimes.values)
        }
        for runtime in all { runtime.retire() }
    }

    // MARK: What a tick fetches once

    struct MarketData: Sendable {
        let ticker: Ticker
        let rules: SymbolRules
    }

    struct AccountData: Sendable {
        let keys: VenueCredentials
        let funds: Funds
    }

    struct OpenOrdersKey: Hashable, Sendable {
        let account: AccountKey
        let symbol: String
    }

    struct TickData: Sendable {
        var markets: [MarketKey: Result<MarketData, any Error>] = [:]
        var accounts: [AccountKey: Result<AccountData, any Error>] = [:]
        /// Each (account, symbol)'s open orders, by client order id: indexed once, looked up by every bot there.
        var openOrders: [OpenOrdersKey: Result<[String: VenueOrder], any Error>] = [:]
    }

    /// Tickers and rules per market, keys and balances per account, open orders per (account, symbol) where a bot
    /// there has open orders: each fetched once, concurrently, whatever the number of bots.
    func tickData(for runtimes: [BotRuntime]) async -> TickData {
        let bots = runtimes.map(\.bot)
        var markets: [MarketKey: BotRecord] = [:]
        var accounts: [AccountKey: BotRecord] = [:]
        for bot in bots {
            markets[MarketKey(bot)] = markets[MarketKey(bot)] ?? bot
            accounts[AccountKey(bot)] = accounts[AccountKey(bot)] ?? bot
        }
        var data = TickData()
        await withTaskGroup(of: (MarketKey, Result<MarketData, any Error>).self) { group in
            for (key, bot) in markets {
                group.addTask { (key, await Result { try await self.marketData(bot) }) }
            }
            for await (key, result) in group { data.markets[key] = result }
        }
        await withTaskGroup(of: (AccountKey, Result<AccountData, any Error>).self) { group in
            for (key, bot) in accounts {
                group.addTask {
                    let result = await Result {
                        let keys = try await self.keys.keys(for: bot)
                        return AccountData(keys: keys, funds: try await self.funds(bot, venue: try self.venues.venue(bot.venue), keys: keys))
                    }
                    return (key, result)
                }
            }
            for await (key, result) in group { data.accounts[key] = result }
        }
        var wantOpenOrders: [OpenOrdersKey: BotRecord] = [:]
        for runtime in runtimes where runtime.read({ !$0.open.isEmpty }) {
            let bot = runtime.bot
            wantOpenOrders[OpenOrdersKey(account: AccountKey(bot), symbol: bot.symbol)] = bot
        }
        let accountData = data.accounts
        await withTaskGroup(of: (OpenOrdersKey, Result<[String: VenueOrder], any Error>).self) { group in
            for (key, bot) in wantOpenOrders {
                guard case .success(let account)? = accountData[key.account] else { continue }
                group.addTask {
                    let result = await Result {
                        let orders = try await self.venues.venue(bot.venue).openOrders(symbol: bot.symbol, credentials: account.keys)
                        return Dictionary(
                            orders.compactMap { order in order.clientOrderID.map { ($0, order) } },
                            uniquingKeysWith: { first, _ in first }
                        )
                    }
                    return (key, result)
                }
            }
            for await (key, result) in group { data.openOrders[key] = result }
        }
        return data
    }

    func marketData(_ bot: BotRecord) async throws -> MarketData {
        let venue = try self.venues.venue(bot.venue)
        let ticker = try await venue.ticker(symbol: bot.symbol)
        self.lastPrices.withLock { $0[MarketKey(bot)] = ticker.price }
        self.priceHistory.withLock { history in
            var points = history[MarketKey(bot), default: []]
            if points.last?.time != ticker.time { points.append(PricePoint(time: ticker.time, price: ticker.price)) }
            if points.count > Self.priceHistoryLimit { points.removeFirst(points.count - Self.priceHistoryLimit) }
            history[MarketKey(bot)] = points
        }
        return MarketData(ticker: ticker, rules: try await self.symbolRules(bot, venue: venue))
    }

    /// The prices this process saw for a market at its bots' steps, oldest first (at most `priceHistoryLimit`).
    public func prices(venue: VenueID, symbol: String) -> [PricePoint] {
        self.priceHistory.withLock { $0[MarketKey(venue: venue, symbol: symbol)] ?? [] }
    }

    /// The price this process last saw for a market, if it trades there.
    public func lastPrice(venue: VenueID, symbol: String) -> Decimal? {
        self.lastPrices.withLock { $0[MarketKey(venue: venue, symbol: symbol)] }
    }

    /// An account's free funds: balances, and on derivatives venues the long positions that sells reduce.
    func funds(_ bot: BotRecord, venue: any Venue, keys: VenueCredentials) async throws -> Funds {
        let balances = try await venue.balances(credentials: keys)
        guard TradingVenues.derivatives.contains(bot.venue) else { return Funds(balances) }
        let positions = try await venue.positions(credentials: keys)
        return Funds(balances, positions: positions, venue: bot.venue)
    }

    /// A venue's rules for a symbol change rarely: fetched once per `rulesLifetime`.
    func symbolRules(_ bot: BotRecord, venue: any Venue) async throws -> SymbolRules {
        let key = MarketKey(bot)
        let now = ContinuousClock.now
        if let cached = self.rules.withLock({ $0[key] }), cached.until > now { return cached.rules }
        let rules = try await venue.symbolRules(symbol: bot.symbol)
        self.rules.withLock { $0[key] = (rules, now + self.configuration.rulesLifetime) }
        return rules
    }

    // MARK: Failures

    /// A failure that decides trading: logged with an error id and the error, counted, never swallowed.
    @discardableResult
    func failed(_ message: Logger.Message, _ error: any Error, kind: String, bot: UUID? = nil) -> String {
        let errorID = ErrorID.make()
        var metadata: Logger.Metadata = [
            "error_id": .string(errorID),
            "error.type": .string(String(reflecting: type(of: error))),
            "error": .string(String(describing: error)),
        ]
        if let bot { metadata["bot"] = .string(bot.uuidString.lowercased()) }
        self.logger.error(message, metadata: metadata)
        Counter(label: "tradekeep_engine_failures_total", dimensions: [("kind", kind)]).increment()
        return errorID
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

/// A market price at a time.
public struct PricePoint: Sendable, Equatable {
    public let time: Date
    public let price: Decimal
}
