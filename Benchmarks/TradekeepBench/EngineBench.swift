// The real bot engine over N paper grid bots: tick → order-sent latency, venue calls, database statements and
// memory per bot, with the database (SQLite file, or PostgreSQL) or without one (an in-memory store: the engine's
// own cost). `tradekeep-bench engine N ticks sqlite|memory|postgres://…`.

import AuditLog
import Bots
import FluentKit
import Foundation
import Logging
import SQLKit
import Storage
import Synchronization
import Vault
import Venues

/// Counts the SQL statements the stores send, by kind (SQLKit logs each at trace level).
final class StatementCounter: Sendable {
    let counts = Mutex([String: Int]())

    func snapshot() -> [String: Int] { self.counts.withLock { $0 } }

    var logger: Logger {
        let counter = self
        var logger = Logger(label: "bench-sql") { _ in CountingHandler(counter: counter) }
        logger.logLevel = .trace
        return logger
    }

    struct CountingHandler: LogHandler {
        let counter: StatementCounter
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard case .string(let sql)? = event.metadata?["sql"] else { return }
            let text = sql.trimmingCharacters(in: .whitespaces).uppercased()
            for kind in ["SELECT", "INSERT", "UPDATE", "DELETE"] where text.hasPrefix(kind) {
                self.counter.counts.withLock { $0[kind, default: 0] += 1 }
            }
        }
    }
}

/// Wraps the paper venue: counts calls and notes when each order reaches it, relative to the tick's start.
final class MeasuredVenue: Venue, Sendable {
    let base: any Venue
    let tickStart = Mutex(ContinuousClock.now)
    let latencies = Mutex([Double]())
    let calls = Mutex([String: Int]())

    init(_ base: any Venue) { self.base = base }

    var id: VenueID { self.base.id }
    func count(_ call: String) { self.calls.withLock { $0[call, default: 0] += 1 } }

    func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection { try await self.base.inspectKey(credentials) }
    func ticker(symbol: String) async throws -> Ticker {
        self.count("ticker")
        return try await self.base.ticker(symbol: symbol)
    }
    func symbolRules(symbol: String) async throws -> SymbolRules {
        self.count("rules")
        return try await self.base.symbolRules(symbol: symbol)
    }
    func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        self.count("place")
        let elapsed = ContinuousClock.now - self.tickStart.withLock { $0 }
        self.latencies.withLock { $0.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15) }
        return try await self.base.placeOrder(order, credentials: credentials)
    }
    func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        self.count("cancel")
        return try await self.base.cancelOrder(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
    }
    func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        try await self.base.cancelAllOrders(symbol: symbol, credentials: credentials)
    }
    func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        self.count("open_orders")
        return try await self.base.openOrders(symbol: symbol, credentials: credentials)
    }
    func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        self.count("order")
        return try await self.base.order(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
    }
    func positions(credentials: VenueCredentials) async throws -> [Position] { try await self.base.positions(credentials: credentials) }
    func balances(credentials: VenueCredentials) async throws -> [Balance] {
        self.count("balances")
        return try await self.base.balances(credentials: credentials)
    }
}

/// The paper venue's state kept in memory only (the "without database" run).
final class MemoryPaperLedger: PaperLedger, Sendable {
    let archive = Mutex([String: PaperOrder]())
    func load() async throws -> PaperSnapshot? { nil }
    func save(_ changes: PaperChanges) async throws {
        self.archive.withLock { archive in
            for order in changes.orders where !order.isOpenForLedger { archive["\(order.account)/\(order.clientOrderID)"] = order }
        }
    }
    func archivedOrder(account: String, clientOrderID: String) async throws -> PaperOrder? {
        self.archive.withLock { $0["\(account)/\(clientOrderID)"] }
    }
}

extension PaperOrder {
    var isOpenForLedger: Bool { self.status == .open || self.status == .partiallyFilled }
}

