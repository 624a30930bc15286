// Home, new bot, the bot page and the kill switch.

import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Vault
import Venues

extension DashboardController {
    func addTradingRoutes(to router: Router<AppRequestContext>) {
        router.get("/kill-switch", use: self.killConfirm)
        router.post("/kill-switch", use: self.killSwitch)
        router.get("/bots/new", use: self.newBot)
        router.post("/bots", use: self.createBot)
        router.get("/bots/:id", use: self.botPage)
        router.post("/bots/:id/start", use: self.startBot)
        router.post("/bots/:id/stop", use: self.stopBot)
        router.post("/bots/:id/kill", use: self.killBot)
        router.post("/bots/:id/params", use: self.updateParams)
    }

    static func statusText(_ status: BotStatus) -> String {
        switch status {
        case .running: "running"
        case .stopped: "stopped"
        case .riskStopped: "stopped by a risk limit"
        case .killed: "killed"
        case .failed: "failed"
        }
    }

    func botValues(_ bot: BotRecord) async -> [String: Any] {
        var values: [String: Any] = [
            "id": bot.id.apiString, "name": bot.name, "strategy": bot.strategy.rawValue, "venue": bot.venue.rawValue, "symbol": bot.symbol,
            "status": bot.status.rawValue, "statusText": Self.statusText(bot.status), "pnl": "\(await self.bots.pnl(bot))",
        ]
        if let reason = bot.statusReason { values["statusReason"] = reason }
        return values
    }

    static func orderValues(_ record: BotOrderRecord, botName: String) -> [String: Any] {
        [
            "id": record.id.apiString, "botName": botName, "side": record.order.side.rawValue,
            "price": record.order.price.map { "\($0)" } ?? "market",
            "quantity": "\(record.order.quantity)", "filled": "\(record.order.filled)", "status": record.order.status.rawValue,
        ]
    }

    func paperKeys(_ identity: Identity) -> VenueCredentials {
        VenueCredentials(apiKey: identity.userID.uuidString.lowercased(), secret: SecretBytes(copying: [UInt8]()))
    }

    // MARK: Home

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let bots = try await self.bots.bots(owner: identity.userID)
        var botList: [[String: Any]] = []
        for bot in bots { botList.append(await self.botValues(bot)) }
        let names = Dictionary(uniqueKeysWithValues: bots.map { ($0.id, $0.name) })
        let open = try await self.bots.orders(owner: identity.userID, openOnly: true)
        var values = self.base("Your bots", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
        values["live"] = true
        values["bots"] = botList
        values["hasBots"] = !botList.isEmpty
        values["orders"] = open.map { Self.orderValues($0, botName: names[$0.botID] ?? "") }
        values["openCount"] = open.count
        let balances = (try? await self.venues.venue(.paper).balances(credentials: self.paperKeys(identity))) ?? []
        values["balances"] = balances.filter { $0.total != 0 }.map { ["asset": $0.asset, "amount": "\($0.total)"] }
        if let notice = request.uri.queryParameters.get("notice"), let text = Self.notices[notice] { values["notice"] = text }
        return self.views.page("home", values)
    }

    /// Notices a redirect may name (never free text from the URL).
    static let notices = [
        "password": "Password changed. Your other sessions were signed out.",
        "key-deleted": "The key was deleted.",
        "revoked": "The session was signed out.",
    ]

    // MARK: Kill switch

    @Sendable func killConfirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let bots = try await self.bots.bots(owner: identity.userID)
        let open = try await self.bots.orders(owner: identity.userID, openOnly: true)
        var values = self.base("Kill switch", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
        values["botCount"] = bots.count
        values["openCount"] = open.count
        return self.views.page("kill-confirm", values)
    }

    @Sendable func killSwitch(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            let summary = try await self.bots.killSwitch(
                owner: identity.userID,
                closePositions: form["close_positions"] == "true",
                client: context.client
            )
            var values = self.base("Kill switch done", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
            values["bots"] = summary.bots
            values["stopped"] = summary.stopped
            values["cancelled"] = summary.cancelled
            if summary.closed > 0 { values["closed"] = summary.closed }
            values["failed"] = summary.failed + summary.unstopped
            values["hasFailures"] = !(summary.failed + summary.unstopped).isEmpty
            return self.views.page("kill-result", values, status: (summary.failed + summary.unstopped).isEmpty ? .ok : .serviceUnavailable)
        } catch {
            return try self.refusedSignedIn(error, identity)
        }
    }

    // MARK: New bot

