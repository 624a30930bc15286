// The paper venue's ledger in the database (SQLite, or PostgreSQL when TRADEKEEP_TEST_DATABASE_URL is set): rows per
// change, exact restarts, durable acknowledgements under concurrency, the paper_state migration, and the ticker Service.

import FluentKit
import Foundation
import Logging
import Metrics
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing
import Vault
import VenueFakes
import Venues

@testable import Server
@testable import Storage

@Suite struct PaperLedgerTests {
    static let logger = Logger(label: "paper-ledger-test")

    static func credentials(_ account: String) -> VenueCredentials {
        VenueCredentials(apiKey: account, secret: SecretBytes(copying: [UInt8]()))
    }

    /// BTC fills 0.005 a step, so a larger order stays partially filled for a while.
    static let configuration: PaperConfiguration = {
        var configuration = PaperConfiguration()
        configuration.markets = configuration.markets.map {
            var market = $0
            if market.symbol == "BTCUSDT" { market.depthPerTick = Decimal(string: "0.005")! }
            return market
        }
        return configuration
    }()

    static func venue(_ ledger: any PaperLedger, feedPosition: UInt64 = 42, snapshot: PaperSnapshot? = nil) -> PaperVenue {
        let feed = RandomWalkFeed(seed: feedPosition, volatility: 0.0001)
        return PaperVenue(exchange: PaperExchange(configuration: Self.configuration, feed: feed, snapshot: snapshot), ledger: ledger)
    }

