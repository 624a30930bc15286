// The engine on the real bot store (in-memory SQLite) and a scripted venue whose prices, fills and answers the test
// controls: no HTTP, no wall-clock sleeps.

import AuditLog
import FluentKit
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing
import Vault

@testable import Bots
@testable import Storage
@testable import Venues

/// A clock whose sleeps return at once (or throw when cancelled): retries and timers run without waiting.
struct InstantClock: Clock {
    typealias Duration = Swift.Duration
    struct Instant: InstantProtocol {
        var offset: Swift.Duration
        func advanced(by duration: Swift.Duration) -> Instant { Instant(offset: self.offset + duration) }
        func duration(to other: Instant) -> Swift.Duration { other.offset - self.offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    var now: Instant { Instant(offset: .zero) }
    var minimumResolution: Swift.Duration { .zero }

    func sleep(until deadline: Instant, tolerance: Swift.Duration?) async throws {
        try Task.checkCancellation()
        await Task.yield()
    }
}

/// A venue that does what the test says: prices per symbol, orders kept as placed until the test fills them, every
/// call counted, and optionally a placement that waits until the test releases it.
final class ScriptedVenue: Venue, Sendable {
    struct State {
        var prices: [String: Decimal] = [:]
        var orders: [String: VenueOrder] = [:]
        var calls: [String: Int] = [:]
        var holdPlacements = false
        var quoteBalance: Decimal = 1_000_000
        var held: [UUID: CheckedContinuation<Void, any Error>] = [:]
    }

    let id = VenueID.paper
    let state = Mutex(State())
    /// One element per placement that is being held: the test awaits it instead of polling.
    let placementsHeld: AsyncStream<Void>
    private let placementHeld: AsyncStream<Void>.Continuation
    let rules = SymbolRules(
        symbol: "",
        tickSize: Decimal(string: "0.01")!,
        stepSize: Decimal(string: "0.001")!,
        minQuantity: Decimal(string: "0.001")!,
        minNotional: 5
    )

    init(prices: [String: Decimal] = ["BTCUSDT": 50_000]) {
        (self.placementsHeld, self.placementHeld) = AsyncStream.makeStream()
        self.state.withLock { $0.prices = prices }
    }

    /// From now on placements wait (until `release()` or their task is cancelled).
    func hold() { self.state.withLock { $0.holdPlacements = true } }

    func release() {
        let held = self.state.withLock { state in
            state.holdPlacements = false
            defer { state.held.removeAll() }
            return Array(state.held.values)
        }
        for continuation in held { continuation.resume() }
    }

    /// A placement that honours cancellation, as AsyncHTTPClient's requests do.
    private func waitIfHeld() async throws {
        guard self.state.withLock({ $0.holdPlacements }) else { return }
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let stillHeld = self.state.withLock { state -> Bool in
                    guard state.holdPlacements, !Task.isCancelled else { return false }
                    state.held[id] = continuation
                    return true
                }
                if stillHeld {
                    self.placementHeld.yield()
                } else if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    continuation.resume()
                }
            }
        } onCancel: {
            self.state.withLock { $0.held.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    func count(_ call: String) -> Int { self.state.withLock { $0.calls[call] ?? 0 } }
    func counted(_ call: String) { self.state.withLock { $0.calls[call, default: 0] += 1 } }
    func setPrice(_ symbol: String, _ price: Decimal) { self.state.withLock { $0.prices[symbol] = price } }
    func setQuoteBalance(_ amount: Decimal) { self.state.withLock { $0.quoteBalance = amount } }
    var openOrders: [VenueOrder] { self.state.withLock { Array($0.orders.values.filter { $0.status.isOpen }) } }

    /// Fill an open order completely at its own price.
    func fill(_ clientOrderID: String) {
        self.state.withLock { state in
            guard var order = state.orders[clientOrderID] else { return }
            order.filledQuantity = order.quantity
            order.averagePrice = order.price ?? state.prices[order.symbol]
            order.status = .filled
            state.orders[clientOrderID] = order
        }
    }

    func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection { throw VenueError.notSupported(.paper, "Keys") }

    func ticker(symbol: String) async throws -> Ticker {
        self.counted("ticker")
        guard let price = self.state.withLock({ $0.prices[symbol] }) else {
            throw VenueError.rejected(.paper, code: "unknown_symbol", message: symbol)
        }
        return Ticker(symbol: symbol, price: price, bid: price, ask: price, time: Date())
    }

    func symbolRules(symbol: String) async throws -> SymbolRules {
        self.counted("rules")
        var rules = self.rules
        rules.symbol = symbol
        return rules
    }

    func placeOrder(_ request: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        self.counted("place")
        try await self.waitIfHeld()
        return self.state.withLock { state in
            let price = state.prices[request.symbol] ?? 0
            let filled = request.type == .market
            let order = VenueOrder(
                venueOrderID: UUID().uuidString,
                clientOrderID: request.clientOrderID,
                symbol: request.symbol,
                side: request.side,
                type: request.type,
                price: request.price,
                quantity: request.quantity,
                filledQuantity: filled ? request.quantity : 0,
                averagePrice: filled ? price : nil,
                status: filled ? .filled : .open
            )
            state.orders[request.clientOrderID] = order
            return order
        }
    }

    func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        self.counted("cancel")
        return self.state.withLock { state in
            guard var order = state.orders[clientOrderID], order.status.isOpen else { return nil }
            order.status = .cancelled
            state.orders[clientOrderID] = order
            return order
        }
    }

    func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int { 0 }

    func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        self.counted("openOrders")
        return self.state.withLock { state in state.orders.values.filter { $0.status.isOpen && (symbol == nil || $0.symbol == symbol) } }
    }

