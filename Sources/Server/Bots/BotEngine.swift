// Runs every started bot: reconcile its orders with the venue, decide, check risk limits, act; state saved before
// each order goes out, so a restart or retry never places an order twice (SPEC §5).

import AuditLog
import Bots
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Vault
import Venues

/// A bot's parameters as stored: the strategy's, plus risk limits.
struct BotParameters: Codable, Sendable {
    var grid: GridParameters?
    var dca: DCAParameters?
    var signal: SignalParameters?
    var risk: RiskLimits

    struct RiskLimits: Codable, Sendable, Equatable {
        /// Most base asset the bot may hold.
        var maxPosition: Decimal?
        var maxOrdersPerMinute: Int?
        /// Largest loss (quote) since midnight UTC before the bot stops.
        var maxDailyLoss: Decimal?
    }
}

/// Why a bot was stopped by its limits.
struct RiskBreach: Error { let reason: String }

final class BotEngine: Service, Sendable {
    let store: BotStore
    let credentials: CredentialStore
    let envelope: Envelope
    let directory: VenueDirectory
    let paper: PaperVenue
    let auth: AuthService
    let interval: Duration
    let logger: Logger

    init(
        store: BotStore,
        credentials: CredentialStore,
        envelope: Envelope,
        directory: VenueDirectory,
        paper: PaperVenue,
        auth: AuthService,
        interval: Duration,
        logger: Logger
    ) {
        self.store = store
        self.credentials = credentials
        self.envelope = envelope
        self.directory = directory
        self.paper = paper
        self.auth = auth
        self.interval = interval
        self.logger = logger
    }

    static let coder: (JSONEncoder, JSONDecoder) = {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return (encoder, decoder)
    }()

    // MARK: The loop

