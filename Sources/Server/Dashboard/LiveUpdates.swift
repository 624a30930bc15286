// Live updates for the dashboard: WebSocket tickets and the event stream behind GET /api/v1/ws.
//
// A ticket is 256 random bits, stored only as its SHA-256, valid 30 seconds, bound to the user who asked for it,
// and spent by the first upgrade that presents it (before the upgrade answers): a ticket in a log or a browser
// history is worthless. Access tokens and cookies never appear in a WebSocket URL.
//
// The stream: one poller per user with open sockets (however many sockets), once a second, sends what changed in
// that user's bots and orders, the prices of their markets and their alerts, as JSON lines
// {"type": "bot" | "order" | "price" | "alert", …}.

import Accounts
import Bots
import Foundation
import Logging
import Storage
import Synchronization
import Venues

/// Where tickets live: in memory for one instance; a shared store (Redis) when several instances serve one site.
protocol TicketStore: Sendable {
    /// A new ticket for the caller (user and session), valid until `now + Tickets.lifetime`.
    func issue(for identity: Identity, now: Date) async throws -> String
    /// Who a ticket was issued to, spending it; nil when it is unknown, spent or expired.
    func consume(_ ticket: String, now: Date) async throws -> Identity?
}

enum Tickets {
    static let lifetime: TimeInterval = 30
    /// Outstanding tickets a user may hold; older ones are dropped first.
    static let perUser = 16
}

final class MemoryTicketStore: TicketStore {
    private struct Entry {
        let identity: Identity
        let expiresAt: Date
    }

    private let entries = Mutex<[String: Entry]>([:])

    func issue(for identity: Identity, now: Date) async throws -> String {
        let ticket = OpaqueToken.generate()
        self.entries.withLock { entries in
            entries = entries.filter { $0.value.expiresAt > now }
            let mine = entries.filter { $0.value.identity.userID == identity.userID }.sorted { $0.value.expiresAt < $1.value.expiresAt }
            for (hash, _) in mine.prefix(max(0, mine.count - Tickets.perUser + 1)) { entries[hash] = nil }
            entries[OpaqueToken.hash(ticket)] = Entry(identity: identity, expiresAt: now.addingTimeInterval(Tickets.lifetime))
        }
        return ticket
    }

    func consume(_ ticket: String, now: Date) async throws -> Identity? {
        let hash = OpaqueToken.hash(ticket)
        return self.entries.withLock { entries in
            // Removed whatever its state: one presentation, and only the first, can use it.
            guard let entry = entries.removeValue(forKey: hash), entry.expiresAt > now else { return nil }
            return entry.identity
        }
    }

    /// Tickets held now, expired ones included until the next issue prunes them (tests).
    var count: Int { self.entries.withLock { $0.count } }
}

/// One user's view as the stream last sent it, and the lines that bring a client from `previous` to `current`.
struct LiveSnapshot: Equatable {
    struct Bot: Equatable {
        let status: String
        let statusReason: String?
        let pnl: Decimal
    }

    struct Order: Equatable {
        let botID: UUID
        let side: String
        let price: Decimal?
        let quantity: Decimal
        let filled: Decimal
        let status: String
    }

    var bots: [UUID: Bot] = [:]
    var orders: [UUID: Order] = [:]
    var prices: [String: Decimal] = [:]
    /// The user's most recent alerts, oldest first: (id, its JSON line).
    var alerts: [UUID: String] = [:]
    var alertOrder: [UUID] = []

