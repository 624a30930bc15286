// A local fake of Bybit V5 (key introspection + linear perpetuals) that checks signed requests as Bybit documents them.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// An API key the fake knows, with what `/v5/user/query-api` reports about it.
/// The defaults describe a good key for a perpetuals bot: read-write, contract trading only, IP-bound to loopback.
public struct BybitKey: Sendable {
    public var apiKey: String
    public var secret: String
    public var id: String
    public var note: String
    /// 0: read and write, 1: read only.
    public var readOnly: Int
    /// Documented groups: ContractTrade, Spot, Wallet, Options, Derivatives, CopyTrading, BlockTrade, Exchange, NFT, Affiliate, Earn.
    public var permissions: [String: [String]]
    /// `["*"]` = not bound to any IP.
    public var ips: [String]
    /// 1: personal, 2: connected to a third-party app.
    public var type: Int
    public var deadlineDay: Int
    public var expiredAt: String
    public var createdAt: String
    public var uta: Int
    public var userID: Int
    public var inviterID: Int
    public var vipLevel: String
    public var mktMakerLevel: String
    public var affiliateID: Int
    public var rsaPublicKey: String
    public var isMaster: Bool
    public var parentUid: String
    public var kycLevel: String
    public var kycRegion: String

    public static let tradeOnlyPermissions: [String: [String]] = [
        "ContractTrade": ["Order", "Position"], "Spot": [], "Wallet": [], "Options": [], "Derivatives": ["DerivativesTrade"],
        "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": [], "Affiliate": [], "Earn": [],
    ]

    public init(
        apiKey: String,
        secret: String,
        id: String = "2208369",
        note: String = "tradekeep",
        readOnly: Int = 0,
        permissions: [String: [String]] = BybitKey.tradeOnlyPermissions,
        ips: [String] = ["127.0.0.1"],
        type: Int = 1,
        deadlineDay: Int = -2,
        expiredAt: String = "1970-01-01T00:00:00Z",
        createdAt: String = "2025-10-13T03:20:45Z",
        uta: Int = 1,
        userID: Int = 1_448_939,
        inviterID: Int = 0,
        vipLevel: String = "No VIP",
        mktMakerLevel: String = "0",
        affiliateID: Int = 0,
        rsaPublicKey: String = "",
        isMaster: Bool = true,
        parentUid: String = "0",
        kycLevel: String = "LEVEL_1",
        kycRegion: String = "MYS"
    ) {
        self.apiKey = apiKey
        self.secret = secret
        self.id = id
        self.note = note
        self.readOnly = readOnly
        self.permissions = permissions
        self.ips = ips
        self.type = type
        self.deadlineDay = deadlineDay
        self.expiredAt = expiredAt
        self.createdAt = createdAt
        self.uta = uta
        self.userID = userID
        self.inviterID = inviterID
        self.vipLevel = vipLevel
        self.mktMakerLevel = mktMakerLevel
        self.affiliateID = affiliateID
        self.rsaPublicKey = rsaPublicKey
        self.isMaster = isMaster
        self.parentUid = parentUid
        self.kycLevel = kycLevel
        self.kycRegion = kycRegion
    }
}

/// A linear order as the fake stores it.
public struct BybitOrder: Sendable, Equatable {
    public var orderId: String
    public var orderLinkId: String
    public var symbol: String
    public var side: String  // Buy | Sell
    public var orderType: String  // Market | Limit
    public var price: Decimal
    public var qty: Decimal
    public var cumExecQty: Decimal
    public var avgPrice: Decimal
    public var cumExecFee: Decimal
    public var orderStatus: String  // New | Untriggered | Filled | Cancelled | Triggered
    public var timeInForce: String
    public var reduceOnly: Bool
    public var closeOnTrigger: Bool
    public var triggerPrice: Decimal?
    public var triggerDirection: Int
    public var createdTime: Int64
    public var updatedTime: Int64

    public var isOpen: Bool { ["New", "PartiallyFilled", "Untriggered"].contains(self.orderStatus) }
}

/// A one-way-mode position: `side` is "Buy" (long), "Sell" (short) or "" (flat); `size` is always positive.
public struct BybitPosition: Sendable, Equatable {
    public var symbol: String
    public var side: String
    public var size: Decimal
    public var avgPrice: Decimal
    public var cumRealisedPnl: Decimal
    public var createdTime: Int64
    public var updatedTime: Int64
}

/// Trading rules of one linear symbol (instruments-info filters).
struct BybitSymbolRules: Sendable {
    var baseCoin: String
    var tickSize: Decimal
    var qtyStep: Decimal
    var minOrderQty: Decimal
    var maxOrderQty: Decimal
    var maxMktOrderQty: Decimal
    var minNotionalValue: Decimal
    var priceScale: Int
}

/// A fake Bybit V5 REST API.
public final class FakeBybit: Sendable {
    public let log: FakeVenueLog