    @Sendable func newBot(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let symbol = "BTCUSDT"
        var values = self.base("New bot", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
        let price = try? await self.venues.venue(.paper).ticker(symbol: symbol).price
        values["symbol"] = symbol
        values["price"] = price.map { "\($0)" } ?? "unknown"
        let count = (try? await self.bots.bots(owner: identity.userID).count) ?? 0
        values["name"] = "Grid \(symbol) \(count + 1)"
        values["venues"] = self.credentials.venues().venues.map { ["id": $0.id.rawValue, "name": $0.name, "selected": $0.id == .paper] }
        let keys = (try? await self.credentials.list(owner: identity.userID)) ?? []
        values["keys"] = keys.map { ["id": $0.id.apiString, "label": $0.label, "venue": $0.venue.rawValue] }
        values["hasKeys"] = !keys.isEmpty
        // Defaults sized from the live price: about 20 quote units per order.
        let quantity = price.map { Self.roundedQuantity(20 / $0) } ?? Decimal(string: "0.001")!
        values["grid"] = ["rangePct": "2", "levels": "6", "quantity": "\(quantity)"]
        values["dca"] = ["quoteAmount": "20", "intervalSeconds": "3600", "takeProfitPct": "1.5"]
        values["signal"] = ["quantity": "\(quantity)"]
        return self.views.page("bot-new", values)
    }

    /// A quantity with at most five significant decimals, never zero.
    static func roundedQuantity(_ value: Decimal) -> Decimal {
        var value = value
        var rounded = Decimal()
        var places = 5
        repeat {
            NSDecimalRound(&rounded, &value, places, .up)
            places += 1
        } while rounded == 0 && places < 12
        return rounded
    }

    /// The API's `params` object from the form's fields for `strategy` (names as in the API).
    static func params(_ form: FormBody, strategy: String) throws -> JSON.Value {
        func number(_ name: String, from field: String? = nil) throws -> (String, JSON.Value)? {
            guard let text = form[field ?? name] else { return nil }
            guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), value.isFinite else {
                throw APIError(.unprocessableContent, code: "invalid_parameters", message: "`\(name)` must be a number.")
            }
            return (name, .number(value))
        }
        let pairs: [(String, JSON.Value)?]
        switch strategy {
        case "grid": pairs = [try number("range_pct"), try number("lower"), try number("upper"), try number("levels"), try number("quantity")]
        case "dca":
            pairs = [
                try number("quote_amount"), try number("interval_seconds"), try number("take_profit_pct"), try number("safety_orders"),
                try number("safety_step_pct"),
            ]
        default:
            pairs = [
                try number("quantity", from: form["signal_quantity"] == nil ? "quantity" : "signal_quantity"), try number("max_signal_quantity"),
            ]
        }
        return .object(Dictionary(pairs.compactMap { $0 }, uniquingKeysWith: { first, _ in first }))
    }