    func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        self.counted("order")
        guard let order = self.state.withLock({ $0.orders[clientOrderID] }) else {
            throw VenueError.rejected(.paper, code: "unknown_order", message: "no such order")
        }
        return order
    }

    func positions(credentials: VenueCredentials) async throws -> [Position] { [] }

    func balances(credentials: VenueCredentials) async throws -> [Balance] {
        self.counted("balances")
        let quote = self.state.withLock { $0.quoteBalance }
        return [Balance(asset: "USDT", total: quote, available: quote), Balance(asset: "BTC", total: 100, available: 100)]
    }
}

/// Paper bots need no exchange key; nothing here is ever asked.
struct NoCredentials: CredentialRepository {
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

/// The time the engine reads, moved by the test.
final class TestTime: Sendable {
    private let value: Mutex<Date>

    init(_ date: Date) { self.value = Mutex(date) }

    var now: Date { self.value.withLock { $0 } }

    func withLock<T>(_ body: (inout Date) -> T) -> T { self.value.withLock { body(&$0) } }
}

/// The engine, its store, its venue and a time the test moves.
struct EngineHarness {
    let database: TradekeepDatabase
    let store: BotStore
    let venue: ScriptedVenue
    let time: TestTime
    let logger = Logger(label: "engine-test")

    /// Run `body` with a fresh harness; its database is shut down afterwards, whatever happens.
    static func with(
        now: Date = Date(timeIntervalSince1970: 1_800_000_000),
        _ body: (EngineHarness) async throws -> Void
    ) async throws {
        let harness = try await Self.make(now: now)
        do {
            try await body(harness)
        } catch {
            await harness.database.shutdown()
            throw error
        }
        await harness.database.shutdown()
    }

    static func make(venue: ScriptedVenue = ScriptedVenue(), now: Date = Date(timeIntervalSince1970: 1_800_000_000)) async throws -> EngineHarness {
        let database = try TradekeepDatabase(location: .sqliteMemory)
        try await database.migrate(logger: Logger(label: "engine-test"))
        return EngineHarness(
            database: database,
            store: BotStore(database: database, logger: Logger(label: "engine-test")),
            venue: venue,
            time: TestTime(now)
        )
    }

    var now: Date { self.time.now }
    func advance(_ seconds: TimeInterval) { self.time.withLock { $0 = $0.addingTimeInterval(seconds) } }

    func engine(bots: (any BotRepository)? = nil, configuration: EngineConfiguration = EngineConfiguration()) -> BotEngine {
        let time = self.time
        return BotEngine(
            bots: bots ?? self.store,
            credentials: NoCredentials(),
            venues: TradingVenues(paper: self.venue, directory: VenueDirectory()),
            configuration: configuration,
            clock: InstantClock(),
            now: { time.now },
            logger: self.logger
        )
    }

    /// An active user, written straight into the table the trading gate reads.
    func user() async throws -> UUID {
        let id = UUID()
        let sql = try self.database.database(logger: self.logger) as! any SQLDatabase
        try await sql.insert(into: "users")
            .columns("id", "email", "password_hash", "status", "role", "failed_logins", "created_at", "updated_at")
            .values(
                SQLBind(id),
                SQLBind("\(id)@example.com"),
                SQLBind("x"),
                SQLBind("active"),
                SQLBind("user"),
                SQLBind(0),
                SQLBind(self.now),
                SQLBind(self.now)
            )
            .run()
        return id
    }

    /// A running bot of `owner` with these parameters.
    func bot(_ owner: UUID, _ parameters: BotParameters, symbol: String = "BTCUSDT") async throws -> BotRecord {
        let bot = BotRecord(newFor: owner, name: "test", venue: .paper, credentialID: nil, symbol: symbol, parameters: parameters, at: self.now)
        let event = AuditEvent(.botDeployed, user: owner, client: .engine, at: self.now)
        #expect(try await self.store.create(bot, limit: 100_000, audit: event))
        #expect(try await self.store.start(id: bot.id, userID: owner, runningLimit: 100_000, audit: event) == .started)
        return try #require(try await self.store.bot(id: bot.id))
    }

    func status(_ id: UUID) async throws -> BotStatus? { try await self.store.bot(id: id)?.status }

    func audit(_ action: AuditAction) async throws -> [[String: String]] {
        let sql = try self.database.database(logger: self.logger) as! any SQLDatabase
        return try await sql.select().column("details").from("audit_events").where("action", .equal, action.rawValue).all()
            .map { try JSONDecoder().decode([String: String].self, from: Data(try $0.decode(column: "details", as: String.self).utf8)) }
    }
}