    @Test("A fresh venue loading the same database continues with the same open orders, wallets, prices, next order id and feed position")
    func restartContinues() async throws {
        try await LedgerDatabase.with { database in
            let ledger = DatabasePaperLedger(database: database.database, logger: Self.logger)
            let first = Self.venue(ledger)
            let a = Self.credentials("a")
            let b = Self.credentials("b")
            _ = try await first.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .limit,
                    quantity: Decimal(string: "0.1")!,
                    price: 49_900,
                    clientOrderID: "a-grid-1"
                ),
                credentials: a
            )
            _ = try await first.placeOrder(
                OrderRequest(symbol: "BTCUSDT", side: .buy, type: .market, quantity: Decimal(string: "0.005")!, clientOrderID: "a-dca-1"),
                credentials: a
            )
            _ = try await first.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .sell,
                    type: .limit,
                    quantity: Decimal(string: "0.005")!,
                    price: 60_000,
                    clientOrderID: "a-tp-1"
                ),
                credentials: a
            )
            _ = try await first.placeOrder(
                OrderRequest(symbol: "ETHUSDT", side: .buy, type: .limit, quantity: 1, price: 2_000, clientOrderID: "b-1"),
                credentials: b
            )
            _ = try await first.cancelOrder(symbol: "ETHUSDT", clientOrderID: "b-1", credentials: b)
            _ = try await first.placeOrder(
                OrderRequest(symbol: "SOLUSDT", side: .buy, type: .market, quantity: 3, clientOrderID: "b-2"),
                credentials: b
            )
            // Set directly, so saved by the next change: the resting buy starts filling, 0.005 a step.
            try await first.exchange.setPrice("BTCUSDT", 49_800)
            for _ in 0..<5 { try await first.tick() }
            let before = await first.exchange.snapshot()
            #expect(before.orders.map(\.clientOrderID) == ["a-grid-1", "a-tp-1"])
            #expect(before.orders.first?.status == .partiallyFilled)

            let saved = try #require(try await DatabasePaperLedger(database: database.database, logger: Self.logger).load())
            let second = Self.venue(ledger, feedPosition: saved.feedPosition, snapshot: saved)
            #expect(await second.exchange.snapshot() == before)
            #expect(try await second.balances(credentials: a) == (try await first.balances(credentials: a)))
            // Closed orders are archived rows, found by client order id.
            #expect(try await second.order(symbol: "BTCUSDT", clientOrderID: "a-dca-1", credentials: a).status == .filled)
            #expect(try await second.order(symbol: "ETHUSDT", clientOrderID: "b-1", credentials: b).status == .cancelled)
            #expect(try await database.count("paper_orders") == Int(before.nextOrderID - 1))
            #expect(try await database.count("paper_markets") == Self.configuration.markets.count)
            #expect(try await database.count("paper_meta") == 1)
            #expect(try await database.count("paper_accounts") == 2)
            // Both continue the same way: the feed resumes where it stopped.
            let now = Date()
            await first.exchange.tick(now: now)
            await second.exchange.tick(now: now)
            #expect(await second.exchange.snapshot() == (await first.exchange.snapshot()))
        }
    }

    @Test(
        "Each change writes a few rows: an idle tick the prices and the meta row, an order its row, wallet and meta; tables grow by orders, not by ticks"
    )
    func rowsPerChange() async throws {
        try await LedgerDatabase.with { database in
            let ledger = CountingLedger(DatabasePaperLedger(database: database.database, logger: Self.logger))
            let venue = Self.venue(ledger)
            let account = Self.credentials("a")
            _ = try await venue.placeOrder(
                OrderRequest(symbol: "ETHUSDT", side: .buy, type: .limit, quantity: 1, price: 1_000, clientOrderID: "rest"),
                credentials: account
            )
            let orders = try await database.count("paper_orders")
            let saves = await ledger.rowsPerSave.count
            for _ in 0..<200 { try await venue.tick() }
            #expect(Set(await ledger.rowsPerSave.dropFirst(saves)) == [Self.configuration.markets.count + 1])
            #expect(try await database.count("paper_orders") == orders)

            let placed = await ledger.rowsPerSave.count
            for index in 0..<100 {
                _ = try await venue.placeOrder(
                    OrderRequest(
                        symbol: "SOLUSDT",
                        side: index.isMultiple(of: 2) ? .buy : .sell,
                        type: .market,
                        quantity: 1,
                        clientOrderID: "m\(index)"
                    ),
                    credentials: account
                )
            }
            #expect(Set(await ledger.rowsPerSave.dropFirst(placed)) == [3])
            #expect(try await database.count("paper_orders") == orders + 100)
            #expect(await venue.exchange.snapshot().orders.count == 1)
        }
    }

    @Test("Many concurrent orders are all durable once acknowledged (a second venue loading the database finds each), and they share saves")
    func concurrentOrdersShareSaves() async throws {
        try await LedgerDatabase.with { database in
            let ledger = CountingLedger(DatabasePaperLedger(database: database.database, logger: Self.logger))
            let venue = Self.venue(ledger)
            let calls = 120
            // A tick holds the save while the orders arrive; they queue behind it and share what follows.
            await ledger.holdNextSave()
            let acknowledged = try await withThrowingTaskGroup(of: (account: String, order: VenueOrder)?.self) { group in
                group.addTask {
                    try await venue.tick()
                    return nil
                }
                await ledger.saveStarted()
                for index in 0..<calls {
                    group.addTask {
                        let market = index.isMultiple(of: 3)
                        let account = "acct-\(index % 10)"
                        let order = try await venue.placeOrder(
                            OrderRequest(
                                symbol: "ETHUSDT",
                                side: .buy,
                                type: market ? .market : .limit,
                                quantity: Decimal(string: "0.01")!,
                                price: market ? nil : 1_000,
                                clientOrderID: "c\(index)"
                            ),
                            credentials: Self.credentials(account)
                        )
                        return (account, order)
                    }
                }
                // Every order reaches the exchange, then queues for a save; only then may the held save finish, so
                // the test does not depend on timing. Waits by yielding, never sleeping.
                var attempts = 0
                while await venue.exchange.snapshot().nextOrderID <= Int64(calls), attempts < 1_000_000 {
                    attempts += 1
                    await Task.yield()
                }
                await ledger.release()
                return try await group.reduce(into: [(account: String, order: VenueOrder)]()) { if let placed = $1 { $0.append(placed) } }
            }
            #expect(acknowledged.count == calls)
            #expect(await ledger.rowsPerSave.count < calls)

            let saved = try #require(try await DatabasePaperLedger(database: database.database, logger: Self.logger).load())
            let second = Self.venue(DatabasePaperLedger(database: database.database, logger: Self.logger), snapshot: saved)
            for (account, order) in acknowledged {
                let found = try await second.order(symbol: "ETHUSDT", clientOrderID: order.clientOrderID!, credentials: Self.credentials(account))
                #expect(found == order)
            }
        }
    }

    @Test("The old paper_state snapshot becomes rows (every order, closed ones archived) and paper_state is dropped")
    func migratesPaperState() async throws {
        try await LedgerDatabase.with(migrated: false) { database in
            let fluent = try database.database.database(logger: Self.logger)
            let before = Migrations()
            before.add(Array(TradekeepDatabase.migrations.prefix { !($0 is CreatePaperLedger) }))
            let migrator = Migrator(databaseFactory: { _ in fluent }, migrations: before, on: fluent.eventLoop, migrationLogLevel: .debug)
            try await migrator.setupIfNeeded().get()
            try await migrator.prepareBatch().get()

            // The old format: the whole engine, every order it ever saw, as one JSON row.
            let exchange = PaperExchange(configuration: Self.configuration, feed: RandomWalkFeed(seed: 7, volatility: 0.0001))
            _ = try await exchange.place(
                account: "a",
                OrderRequest(symbol: "BTCUSDT", side: .buy, type: .market, quantity: Decimal(string: "0.005")!, clientOrderID: "filled")
            )
            _ = try await exchange.place(
                account: "a",
                OrderRequest(symbol: "BTCUSDT", side: .buy, type: .limit, quantity: Decimal(string: "0.1")!, price: 49_000, clientOrderID: "open")
            )
            _ = try await exchange.place(
                account: "b",
                OrderRequest(symbol: "ETHUSDT", side: .buy, type: .limit, quantity: 1, price: 2_000, clientOrderID: "cancelled")
            )
            _ = await exchange.cancel(account: "b", symbol: "ETHUSDT", clientOrderID: "cancelled")
            try await exchange.setPrice("BTCUSDT", 48_900)
            for _ in 0..<3 { await exchange.tick() }
            let old = await exchange.snapshot()
            #expect(old.orders.count == 3)
            let sql = fluent as! any SQLDatabase
            try await sql.insert(into: "paper_state").columns("id", "snapshot", "updated_at")
                .values(SQLBind(1), SQLBind(String(decoding: try JSONEncoder().encode(old), as: UTF8.self)), SQLBind(Date())).run()

            try await database.database.migrate(logger: Self.logger)

            let ledger = DatabasePaperLedger(database: database.database, logger: Self.logger)
            var live = old
            live.orders = old.orders.filter { $0.status == .open || $0.status == .partiallyFilled }
            #expect(try await ledger.load() == live)
            #expect(live.orders.map(\.clientOrderID) == ["open"])
            #expect(try await ledger.archivedOrder(account: "a", clientOrderID: "filled") == old.orders.first { $0.clientOrderID == "filled" })
            #expect(try await ledger.archivedOrder(account: "b", clientOrderID: "cancelled")?.status == .cancelled)
            #expect(try await database.count("paper_orders") == 3)
            await #expect(throws: (any Error).self) { try await sql.select().column("id").from("paper_state").all() }
        }
    }

    @Test(
        "The paper Service ticks on its clock; a failed tick is logged with its error and counted; on graceful shutdown the tick in flight finishes and is saved"
    )
    func tickerService() async throws {
        try await LedgerDatabase.with { database in
            let application = try AuthDriver.application()
            defer { application.directory.remove() }
            let configuration = application.prepared.configuration
            let ledger = CountingLedger(DatabasePaperLedger(database: database.database, logger: Self.logger))
            let clock = ManualClock()
            let metrics = CountingMetrics()
            let logs = LogCapture()
            let paper = PaperTrading(configuration: configuration, ledger: ledger, clock: clock, metrics: metrics, logger: logs.logger())
            try await paper.restore()
            let group = ServiceGroup(services: [paper], logger: Self.logger)
            var sleeps = clock.sleepCalls.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }

                await sleeps.next()
                let start = await paper.venue.exchange.snapshot().feedPosition
                clock.advance(by: configuration.paperTick)
                await sleeps.next()
                let moved = await paper.venue.exchange.snapshot().feedPosition
                #expect(moved != start)
                #expect(try await ledger.load()?.feedPosition == moved)

                await ledger.fail(with: PaperPersistenceOutage())
                clock.advance(by: configuration.paperTick)
                await sleeps.next()
                #expect(metrics.count("tradekeep_paper_tick_failures_total") == 1)
                let line = try #require(logs.lines.first { $0.contains("paper tick not saved") })
                #expect(line.contains("error.type=ServerTests.PaperPersistenceOutage"))
                #expect(line.contains("disk full"))
                await ledger.fail(with: nil)

                await ledger.holdNextSave()
                clock.advance(by: configuration.paperTick)
                await ledger.saveStarted()
                await group.triggerGracefulShutdown()
                await ledger.release()
                try await tasks.waitForAll()
            }
            // The tick that was saving when shutdown came finished: its state (and the failed tick's) is in the database.
            let last = await paper.venue.exchange.snapshot()
            #expect(try await ledger.load() == last)
            #expect(metrics.count("tradekeep_paper_tick_failures_total") == 1)
        }
    }
}