    @Sendable func createBot(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            let strategy = try form.required("strategy")
            let credentialID: UUID?
            if let text = form["credential_id"] {
                guard let id = UUID(uuidString: text) else { throw APIError.badRequest("`credential_id` is not a key of yours.") }
                credentialID = id
            } else {
                credentialID = nil
            }
            let new = NewBot(
                name: try form.required("name"),
                strategy: strategy,
                venue: try form.required("venue"),
                credentialID: credentialID,
                symbol: try form.required("symbol").uppercased(),
                params: try Self.params(form, strategy: strategy)
            )
            let (bot, secret) = try await self.bots.create(new, owner: identity.userID, client: context.client)
            if form["start"] == "true" {
                _ = try await self.bots.start(id: bot.id, owner: identity.userID, client: context.client)
            }
            if let secret {
                // Shown once: on the page this post answers, never in a URL.
                return try await self.renderBot(bot.id, identity: identity, webhookSecret: secret)
            }
            return Views.redirect("/bots/\(bot.id.apiString)")
        } catch {
            return try self.refusedSignedIn(error, identity)
        }
    }

    // MARK: Bot page

    static func botID(_ context: AppRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw BotError.notFound }
        return id
    }

    @Sendable func botPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        do {
            return try await self.renderBot(try Self.botID(context), identity: identity, webhookSecret: nil)
        } catch {
            return try self.refusedSignedIn(error, identity)
        }
    }

    func renderBot(_ id: UUID, identity: Identity, webhookSecret: String?, error: String? = nil) async throws -> Response {
        let bot = try await self.bots.bot(id: id, owner: identity.userID)
        let orders = try await self.bots.orders(botID: bot.id, owner: identity.userID)
        let open = orders.filter { $0.order.status == .open || $0.order.status == .partiallyFilled }
        let filled = orders.filter { $0.order.filled > 0 }.sorted { $0.updatedAt < $1.updatedAt }
        var values = self.base(bot.name, identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID), error: error)
        values["live"] = true
        values["bot"] = await self.botValues(bot)
        values["canStart"] = bot.status != .running
        values["canStop"] = bot.status == .running
        let price = self.bots.lastPrice(bot)
        values["price"] = price.map { "\($0)" } ?? "not yet seen"
        values["orders"] = open.map { Self.orderValues($0, botName: bot.name) }
        values["openCount"] = open.count
        let fills = filled.map { record in
            Charts.Fill(
                time: record.updatedAt,
                price: record.order.averagePrice ?? record.order.price ?? 0,
                quantity: record.order.filled,
                isBuy: record.order.side == .buy
            )
        }
        let formatter = ISO8601DateFormatter()
        values["fills"] = fills.map {
            ["time": formatter.string(from: $0.time), "side": $0.isBuy ? "buy" : "sell", "price": "\($0.price)", "quantity": "\($0.quantity)"]
        }
        values["hasFills"] = !fills.isEmpty
        var levels = open.compactMap(\.order.price)
        if case .grid(let state) = bot.state, !state.levels.isEmpty { levels = state.levels }
        values["levelsName"] = bot.strategy == .grid ? "grid levels" : "order prices"
        values["priceChart"] = Charts.price(history: self.bots.priceHistory(bot), levels: levels, fills: fills, label: "Price of \(bot.symbol)")
        values["priceCaption"] =
            "Solid line: the \(bot.symbol) price at each step. Dashed lines: \(bot.strategy == .grid ? "the grid's levels" : "resting orders"). Upward triangles: buys; downward: sells."
        values["pnlChart"] = Charts.pnl(fills: fills, label: "Profit and loss of \(bot.name)")
        values["pnlCaption"] = "Profit and loss after each fill, in the quote currency; the horizontal line is zero."
        if case .object(let members) = try bot.parameters.apiParams() {
            values["params"] = members.filter { $0.key != "risk" }.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": Self.text($0.value)] }
        }
        if bot.strategy == .signal {
            var webhook: [String: Any] = ["url": self.publicURL.appendingPathComponent("api/v1/signals/\(bot.id.apiString)").absoluteString]
            if let webhookSecret {
                webhook["secret"] = webhookSecret
                webhook["template"] = "{\"action\": \"{{strategy.order.action}}\", \"secret\": \"\(webhookSecret)\", \"id\": \"{{timenow}}\"}"
            }
            values["webhook"] = webhook
        }
        return self.views.page("bot", values)
    }

    static func text(_ value: JSON.Value) -> String {
        switch value {
        case .number(let number): "\(number)"
        case .string(let string): string
        case .bool(let bool): bool ? "true" : "false"
        case .null: ""
        default: ""
        }
    }

    func botAction(
        _ request: Request,
        _ context: AppRequestContext,
        _ action: @Sendable (UUID, Identity, FormBody) async throws -> String?
    ) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        let id: UUID
        do { id = try Self.botID(context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            if let problem = try await action(id, identity, form) {
                return try await self.renderBot(id, identity: identity, webhookSecret: nil, error: problem)
            }
            return Views.redirect("/bots/\(id.apiString)")
        } catch {
            guard let refusal = Self.refusal(error) else { throw error }
            if refusal.status == .notFound { return try self.refusedSignedIn(error, identity) }
            var response = try await self.renderBot(id, identity: identity, webhookSecret: nil, error: refusal.message)
            response.status = refusal.status
            return response
        }
    }

    @Sendable func startBot(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.botAction(request, context) { id, identity, _ in
            _ = try await self.bots.start(id: id, owner: identity.userID, client: context.client)
            return nil
        }
    }

    @Sendable func stopBot(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.botAction(request, context) { id, identity, _ in
            _ = try await self.bots.stop(id: id, owner: identity.userID, client: context.client)
            return nil
        }
    }

    @Sendable func killBot(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.botAction(request, context) { id, identity, form in
            let report = try await self.bots.kill(
                id: id,
                owner: identity.userID,
                closePositions: form["close_positions"] == "true",
                client: context.client
            )
            guard report.failed.isEmpty else {
                return
                    "Killed, but these orders could not be cancelled: \(report.failed.joined(separator: ", ")). Cancel them on the exchange or kill again."
            }
            return nil
        }
    }

    @Sendable func updateParams(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.botAction(request, context) { id, identity, form in
            let bot = try await self.bots.bot(id: id, owner: identity.userID)
            var params = try Self.params(form, strategy: bot.strategy.rawValue)
            // Fields the form has that are not numbers (none today) keep their current values.
            if case .object(var members) = params, case .object(let current) = try bot.parameters.apiParams(), let risk = current["risk"] {
                members["risk"] = risk
                params = .object(members)
            }
            _ = try await self.bots.update(id: id, owner: identity.userID, params: params, client: context.client)
            return nil
        }
    }
}
