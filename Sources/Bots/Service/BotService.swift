// Every bot operation the API and the dashboard offer (API.md, Bots), free of HTTP: it checks, decides, and
// throws `BotError`s; the engine does what touches running bots, under each bot's lock.

import AuditLog
import Foundation
import Logging
import Venues

/// How many bots one user may have, and run.
public struct BotLimits: Sendable {
    public var botsPerUser: Int
    public var runningBotsPerUser: Int

    public init(botsPerUser: Int = 50, runningBotsPerUser: Int = 20) {
        self.botsPerUser = botsPerUser
        self.runningBotsPerUser = runningBotsPerUser
    }
}

/// What a new bot is made of, as submitted.
public struct NewBot: Sendable {
    public var name: String
    public var strategy: String
    public var venue: String
    public var credentialID: UUID?
    public var symbol: String
    public var params: JSON.Value

    public init(name: String, strategy: String, venue: String, credentialID: UUID?, symbol: String, params: JSON.Value) {
        self.name = name
        self.strategy = strategy
        self.venue = venue
        self.credentialID = credentialID
        self.symbol = symbol
        self.params = params
    }
}

/// A TradingView-style signal as it arrives on the webhook.
public struct SignalRequest: Sendable {
    public var action: String
    public var secret: String
    public var id: String
    public var quantity: Decimal?

    public init(action: String, secret: String, id: String, quantity: Decimal?) {
        self.action = action
        self.secret = secret
        self.id = id
        self.quantity = quantity
    }
}

/// What a kill switch or halt did across bots.
public struct StopSummary: Sendable, Equatable {
    public var bots = 0
    public var stopped = 0
    public var cancelled = 0
    public var closed = 0
    public var failed: [String] = []
    /// Bots whose stop did not complete (retried in the background).
    public var unstopped: [String] = []

    public init() {}

    /// The summary, or, if any bot could not be stopped, an error that says so with what was done: never success.
    func complete(_ what: String) throws -> StopSummary {
        guard self.unstopped.isEmpty else {
            throw BotError.stopIncomplete(
                "The \(what) could not stop \(self.unstopped.count) of \(self.bots) bots (\(self.unstopped.joined(separator: ", "))); "
                    + "\(self.cancelled) orders were cancelled. Try again."
            )
        }
        return self
    }

    mutating func add(_ report: StopReport) {
        self.stopped += report.stopped ? 1 : 0
        self.cancelled += report.cancelled
        self.closed += report.closed
        self.failed += report.failed
    }
}

public struct BotService: Sendable {
    let bots: any BotRepository
    let credentials: any CredentialRepository
    public let engine: BotEngine
    let venues: TradingVenues
    let limits: BotLimits
    /// Standalone audit entries (the account kill switch's summary).
    let audit: any AuditSink
    /// Re-checks a bot's exchange key with its venue before the bot starts (credential id, owner); throws when the
    /// key is disabled or cannot be confirmed. Nil: no check (tests of the engine alone).
    let keyCheck: (@Sendable (UUID, UUID) async throws -> Void)?
    let logger: Logger
    let now: @Sendable () -> Date

    public init(
        bots: any BotRepository,
        credentials: any CredentialRepository,
        engine: BotEngine,
        venues: TradingVenues,
        limits: BotLimits,
        audit: any AuditSink,
        keyCheck: (@Sendable (UUID, UUID) async throws -> Void)? = nil,
        logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.keyCheck = keyCheck
        self.bots = bots
        self.credentials = credentials
        self.engine = engine
        self.venues = venues
        self.limits = limits
        self.audit = audit
        self.logger = logger
        self.now = now
    }

    // MARK: Reading

    public func bots(owner: UUID) async throws -> [BotRecord] {
        try await self.bots.bots(userID: owner)
    }

    public func bot(id: UUID, owner: UUID) async throws -> BotRecord {
        guard let bot = try await self.bots.bot(id: id, userID: owner) else { throw BotError.notFound }
        return bot
    }

    public func orders(botID: UUID, owner: UUID) async throws -> [BotOrderRecord] {
        try await self.bots.orders(botID: try await self.bot(id: botID, owner: owner).id, openOnly: false)
    }

