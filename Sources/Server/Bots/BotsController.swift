// /api/v1/bots, /orders, /kill-switch and the public signal webhook (API.md, Bots).

import Bots
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Vault
import Venues

struct BotsController {
    let engine: BotEngine
    var store: BotStore { self.engine.store }

    static let publicRoutes: Set<String> = ["POST /api/v1/signals/:bot_id"]

    func addRoutes(to router: Router<AppRequestContext>) {
        let api = router.group("/api/v1", context: AuthenticatedContext.self)
        api.post("/bots", use: self.create)
        api.get("/bots", use: self.list)
        api.get("/bots/:id", use: self.show)
        api.patch("/bots/:id", use: self.update)
        api.post("/bots/:id/start", use: self.start)
        api.post("/bots/:id/stop", use: self.stop)
        api.post("/bots/:id/kill", use: self.kill)
        api.delete("/bots/:id", use: self.delete)
        api.get("/bots/:id/orders", use: self.orders)
        api.post("/bots/:id/webhook-secret", use: self.regenerateSecret)
        api.get("/orders", use: self.allOrders)
        api.post("/kill-switch", use: self.killSwitch)
        router.post("/api/v1/signals/:bot_id", use: self.signal)
        let admin = router.group("/api/v1/admin", context: AuthenticatedContext.self)
        admin.post("/halt", use: self.halt)
        admin.post("/resume", use: self.resume)
    }

    struct Halt: ResponseEncodable {
        let halted: Bool
        let stoppedBots: Int
        let cancelledOrders: Int
    }
    struct StepUpBody: Decodable { let totpCode: String? }

    /// Administrators only, with a fresh TOTP code: stop all trading on the server.
    @Sendable func halt(_ request: Request, context: AuthenticatedContext) async throws -> Halt {
        let client = AuthController.client(request, context.clientIP)
        let body = try? await request.decodeJSON(as: StepUpBody.self, context: context)
        try await self.engine.auth.requireAdmin(context.identity, totpCode: body?.totpCode ?? request.headers[.xTOTPCode], client: client)
        let (bots, cancelled) = try await self.engine.haltAll(by: context.identity.userID, client: client)
        return Halt(halted: true, stoppedBots: bots, cancelledOrders: cancelled)
    }

    @Sendable func resume(_ request: Request, context: AuthenticatedContext) async throws -> Halt {
        let client = AuthController.client(request, context.clientIP)
        let body = try? await request.decodeJSON(as: StepUpBody.self, context: context)
        try await self.engine.auth.requireAdmin(context.identity, totpCode: body?.totpCode ?? request.headers[.xTOTPCode], client: client)
        try await self.store.setHalted(false, by: context.identity.userID)
        try await self.engine.auth.record(.tradingResumed, context.identity.userID, client)
        return Halt(halted: false, stoppedBots: 0, cancelledOrders: 0)
    }

    static let halted = APIError(.conflict, code: "trading_halted", message: "An administrator has halted all trading on this server.")

    // MARK: Bodies

    struct CreateBody: Decodable {
        let name: String
        let strategy: String
        let venue: String
        let credentialId: UUID?
        let symbol: String
        let params: JSON.Value
    }
    struct UpdateBody: Decodable { let params: JSON.Value }
    struct KillBody: Decodable { let closePositions: Bool? }
    struct SignalBody: Decodable {
        let action: String
        let secret: String
        let id: String
        let quantity: Decimal?
    }

    struct Bot: ResponseEncodable {
        let id: String
        let name: String
        let strategy: String
        let venue: String
        let symbol: String
        let params: JSON.Value
        let status: String
        let statusReason: String?
        let createdAt: Date
        let pnl: Decimal
        let webhookSecret: String?
    }
    struct Order: ResponseEncodable {
        let id: String
        let botId: String
        let clientOrderId: String
        let side: String
        let type: String
        let price: Decimal?
        let quantity: Decimal
        let filledQuantity: Decimal
        let status: String
        let createdAt: Date
    }
    struct KillResult: ResponseEncodable {
        let cancelledOrders: Int
        let closedPositions: Int
        let failedCancels: [String]
    }
    struct Accepted: ResponseEncodable { let status = "accepted" }

