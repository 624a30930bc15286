// /api/v1/bots, /orders, /kill-switch and the public signal webhook (API.md, Bots): HTTP in, BotService calls,
// JSON out. The rules live in BotService.

import AuditLog
import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Venues

struct BotsController {
    let bots: BotService
    let stepUp: StepUp

    func addRoutes(public api: RouterGroup<AppRequestContext>, signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.post("/bots", use: self.create)
        signedIn.get("/bots", use: self.list)
        signedIn.get("/bots/:id", use: self.show)
        signedIn.patch("/bots/:id", use: self.update)
        signedIn.post("/bots/:id/start", use: self.start)
        signedIn.post("/bots/:id/stop", use: self.stop)
        signedIn.post("/bots/:id/kill", use: self.kill)
        signedIn.delete("/bots/:id", use: self.delete)
        signedIn.get("/bots/:id/orders", use: self.orders)
        signedIn.post("/bots/:id/webhook-secret", use: self.regenerateSecret)
        signedIn.get("/orders", use: self.allOrders)
        signedIn.post("/kill-switch", use: self.killSwitch)
        // TradingView cannot authenticate: the webhook secret in the body is the credential.
        api.post("/signals/:bot_id", use: self.signal)
    }

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
    /// Strict: an unknown key (`close_position`) is a 400, never read as the default.
    struct KillBody: Decodable {
        let closePositions: Bool?

        enum CodingKeys: String, CodingKey { case closePositions }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            if let unknown = container.allKeys.first(where: { $0.stringValue != "closePositions" }) {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: [unknown], debugDescription: "unknown field")
                )
            }
            self.closePositions = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .closePositions)
        }
    }

    struct AnyKey: CodingKey {
        let stringValue: String
        let intValue: Int? = nil
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct SignalBody: Decodable, AcceptsExtraFields {
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

        init(_ record: BotOrderRecord) {
            self.id = record.id.apiString
            self.botId = record.botID.apiString
            self.clientOrderId = record.order.clientOrderID
            self.side = record.order.side.rawValue
            self.type = record.order.type.rawValue
            self.price = record.order.price
            self.quantity = record.order.quantity
            self.filledQuantity = record.order.filled
            self.status = record.order.status.rawValue
            self.createdAt = record.createdAt
        }
    }

    struct KillResult: ResponseEncodable {
        let cancelledOrders: Int
        let closedPositions: Int
        let failedCancels: [String]
    }

    struct Accepted: ResponseEncodable {
        let status = "accepted"
        let clientOrderId: String?
    }

    struct WebhookSecret: ResponseEncodable { let webhookSecret: String }

    // MARK: Bots

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Bot> {
        let body = try await request.decode(as: CreateBody.self, context: context)
        let new = NewBot(
            name: body.name,
            strategy: body.strategy,
            venue: body.venue,
            credentialID: body.credentialId,
            symbol: body.symbol,
            params: body.params
        )
        let (bot, secret) = try await self.bots.create(new, owner: context.identity.userID, client: context.client)
        return EditedResponse(status: .created, response: try await self.describe(bot, webhookSecret: secret))
    }

    func describe(_ bot: BotRecord, webhookSecret: String? = nil) async throws -> Bot {
        Bot(
            id: bot.id.apiString,
            name: bot.name,
            strategy: bot.strategy.rawValue,
            venue: bot.venue.rawValue,
            symbol: bot.symbol,
            params: try bot.parameters.apiParams(),
            status: bot.status.rawValue,
            statusReason: bot.statusReason,
            createdAt: bot.createdAt,
            pnl: await self.bots.pnl(bot),
            webhookSecret: webhookSecret
        )
    }

    static func id(_ context: AuthenticatedContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw BotError.notFound }
        return id
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Bot] {
        var result: [Bot] = []
        for bot in try await self.bots.bots(owner: context.identity.userID) { result.append(try await self.describe(bot)) }
        return result
    }

    @Sendable func show(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        try await self.describe(try await self.bots.bot(id: try Self.id(context), owner: context.identity.userID))
    }

    @Sendable func update(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        let id = try Self.id(context)
        let body = try await request.decode(as: UpdateBody.self, context: context)
        return try await self.describe(
            try await self.bots.update(id: id, owner: context.identity.userID, params: body.params, client: context.client)
        )
    }

    @Sendable func start(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        try await self.describe(try await self.bots.start(id: try Self.id(context), owner: context.identity.userID, client: context.client))
    }

    @Sendable func stop(_ request: Request, context: AuthenticatedContext) async throws -> Bot {
        try await self.describe(try await self.bots.stop(id: try Self.id(context), owner: context.identity.userID, client: context.client))
    }

    @Sendable func kill(_ request: Request, context: AuthenticatedContext) async throws -> KillResult {
        let id = try Self.id(context)
        let body = try await request.decodeIfPresent(as: KillBody.self, context: context)
        let report = try await self.bots.kill(
            id: id,
            owner: context.identity.userID,
            closePositions: body?.closePositions ?? false,
            client: context.client
        )
        return KillResult(cancelledOrders: report.cancelled, closedPositions: report.closed, failedCancels: report.failed)
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        try await self.bots.delete(id: try Self.id(context), owner: context.identity.userID, client: context.client)
        return .noContent
    }

    /// Every bot of the caller killed and every open order cancelled, concurrently; audited.
    @Sendable func killSwitch(_ request: Request, context: AuthenticatedContext) async throws -> KillResult {
        let body = try await request.decodeIfPresent(as: KillBody.self, context: context)
        let summary = try await self.bots.killSwitch(
            owner: context.identity.userID,
            closePositions: body?.closePositions ?? false,
            client: context.client
        )
        return KillResult(cancelledOrders: summary.cancelled, closedPositions: summary.closed, failedCancels: summary.failed)
    }

    // MARK: Orders

    @Sendable func orders(_ request: Request, context: AuthenticatedContext) async throws -> [Order] {
        try await self.bots.orders(botID: try Self.id(context), owner: context.identity.userID).map(Order.init)
    }

    @Sendable func allOrders(_ request: Request, context: AuthenticatedContext) async throws -> [Order] {
        let status = request.uri.queryParameters.get("status")
        guard status == nil || status == "open" else { throw APIError.badRequest("`status` can only be `open`.") }
        return try await self.bots.orders(owner: context.identity.userID, openOnly: status == "open").map(Order.init)
    }

    // MARK: Signals

    /// A new webhook secret for a signal bot (step-up); the old one stops working at once.
    @Sendable func regenerateSecret(_ request: Request, context: AuthenticatedContext) async throws -> WebhookSecret {
        let id = try Self.id(context)
        _ = try await self.bots.bot(id: id, owner: context.identity.userID)
        try await self.stepUp.verify(request, context)
        return WebhookSecret(
            webhookSecret: try await self.bots.regenerateWebhookSecret(id: id, owner: context.identity.userID, client: context.client)
        )
    }

    @Sendable func signal(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Accepted> {
        let body = try await request.decode(as: SignalBody.self, context: context)
        let signal = SignalRequest(action: body.action, secret: body.secret, id: body.id, quantity: body.quantity)
        let outcome = try await self.bots.signal(botID: context.parameters.get("bot_id", as: UUID.self), signal, client: context.client)
        let clientOrderID: String? =
            switch outcome {
            case .placed(let id): id
            case .nothingToDo: nil
            }
        return EditedResponse(status: .accepted, response: Accepted(clientOrderId: clientOrderID))
    }
}