    /// The owner's orders; `openOnly`: those resting at the venue (an order still being sent is `pending` until the
    /// venue confirms it, within the step that sends it).
    public func orders(owner: UUID, openOnly: Bool) async throws -> [BotOrderRecord] {
        let orders = try await self.bots.orders(userID: owner, openOnly: openOnly)
        return openOnly ? orders.filter { $0.order.status == .open || $0.order.status == .partiallyFilled } : orders
    }

    /// The bot's profit or loss: its quote flow plus what it holds at the current price. Without a price (the venue
    /// is down) what it holds is valued at what it paid.
    public func pnl(_ bot: BotRecord) async -> Decimal {
        let ledger = bot.ledger
        guard ledger.position != 0 else { return ledger.quoteFlow }
        if let price = self.engine.lastPrice(venue: bot.venue, symbol: bot.symbol) { return ledger.equity(at: price) }
        do {
            return ledger.equity(at: try await self.venues.venue(bot.venue).ticker(symbol: bot.symbol).price)
        } catch {
            // What it holds, at what it paid: neither gain nor loss on the open position.
            self.logger.debug("no price for a bot's PnL", metadata: ["bot": .string(bot.id.uuidString.lowercased()), "error": .string("\(error)")])
            return 0
        }
    }

    /// The price this process last saw for the bot's market (nil before its first step).
    public func lastPrice(_ bot: BotRecord) -> Decimal? {
        self.engine.lastPrice(venue: bot.venue, symbol: bot.symbol)
    }

    /// The prices seen at the bot market's recent steps, oldest first.
    public func priceHistory(_ bot: BotRecord) -> [PricePoint] {
        self.engine.prices(venue: bot.venue, symbol: bot.symbol)
    }

    /// How many of the owner's bots trade with this exchange key.
    public func botsUsing(credentialID: UUID, owner: UUID) async throws -> Int {
        try await self.bots.bots(userID: owner).filter { $0.credentialID == credentialID }.count
    }

    // MARK: Creating and changing