    // MARK: Bots

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Bot> {
        let body = try await request.decodeJSON(as: CreateBody.self, context: context)
        let userID = context.identity.userID
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 100 else { throw Self.invalid("`name` must be 1–100 characters.") }
        guard let strategy = Strategy(rawValue: body.strategy) else { throw Self.invalid("`strategy` must be grid, dca or signal.") }
        guard let venueID = VenueID(rawValue: body.venue) else {
            throw Self.invalid("`venue` must be one of \(VenueID.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        // Live venues need a verified key of the same venue and owner (SPEC §5).
        if venueID != .paper {
            guard let id = body.credentialId, let credential = try await self.engine.credentials.credential(id: id, userID: userID),
                credential.venue == venueID.rawValue
            else {
                throw APIError(
                    .unprocessableContent,
                    code: "credential_required",
                    message: "A \(venueID.displayName) bot needs `credential_id` of one of your verified \(venueID.displayName) keys."
                )
            }
        }
        let symbol = body.symbol.uppercased()
        let probe = BotRecord(
            id: UUID(),
            userId: userID,
            name: name,
            strategy: strategy.rawValue,
            venue: venueID.rawValue,
            credentialId: venueID == .paper ? nil : body.credentialId,
            symbol: symbol,
            params: "{}",
            status: "stopped",
            statusReason: nil,
            state: "{}",
            sequence: 0,
            webhookSecretHash: nil,
            createdAt: Date(),
            updatedAt: Date()
        )
        let (params, state) = try await self.validated(strategy, body.params, bot: probe)
        var bot = probe
        bot.params = params
        bot.state = state
        var secret: String?
        if strategy == .signal {
            let generated = Self.newWebhookSecret()
            secret = generated
            bot.webhookSecretHash = Self.hash(generated)
        }
        try await self.store.create(bot)
        try await self.engine.auth.record(
            .botDeployed,
            userID,
            AuthController.client(request, context.clientIP),
            ["bot_id": bot.id.apiString, "strategy": strategy.rawValue, "venue": venueID.rawValue, "symbol": symbol]
        )
        return EditedResponse(status: .created, response: try await self.describe(bot, webhookSecret: secret))
    }

    /// The parameters as stored (snake_case JSON) and a fresh strategy state, or a 422 naming the problem.
    func validated(_ strategy: Strategy, _ raw: JSON.Value, bot: BotRecord) async throws -> (String, String) {
        let venue = try self.engine.venue(for: bot)
        let rules: SymbolRules
        let price: Decimal
        do {
            rules = try await venue.symbolRules(symbol: bot.symbol)
            price = try await venue.ticker(symbol: bot.symbol).price
        } catch VenueError.rejected {
            throw Self.invalid("\(bot.symbol) is not a market on \(bot.venue).")
        }
        let data = try JSONEncoder().encode(raw)
        let decoder = BotEngine.coder.1
        var parameters: BotParameters
        do {
            parameters = BotParameters(risk: try decoder.decode(RiskEnvelope.self, from: data).risk ?? .init())
            switch strategy {
            case .grid: parameters.grid = try decoder.decode(GridParameters.self, from: data)
            case .dca: parameters.dca = try decoder.decode(DCAParameters.self, from: data)
            case .signal: parameters.signal = try decoder.decode(SignalParameters.self, from: data)
            }
            try parameters.grid?.validate(rules: rules, price: price)
            try parameters.dca?.validate(rules: rules, price: price)
            try parameters.signal?.validate(rules: rules, price: price)
        } catch let error as InvalidParameters {
            throw Self.invalid(error.message)
        } catch let error as DecodingError {
            throw Self.invalid("`params`: \(Request.describe(error))")
        }
        if let risk = parameters.risk.maxOrdersPerMinute, risk < 1 { throw Self.invalid("risk.max_orders_per_minute must be at least 1") }
        let state: Data =
            switch strategy {
            case .grid: try BotEngine.coder.0.encode(GridState())
            case .dca: try BotEngine.coder.0.encode(DCAState())
            case .signal: Data("{}".utf8)
            }
        return (String(decoding: try BotEngine.coder.0.encode(parameters), as: UTF8.self), String(decoding: state, as: UTF8.self))
    }

    struct RiskEnvelope: Decodable { let risk: BotParameters.RiskLimits? }

    static func invalid(_ message: String) -> APIError { APIError(.unprocessableContent, code: "invalid_params", message: message) }

    func describe(_ bot: BotRecord, webhookSecret: String? = nil) async throws -> Bot {
        let stored = try BotEngine.coder.1.decode(BotParameters.self, from: Data(bot.params.utf8))
        let params: any Encodable =
            stored.grid.map { $0 as any Encodable } ?? stored.dca.map { $0 as any Encodable } ?? stored.signal.map { $0 as any Encodable }
            ?? [String: String]()
        var json = try JSONDecoder().decode(JSON.Value.self, from: try BotEngine.coder.0.encode(params))
        if case .object(var members) = json, stored.risk != .init() {
            members["risk"] = try JSONDecoder().decode(JSON.Value.self, from: try BotEngine.coder.0.encode(stored.risk))
            json = .object(members)
        }
        let orders = try await self.store.orders(botID: bot.id)
        let (base, quote) = BotEngine.position(orders)
        let price = base == 0 ? 0 : ((try? await self.engine.venue(for: bot).ticker(symbol: bot.symbol).price) ?? 0)
        return Bot(
            id: bot.id.apiString,
            name: bot.name,
            strategy: bot.strategy,
            venue: bot.venue,
            symbol: bot.symbol,
            params: json,
            status: bot.status,
            statusReason: bot.statusReason,
            createdAt: bot.createdAt,
            pnl: quote + base * price,
            webhookSecret: webhookSecret
        )
    }

    func owned(_ context: AuthenticatedContext) async throws -> BotRecord {
        guard let id = context.parameters.get("id", as: UUID.self), let bot = try await self.store.bot(id: id, userID: context.identity.userID) else {
            throw APIError.notFound("You have no bot with this id.")
        }
        return bot
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Bot] {
        var result: [Bot] = []
        for bot in try await self.store.bots(userID: context.identity.userID) { result.append(try await self.describe(bot)) }
        return result
    }

    @Sendable func show(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        try await self.describe(try await self.owned(context))
    }

    @Sendable func update(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        let bot = try await self.owned(context)
        guard bot.status != "running" else { throw APIError(.conflict, code: "bot_running", message: "Stop the bot before changing its parameters.") }
        let body = try await request.decodeJSON(as: UpdateBody.self, context: context)
        let (params, state) = try await self.validated(Strategy(rawValue: bot.strategy) ?? .grid, body.params, bot: bot)
        try await self.store.update(id: bot.id, userID: bot.userId, params: params, state: state)
        try await self.engine.auth.record(
            .botParamsChanged,
            bot.userId,
            AuthController.client(request, context.clientIP),
            ["bot_id": bot.id.apiString]
        )
        return try await self.describe(try await self.owned(context))
    }

    @Sendable func start(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        let bot = try await self.owned(context)
        guard try await !self.store.isHalted() else { throw Self.halted }
        if bot.status != "running" {
            try await self.store.setStatus(id: bot.id, "running", reason: nil)
            try await self.engine.auth.record(.botStarted, bot.userId, AuthController.client(request, context.clientIP), ["bot_id": bot.id.apiString])
        }
        return try await self.describe(try await self.owned(context))
    }

    @Sendable func stop(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        let bot = try await self.owned(context)
        if bot.status == "running" {
            try await self.store.setStatus(id: bot.id, "stopped", reason: "stopped by its owner")
            try await self.engine.auth.record(.botStopped, bot.userId, AuthController.client(request, context.clientIP), ["bot_id": bot.id.apiString])
        }
        return try await self.describe(try await self.owned(context))
    }

    @Sendable func kill(_ request: Request, context: AuthenticatedContext) async throws -> KillResult {
        let bot = try await self.owned(context)
        let body = try? await request.decodeJSON(as: KillBody.self, context: context)
        let result = try await self.engine.kill(
            bot,
            closePositions: body?.closePositions ?? false,
            client: AuthController.client(request, context.clientIP)
        )
        return KillResult(cancelledOrders: result.cancelled, closedPositions: result.closed, failedCancels: result.failed)
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let bot = try await self.owned(context)
        _ = try await self.engine.kill(bot, closePositions: false, client: AuthController.client(request, context.clientIP))
        try await self.store.delete(id: bot.id, userID: bot.userId)
        return .noContent
    }

    /// Every bot of the caller stopped and every open order cancelled, concurrently; audited.
    @Sendable func killSwitch(_ request: Request, context: AuthenticatedContext) async throws -> KillResult {
        let body = try? await request.decodeJSON(as: KillBody.self, context: context)
        let client = AuthController.client(request, context.clientIP)
        let bots = try await self.store.bots(userID: context.identity.userID)
        let results = try await withThrowingTaskGroup(of: (Int, Int, [String]).self) { group in
            for bot in bots { group.addTask { try await self.engine.kill(bot, closePositions: body?.closePositions ?? false, client: client) } }
            var all: [(Int, Int, [String])] = []
            for try await result in group { all.append(result) }
            return all
        }
        let total = KillResult(
            cancelledOrders: results.reduce(0) { $0 + $1.0 },
            closedPositions: results.reduce(0) { $0 + $1.1 },
            failedCancels: results.flatMap(\.2)
        )
        try await self.engine.auth.record(
            .accountKillSwitch,
            context.identity.userID,
            client,
            ["bots": String(bots.count), "cancelled_orders": String(total.cancelledOrders), "failed": total.failedCancels.joined(separator: ",")]
        )
        return total
    }

    // MARK: Orders

    static func order(_ record: BotOrderRecord) -> Order {
        Order(
            id: record.id.apiString,
            botId: record.botId.apiString,
            clientOrderId: record.clientOrderId,
            side: record.side,
            type: record.type,
            price: record.price.flatMap { Decimal(string: $0) },
            quantity: Decimal(string: record.quantity) ?? 0,
            filledQuantity: Decimal(string: record.filledQuantity) ?? 0,
            status: record.status == "pending" ? "open" : record.status,
            createdAt: record.createdAt
        )
    }

    @Sendable func orders(_ request: Request, context: AuthenticatedContext) async throws -> [Order] {
        try await self.store.orders(botID: try await self.owned(context).id).map(Self.order)
    }

    @Sendable func allOrders(_ request: Request, context: AuthenticatedContext) async throws -> [Order] {
        let status = request.uri.queryParameters.get("status")
        guard status == nil || status == "open" else { throw APIError.badRequest("`status` can only be `open`.") }
        return try await self.store.orders(userID: context.identity.userID, openOnly: status == "open").map(Self.order)
    }

    // MARK: Signals

    struct WebhookSecret: ResponseEncodable { let webhookSecret: String }

    /// A new webhook secret for a signal bot (step-up); the old one stops working at once.
    @Sendable func regenerateSecret(_ request: Request, context: AuthenticatedContext) async throws -> WebhookSecret {
        let bot = try await self.owned(context)
        let body = try? await request.decodeJSON(as: StepUpBody.self, context: context)
        try await self.engine.auth.stepUp(
            context.identity,
            code: body?.totpCode ?? request.headers[.xTOTPCode],
            client: AuthController.client(request, context.clientIP)
        )
        guard bot.strategy == Strategy.signal.rawValue else {
            throw APIError(.unprocessableContent, code: "not_a_signal_bot", message: "Only signal bots have a webhook secret.")
        }
        let secret = Self.newWebhookSecret()
        try await self.store.setWebhookSecret(id: bot.id, hash: Self.hash(secret))
        return WebhookSecret(webhookSecret: secret)
    }

    static func newWebhookSecret() -> String {
        Data(SecretBytes.random(count: 32).withUnsafeBytes(Array.init)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ secret: String) -> Data { Data(SHA256.hash(data: Array(secret.utf8))) }
    /// Compared against when the bot does not exist, so an unknown bot costs the same as a wrong secret.
    static let decoyHash = Self.hash(Self.newWebhookSecret())

    /// TradingView cannot set headers, so the secret is in the body. Unknown bot and wrong secret answer the same 404.
    @Sendable func signal(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Accepted> {
        let body = try await request.decodeJSON(as: SignalBody.self, context: context)
        var bot: BotRecord?
        if let id = context.parameters.get("bot_id", as: UUID.self) { bot = try await self.store.bot(id: id) }
        let stored = bot?.webhookSecretHash ?? Self.decoyHash
        let matches = ConstantTime.equals(Self.hash(body.secret), stored)
        guard let bot, matches, bot.strategy == Strategy.signal.rawValue else {
            throw APIError.notFound("No bot takes signals with this id and secret.")
        }
        guard let action = Signal.Action(rawValue: body.action) else {
            throw APIError(.unprocessableContent, code: "invalid_signal", message: "`action` must be buy, sell or close.")
        }
        guard !body.id.isEmpty, body.id.count <= 64 else {
            throw APIError(.unprocessableContent, code: "invalid_signal", message: "`id` must be 1–64 characters.")
        }
        guard try await self.store.recordSignal(botID: bot.id, signalID: body.id) else {
            throw APIError(.conflict, code: "duplicate_signal", message: "A signal with this id was already received.")
        }
        try await self.engine.auth.record(
            .signalReceived,
            bot.userId,
            AuthController.client(request, context.clientIP),
            ["bot_id": bot.id.apiString, "signal_id": body.id, "action": action.rawValue]
        )
        guard try await !self.store.isHalted() else { throw Self.halted }
        guard bot.status == "running" else { throw APIError(.conflict, code: "bot_not_running", message: "Start the bot to act on signals.") }
        try await self.engine.act(on: Signal(id: body.id, action: action, quantity: body.quantity), bot: bot)
        return EditedResponse(status: .accepted, response: Accepted())
    }
}