    /// Every interval, one step of every running bot, concurrently; a bot whose step fails is stopped (with its
    /// reason recorded and audited), never the server.
    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: self.interval)
                    await self.stepAll()
                }
            }
        } catch is CancellationError {}
    }

    func stepAll() async {
        // Halted: nothing trades (the halt stopped every bot; this guards against a bot started meanwhile).
        guard let bots = try? await self.store.running(), !bots.isEmpty, (try? await self.store.isHalted()) == false else { return }
        await withTaskGroup(of: Void.self) { group in
            for bot in bots { group.addTask { await self.supervisedStep(bot) } }
        }
    }

    func supervisedStep(_ bot: BotRecord) async {
        do {
            try await self.step(bot)
        } catch let breach as RiskBreach {
            await self.stop(bot, status: "risk_stopped", reason: breach.reason, action: .botRiskStop)
        } catch VenueError.rateLimited {
            // Waited out at the next step.
        } catch VenueError.unreachable {
            // Transient: the next step tries again; orders are reconciled by client id.
        } catch {
            await self.stop(bot, status: "failed", reason: "\(error)", action: .botStopped)
        }
    }

    func stop(_ bot: BotRecord, status: String, reason: String, action: AuditAction) async {
        self.logger.warning("bot stopped", metadata: ["bot": .string(bot.id.uuidString), "status": .string(status), "reason": .string(reason)])
        try? await self.store.setStatus(id: bot.id, status, reason: reason)
        try? await self.auth.record(action, bot.userId, ClientInfo(ip: nil, userAgent: "engine"), ["bot_id": bot.id.apiString, "reason": reason])
        _ = try? await self.cancelOpenOrders(bot)
    }

    // MARK: One step

    func venue(for bot: BotRecord) throws -> any Venue {
        guard let id = VenueID(rawValue: bot.venue) else { throw VenueError.notSupported(.paper, "Venue \(bot.venue)") }
        if id == .paper { return self.paper }
        guard let venue = self.directory.venue(id) else { throw VenueError.notSupported(id, "Trading") }
        return venue
    }

    /// The key for the bot's venue: the paper account, or the owner's verified exchange key opened from the vault.
    func credentials(for bot: BotRecord) async throws -> VenueCredentials {
        guard bot.venue != VenueID.paper.rawValue else {
            return VenueCredentials(apiKey: bot.userId.apiString, secret: SecretBytes(copying: [UInt8]()))
        }
        guard let id = bot.credentialId else { throw RiskBreach(reason: "the bot has no exchange key") }
        return try await self.credentials.withMaterial(id: id, userID: bot.userId, envelope: self.envelope) { material in
            VenueCredentials(apiKey: material.apiKey, secret: material.secret, passphrase: material.passphrase)
        }
    }

    func step(_ bot: BotRecord) async throws {
        let venue = try self.venue(for: bot)
        let keys = try await self.credentials(for: bot)
        let parameters = try Self.coder.1.decode(BotParameters.self, from: Data(bot.params.utf8))
        _ = try await self.reconcile(bot, venue: venue, credentials: keys)
        // Fills found now, and orders that filled the moment they were placed: each is told to the strategy once.
        let newlyDone = try await self.store.unreportedFills(botID: bot.id).map(Self.botOrder)
        let market = try await self.marketState(bot, venue: venue, credentials: keys)
        try await self.checkRisk(bot, parameters.risk, market: market)
        let open = try await self.store.orders(botID: bot.id, openOnly: true).map(Self.botOrder)
        var sequence = bot.sequence
        let decision: Decision
        let state: String
        switch Strategy(rawValue: bot.strategy) {
        case .grid?:
            var grid = try Self.coder.1.decode(GridState.self, from: Data(bot.state.utf8))
            decision = GridStrategy.decide(parameters.grid!, state: &grid, market: market, orders: open + newlyDone)
            state = String(decoding: try Self.coder.0.encode(grid), as: UTF8.self)
        case .dca?:
            var dca = try Self.coder.1.decode(DCAState.self, from: Data(bot.state.utf8))
            decision = DCAStrategy.decide(parameters.dca!, state: &dca, market: market, orders: open + newlyDone)
            state = String(decoding: try Self.coder.0.encode(dca), as: UTF8.self)
        case .signal?, nil:
            return  // signal bots act on webhooks only
        }
        // The strategy's state is saved before acting, and its fills marked told: a crash now repeats no decision
        // already folded in.
        try await self.store.save(id: bot.id, state: state, sequence: sequence)
        try await self.store.markReported(clientOrderIDs: newlyDone.map(\.clientOrderID))
        for key in decision.cancel {
            guard let order = open.first(where: { $0.key == key }) else { continue }
            if let cancelled = try? await venue.cancelOrder(symbol: bot.symbol, clientOrderID: order.clientOrderID, credentials: keys) {
                try await self.store.updateOrder(
                    clientOrderID: order.clientOrderID,
                    filled: cancelled.filledQuantity.description,
                    averagePrice: cancelled.averagePrice?.description,
                    status: cancelled.status.rawValue
                )
                try await self.recordCancel(bot, clientOrderID: order.clientOrderID, reason: "strategy")
            }
        }
        for intent in decision.place {
            try await self.place(intent, bot: bot, sequence: &sequence, venue: venue, credentials: keys, limits: parameters.risk)
        }
    }

    /// Give the order its client id (bot + sequence), save sequence and a `pending` row, then send it.
    func place(
        _ intent: OrderIntent,
        bot: BotRecord,
        sequence: inout Int64,
        venue: any Venue,
        credentials: VenueCredentials,
        limits: BotParameters.RiskLimits
    ) async throws {
        if let limit = limits.maxOrdersPerMinute {
            let recent = try await self.store.orders(botID: bot.id).filter { $0.createdAt > Date().addingTimeInterval(-60) }.count
            if recent >= limit { throw RiskBreach(reason: "more than \(limit) orders in a minute") }
        }
        sequence += 1
        let clientOrderID = Self.clientOrderID(bot: bot.id, sequence: sequence)
        try await self.store.saveSequence(id: bot.id, sequence)
        let now = Date()
        try await self.store.insert(
            BotOrderRecord(
                id: UUID(),
                botId: bot.id,
                userId: bot.userId,
                clientOrderId: clientOrderID,
                key: intent.key,
                side: intent.side.rawValue,
                type: intent.type.rawValue,
                price: intent.price?.description,
                quantity: intent.quantity.description,
                filledQuantity: "0",
                averagePrice: nil,
                status: "pending",
                createdAt: now,
                updatedAt: now
            )
        )
        do {
            let placed = try await venue.placeOrder(
                OrderRequest(
                    symbol: bot.symbol,
                    side: intent.side,
                    type: intent.type,
                    quantity: intent.quantity,
                    price: intent.price,
                    clientOrderID: clientOrderID
                ),
                credentials: credentials
            )
            try await self.store.updateOrder(
                clientOrderID: clientOrderID,
                filled: placed.filledQuantity.description,
                averagePrice: placed.averagePrice?.description,
                status: placed.status.rawValue
            )
            try await self.auth.record(
                .orderPlaced,
                bot.userId,
                ClientInfo(ip: nil, userAgent: "engine"),
                [
                    "bot_id": bot.id.apiString, "client_order_id": clientOrderID, "side": intent.side.rawValue,
                    "quantity": intent.quantity.description, "price": intent.price?.description ?? "market",
                ]
            )
        } catch VenueError.rejected(_, let code, _) {
            try await self.store.updateOrder(clientOrderID: clientOrderID, filled: "0", averagePrice: nil, status: "rejected")
            self.logger.info("order refused", metadata: ["bot": .string(bot.id.uuidString), "code": .string(code)])
        }
    }

    static func clientOrderID(bot: UUID, sequence: Int64) -> String {
        "tk" + bot.uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12) + "-" + String(sequence)
    }

    /// Bring every open (or pending) order up to date from the venue; the ones that ended since are returned once.
    func reconcile(_ bot: BotRecord, venue: any Venue, credentials: VenueCredentials) async throws -> [BotOrder] {
        var done: [BotOrder] = []
        for order in try await self.store.orders(botID: bot.id, openOnly: true) {
            let current: VenueOrder
            do {
                current = try await venue.order(symbol: bot.symbol, clientOrderID: order.clientOrderId, credentials: credentials)
            } catch VenueError.rejected {
                // Never reached the venue (a crash between saving and sending): it can be decided again.
                if order.status == "pending" {
                    try await self.store.updateOrder(clientOrderID: order.clientOrderId, filled: "0", averagePrice: nil, status: "rejected")
                }
                continue
            }
            guard current.status.rawValue != order.status || current.filledQuantity.description != order.filledQuantity else { continue }
            try await self.store.updateOrder(
                clientOrderID: order.clientOrderId,
                filled: current.filledQuantity.description,
                averagePrice: current.averagePrice?.description,
                status: current.status.rawValue
            )
            var updated = Self.botOrder(order)
            updated.status = current.status
            updated.filled = current.filledQuantity
            updated.averagePrice = current.averagePrice
            if current.status == .filled {
                done.append(updated)
                try await self.auth.record(
                    .orderFilled,
                    bot.userId,
                    ClientInfo(ip: nil, userAgent: "engine"),
                    [
                        "bot_id": bot.id.apiString, "client_order_id": order.clientOrderId,
                        "quantity": current.filledQuantity.description, "price": current.averagePrice?.description ?? "",
                    ]
                )
            }
        }
        return done
    }

    func marketState(_ bot: BotRecord, venue: any Venue, credentials: VenueCredentials) async throws -> MarketState {
        let ticker = try await venue.ticker(symbol: bot.symbol)
        let rules = try await venue.symbolRules(symbol: bot.symbol)
        let balances = try await venue.balances(credentials: credentials)
        let (base, quote) = Self.assets(bot.symbol)
        return MarketState(
            price: ticker.price,
            rules: rules,
            time: Date(),
            quoteAvailable: balances.first { $0.asset == quote }?.available ?? 0,
            baseAvailable: balances.first { $0.asset == base }?.available ?? 0
        )
    }

    static func assets(_ symbol: String) -> (base: String, quote: String) {
        for quote in ["USDT", "USDC", "USD"] where symbol.hasSuffix(quote) { return (String(symbol.dropLast(quote.count)), quote) }
        return (symbol, "USDT")
    }

    /// Max position and daily loss, from the bot's own fills (today's quote flow plus what it holds, at the price).
    func checkRisk(_ bot: BotRecord, _ limits: BotParameters.RiskLimits, market: MarketState) async throws {
        guard limits.maxPosition != nil || limits.maxDailyLoss != nil else { return }
        let orders = try await self.store.orders(botID: bot.id)
        let (position, _) = Self.position(orders)
        if let limit = limits.maxPosition, position > limit { throw RiskBreach(reason: "position \(position) above the limit of \(limit)") }
        if let limit = limits.maxDailyLoss {
            let midnight = Calendar(identifier: .gregorian).startOfDay(for: Date())
            let (todayPosition, todayFlow) = Self.position(orders.filter { $0.updatedAt >= midnight })
            let pnl = todayFlow + todayPosition * market.price
            if pnl < -limit { throw RiskBreach(reason: "loss today \(-pnl) above the limit of \(limit)") }
        }
    }

    /// Net base bought and net quote received by these orders' fills.
    static func position(_ orders: [BotOrderRecord]) -> (base: Decimal, quote: Decimal) {
        var base: Decimal = 0
        var quote: Decimal = 0
        for order in orders {
            let filled = Decimal(string: order.filledQuantity) ?? 0
            let price = order.averagePrice.flatMap { Decimal(string: $0) } ?? order.price.flatMap { Decimal(string: $0) } ?? 0
            if order.side == "buy" {
                base += filled
                quote -= filled * price
            } else {
                base -= filled
                quote += filled * price
            }
        }
        return (base, quote)
    }

    static func botOrder(_ record: BotOrderRecord) -> BotOrder {
        BotOrder(
            key: record.key,
            clientOrderID: record.clientOrderId,
            side: OrderSide(rawValue: record.side) ?? .buy,
            type: OrderType(rawValue: record.type) ?? .limit,
            price: record.price.flatMap { Decimal(string: $0) },
            quantity: Decimal(string: record.quantity) ?? 0,
            filled: Decimal(string: record.filledQuantity) ?? 0,
            averagePrice: record.averagePrice.flatMap { Decimal(string: $0) },
            status: record.status == "pending" ? .open : OrderStatus(rawValue: record.status) ?? .open
        )
    }

    /// One signal of a running signal bot: its order, placed now.
    func act(on signal: Signal, bot: BotRecord) async throws {
        let venue = try self.venue(for: bot)
        let keys = try await self.credentials(for: bot)
        let parameters = try Self.coder.1.decode(BotParameters.self, from: Data(bot.params.utf8))
        guard let signalParameters = parameters.signal else { return }
        _ = try await self.reconcile(bot, venue: venue, credentials: keys)
        var market = try await self.marketState(bot, venue: venue, credentials: keys)
        // A signal bot sells only what it bought itself.
        market.baseAvailable = min(market.baseAvailable, Self.position(try await self.store.orders(botID: bot.id)).base)
        try await self.checkRisk(bot, parameters.risk, market: market)
        guard let intent = SignalStrategy.decide(signalParameters, signal: signal, market: market) else { return }
        var sequence = (try await self.store.bot(id: bot.id))?.sequence ?? bot.sequence
        try await self.place(intent, bot: bot, sequence: &sequence, venue: venue, credentials: keys, limits: parameters.risk)
    }

    /// The administrators' halt: every running bot stopped and its orders cancelled; the halt persists until resumed.
    func haltAll(by admin: UUID, client: ClientInfo) async throws -> (bots: Int, cancelled: Int) {
        try await self.store.setHalted(true, by: admin)
        let bots = try await self.store.running()
        let counts = await withTaskGroup(of: Int.self) { group in
            for bot in bots {
                group.addTask {
                    try? await self.store.setStatus(id: bot.id, "stopped", reason: "trading halted by an administrator")
                    return (try? await self.cancelOpenOrders(bot))?.cancelled ?? 0
                }
            }
            return await group.reduce(0, +)
        }
        try await self.auth.record(.tradingHalted, admin, client, ["bots": String(bots.count), "cancelled_orders": String(counts)])
        return (bots.count, counts)
    }

    // MARK: Kill switch

    /// Cancel every open order of the bot, all at once; each cancel is tried up to three times and failures are
    /// returned, never dropped.
    func cancelOpenOrders(_ bot: BotRecord) async throws -> (cancelled: Int, failed: [String]) {
        let venue = try self.venue(for: bot)
        let keys = try await self.credentials(for: bot)
        let open = try await self.store.orders(botID: bot.id, openOnly: true)
        // Each order's cancel, its row and its audit entry in its own task: nothing waits on another order.
        let results = try await withThrowingTaskGroup(of: (String, OrderStatus?).self) { group in
            for order in open {
                group.addTask {
                    for attempt in 0..<3 {
                        do {
                            let result = try await venue.cancelOrder(symbol: bot.symbol, clientOrderID: order.clientOrderId, credentials: keys)
                            // nil: the venue no longer has it open (filled or gone); its final state is reconciled later.
                            try await self.store.updateOrder(
                                clientOrderID: order.clientOrderId,
                                filled: result?.filledQuantity.description ?? "0",
                                averagePrice: result?.averagePrice?.description,
                                status: result?.status.rawValue ?? "cancelled"
                            )
                            if result?.status == .cancelled { try await self.recordCancel(bot, clientOrderID: order.clientOrderId, reason: "kill") }
                            return (order.clientOrderId, result?.status ?? .cancelled)
                        } catch {
                            if attempt < 2 { try? await Task.sleep(for: .milliseconds(100 * (attempt + 1))) }
                        }
                    }
                    return (order.clientOrderId, nil)
                }
            }
            var collected: [(String, OrderStatus?)] = []
            for try await result in group { collected.append(result) }
            return collected
        }
        let failed = results.filter { $0.1 == nil }.map(\.0)
        return (results.filter { $0.1 == .cancelled }.count, failed)
    }

    func recordCancel(_ bot: BotRecord, clientOrderID: String, reason: String) async throws {
        try await self.auth.record(
            .orderCancelled,
            bot.userId,
            ClientInfo(ip: nil, userAgent: "engine"),
            ["bot_id": bot.id.apiString, "client_order_id": clientOrderID, "reason": reason]
        )
    }

    /// Stop the bot, cancel its orders, optionally sell what it bought (reduce-only market order); audited.
    func kill(_ bot: BotRecord, closePositions: Bool, client: ClientInfo) async throws -> (cancelled: Int, closed: Int, failed: [String]) {
        try await self.store.setStatus(id: bot.id, "killed", reason: "kill switch")
        let (cancelled, failed) = try await self.cancelOpenOrders(bot)
        var closed = 0
        if closePositions {
            let (held, _) = Self.position(try await self.store.orders(botID: bot.id))
            if held > 0 {
                let venue = try self.venue(for: bot)
                let rules = try await venue.symbolRules(symbol: bot.symbol)
                let quantity = rules.roundQuantity(held)
                if quantity > 0 {
                    var sequence = (try await self.store.bot(id: bot.id))?.sequence ?? bot.sequence
                    try await self.place(
                        OrderIntent(key: "close", side: .sell, type: .market, quantity: quantity),
                        bot: bot,
                        sequence: &sequence,
                        venue: venue,
                        credentials: try await self.credentials(for: bot),
                        limits: .init()
                    )
                    closed = 1
                }
            }
        }
        try await self.auth.record(
            .botKilled,
            bot.userId,
            client,
            [
                "bot_id": bot.id.apiString, "cancelled_orders": String(cancelled),
                "closed_positions": String(closed), "failed": failed.joined(separator: ","),
            ]
        )
        return (cancelled, closed, failed)
    }
}

extension AuditAction {
    // Bots and orders (issue 6; stable names).
    static let botDeployed: AuditAction = "bot.deployed"
    static let botParamsChanged: AuditAction = "bot.params_changed"
    static let botStarted: AuditAction = "bot.started"
    static let botStopped: AuditAction = "bot.stopped"
    static let botKilled: AuditAction = "bot.killed"
    static let botRiskStop: AuditAction = "bot.risk_stop"
    static let orderPlaced: AuditAction = "order.placed"
    static let orderCancelled: AuditAction = "order.cancelled"
    static let orderFilled: AuditAction = "order.filled"
    static let accountKillSwitch: AuditAction = "account.kill_switch"
    static let signalReceived: AuditAction = "signal.received"
    static let tradingHalted: AuditAction = "admin.trading_halted"
    static let tradingResumed: AuditAction = "admin.trading_resumed"
}