    /// A new bot, stopped; a signal bot's webhook secret is returned once.
    public func create(_ new: NewBot, owner: UUID, client: ClientInfo) async throws -> (bot: BotRecord, webhookSecret: String?) {
        let name = new.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 100, !name.contains(where: \.isNewline) else {
            throw BotError.invalidParameters("`name` must be 1–100 characters on one line.")
        }
        guard let strategy = Strategy(rawValue: new.strategy) else { throw BotError.invalidParameters("`strategy` must be grid, dca or signal.") }
        guard let venue = VenueID(rawValue: new.venue) else {
            throw BotError.invalidParameters("`venue` must be one of \(VenueID.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        // Live venues need a verified key of the same venue and owner (SPEC §5).
        var credentialID: UUID?
        if venue != .paper {
            guard let id = new.credentialID, let credential = try await self.credentials.credential(id: id, userID: owner), credential.venue == venue
            else { throw BotError.credentialRequired(venue) }
            credentialID = id
        }
        let symbol = new.symbol.trimmingCharacters(in: .whitespaces).uppercased()
        guard !symbol.isEmpty, symbol.count <= 40, symbol.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw BotError.invalidParameters("`symbol` must be a market symbol such as BTCUSDT.")
        }
        var bot = BotRecord(
            newFor: owner,
            name: name,
            venue: venue,
            credentialID: credentialID,
            symbol: symbol,
            parameters: BotParameters(.signal(SignalParameters(quantity: 0))),
            at: self.now()
        )
        bot.parameters = try await self.validated(strategy, new.params, for: bot)
        bot.state = bot.parameters.strategy.initialState
        var secret: String?
        if strategy == .signal {
            let generated = WebhookSecret.generate()
            secret = generated
            bot.webhookSecretHash = WebhookSecret.hash(generated)
        }
        let event = AuditEvent(
            .botDeployed,
            user: owner,
            client: client,
            ["bot_id": bot.id.uuidString.lowercased(), "strategy": strategy.rawValue, "venue": venue.rawValue, "symbol": symbol],
            at: bot.createdAt
        )
        guard try await self.bots.create(bot, limit: self.limits.botsPerUser, audit: event) else {
            throw BotError.botLimitReached(self.limits.botsPerUser)
        }
        return (bot, secret)
    }

    /// New parameters for a stopped bot; its strategy starts over from a fresh state.
    public func update(id: UUID, owner: UUID, params: JSON.Value, client: ClientInfo) async throws -> BotRecord {
        let bot = try await self.bot(id: id, owner: owner)
        guard bot.status != .running else { throw BotError.running }
        let parameters = try await self.validated(bot.strategy, params, for: bot)
        let event = AuditEvent(.botParamsChanged, user: owner, client: client, ["bot_id": bot.id.uuidString.lowercased()], at: self.now())
        switch try await self.bots.updateParameters(
            id: bot.id,
            userID: owner,
            parameters: parameters,
            state: parameters.strategy.initialState,
            audit: event
        ) {
        case .updated: return try await self.bot(id: id, owner: owner)
        case .running: throw BotError.running
        case .notFound: throw BotError.notFound
        }
    }

    public func start(id: UUID, owner: UUID, client: ClientInfo) async throws -> BotRecord {
        let bot = try await self.bot(id: id, owner: owner)
        // The key is asked about again first: it may have changed at the exchange since it was stored.
        if let credentialID = bot.credentialID, let keyCheck = self.keyCheck { try await keyCheck(credentialID, owner) }
        let event = AuditEvent(.botStarted, user: owner, client: client, ["bot_id": bot.id.uuidString.lowercased()], at: self.now())
        switch try await self.bots.start(id: bot.id, userID: owner, runningLimit: self.limits.runningBotsPerUser, audit: event) {
        case .started, .alreadyRunning: return try await self.bot(id: id, owner: owner)
        case .halted: throw BotError.tradingHalted
        case .runningLimitReached: throw BotError.runningLimitReached(self.limits.runningBotsPerUser)
        case .credentialDisabled(let reason): throw CredentialError.disabled(reason)
        case .notFound: throw BotError.notFound
        }
    }

    /// Pause: the bot stops deciding (after any send in flight); its resting orders stay.
    public func stop(id: UUID, owner: UUID, client: ClientInfo) async throws -> BotRecord {
        let bot = try await self.bot(id: id, owner: owner)
        _ = try await self.engine.stop(bot, client: client)
        return try await self.bot(id: id, owner: owner)
    }

    public func kill(id: UUID, owner: UUID, closePositions: Bool, client: ClientInfo) async throws -> StopReport {
        try await self.engine.kill(try await self.bot(id: id, owner: owner), closePositions: closePositions, client: client)
    }

    /// Kill the bot, then delete it with its orders.
    public func delete(id: UUID, owner: UUID, client: ClientInfo) async throws {
        let bot = try await self.bot(id: id, owner: owner)
        let killed = try await self.engine.kill(bot, closePositions: false, client: client)
        // Its orders are deleted with it: one that could not be cancelled would be left live with no record.
        guard killed.failed.isEmpty else {
            throw BotError.stopIncomplete(
                "The bot was killed but \(killed.failed.count) of its orders could not be cancelled (\(killed.failed.joined(separator: ", "))), "
                    + "so it was not deleted. Try again."
            )
        }
        let event = AuditEvent(.botDeleted, user: owner, client: client, ["bot_id": bot.id.uuidString.lowercased()], at: self.now())
        guard try await self.bots.delete(id: bot.id, userID: owner, audit: event) else { throw BotError.notFound }
        self.engine.forget(bot.id)
    }

    /// A new webhook secret for a signal bot (the caller has checked step-up); the old one stops working at once.
    public func regenerateWebhookSecret(id: UUID, owner: UUID, client: ClientInfo) async throws -> String {
        let bot = try await self.bot(id: id, owner: owner)
        guard bot.strategy == .signal else { throw BotError.notASignalBot }
        let secret = WebhookSecret.generate()
        let event = AuditEvent(.botWebhookSecret, user: owner, client: client, ["bot_id": bot.id.uuidString.lowercased()], at: self.now())
        guard try await self.bots.setWebhookSecret(id: bot.id, userID: owner, hash: WebhookSecret.hash(secret), audit: event) else {
            throw BotError.notFound
        }
        return secret
    }

    // MARK: Kill switches and stops across bots

    /// The account kill switch: every bot of the owner killed (orders cancelled after any send in flight), concurrently.
    public func killSwitch(owner: UUID, closePositions: Bool, client: ClientInfo) async throws -> StopSummary {
        let bots = try await self.bots.bots(userID: owner)
        let results = await self.engine.killAll(bots, closePositions: closePositions, client: client)
        let summary = self.summarise(zip(bots.map(\.id), results).map { ($0, $1) })
        let details = [
            "bots": String(bots.count), "cancelled_orders": String(summary.cancelled), "closed_positions": String(summary.closed),
            "failed": summary.failed.joined(separator: ","), "unstopped_bots": summary.unstopped.joined(separator: ","),
        ]
        // Each bot's kill is audited with its change; this summary changes nothing, so a failure to write it is only
        // logged and never turns a kill that happened into an error.
        do {
            try await self.audit.record(AuditEvent(.accountKillSwitch, user: owner, client: client, details, at: self.now()))
        } catch {
            self.logger.error("kill switch summary not audited", metadata: ["error": .string(String(describing: error))])
        }
        return try summary.complete("kill switch")
    }

    /// An owner's account was locked: each of their running bots stops and every bot's orders are cancelled.
    /// Unlocking does not start them again.
    public func stopOwner(_ owner: UUID, reason: String, client: ClientInfo) async throws -> StopSummary {
        let bots = try await self.bots.bots(userID: owner)
        let results = await self.engine.stopAll(bots, reason: reason, action: .botStopped, client: client)
        return try self.summarise(zip(bots.map(\.id), results).map { ($0, $1) }).complete("account lock")
    }

    /// A key of the owner was disabled: every bot trading with it stops and its orders are cancelled (while the key
    /// still works: the caller disables it after this). Nil when no bot uses it.
    public func stopBots(usingCredential credentialID: UUID, owner: UUID, reason: String) async throws -> StopSummary? {
        let bots = try await self.bots.bots(userID: owner).filter { $0.credentialID == credentialID }
        guard !bots.isEmpty else { return nil }
        let results = await self.engine.stopAll(
            bots,
            reason: reason,
            action: .botStopped,
            client: ClientInfo(ip: nil, userAgent: "key-recheck"),
            details: ["credential_id": credentialID.uuidString.lowercased()]
        )
        return self.summarise(zip(bots.map(\.id), results).map { ($0, $1) })
    }

    /// The administrators' halt: no order goes out from now on (the trading gate reads it); every running bot stops
    /// and its orders are cancelled. Kept across restarts until `resume`.
    public func halt(by admin: UUID, client: ClientInfo) async throws -> StopSummary {
        try await self.bots.setHalted(true, by: admin, audit: AuditEvent(.tradingHalted, user: admin, client: client, at: self.now()))
        let running = try await self.bots.bots(ids: try await self.bots.runningBotIDs())
        let results = await self.engine.stopAll(
            running,
            reason: "Stopped: an administrator halted all trading on this server.",
            action: .botStopped,
            client: client,
            details: ["halted_by": admin.uuidString.lowercased()]
        )
        return try self.summarise(zip(running.map(\.id), results).map { ($0, $1) }).complete("halt")
    }

    public func resume(by admin: UUID, client: ClientInfo) async throws {
        try await self.bots.setHalted(false, by: admin, audit: AuditEvent(.tradingResumed, user: admin, client: client, at: self.now()))
    }

    /// Add the reports up; a bot that could not be stopped is named (and logged), never counted as stopped.
    func summarise(_ results: [(UUID, Result<StopReport, any Error>)]) -> StopSummary {
        var summary = StopSummary()
        for (id, result) in results {
            summary.bots += 1
            switch result {
            case .success(let report): summary.add(report)
            case .failure(let error):
                summary.unstopped.append(id.uuidString.lowercased())
                self.logger.error("bot not stopped", metadata: ["bot": .string(id.uuidString.lowercased()), "error": .string("\(error)")])
            }
        }
        return summary
    }

    // MARK: Signals

    /// A signal from the webhook. TradingView cannot set headers, so the secret is in the body; an unknown bot and a
    /// wrong secret are the same refusal, at the same cost.
    public func signal(botID: UUID?, _ request: SignalRequest, client: ClientInfo) async throws -> SignalOutcome {
        let bot = try await botID.asyncMap { try await self.bots.bot(id: $0) } ?? nil
        guard WebhookSecret.matches(request.secret, bot?.webhookSecretHash), let bot, case .signal(let parameters) = bot.parameters.strategy else {
            throw BotError.signalNotFound
        }
        guard let action = Signal.Action(rawValue: request.action) else { throw BotError.invalidSignal("`action` must be buy, sell or close.") }
        guard !request.id.isEmpty, request.id.count <= 64 else { throw BotError.invalidSignal("`id` must be 1–64 characters.") }
        if let quantity = request.quantity {
            guard quantity > 0 else { throw BotError.invalidSignal("`quantity` must be above 0.") }
            guard quantity <= parameters.signalLimit else { throw BotError.signalQuantityAboveLimit(parameters.signalLimit) }
        }
        let event = AuditEvent(
            .signalReceived,
            user: bot.userID,
            client: client,
            ["bot_id": bot.id.uuidString.lowercased(), "signal_id": request.id, "action": action.rawValue],
            at: self.now()
        )
        guard try await self.bots.recordSignal(botID: bot.id, signalID: request.id, audit: event) else { throw BotError.duplicateSignal }
        guard try await !self.bots.isHalted() else { throw BotError.tradingHalted }
        guard bot.status == .running else { throw BotError.notRunning }
        do {
            return try await self.engine.act(on: Signal(id: request.id, action: action, quantity: request.quantity), bot: bot)
        } catch let refusal as SignalRefusal {
            switch refusal {
            case .notRunning: throw BotError.notRunning
            case .refused(let reason): throw BotError.orderRefused(reason)
            case .riskStop(let reason): throw BotError.riskStop(reason)
            }
        } catch let error as VenueError {
            throw BotError.venue(error)
        }
    }

    // MARK: Parameters

    /// The parameters as submitted, checked against the venue's rules and price, and against what the account holds:
    /// one order that could never be paid for is refused now, naming the field, not left to idle.
    func validated(_ strategy: Strategy, _ raw: JSON.Value, for bot: BotRecord) async throws -> BotParameters {
        let venue = try self.venues.venue(bot.venue)
        let rules: SymbolRules
        let price: Decimal
        do {
            rules = try await venue.symbolRules(symbol: bot.symbol)
            price = try await venue.ticker(symbol: bot.symbol).price
        } catch VenueError.rejected {
            throw BotError.invalidParameters("\(bot.symbol) is not a market on \(bot.venue.displayName).")
        } catch let error as VenueError {
            throw BotError.venue(error)
        }
        let parameters: BotParameters
        do {
            parameters = try BotParameters.parse(strategy, raw)
            switch parameters.strategy {
            case .grid(let grid): try grid.validate(rules: rules, price: price)
            case .dca(let dca): try dca.validate(rules: rules, price: price)
            case .signal(let signal): try signal.validate(rules: rules, price: price)
            }
            try parameters.risk.validate()
        } catch {
            throw BotError.invalidParameters(error.message)
        }
        try await self.checkAffordable(parameters, bot: bot, venue: venue, price: price)
        return parameters
    }

    /// One order must cost no more than everything the account holds in the quote asset.
    func checkAffordable(_ parameters: BotParameters, bot: BotRecord, venue: any Venue, price: Decimal) async throws {
        let (field, cost): (String, Decimal) =
            switch parameters.strategy {
            case .grid(let grid): ("quantity", grid.quantity * max(price, grid.upper ?? price))
            case .dca(let dca): ("quote_amount", dca.quoteAmount)
            case .signal(let signal): ("max_signal_quantity", signal.signalLimit * price)
            }
        let quote = assets(bot.symbol, venue: bot.venue).quote
        let held: Decimal
        do {
            held = try await self.engine.accountBalances(for: bot).first { $0.asset == quote }?.total ?? 0
        } catch {
            // The key check or the venue may be unavailable now; the engine reports an unaffordable order later.
            self.logger.info("balance not checked at creation", metadata: ["venue": .string(bot.venue.rawValue), "error": .string("\(error)")])
            return
        }
        guard cost <= held else {
            let shown = field == "max_signal_quantity" && parameters.strategy.signalMaximum == nil ? "quantity" : field
            throw BotError.invalidParameters(
                "`params.\(shown)`: one order would cost about \(cost.plain) \(quote), more than the account holds (\(held.plain) \(quote))."
            )
        }
    }
}

extension StrategyParameters {
    var signalMaximum: Decimal? {
        if case .signal(let signal) = self { return signal.maxSignalQuantity }
        return nil
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