    private struct State {
        var keys: [String: BybitKey] = [:]
        var prices: [String: Decimal] = ["BTCUSDT": 60_000, "ETHUSDT": 3_000, "SOLUSDT": 150]
        var orders: [BybitOrder] = []
        var positions: [String: BybitPosition] = [:]
        var balances: [String: Decimal] = ["USDT": 10_000]
        var cancelAllBatchLimit = 500
        var limits: [String: Int] = FakeBybit.defaultLimits
        var hits: [String: [Int64]] = [:]  // "apiKey path" -> request times in the last second
        var sequence: Int64 = 1
    }

    private let state = NIOLockedValueBox(State())

    static let rules: [String: BybitSymbolRules] = [
        "BTCUSDT": .init(
            baseCoin: "BTC",
            tickSize: Decimal(string: "0.10")!,
            qtyStep: Decimal(string: "0.001")!,
            minOrderQty: Decimal(string: "0.001")!,
            maxOrderQty: 1190,
            maxMktOrderQty: 500,
            minNotionalValue: 5,
            priceScale: 2
        ),
        "ETHUSDT": .init(
            baseCoin: "ETH",
            tickSize: Decimal(string: "0.01")!,
            qtyStep: Decimal(string: "0.01")!,
            minOrderQty: Decimal(string: "0.01")!,
            maxOrderQty: 7240,
            maxMktOrderQty: 3620,
            minNotionalValue: 5,
            priceScale: 2
        ),
        "SOLUSDT": .init(
            baseCoin: "SOL",
            tickSize: Decimal(string: "0.010")!,
            qtyStep: Decimal(string: "0.1")!,
            minOrderQty: Decimal(string: "0.1")!,
            maxOrderQty: 79_770,
            maxMktOrderQty: 39_880,
            minNotionalValue: 5,
            priceScale: 3
        ),
    ]
    static let takerFee = Decimal(string: "0.00055")!
    static let makerFee = Decimal(string: "0.0002")!
    /// Per-UID, per-second limits of the documented rate-limit table (linear).
    static let defaultLimits: [String: Int] = [
        "/v5/order/create": 10, "/v5/order/cancel": 10, "/v5/order/cancel-all": 10, "/v5/order/realtime": 50,
        "/v5/position/list": 50, "/v5/account/wallet-balance": 50, "/v5/user/query-api": 10,
    ]

    public init() { self.log = FakeVenueLog() }

    public func addKey(_ key: BybitKey) { self.state.withLockedValue { $0.keys[key.apiKey] = key } }
    /// The key deleted at the exchange: every call with it is refused from now on.
    public func removeKey(apiKey: String) { _ = self.state.withLockedValue { $0.keys.removeValue(forKey: apiKey) } }

    /// Sets mark/last price; market orders fill at it, resting limits and conditional orders it crosses execute.
    public func setPrice(symbol: String, price: Decimal) {
        let now = self.log.nowMilliseconds
        self.state.withLockedValue { state in
            state.prices[symbol] = price
            Self.matchResting(&state, symbol: symbol, now: now)
        }
    }

    public func setBalance(coin: String, amount: Decimal) { self.state.withLockedValue { $0.balances[coin] = amount } }

    /// How many orders one `/v5/order/cancel-all` call cancels at most (Bybit futures: 500).
    public var cancelAllBatchLimit: Int {
        get { self.state.withLockedValue { $0.cancelAllBatchLimit } }
        set { self.state.withLockedValue { $0.cancelAllBatchLimit = newValue } }
    }

    /// Changes the per-second limit of one signed endpoint (e.g. to provoke retCode 10006).
    public func setRateLimit(path: String, perSecond: Int) { self.state.withLockedValue { $0.limits[path] = perSecond } }

    /// All orders ever placed, oldest first.
    public var orders: [BybitOrder] { self.state.withLockedValue { $0.orders } }
    public var openOrders: [BybitOrder] { self.state.withLockedValue { $0.orders.filter(\.isOpen) } }
    /// Non-flat positions.
    public var positions: [BybitPosition] {
        self.state.withLockedValue { $0.positions.values.filter { $0.size != 0 }.sorted { $0.symbol < $1.symbol } }
    }
    /// Wallet balance per coin (USDT starts at 10 000).
    public var balances: [String: Decimal] { self.state.withLockedValue { $0.balances } }