struct PaperPersistenceOutage: Error, CustomStringConvertible {
    var description: String { "disk full" }
}

/// A migrated database of its own: in-memory SQLite, or a fresh PostgreSQL schema dropped by `close()`.
struct LedgerDatabase {
    let database: TradekeepDatabase
    let schema: String?

    static func open(migrated: Bool = true) async throws -> LedgerDatabase {
        let opened: LedgerDatabase
        if let base = TestEnvironment.postgresURL {
            let schema = "p_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))"
            let database = try TradekeepDatabase(location: DatabaseLocation(url: base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"))
            let sql = try database.database(logger: PaperLedgerTests.logger) as! any SQLDatabase
            try await sql.raw("CREATE SCHEMA IF NOT EXISTS \(ident: schema)").run()
            opened = LedgerDatabase(database: database, schema: schema)
        } else {
            opened = LedgerDatabase(database: try TradekeepDatabase(location: .sqliteMemory), schema: nil)
        }
        if migrated { try await opened.database.migrate(logger: PaperLedgerTests.logger) }
        return opened
    }

    func count(_ table: String) async throws -> Int {
        let sql = try self.database.database(logger: PaperLedgerTests.logger) as! any SQLDatabase
        return try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Runs `body` on a database of its own, then drops the schema (PostgreSQL) and closes the pool.
    static func with(migrated: Bool = true, _ body: (LedgerDatabase) async throws -> Void) async throws {
        let database = try await Self.open(migrated: migrated)
        do {
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    func close() async {
        if let schema = self.schema, let sql = try? self.database.database(logger: PaperLedgerTests.logger) as? any SQLDatabase {
            try? await sql.raw("DROP SCHEMA IF EXISTS \(ident: schema) CASCADE").run()
        }
        await self.database.shutdown()
    }
}

/// Counters by label; every other kind of metric is dropped.
final class CountingMetrics: MetricsFactory {
    final class Count: CounterHandler {
        let value = Mutex<Int64>(0)
        func increment(by amount: Int64) { self.value.withLock { $0 += amount } }
        func reset() { self.value.withLock { $0 = 0 } }
    }

    private let counters = Mutex<[String: Count]>([:])

    func count(_ label: String) -> Int64 { self.counters.withLock { $0[label] }?.value.withLock { $0 } ?? 0 }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.counters.withLock { counters in
            if let existing = counters[label] { return existing }
            let count = Count()
            counters[label] = count
            return count
        }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