    /// JSON lines for what changed, bots first, then orders, then prices, then new alerts.
    func changes(from previous: LiveSnapshot) -> [String] {
        var lines: [String] = []
        for (id, bot) in self.bots.sorted(by: { $0.key.uuidString < $1.key.uuidString }) where previous.bots[id] != bot {
            lines.append(
                Self.json([
                    "type": "bot", "id": id.apiString, "status": bot.status, "status_reason": bot.statusReason ?? NSNull(),
                    "pnl": "\(bot.pnl)",
                ])
            )
        }
        for id in previous.bots.keys where self.bots[id] == nil {
            lines.append(Self.json(["type": "bot", "id": id.apiString, "status": "deleted"]))
        }
        for (id, order) in self.orders.sorted(by: { $0.key.uuidString < $1.key.uuidString }) where previous.orders[id] != order {
            lines.append(
                Self.json([
                    "type": "order", "id": id.apiString, "bot_id": order.botID.apiString, "side": order.side,
                    "price": order.price.map { "\($0)" } ?? NSNull(), "quantity": "\(order.quantity)", "filled_quantity": "\(order.filled)",
                    "status": order.status,
                ])
            )
        }
        for id in previous.orders.keys.sorted(by: { $0.uuidString < $1.uuidString }) where self.orders[id] == nil {
            // No longer open: filled or cancelled (the bot page lists which).
            lines.append(Self.json(["type": "order", "id": id.apiString, "status": "closed"]))
        }
        for (market, price) in self.prices.sorted(by: { $0.key < $1.key }) where previous.prices[market] != price {
            lines.append(Self.json(["type": "price", "market": market, "price": "\(price)"]))
        }
        for id in self.alertOrder where previous.alerts[id] == nil {
            if let line = self.alerts[id] { lines.append(line) }
        }
        return lines
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// The users with open sockets, one poller each, fanning lines out to every socket of that user.
final class LiveUpdates: Sendable {
    /// Open sockets per user and in all: the stream reads the database, so its reach is bounded.
    static let socketsPerUser = 4
    static let socketsInAll = 1000

    let tickets: any TicketStore
    let bots: BotService
    /// Alerts are read with the rest of the snapshot, so an alert raised by another server reaches this one's sockets.
    let alerts: AlertService?
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    private struct Subscriber {
        let continuation: AsyncStream<String>.Continuation
    }

    private struct State {
        var subscribers: [UUID: [UUID: Subscriber]] = [:]
        var pollers: [UUID: Task<Void, Never>] = [:]
        var count = 0
    }

    private let state = Mutex(State())

    init(
        tickets: any TicketStore,
        bots: BotService,
        alerts: AlertService? = nil,
        interval: Duration = .seconds(1),
        logger: Logger,
        now: @escaping @Sendable () -> Date
    ) {
        self.tickets = tickets
        self.bots = bots
        self.alerts = alerts
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    enum SubscribeError: Error { case tooManySockets }

    /// A stream of JSON lines for `userID`'s bots; it starts with the current state (every bot, open order and
    /// price), then carries changes. Ends when `cancel` is called.
    func subscribe(_ userID: UUID) throws -> (lines: AsyncStream<String>, cancel: @Sendable () -> Void) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(256))
        try self.state.withLock { state in
            guard state.count < Self.socketsInAll, (state.subscribers[userID]?.count ?? 0) < Self.socketsPerUser else {
                throw SubscribeError.tooManySockets
            }
            state.subscribers[userID, default: [:]][id] = Subscriber(continuation: continuation)
            state.count += 1
            if state.pollers[userID] == nil {
                state.pollers[userID] = Task { await self.poll(userID) }
            }
        }
        // A new socket gets a first line at once, then everything once (its own first snapshot, apart from the
        // poller's diffs).
        continuation.yield(#"{"type":"ready"}"#)
        Task {
            if let snapshot = try? await self.snapshot(userID) {
                for line in snapshot.changes(from: LiveSnapshot()) { continuation.yield(line) }
            }
        }
        let cancel: @Sendable () -> Void = { [weak self] in self?.unsubscribe(userID, id) }
        return (stream, cancel)
    }

    private func unsubscribe(_ userID: UUID, _ id: UUID) {
        let subscriber: Subscriber? = self.state.withLock { state in
            guard let removed = state.subscribers[userID]?.removeValue(forKey: id) else { return nil }
            state.count -= 1
            if state.subscribers[userID]?.isEmpty == true {
                state.subscribers[userID] = nil
                state.pollers.removeValue(forKey: userID)?.cancel()
            }
            return removed
        }
        subscriber?.continuation.finish()
    }

    /// Sockets open now (tests and metrics).
    var openSockets: Int { self.state.withLock { $0.count } }

    private func poll(_ userID: UUID) async {
        var previous = (try? await self.snapshot(userID)) ?? LiveSnapshot()
        // The newest alert shown: each poll reads only the alerts after it.
        var lastAlert = previous.alertOrder.last
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.interval)
                let current = try await self.snapshot(userID, alertsAfter: lastAlert)
                let lines = current.changes(from: previous)
                previous = current
                lastAlert = current.alertOrder.last ?? lastAlert
                guard !lines.isEmpty else { continue }
                let subscribers = self.state.withLock { Array(($0.subscribers[userID] ?? [:]).values) }
                for subscriber in subscribers {
                    for line in lines { subscriber.continuation.yield(line) }
                }
            } catch is CancellationError {
                return
            } catch {
                self.logger.warning("live update poll failed", metadata: ["error.type": .string("\(type(of: error))")])
            }
        }
    }

    /// What the user's live page shows: bots, open orders, prices, and the 20 most recent alerts, or (a poll after
    /// the first) only the alerts after `alertsAfter`.
    func snapshot(_ userID: UUID, alertsAfter: UUID? = nil) async throws -> LiveSnapshot {
        var snapshot = LiveSnapshot()
        let bots = try await self.bots.bots(owner: userID)
        for bot in bots {
            snapshot.bots[bot.id] = LiveSnapshot.Bot(status: bot.status.rawValue, statusReason: bot.statusReason, pnl: await self.bots.pnl(bot))
            if let price = self.bots.lastPrice(bot) { snapshot.prices["\(bot.venue.rawValue):\(bot.symbol)"] = price }
        }
        for record in try await self.bots.orders(owner: userID, openOnly: true) {
            snapshot.orders[record.id] = LiveSnapshot.Order(record)
        }
        let alerts: [AlertRecord]
        if let alertsAfter {
            alerts = try await self.alerts?.alerts(of: userID, after: alertsAfter, limit: 20) ?? []
        } else {
            alerts = (try await self.alerts?.alerts(of: userID, before: nil, limit: 20) ?? []).reversed()
        }
        for alert in alerts {
            snapshot.alertOrder.append(alert.id)
            snapshot.alerts[alert.id] = LiveSnapshot.json([
                "type": "alert", "id": alert.id.apiString, "kind": alert.kind, "message": alert.message, "details": alert.details,
                "created_at": alert.createdAt.formatted(.iso8601), "acknowledged": alert.acknowledgedAt != nil,
            ])
        }
        return snapshot
    }
}

extension LiveSnapshot.Order {
    init(_ record: BotOrderRecord) {
        self.init(
            botID: record.botID,
            side: record.order.side.rawValue,
            price: record.order.price,
            quantity: record.order.quantity,
            filled: record.order.filled,
            status: record.order.status.rawValue
        )
    }
}