func engineBench(bots count: Int, ticks: Int, database target: String) async throws {
    let memoryBefore = residentBytes()
    let statements = StatementCounter()
    let logger = statements.logger
    var database: TradekeepDatabase?
    var directory: URL?
    let repository: any BotRepository
    let ledger: any PaperLedger
    switch target {
    case "memory":
        repository = MemoryBotRepository()
        ledger = MemoryPaperLedger()
    default:
        let location: DatabaseLocation
        if target.hasPrefix("postgres") {
            location = try DatabaseLocation(url: target)
        } else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tradekeep-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            directory = folder
            location = .sqliteFile(path: folder.appendingPathComponent("bench.sqlite").path)
        }
        let opened = try TradekeepDatabase(location: location)
        try await opened.migrate(logger: Logger(label: "bench"))
        if ProcessInfo.processInfo.environment["BENCH_SYNC_NORMAL"] != nil, !opened.location.isPostgres {
            let sql = try opened.database(logger: Logger(label: "bench")) as! any SQLDatabase
            try await sql.raw("PRAGMA synchronous=NORMAL").run()
        }
        database = opened
        repository = BotStore(database: opened, logger: logger)
        ledger = DatabasePaperLedger(database: opened, logger: logger)
    }
    let exchange = PaperExchange(feed: RandomWalkFeed(seed: 7, volatility: 0.002))
    let paper = PaperVenue(exchange: exchange, ledger: ledger)
    let venue = MeasuredVenue(paper)
    let engine = BotEngine(
        bots: repository,
        credentials: NoBenchCredentials(),
        venues: TradingVenues(paper: venue, directory: VenueDirectory()),
        configuration: EngineConfiguration(),
        logger: Logger(label: "bench-engine")
    )
    // 20 bots per paper account (10,000 USDT each), spread over the three markets.
    let grids: [(String, Decimal)] = [
        ("BTCUSDT", Decimal(string: "0.001")!), ("ETHUSDT", Decimal(string: "0.01")!), ("SOLUSDT", Decimal(string: "0.2")!),
    ]
    var owner = UUID()
    let setupStart = ContinuousClock.now
    for index in 0..<count {
        if index % 20 == 0 {
            owner = UUID()
            if let database { try await insertUser(owner, database: database) }
        }
        let (symbol, quantity) = grids[index % grids.count]
        let parameters = BotParameters(.grid(GridParameters(rangePct: 3, levels: 11, quantity: quantity)))
        let now = Date()
        let bot = BotRecord(newFor: owner, name: "bench", venue: .paper, credentialID: nil, symbol: symbol, parameters: parameters, at: now)
        let event = AuditEvent(.botDeployed, user: owner, client: .engine, at: now)
        _ = try await repository.create(bot, limit: .max, audit: event)
        _ = try await repository.start(id: bot.id, userID: owner, runningLimit: .max, audit: event)
    }
    let setup = ContinuousClock.now - setupStart
    var tickDurations: [Double] = []
    var steady: [Double] = []
    let rowsBefore = try await rowsWritten(database)
    let before = statements.snapshot()
    let callsBefore = venue.calls.withLock { $0 }
    for _ in 0..<ticks {
        await exchange.tick()
        let start = ContinuousClock.now
        venue.tickStart.withLock { $0 = start }
        let sentBefore = venue.latencies.withLock { $0.count }
        await engine.tick()
        tickDurations.append(milliseconds(ContinuousClock.now - start))
        // After the first tick (every grid placing its initial orders at once): the orders of a running market.
        if tickDurations.count > 1 { steady += venue.latencies.withLock { Array($0[sentBefore...]) } }
    }
    steady.sort()
    let after = statements.snapshot()
    let rowsAfter = try await rowsWritten(database)
    let callsAfter = venue.calls.withLock { $0 }
    var latencies = venue.latencies.withLock { $0 }
    latencies.sort()
    tickDurations.sort()
    let memoryPerBot = (residentBytes() - memoryBefore) / count
    func perTick(_ after: [String: Int], _ before: [String: Int], _ keys: [String]) -> String {
        keys.map { key in "\"\(key)\":\(String(format: "%.1f", Double((after[key] ?? 0) - (before[key] ?? 0)) / Double(ticks)))" }.joined(
            separator: ","
        )
    }
    let reads = perTick(after, before, ["SELECT"])
    let writes = String(format: "%.1f", Double(rowsAfter - rowsBefore) / Double(ticks))
    let calls = perTick(callsAfter, callsBefore, ["ticker", "rules", "balances", "open_orders", "order", "place", "cancel"])
    print(
        #"{"bench":"engine","database":"\#(target.hasPrefix("postgres") ? "postgres" : target)","bots":\#(count),"ticks":\#(ticks),"#
            + #""orders_sent":\#(latencies.count),"tick_to_order_ms_p50":\#(format(percentile(latencies, 50))),"#
            + #""tick_to_order_ms_p99":\#(format(percentile(latencies, 99))),"steady_orders":\#(steady.count),"#
            + #""steady_tick_to_order_ms_p50":\#(format(percentile(steady, 50))),"steady_tick_to_order_ms_p99":\#(format(percentile(steady, 99))),"#
            + #""tick_ms_p50":\#(format(percentile(tickDurations, 50))),"#
            + #""tick_ms_max":\#(format(tickDurations.last ?? 0)),"venue_calls_per_tick":{\#(calls)},"#
            + #""database_per_tick":{"reads":{\#(reads)},"rows_written":\#(writes)},"memory_per_bot_bytes":\#(memoryPerBot),"#
            + #""setup_seconds":\#(format(milliseconds(setup) / 1000))}"#
    )
    if let database { await database.shutdown() }
    if let directory { try? FileManager.default.removeItem(at: directory) }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ sorted: [Double], _ p: Int) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * p / 100)]
}

