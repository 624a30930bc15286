// Bybit V5: key introspection (/v5/user/query-api) and linear-perpetual trading, with its signing and rate-limit rules.

import AsyncHTTPClient
import Foundation
import NIOHTTP1

public struct BybitVenue: Venue {
    public let id = VenueID.bybit
    let transport: VenueTransport
    let clock = VenueClock()
    static let recvWindow = "5000"
    static let category = "linear"

    public init(baseURL: String, client: HTTPClient = .shared) {
        self.transport = VenueTransport(venue: .bybit, baseURL: baseURL, client: client, rateLimitSignal: Self.rateLimitSignal)
    }

    /// 10006 "Too many visits!" arrives in a 200 answer; X-Bapi-Limit-Status 0 means the budget is spent until
    /// X-Bapi-Limit-Reset-Timestamp (ms). An HTTP 403 is Bybit's IP-level limit.
    static let rateLimitSignal: @Sendable (VenueResponse) -> RateLimitSignal? = { response in
        let untilReset: Duration =
            response.headers.first(name: "X-Bapi-Limit-Reset-Timestamp").flatMap(Int64.init).map { reset in
                .milliseconds(max(0, reset - Int64(Date().timeIntervalSince1970 * 1000)))
            } ?? .seconds(1)
        // 403 "access too frequent" is Bybit's IP ban: its docs say to stop for at least 10 minutes.
        if response.status == .forbidden { return .refused(retryAfter: .seconds(600)) }
        if response.status == .tooManyRequests { return .refused(retryAfter: VenueTransport.retryAfter(response.headers) ?? untilReset) }
        if JSON(bytes: response.body)["retCode"].int64 == 10006 { return .refused(retryAfter: untilReset) }
        if response.headers.first(name: "X-Bapi-Limit-Status") == "0" { return .exhausted(pause: untilReset) }
        return nil
    }