    /// The documented rate-limit answer (HTTP 200, retCode 10006), for `log.inject(path:_:)`.
    public static func tooManyVisits(limit: Int = 10, resetAt: Int64) -> InjectedAnswer {
        InjectedAnswer(
            status: .ok,
            headers: ["X-Bapi-Limit": "\(limit)", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": "\(resetAt)"],
            body: #"{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":"# + "\(resetAt - 500)}"
        )
    }

    // MARK: - Routes

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))

        router.get("/v5/market/time") { request, _ in
            try await self.serve(request, .none) { call in
                .ok(["timeSecond": "\(call.now / 1000)", "timeNano": "\(call.now)000000"])
            }
        }
        router.get("/v5/market/instruments-info") { request, _ in try await self.serve(request, .none) { call in self.instruments(call) } }
        router.get("/v5/market/tickers") { request, _ in try await self.serve(request, .none) { call in self.tickers(call) } }
        router.get("/v5/user/query-api") { request, _ in try await self.serve(request, .read) { call in .ok(Self.keyJSON(call.key!)) } }
        router.post("/v5/order/create") { request, _ in try await self.serve(request, .trade) { call in self.createOrder(call) } }
        router.post("/v5/order/cancel") { request, _ in try await self.serve(request, .trade) { call in self.cancelOrder(call) } }
        router.post("/v5/order/cancel-all") { request, _ in try await self.serve(request, .trade) { call in self.cancelAll(call) } }
        router.get("/v5/order/realtime") { request, _ in try await self.serve(request, .read) { call in self.realtime(call) } }
        router.get("/v5/position/list") { request, _ in try await self.serve(request, .read) { call in self.positionList(call) } }
        router.get("/v5/account/wallet-balance") { request, _ in try await self.serve(request, .read) { call in self.walletBalance(call) } }
        return router
    }

    // MARK: - Request pipeline

    private enum Security { case none, read, trade }

    private struct Call {
        let query: [String: String]
        let body: [String: Any]
        let key: BybitKey?
        let now: Int64

        /// A parameter from the JSON body (POST) or the query string (GET); numbers and bools come back as text.
        func param(_ name: String) -> String? {
            if let value = self.body[name] {
                switch value {
                case let text as String: return text
                case let flag as Bool: return flag ? "true" : "false"
                case let number as NSNumber: return number.stringValue
                default: return nil
                }
            }
            return self.query[name]
        }
    }

    private enum Answer {
        case ok(Any)
        case fail(Int, String)
    }

    /// Authenticates (headers, timestamp window, HMAC, IP, permission), applies the per-second limit, runs the handler,
    /// and wraps the result in Bybit's envelope — always HTTP 200.
    private func serve(_ request: Request, _ security: Security, _ handle: (Call) -> Answer) async throws -> Response {
        var request = request
        let rawBody = String(buffer: try await request.collectBody(upTo: 1 << 20))
        let rawQuery = request.uri.query ?? ""
        let path = request.uri.path
        var query: [String: String] = [:]
        for (name, value) in BBFakeSupport.formDecode(rawQuery) { query[name] = value }
        var body: [String: Any] = [:]
        if request.method == .post {
            guard let object = try? JSONSerialization.jsonObject(with: Data(rawBody.utf8)) as? [String: Any] else {
                return self.envelope(.fail(10001, "Request parameter error"), now: self.log.nowMilliseconds)
            }
            body = object
        }
        let now = self.log.nowMilliseconds
        guard security != .none else { return self.envelope(handle(Call(query: query, body: body, key: nil, now: now)), now: now) }

        // GET signs the query string exactly as sent, POST the raw JSON body.
        let payload = request.method == .post ? rawBody : rawQuery
        switch self.authenticate(request: request, payload: payload, now: now, security: security) {
        case .failure(let rejection): return self.envelope(.fail(rejection.code, rejection.msg), now: now)
        case .success(let key):
            let (limit, remaining, resetAt) = self.countHit(apiKey: key.apiKey, path: path, now: now)
            let headers = ["X-Bapi-Limit": "\(limit)", "X-Bapi-Limit-Status": "\(max(remaining, 0))", "X-Bapi-Limit-Reset-Timestamp": "\(resetAt)"]
            guard remaining >= 0 else { return self.envelope(.fail(10006, "Too many visits!"), now: now, headers: headers) }
            return self.envelope(handle(Call(query: query, body: body, key: key, now: now)), now: now, headers: headers)
        }
    }

    private func envelope(_ answer: Answer, now: Int64, headers: [String: String] = [:]) -> Response {
        switch answer {
        case .ok(let result):
            return fakeJSON(.ok, ["retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": [String: Any](), "time": Int(now)], headers: headers)
        case .fail(let code, let msg):
            return fakeJSON(
                .ok,
                ["retCode": code, "retMsg": msg, "result": [String: Any](), "retExtInfo": [String: Any](), "time": Int(now)],
                headers: headers
            )
        }
    }

    private struct Rejection: Error {
        let code: Int
        let msg: String
    }

    private func authenticate(request: Request, payload: String, now: Int64, security: Security) -> Result<BybitKey, Rejection> {
        func header(_ name: String) -> String? { request.headers[HTTPField.Name(name)!] }
        guard let apiKey = header("X-BAPI-API-KEY"), let key = self.state.withLockedValue({ $0.keys[apiKey] }) else {
            return .failure(.init(code: 10003, msg: "API key is invalid."))
        }
        // Without the header the window is 5000 ms and nothing stands for it in the signed string.
        let recvWindowText = header("X-BAPI-RECV-WINDOW") ?? ""
        let recvWindow = recvWindowText.isEmpty ? 5000 : Int64(recvWindowText)
        guard let recvWindow, recvWindow > 0 else { return .failure(.init(code: 10001, msg: "Request parameter error")) }
        guard let timestampText = header("X-BAPI-TIMESTAMP"), let timestamp = Int64(timestampText),
            now - recvWindow <= timestamp, timestamp < now + 1000
        else {
            return .failure(
                .init(
                    code: 10002,
                    msg:
                        "invalid request, please check your server timestamp or recv_window param. req_timestamp[\(header("X-BAPI-TIMESTAMP") ?? "")],server_timestamp[\(now)],recv_window[\(recvWindow)]"
                )
            )
        }
        let origin = timestampText + apiKey + recvWindowText + payload
        guard let sign = header("X-BAPI-SIGN"), BBFakeSupport.hmacHex(secret: key.secret, message: origin) == sign.lowercased() else {
            return .failure(.init(code: 10004, msg: "error sign! origin_string[\(origin)]"))
        }
        // The fake only ever sees loopback clients.
        guard key.ips.contains("*") || key.ips.contains("127.0.0.1") || key.ips.contains("::1") else {
            return .failure(.init(code: 10010, msg: "Unmatched IP, please check your API key's bound IP addresses."))
        }
        if security == .trade && (key.readOnly != 0 || !(key.permissions["ContractTrade"] ?? []).contains("Order")) {
            return .failure(.init(code: 10005, msg: "Permission denied, please check your API key permissions."))
        }
        return .success(key)
    }

    /// Rolling one-second window per key and endpoint; remaining < 0 means over the limit.
    private func countHit(apiKey: String, path: String, now: Int64) -> (limit: Int, remaining: Int, resetAt: Int64) {
        self.state.withLockedValue { state in
            let limit = state.limits[path] ?? 50
            let slot = apiKey + " " + path
            var times = (state.hits[slot] ?? []).filter { $0 > now - 1000 }
            defer { state.hits[slot] = times }
            if times.count >= limit { return (limit, -1, (times.first ?? now) + 1000) }
            times.append(now)
            return (limit, limit - times.count, now)
        }
    }

    // MARK: - Public market data

    private func instruments(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        let symbol = call.param("symbol")
        if let symbol, Self.rules[symbol] == nil { return .ok(["category": "linear", "list": [Any](), "nextPageCursor": ""]) }
        let list: [[String: Any]] = Self.rules.keys.sorted().filter { symbol == nil || $0 == symbol }.map { name in
            let rules = Self.rules[name]!
            return [
                "symbol": name, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": rules.baseCoin,
                "quoteCoin": "USDT", "settleCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
                "deliveryFeeRate": "", "priceScale": "\(rules.priceScale)",
                "leverageFilter": ["minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"],
                "priceFilter": [
                    "minPrice": BBFakeSupport.text(rules.tickSize), "maxPrice": "1999999.80", "tickSize": BBFakeSupport.text(rules.tickSize),
                ],
                "lotSizeFilter": [
                    "maxOrderQty": BBFakeSupport.text(rules.maxOrderQty), "minOrderQty": BBFakeSupport.text(rules.minOrderQty),
                    "qtyStep": BBFakeSupport.text(rules.qtyStep), "postOnlyMaxOrderQty": BBFakeSupport.text(rules.maxOrderQty),
                    "maxMktOrderQty": BBFakeSupport.text(rules.maxMktOrderQty), "minNotionalValue": BBFakeSupport.text(rules.minNotionalValue),
                ],
                "unifiedMarginTrade": true, "fundingInterval": 480, "copyTrading": "both", "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375", "isPreListing": false, "preListingInfo": NSNull(), "symbolType": "",
            ]
        }
        return .ok(["category": "linear", "list": list, "nextPageCursor": ""])
    }

    private func tickers(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        let symbol = call.param("symbol")
        if let symbol, Self.rules[symbol] == nil { return .fail(10001, "params error: symbol invalid") }
        let prices = self.state.withLockedValue { $0.prices }
        let list: [[String: Any]] = prices.keys.sorted().filter { Self.rules[$0] != nil && (symbol == nil || $0 == symbol) }.map { name in
            let price = prices[name]!
            let tick = Self.rules[name]!.tickSize
            let text = BBFakeSupport.text(price)
            return [
                "symbol": name, "lastPrice": text, "indexPrice": text, "markPrice": text, "prevPrice24h": text,
                "price24hPcnt": "0", "highPrice24h": text, "lowPrice24h": text, "prevPrice1h": text, "openInterest": "0",
                "openInterestValue": "0", "turnover24h": "0", "volume24h": "0", "fundingRate": "0.0001",
                "nextFundingTime": "\(call.now - call.now % 28_800_000 + 28_800_000)", "predictedDeliveryPrice": "",
                "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": "10", "bid1Price": BBFakeSupport.text(price - tick),
                "ask1Price": BBFakeSupport.text(price + tick), "bid1Size": "10", "basis": "", "preOpenPrice": "", "preQty": "",
                "curPreListingPhase": "", "fundingIntervalHour": "8", "fundingCap": "0.005",
            ]
        }
        return .ok(["category": "linear", "list": list])
    }

    static func keyJSON(_ key: BybitKey) -> [String: Any] {
        var permissions = BybitKey.tradeOnlyPermissions.mapValues { _ in [String]() }
        for (group, values) in key.permissions { permissions[group] = values }
        return [
            "id": key.id, "note": key.note, "apiKey": key.apiKey, "readOnly": key.readOnly, "secret": "",
            "permissions": permissions, "ips": key.ips, "type": key.type, "deadlineDay": key.deadlineDay,
            "expiredAt": key.expiredAt, "createdAt": key.createdAt, "unified": 0, "uta": key.uta, "userID": key.userID,
            "inviterID": key.inviterID, "vipLevel": key.vipLevel, "mktMakerLevel": key.mktMakerLevel,
            "affiliateID": key.affiliateID, "rsaPublicKey": key.rsaPublicKey, "isMaster": key.isMaster,
            "parentUid": key.parentUid, "kycLevel": key.kycLevel, "kycRegion": key.kycRegion,
            "userIDInt64": "\(key.userID)", "inviterIDInt64": "\(key.inviterID)", "affiliateIDInt64": "\(key.affiliateID)",
        ]
    }

    // MARK: - Orders

    private func createOrder(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        guard let symbol = call.param("symbol"), let rules = Self.rules[symbol] else { return .fail(10001, "params error: symbol invalid") }
        guard let side = call.param("side"), side == "Buy" || side == "Sell" else { return .fail(10001, "params error: side invalid") }
        guard let orderType = call.param("orderType"), orderType == "Market" || orderType == "Limit" else {
            return .fail(10001, "params error: orderType invalid")
        }
        guard let qtyText = call.param("qty"), let qty = Decimal(string: qtyText), qty > 0 else { return .fail(10001, "params error: qty invalid") }
        guard BBFakeSupport.isMultiple(qty, of: rules.qtyStep) else { return .fail(10001, "Qty invalid: not a multiple of qtyStep") }
        guard qty >= rules.minOrderQty else { return .fail(10001, "The number of contracts exceeds minimum limit allowed") }
        guard qty <= (orderType == "Market" ? rules.maxMktOrderQty : rules.maxOrderQty) else {
            return .fail(10001, "The number of contracts exceeds maximum limit allowed")
        }
        var price: Decimal = 0
        if orderType == "Limit" {
            guard let text = call.param("price"), let parsed = Decimal(string: text), parsed > 0 else {
                return .fail(10001, "params error: price invalid")
            }
            guard BBFakeSupport.isMultiple(parsed, of: rules.tickSize) else {
                return .fail(10001, "params error: price invalid, not a multiple of tickSize")
            }
            price = parsed
        }
        var timeInForce = orderType == "Market" ? "IOC" : (call.param("timeInForce") ?? "GTC")
        guard ["GTC", "IOC", "FOK", "PostOnly"].contains(timeInForce) else { return .fail(10001, "params error: timeInForce invalid") }
        if orderType == "Market" { timeInForce = "IOC" }
        let orderLinkId = call.param("orderLinkId") ?? ""
        if !orderLinkId.isEmpty && !BBFakeSupport.isIdentifier(orderLinkId, maxLength: 36, extra: "_-") {
            return .fail(10001, "params error: orderLinkId invalid")
        }
        var triggerPrice: Decimal?
        var triggerDirection = 0
        if let text = call.param("triggerPrice"), !text.isEmpty {
            guard let parsed = Decimal(string: text), parsed > 0 else { return .fail(10001, "params error: triggerPrice invalid") }
            guard let direction = call.param("triggerDirection").flatMap(Int.init), direction == 1 || direction == 2 else {
                return .fail(10001, "params error: triggerDirection invalid")
            }
            triggerPrice = parsed
            triggerDirection = direction
        }
        let reduceOnly = call.param("reduceOnly") == "true"
        let closeOnTrigger = call.param("closeOnTrigger") == "true"
        let now = call.now

        return self.state.withLockedValue { state -> Answer in
            // orderLinkId is "always unique": any earlier order with it, open or not, makes this a duplicate.
            if !orderLinkId.isEmpty && state.orders.contains(where: { $0.orderLinkId == orderLinkId }) {
                return .fail(110072, "OrderLinkedID is duplicate")
            }
            let mark = state.prices[symbol] ?? 0
            if !reduceOnly && qty * (orderType == "Market" ? mark : price) < rules.minNotionalValue {
                return .fail(110094, "Order notional value below the lower limit")
            }
            if reduceOnly {
                let position = state.positions[symbol]
                if position == nil || position!.size == 0 || position!.side == side { return .fail(110017, "orderQty will be truncated to zero") }
            }
            if let triggerPrice {
                // The trigger must still be ahead of the market in the expected direction.
                if triggerDirection == 1 ? triggerPrice <= mark : triggerPrice >= mark {
                    return .fail(
                        110092,
                        "expect \(triggerDirection == 1 ? "Rising" : "Falling"), but trigger_price[\(triggerPrice)] \(triggerDirection == 1 ? "<=" : ">=") current[\(mark)]??LastPrice"
                    )
                }
            }
            var order = BybitOrder(
                orderId: UUID().uuidString.lowercased(),
                orderLinkId: orderLinkId,
                symbol: symbol,
                side: side,
                orderType: orderType,
                price: price,
                qty: qty,
                cumExecQty: 0,
                avgPrice: 0,
                cumExecFee: 0,
                orderStatus: triggerPrice == nil ? "New" : "Untriggered",
                timeInForce: timeInForce,
                reduceOnly: reduceOnly,
                closeOnTrigger: closeOnTrigger,
                triggerPrice: triggerPrice,
                triggerDirection: triggerDirection,
                createdTime: now,
                updatedTime: now
            )
            if triggerPrice == nil {
                let crosses = orderType == "Market" || (side == "Buy" ? price >= mark : price <= mark)
                if crosses && timeInForce == "PostOnly" {
                    order.orderStatus = "Cancelled"
                } else if crosses {
                    Self.fill(&state, &order, at: mark, fee: Self.takerFee, now: now)
                } else if timeInForce == "IOC" || timeInForce == "FOK" {
                    order.orderStatus = "Cancelled"
                }
            }
            state.orders.append(order)
            return .ok(["orderId": order.orderId, "orderLinkId": order.orderLinkId])
        }
    }

    private static func fill(_ state: inout State, _ order: inout BybitOrder, at price: Decimal, fee: Decimal, now: Int64) {
        var position =
            state.positions[order.symbol]
            ?? BybitPosition(symbol: order.symbol, side: "", size: 0, avgPrice: 0, cumRealisedPnl: 0, createdTime: now, updatedTime: now)
        let held = position.side == "Sell" ? -position.size : position.size
        var qty = order.qty
        if order.reduceOnly || order.closeOnTrigger { qty = min(qty, abs(held)) }  // closing orders never flip
        let result = BBFakeSupport.applyFill(amount: held, entry: position.avgPrice, signedQty: order.side == "Buy" ? qty : -qty, price: price)
        let paid = qty * price * fee
        position.size = abs(result.amount)
        position.side = result.amount > 0 ? "Buy" : (result.amount < 0 ? "Sell" : "")
        position.avgPrice = result.entry
        position.cumRealisedPnl += result.realized - paid
        position.updatedTime = now
        state.positions[order.symbol] = position
        state.balances["USDT", default: 0] += result.realized - paid
        state.sequence += 1
        order.cumExecQty = qty
        order.avgPrice = price
        order.cumExecFee = paid
        order.orderStatus = "Filled"
        order.updatedTime = now
    }

    /// Fills resting limits the price crossed and triggers conditional orders whose trigger price was reached.
    private static func matchResting(_ state: inout State, symbol: String, now: Int64) {
        guard let mark = state.prices[symbol] else { return }
        for index in state.orders.indices where state.orders[index].symbol == symbol && state.orders[index].isOpen {
            var order = state.orders[index]
            if order.orderStatus == "Untriggered", let trigger = order.triggerPrice {
                guard order.triggerDirection == 1 ? mark >= trigger : mark <= trigger else { continue }
                order.orderStatus = "New"  // triggered: it becomes an active order
                if order.orderType == "Market" || (order.side == "Buy" ? order.price >= mark : order.price <= mark) {
                    Self.fill(&state, &order, at: mark, fee: Self.takerFee, now: now)
                }
            } else if order.orderType == "Limit", order.side == "Buy" ? mark <= order.price : mark >= order.price {
                Self.fill(&state, &order, at: order.price, fee: Self.makerFee, now: now)
            }
            state.orders[index] = order
        }
    }

    private func cancelOrder(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        guard let symbol = call.param("symbol") else { return .fail(10001, "params error: symbol invalid") }
        let orderId = call.param("orderId").flatMap { $0.isEmpty ? nil : $0 }
        let orderLinkId = call.param("orderLinkId").flatMap { $0.isEmpty ? nil : $0 }
        guard orderId != nil || orderLinkId != nil else { return .fail(10001, "params error: orderId or orderLinkId is required") }
        return self.state.withLockedValue { state -> Answer in
            // orderId wins when both are given.
            let index = state.orders.firstIndex { order in
                order.symbol == symbol && (orderId != nil ? order.orderId == orderId : order.orderLinkId == orderLinkId)
            }
            guard let index, state.orders[index].isOpen else { return .fail(110001, "Order does not exist") }
            state.orders[index].orderStatus = "Cancelled"
            state.orders[index].updatedTime = call.now
            return .ok(["orderId": state.orders[index].orderId, "orderLinkId": state.orders[index].orderLinkId])
        }
    }

    /// Matches symbol, else baseCoin, else settleCoin (Bybit's priority).
    private static func scope(_ call: Call) -> ((String) -> Bool)? {
        if let symbol = call.param("symbol"), !symbol.isEmpty { return { $0 == symbol } }
        if let base = call.param("baseCoin"), !base.isEmpty { return { Self.rules[$0]?.baseCoin == base } }
        if let settle = call.param("settleCoin"), !settle.isEmpty { return { _ in settle == "USDT" } }
        return nil
    }

    private func cancelAll(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        guard let matches = Self.scope(call) else { return .fail(10001, "params error: symbol or settleCoin or baseCoin is required") }
        let filter = call.param("orderFilter")
        return self.state.withLockedValue { state -> Answer in
            // Futures cancel at most `cancelAllBatchLimit` (500) per call; callers must repeat until nothing is left.
            let picked = state.orders.indices.filter { index in
                let order = state.orders[index]
                guard order.isOpen, matches(order.symbol) else { return false }
                switch filter {
                case "Order": return order.triggerPrice == nil
                case "StopOrder": return order.triggerPrice != nil
                default: return true
                }
            }.prefix(state.cancelAllBatchLimit)
            var list: [[String: Any]] = []
            for index in picked {
                state.orders[index].orderStatus = "Cancelled"
                state.orders[index].updatedTime = call.now
                list.append(["orderId": state.orders[index].orderId, "orderLinkId": state.orders[index].orderLinkId])
            }
            return .ok(["list": list, "success": "1"])
        }
    }

    private static func orderJSON(_ order: BybitOrder, mark: Decimal) -> [String: Any] {
        let leaves = order.isOpen ? order.qty - order.cumExecQty : 0
        return [
            "orderId": order.orderId, "orderLinkId": order.orderLinkId, "blockTradeId": "", "symbol": order.symbol,
            "price": BBFakeSupport.text(order.price), "qty": BBFakeSupport.text(order.qty), "side": order.side,
            "isLeverage": "", "positionIdx": 0, "orderStatus": order.orderStatus, "createType": "CreateByUser",
            "cancelType": order.orderStatus == "Cancelled" ? "CancelByUser" : "UNKNOWN", "rejectReason": "EC_NoError",
            "avgPrice": order.cumExecQty > 0 ? BBFakeSupport.text(order.avgPrice) : "", "leavesQty": BBFakeSupport.text(leaves),
            "leavesValue": BBFakeSupport.text(leaves * order.price), "cumExecQty": BBFakeSupport.text(order.cumExecQty),
            "cumExecValue": BBFakeSupport.text(order.cumExecQty * order.avgPrice), "cumExecFee": BBFakeSupport.text(order.cumExecFee),
            "timeInForce": order.timeInForce, "orderType": order.orderType,
            "stopOrderType": order.triggerPrice == nil ? "" : "Stop", "orderIv": "",
            "triggerPrice": order.triggerPrice.map(BBFakeSupport.text) ?? "0", "takeProfit": "", "stopLoss": "",
            "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": order.triggerDirection,
            "triggerBy": order.triggerPrice == nil ? "" : "LastPrice", "lastPriceOnCreated": BBFakeSupport.text(mark),
            "basePrice": "", "reduceOnly": order.reduceOnly, "closeOnTrigger": order.closeOnTrigger, "placeType": "",
            "smpType": "None", "smpGroup": 0, "smpOrderId": "", "tpslMode": "", "tpLimitPrice": "", "slLimitPrice": "",
            "createdTime": "\(order.createdTime)", "updatedTime": "\(order.updatedTime)",
            "cumFeeDetail": ["USDT": BBFakeSupport.text(order.cumExecFee)],
        ]
    }

    private func realtime(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        let orderId = call.param("orderId").flatMap { $0.isEmpty ? nil : $0 }
        let orderLinkId = call.param("orderLinkId").flatMap { $0.isEmpty ? nil : $0 }
        let matches = Self.scope(call)
        guard orderId != nil || orderLinkId != nil || matches != nil else {
            return .fail(10001, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
        }
        let limit = min(max(call.param("limit").flatMap(Int.init) ?? 20, 1), 50)
        let offset = call.param("cursor").flatMap(Int.init) ?? 0
        let openOnly = call.param("openOnly") ?? "0"
        let (selected, prices) = self.state.withLockedValue { state -> ([BybitOrder], [String: Decimal]) in
            let found = state.orders.filter { order in
                if let orderId { return order.orderId == orderId }  // id lookups ignore openOnly
                if let orderLinkId { return order.orderLinkId == orderLinkId }
                guard matches!(order.symbol) else { return false }
                return openOnly == "1" ? !order.isOpen : order.isOpen
            }
            return (found.reversed(), state.prices)  // newest first
        }
        let page = selected.dropFirst(offset).prefix(limit)
        let next = offset + page.count < selected.count ? "\(offset + page.count)" : ""
        return .ok([
            "category": "linear", "nextPageCursor": next,
            "list": page.map { Self.orderJSON($0, mark: prices[$0.symbol] ?? 0) },
        ])
    }

    private func positionList(_ call: Call) -> Answer {
        guard call.param("category") == "linear" else { return .fail(10001, "params error: category only support linear") }
        let symbol = call.param("symbol").flatMap { $0.isEmpty ? nil : $0 }
        let settleCoin = call.param("settleCoin").flatMap { $0.isEmpty ? nil : $0 }
        guard symbol != nil || settleCoin != nil else { return .fail(10001, "Missing some parameters that must be filled in, symbol or settleCoin") }
        if let symbol, Self.rules[symbol] == nil { return .fail(10001, "params error: symbol invalid") }
        let list: [[String: Any]] = self.state.withLockedValue { state in
            // With a symbol the row comes even when flat; by settleCoin only open positions are listed.
            let names = symbol.map { [$0] } ?? state.positions.values.filter { $0.size > 0 }.map(\.symbol).sorted()
            return names.map { name in
                let position =
                    state.positions[name]
                    ?? BybitPosition(symbol: name, side: "", size: 0, avgPrice: 0, cumRealisedPnl: 0, createdTime: call.now, updatedTime: call.now)
                let mark = state.prices[name] ?? 0
                let signed = position.side == "Sell" ? -position.size : position.size
                let value = position.size * position.avgPrice
                return [
                    "positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": name, "side": position.side,
                    "size": BBFakeSupport.text(position.size), "avgPrice": BBFakeSupport.text(position.avgPrice),
                    "positionValue": BBFakeSupport.text(value), "tradeMode": 0, "autoAddMargin": 0, "positionStatus": "Normal",
                    "leverage": "10", "markPrice": BBFakeSupport.text(mark), "liqPrice": "", "bustPrice": "",
                    "positionIM": BBFakeSupport.text(value / 10), "positionIMByMp": BBFakeSupport.text(position.size * mark / 10),
                    "positionMM": BBFakeSupport.text(value / 200), "positionMMByMp": BBFakeSupport.text(position.size * mark / 200),
                    "positionBalance": BBFakeSupport.text(value / 10), "takeProfit": "", "stopLoss": "", "trailingStop": "0",
                    "sessionAvgPrice": "", "delta": "", "gamma": "", "vega": "", "theta": "",
                    "unrealisedPnl": BBFakeSupport.text(signed * (mark - position.avgPrice)), "curRealisedPnl": "0",
                    "cumRealisedPnl": BBFakeSupport.text(position.cumRealisedPnl), "adlRankIndicator": position.size > 0 ? 2 : 0,
                    "isReduceOnly": false, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "", "tpslMode": "Full",
                    "breakEvenPrice": BBFakeSupport.text(position.avgPrice), "createdTime": "\(position.createdTime)",
                    "updatedTime": "\(position.updatedTime)", "seq": Int(state.sequence),
                ]
            }
        }
        return .ok(["category": "linear", "list": list, "nextPageCursor": ""])
    }

    private func walletBalance(_ call: Call) -> Answer {
        guard call.param("accountType") == "UNIFIED" else { return .fail(10001, "accountType only support UNIFIED.") }
        let wanted = call.param("coin").map { Set($0.split(separator: ",").map(String.init)) }
        let result: [String: Any] = self.state.withLockedValue { state in
            let unrealized = state.positions.values.reduce(Decimal(0)) { sum, position in
                let signed = position.side == "Sell" ? -position.size : position.size
                return sum + signed * ((state.prices[position.symbol] ?? 0) - position.avgPrice)
            }
            let realized = state.positions.values.reduce(Decimal(0)) { $0 + $1.cumRealisedPnl }
            let coins: [[String: Any]] = state.balances.keys.sorted().filter { wanted == nil || wanted!.contains($0) }.map { coin in
                let wallet = state.balances[coin] ?? 0
                let pnl = coin == "USDT" ? unrealized : 0
                return [
                    "coin": coin, "equity": BBFakeSupport.text(wallet + pnl), "usdValue": BBFakeSupport.text(wallet + pnl),
                    "walletBalance": BBFakeSupport.text(wallet), "locked": "0", "unrealisedPnl": BBFakeSupport.text(pnl),
                    "cumRealisedPnl": BBFakeSupport.text(coin == "USDT" ? realized : 0), "totalPositionIM": "0", "totalOrderIM": "0",
                    "totalPositionMM": "0", "availableToWithdraw": "", "availableToBorrow": "", "bonus": "0", "borrowAmount": "0",
                    "accruedInterest": "0", "spotBorrow": "0", "spotHedgingQty": "0", "collateralSwitch": true, "marginCollateral": true,
                ]
            }
            let total = (state.balances["USDT"] ?? 0)
            return [
                "list": [
                    [
                        "accountType": "UNIFIED", "totalEquity": BBFakeSupport.text(total + unrealized),
                        "totalWalletBalance": BBFakeSupport.text(total), "totalMarginBalance": BBFakeSupport.text(total + unrealized),
                        "totalAvailableBalance": BBFakeSupport.text(total + unrealized), "totalPerpUPL": BBFakeSupport.text(unrealized),
                        "totalInitialMargin": "0", "totalInitialMarginByMp": "0", "totalMaintenanceMargin": "0", "totalMaintenanceMarginByMp": "0",
                        "accountIMRate": "0", "accountIMRateByMp": "0", "accountMMRate": "0", "accountMMRateByMp": "0", "accountLTV": "0",
                        "coin": coins,
                    ] as [String: Any]
                ]
            ]
        }
        return .ok(result)
    }
}