func format(_ value: Double) -> String { String(format: "%.2f", value) }

/// Rows inserted, updated or deleted so far: SQLite's total_changes() on its one connection, PostgreSQL's table
/// statistics (which lag by up to a second).
func rowsWritten(_ database: TradekeepDatabase?) async throws -> Int {
    guard let database else { return 0 }
    let sql = try database.database(logger: Logger(label: "bench")) as! any SQLDatabase
    if database.location.isPostgres {
        try await Task.sleep(for: .seconds(1))
        let row = try await sql.raw("SELECT CAST(COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) AS BIGINT) AS n FROM pg_stat_user_tables")
            .first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }
    return try await sql.raw("SELECT total_changes() AS n").first()?.decode(column: "n", as: Int.self) ?? 0
}

/// An active user row, for the trading gate.
func insertUser(_ id: UUID, database: TradekeepDatabase) async throws {
    let sql = try database.database(logger: Logger(label: "bench")) as! any SQLDatabase
    try await sql.insert(into: "users")
        .columns("id", "email", "password_hash", "status", "role", "failed_logins", "created_at", "updated_at")
        .values(SQLBind(id), SQLBind("\(id)@bench"), SQLBind("x"), SQLBind("active"), SQLBind("user"), SQLBind(0), SQLBind(Date()), SQLBind(Date()))
        .run()
}

/// Paper bots need no exchange key.
struct NoBenchCredentials: CredentialRepository {
    func list(userID: UUID) async throws -> [CredentialRecord] { [] }
    func credential(id: UUID, userID: UUID) async throws -> CredentialRecord? { nil }
    func create(_ record: CredentialRecord, keys: VenueCredentials, audit: AuditEvent) async throws {}
    func rotate(id: UUID, userID: UUID, findings: KeyFindings, keys: VenueCredentials, at: Date, audit: AuditEvent) async throws -> CredentialRecord?
    {
        nil
    }
    func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool { false }
    func keys(id: UUID, userID: UUID) async throws -> VenueCredentials { throw CredentialError.notFound }
    func disable(id: UUID, userID: UUID, reason: String, at: Date, audit: AuditEvent) async throws -> Bool { false }
    func markChecked(id: UUID, userID: UUID, findings: KeyFindings, at: Date) async throws {}
    func dueForCheck(checkedBefore: Date, limit: Int) async throws -> [CredentialRecord] { [] }
}