    func serverTime() async throws -> Int64 {
        let answer = try self.checked(try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: "/v5/market/time") })
        guard let seconds = answer["timeSecond"].int64 else { throw VenueError.invalidResponse(self.id, "no timeSecond") }
        return answer["timeNano"].decimal.map { NSDecimalNumber(decimal: $0 / 1_000_000).int64Value } ?? seconds * 1000
    }

    /// A signed request: GET signs the query string, POST the JSON body. A 10002 (timestamp outside the window)
    /// resyncs the clock and tries once more.
    func signed(
        _ method: HTTPMethod,
        _ path: String,
        query: [(String, String)] = [],
        body: [(String, Any)] = [],
        credentials: VenueCredentials,
        retry: Bool = true
    ) async throws -> JSON {
        let queryString = formEncode(query)
        let bodyString = method == .GET ? "" : Self.jsonObject(body)
        var resynced = false
        while true {
            let response = try await self.transport.send(retry: retry) {
                Self.signedRequest(
                    method,
                    path,
                    query: queryString,
                    body: bodyString,
                    timestamp: String(try await self.clock.now(sync: self.serverTime)),
                    credentials: credentials
                )
            }
            do {
                return try self.checked(response)
            } catch VenueError.rejected(_, "10002", _) where retry && !resynced {
                resynced = true
                try await self.clock.resync(self.serverTime)
            }
        }
    }

    /// The request as sent: GET signs the query string, POST the JSON body, each exactly as it goes on the wire.
    static func signedRequest(
        _ method: HTTPMethod,
        _ path: String,
        query: String,
        body: String,
        timestamp: String,
        credentials: VenueCredentials
    ) -> VenueRequest {
        let payload = method == .GET ? query : body
        let signature = BybitSigning.signature(
            timestamp: timestamp,
            apiKey: credentials.apiKey,
            recvWindow: Self.recvWindow,
            payload: payload,
            secret: credentials.secret
        )
        var headers: HTTPHeaders = [
            "X-BAPI-API-KEY": credentials.apiKey, "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-SIGN": signature, "X-BAPI-RECV-WINDOW": Self.recvWindow,
        ]
        if method != .GET { headers.add(name: "Content-Type", value: "application/json") }
        return VenueRequest(method: method, path: path, query: query, headers: headers, body: Array(body.utf8))
    }

    func get(_ path: String, _ query: [(String, String)]) async throws -> (result: JSON, time: Int64?) {
        let response = try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: path, query: formEncode(query)) }
        return (try self.checked(response), JSON(bytes: response.body)["time"].int64)
    }

    /// `result` of a `{retCode: 0, …}` answer; any other retCode is the venue's refusal.
    func checked(_ response: VenueResponse) throws -> JSON {
        if response.status.code >= 500 { throw VenueError.unreachable(self.id, "HTTP \(response.status.code)") }
        let json = JSON(bytes: response.body)
        guard let code = json["retCode"].int64 else { throw VenueError.unreachable(self.id, "HTTP \(response.status.code), not the V5 API") }
        guard code == 0 else { throw VenueError.rejected(self.id, code: String(code), message: json["retMsg"].string ?? "") }
        return json["result"]
    }

    /// JSON text of an object whose keys keep the given order (Bybit signs the body exactly as sent).
    static func jsonObject(_ pairs: [(String, Any)]) -> String {
        let members = pairs.map { key, value -> String in
            let encoded: String =
                switch value {
                case let bool as Bool: bool ? "true" : "false"
                case let string as String: Self.quoted(string)
                default: Self.quoted("\(value)")
                }
            return "\(Self.quoted(key)):\(encoded)"
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    static func quoted(_ text: String) -> String { jsonQuoted(text) }

    // MARK: Key inspection

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        let facts = try await self.signed(.GET, "/v5/user/query-api", credentials: credentials, retry: false)
        guard let groups = facts["permissions"].object else { throw VenueError.invalidResponse(self.id, "query-api without permissions") }
        var granted: [String] = []
        for group in groups.keys.sorted() {
            for permission in groups[group]?.array?.compactMap(\.string) ?? [] { granted.append("\(group).\(permission)") }
        }
        let readOnly = facts["readOnly"].int64 != 0
        func list(_ group: String) -> [String] { groups[group]?.array?.compactMap(\.string) ?? [] }
        // Linear perpetuals need contract (or unified derivatives) order permission; spot alone cannot trade them.
        let canTrade = !readOnly && (list("ContractTrade").contains("Order") || list("Derivatives").contains("DerivativesTrade"))
        let ips = facts["ips"].array?.compactMap(\.string) ?? []
        // Groups that can send funds off the account (withdrawals, P2P, Bybit Pay, card, fiat conversion), groups that
        // move them between accounts, and groups known to do neither; anything else is unknown and refused.
        let withdrawal = granted.filter { entry in
            entry == "Wallet.Withdraw" || Self.fundsOutGroups.contains(where: { entry.hasPrefix("\($0).") })
        }
        let transfer = granted.filter { ["Wallet.AccountTransfer", "Wallet.SubMemberTransfer", "Wallet.SubMemberTransferList"].contains($0) }
        let unknown = groups.keys.filter { !Self.knownGroups.contains($0) && !Self.fundsOutGroups.contains($0) && !list($0).isEmpty }.sorted()
        return KeyInspection(
            venue: self.id,
            role: unknown.isEmpty
                ? .tradingKey
                : .unverifiable(
                    reason:
                        "Bybit reports permission groups Tradekeep does not know (\(unknown.joined(separator: ", "))), so it cannot tell whether the key can move funds."
                ),
            permissions: (readOnly ? ["readOnly"] : []) + granted,
            canTrade: canTrade,
            withdrawalPermissions: withdrawal,
            transferPermissions: transfer,
            ipRestriction: ips.isEmpty || ips.contains("*") ? .unrestricted : .addresses(ips)
        )
    }

    /// Permission groups that can send funds off the account (Bybit's docs, user/apikey-info).
    static let fundsOutGroups: Set = ["FiatP2P", "FiatBitPay", "BitCard", "FiatConvertBroker", "FiatGlobalPay"]
    /// Groups that trade, read, or move funds only as checked above (Wallet).
    static let knownGroups: Set = [
        "ContractTrade", "Spot", "Wallet", "Options", "Derivatives", "CopyTrading", "BlockTrade", "Exchange",
        "NFT", "Affiliate", "Earn",
    ]

    // MARK: Market data

    public func ticker(symbol: String) async throws -> Ticker {
        let (result, time) = try await self.get("/v5/market/tickers", [("category", Self.category), ("symbol", symbol)])
        let entry = result["list"][0]
        guard let price = entry["lastPrice"].decimal else {
            throw VenueError.rejected(self.id, code: "unknown_symbol", message: "\(symbol) is not listed")
        }
        return Ticker(
            symbol: symbol,
            price: price,
            bid: entry["bid1Price"].decimal,
            ask: entry["ask1Price"].decimal,
            time: time.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        )
    }

    public func symbolRules(symbol: String) async throws -> SymbolRules {
        let (result, _) = try await self.get("/v5/market/instruments-info", [("category", Self.category), ("symbol", symbol)])
        let entry = result["list"][0]
        guard let tick = entry["priceFilter"]["tickSize"].decimal else {
            throw VenueError.rejected(self.id, code: "unknown_symbol", message: "\(symbol) is not listed")
        }
        let lot = entry["lotSizeFilter"]
        return SymbolRules(
            symbol: symbol,
            tickSize: tick,
            stepSize: lot["qtyStep"].decimal ?? 0,
            minQuantity: lot["minOrderQty"].decimal ?? 0,
            minNotional: lot["minNotionalValue"].decimal ?? 0
        )
    }

    // MARK: Trading

    /// POST /v5/order/create's body, in this key order.
    static func orderBody(_ order: OrderRequest) throws -> [(String, Any)] {
        var body: [(String, Any)] = [
            ("category", Self.category), ("symbol", order.symbol), ("side", order.side == .buy ? "Buy" : "Sell"),
            ("orderType", order.type == .limit ? "Limit" : "Market"), ("qty", order.quantity.plain),
        ]
        if order.type == .limit {
            guard let price = order.price else { throw VenueError.rejected(.bybit, code: "price_required", message: "a limit order needs a price") }
            body += [("price", price.plain), ("timeInForce", "GTC")]
        }
        return body + [("orderLinkId", order.clientOrderID), ("reduceOnly", order.reduceOnly)]
    }

    /// The signed order request exactly as it would be sent (for the signing benchmark).
    public static func signedOrderRequest(_ order: OrderRequest, timestamp: Int64, credentials: VenueCredentials) throws -> VenueRequest {
        Self.signedRequest(
            .POST,
            "/v5/order/create",
            query: "",
            body: Self.jsonObject(try Self.orderBody(order)),
            timestamp: String(timestamp),
            credentials: credentials
        )
    }

    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        let placed: JSON
        do {
            placed = try await self.signed(.POST, "/v5/order/create", body: try Self.orderBody(order), credentials: credentials)
        } catch VenueError.unreachable(let venue, let reason) {
            // The outcome is unknown: the client order id tells whether the order exists.
            if let existing = try? await self.order(symbol: order.symbol, clientOrderID: order.clientOrderID, credentials: credentials) {
                return existing
            }
            throw VenueError.unreachable(venue, reason)
        }
        guard let orderID = placed["orderId"].string else { throw VenueError.invalidResponse(self.id, "create without orderId") }
        // The create answer carries only ids; the order's state comes from the realtime book.
        if let current = try? await self.order(symbol: order.symbol, clientOrderID: order.clientOrderID, credentials: credentials) { return current }
        return VenueOrder(
            venueOrderID: orderID,
            clientOrderID: order.clientOrderID,
            symbol: order.symbol,
            side: order.side,
            type: order.type,
            price: order.price,
            quantity: order.quantity,
            filledQuantity: 0,
            status: .open
        )
    }

    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        let before = try? await self.order(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
        do {
            _ = try await self.signed(
                .POST,
                "/v5/order/cancel",
                body: [("category", Self.category), ("symbol", symbol), ("orderLinkId", clientOrderID)],
                credentials: credentials
            )
        } catch VenueError.rejected(_, "110001", _) {
            return nil  // "Order does not exist" (or already filled/cancelled)
        }
        return before.map {
            var order = $0
            order.status = .cancelled
            return order
        }
    }

    /// Bybit cancels at most 500 orders per call, so call until it cancels none. Cancelling is asynchronous and an
    /// order still being cancelled may be listed twice: orders are counted once each.
    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        var cancelled: Set<String> = []
        for _ in 0..<20 {
            let result = try await self.signed(
                .POST,
                "/v5/order/cancel-all",
                body: [("category", Self.category), ("symbol", symbol)],
                credentials: credentials
            )
            let ids = (result["list"].array ?? []).compactMap { $0["orderId"].string }
            if ids.isEmpty { return cancelled.count }
            cancelled.formUnion(ids)
        }
        throw VenueError.invalidResponse(self.id, "cancel-all never reached an empty book")
    }

    /// Every page of a cursor-paged list (`limit` per page, at most `pages` pages).
    func pages(_ path: String, _ query: [(String, String)], limit: Int, credentials: VenueCredentials, pages: Int = 20) async throws -> [JSON] {
        var entries: [JSON] = []
        var cursor = ""
        for _ in 0..<pages {
            var pageQuery = query + [("limit", String(limit))]
            if !cursor.isEmpty { pageQuery.append(("cursor", cursor)) }
            let result = try await self.signed(.GET, path, query: pageQuery, credentials: credentials)
            entries += result["list"].array ?? []
            cursor = result["nextPageCursor"].string ?? ""
            if cursor.isEmpty || (result["list"].array ?? []).isEmpty { return entries }
        }
        return entries
    }

    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        var query = [("category", Self.category)]
        query.append(symbol.map { ("symbol", $0) } ?? ("settleCoin", "USDT"))
        query.append(("openOnly", "0"))
        let entries = try await self.pages("/v5/order/realtime", query, limit: 50, credentials: credentials)
        return try entries.map(Self.order(from:)).filter { $0.status == .open || $0.status == .partiallyFilled }
    }

    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        let query = [("category", Self.category), ("symbol", symbol), ("orderLinkId", clientOrderID)]
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            let result = try await self.signed(.GET, path, query: query, credentials: credentials)
            if let entry = result["list"].array?.first { return try Self.order(from: entry) }
        }
        throw VenueError.rejected(self.id, code: "110001", message: "Order does not exist")
    }

    public func positions(credentials: VenueCredentials) async throws -> [Position] {
        let entries = try await self.pages(
            "/v5/position/list",
            [("category", Self.category), ("settleCoin", "USDT")],
            limit: 200,
            credentials: credentials
        )
        return entries.compactMap { entry in
            guard let symbol = entry["symbol"].string, let size = entry["size"].decimal, size != 0 else { return nil }
            return Position(symbol: symbol, quantity: entry["side"].string == "Sell" ? -size : size, entryPrice: entry["avgPrice"].decimal)
        }
    }

    public func balances(credentials: VenueCredentials) async throws -> [Balance] {
        let result = try await self.signed(.GET, "/v5/account/wallet-balance", query: [("accountType", "UNIFIED")], credentials: credentials)
        return (result["list"][0]["coin"].array ?? []).compactMap { coin in
            guard let asset = coin["coin"].string, let total = coin["walletBalance"].decimal else { return nil }
            let locked = coin["locked"].decimal ?? 0
            return Balance(asset: asset, total: total, available: total - locked)
        }
    }

    static func order(from json: JSON) throws -> VenueOrder {
        guard let id = json["orderId"].string, let symbol = json["symbol"].string else {
            throw VenueError.invalidResponse(.bybit, "order without orderId")
        }
        let status: OrderStatus =
            switch json["orderStatus"].string {
            case "PartiallyFilled": .partiallyFilled
            case "Filled": .filled
            case "Cancelled", "PartiallyFilledCanceled", "Deactivated": .cancelled
            case "Rejected": .rejected
            default: .open
            }
        return VenueOrder(
            venueOrderID: id,
            clientOrderID: json["orderLinkId"].string,
            symbol: symbol,
            side: json["side"].string == "Sell" ? .sell : .buy,
            type: json["orderType"].string == "Market" ? .market : .limit,
            price: json["price"].decimal.flatMap { $0 == 0 ? nil : $0 },
            quantity: json["qty"].decimal ?? 0,
            filledQuantity: json["cumExecQty"].decimal ?? 0,
            averagePrice: json["avgPrice"].decimal.flatMap { $0 == 0 ? nil : $0 },
            status: status
        )
    }
}
