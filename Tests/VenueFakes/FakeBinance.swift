// A local fake of Binance (spot key introspection + USDⓈ-M futures) that checks signed requests as Binance documents them.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// An API key the fake knows, with the permission flags `/sapi/v1/account/apiRestrictions` reports.
/// The defaults describe a good key for a futures bot: it can read and trade futures, nothing else, and is IP-restricted.
public struct BinanceKey: Sendable {
    public var apiKey: String
    public var secret: String
    public var enableReading: Bool
    public var enableSpotAndMarginTrading: Bool
    public var enableFutures: Bool
    public var enableMargin: Bool
    public var enableWithdrawals: Bool
    public var enableInternalTransfer: Bool
    public var permitsUniversalTransfer: Bool
    public var enableVanillaOptions: Bool
    public var enablePortfolioMarginTrading: Bool
    public var enableFixApiTrade: Bool
    public var enableFixReadOnly: Bool
    public var ipRestrict: Bool
    /// Only reported when set (Binance sends it only for keys whose spot/margin trading authority expires).
    public var tradingAuthorityExpirationTime: Int64?
    public var createTime: Int64

    public init(
        apiKey: String,
        secret: String,
        enableReading: Bool = true,
        enableSpotAndMarginTrading: Bool = false,
        enableFutures: Bool = true,
        enableMargin: Bool = false,
        enableWithdrawals: Bool = false,
        enableInternalTransfer: Bool = false,
        permitsUniversalTransfer: Bool = false,
        enableVanillaOptions: Bool = false,
        enablePortfolioMarginTrading: Bool = false,
        enableFixApiTrade: Bool = false,
        enableFixReadOnly: Bool = false,
        ipRestrict: Bool = true,
        tradingAuthorityExpirationTime: Int64? = nil,
        createTime: Int64 = 1_698_645_219_000
    ) {
        self.apiKey = apiKey
        self.secret = secret
        self.enableReading = enableReading
        self.enableSpotAndMarginTrading = enableSpotAndMarginTrading
        self.enableFutures = enableFutures
        self.enableMargin = enableMargin
        self.enableWithdrawals = enableWithdrawals
        self.enableInternalTransfer = enableInternalTransfer
        self.permitsUniversalTransfer = permitsUniversalTransfer
        self.enableVanillaOptions = enableVanillaOptions
        self.enablePortfolioMarginTrading = enablePortfolioMarginTrading
        self.enableFixApiTrade = enableFixApiTrade
        self.enableFixReadOnly = enableFixReadOnly
        self.ipRestrict = ipRestrict
        self.tradingAuthorityExpirationTime = tradingAuthorityExpirationTime
        self.createTime = createTime
    }
}

/// A regular futures order as the fake stores it.
public struct BinanceOrder: Sendable, Equatable {
    public var orderId: Int
    public var clientOrderId: String
    public var symbol: String
    public var side: String  // BUY | SELL
    public var type: String  // LIMIT | MARKET
    public var timeInForce: String
    public var price: Decimal
    public var origQty: Decimal
    public var executedQty: Decimal
    public var avgPrice: Decimal
    public var status: String  // NEW | FILLED | CANCELED | EXPIRED
    public var reduceOnly: Bool
    public var positionSide: String
    public var time: Int64
    public var updateTime: Int64

    public var isOpen: Bool { self.status == "NEW" || self.status == "PARTIALLY_FILLED" }
}

/// A conditional order placed through the algo-order API (`POST /fapi/v1/algoOrder`).
public struct BinanceAlgoOrder: Sendable, Equatable {
    public var algoId: Int
    public var clientAlgoId: String
    public var symbol: String
    public var side: String
    public var orderType: String  // STOP_MARKET | TAKE_PROFIT_MARKET | STOP | TAKE_PROFIT | TRAILING_STOP_MARKET
    public var quantity: Decimal?
    public var price: Decimal?
    public var triggerPrice: Decimal?
    public var timeInForce: String
    public var workingType: String
    public var closePosition: Bool
    public var reduceOnly: Bool
    public var priceProtect: Bool
    public var positionSide: String
    public var algoStatus: String  // NEW | CANCELED | FINISHED | ...
    public var actualOrderId: String
    public var createTime: Int64
    public var updateTime: Int64
    public var triggerTime: Int64
}

/// A one-way-mode position: `positionAmt` is signed (negative = short).
public struct BinancePosition: Sendable, Equatable {
    public var symbol: String
    public var positionAmt: Decimal
    public var entryPrice: Decimal
    public var updateTime: Int64
}

/// Trading rules of one futures symbol (the exchangeInfo filters).
struct BinanceSymbolRules: Sendable {
    var baseAsset: String
    var tickSize: Decimal
    var stepSize: Decimal
    var minQty: Decimal
    var maxQty: Decimal
    var marketMaxQty: Decimal
    var minNotional: Decimal
    var pricePrecision: Int
    var quantityPrecision: Int
}

/// A fake Binance serving `/api`, `/sapi` and `/fapi` on one port.
public final class FakeBinance: Sendable {
    public let log: FakeVenueLog

    private struct State {
        var keys: [String: BinanceKey] = [:]
        var prices: [String: Decimal] = ["BTCUSDT": 60_000, "ETHUSDT": 3_000, "SOLUSDT": 150]
        var orders: [BinanceOrder] = []
        var algoOrders: [BinanceAlgoOrder] = []
        var positions: [String: BinancePosition] = [:]
        var balances: [String: Decimal] = ["USDT": 10_000]
        var nextOrderId = 4_000_000_001
        var nextAlgoId = 2_000_001
        var maxWeightPerMinute = 2400
        var weightMinute: Int64 = 0
        var usedWeight = 0
        var limitedInMinute: Int64?  // the minute in which a 429 was answered
        var bannedUntil: Int64?  // after a 429 the client kept going: 418 until then
        var orderTimes: [Int64] = []
    }

    private let state = NIOLockedValueBox(State())

    static let rules: [String: BinanceSymbolRules] = [
        "BTCUSDT": .init(
            baseAsset: "BTC",
            tickSize: Decimal(string: "0.10")!,
            stepSize: Decimal(string: "0.001")!,
            minQty: Decimal(string: "0.001")!,
            maxQty: 1000,
            marketMaxQty: 120,
            minNotional: 100,
            pricePrecision: 2,
            quantityPrecision: 3
        ),
        "ETHUSDT": .init(
            baseAsset: "ETH",
            tickSize: Decimal(string: "0.01")!,
            stepSize: Decimal(string: "0.001")!,
            minQty: Decimal(string: "0.001")!,
            maxQty: 10_000,
            marketMaxQty: 2000,
            minNotional: 20,
            pricePrecision: 2,
            quantityPrecision: 3
        ),
        "SOLUSDT": .init(
            baseAsset: "SOL",
            tickSize: Decimal(string: "0.01")!,
            stepSize: 1,
            minQty: 1,
            maxQty: 1_000_000,
            marketMaxQty: 5000,
            minNotional: 5,
            pricePrecision: 4,
            quantityPrecision: 0
        ),
    ]
    static let takerFee = Decimal(string: "0.0005")!
    static let makerFee = Decimal(string: "0.0002")!
    static let conditionalTypes: Set<String> = ["STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]

    public init() { self.log = FakeVenueLog() }

    public func addKey(_ key: BinanceKey) { self.state.withLockedValue { $0.keys[key.apiKey] = key } }

    /// Sets the mark/last price; market orders fill at it, and resting limits or algo orders it crosses execute.
    public func setPrice(symbol: String, price: Decimal) {
        let now = self.log.nowMilliseconds
        self.state.withLockedValue { state in
            state.prices[symbol] = price
            Self.matchResting(&state, symbol: symbol, now: now)
        }
    }

    public func setBalance(asset: String, amount: Decimal) { self.state.withLockedValue { $0.balances[asset] = amount } }

    /// All regular orders ever placed, oldest first.
    public var orders: [BinanceOrder] { self.state.withLockedValue { $0.orders } }
    public var openOrders: [BinanceOrder] { self.state.withLockedValue { $0.orders.filter(\.isOpen) } }
    public var algoOrders: [BinanceAlgoOrder] { self.state.withLockedValue { $0.algoOrders } }
    public var algoOpenOrders: [BinanceAlgoOrder] { self.state.withLockedValue { $0.algoOrders.filter { $0.algoStatus == "NEW" } } }
    /// Non-flat positions.
    public var positions: [BinancePosition] {
        self.state.withLockedValue { $0.positions.values.filter { $0.positionAmt != 0 }.sorted { $0.symbol < $1.symbol } }
    }
    /// Wallet balance per asset (USDT starts at 10 000).
    public var balances: [String: Decimal] { self.state.withLockedValue { $0.balances } }

    /// The IP request-weight limit per minute (Binance futures: 2400). Above it the fake answers 429, then 418.
    public var maxWeightPerMinute: Int {
        get { self.state.withLockedValue { $0.maxWeightPerMinute } }
        set { self.state.withLockedValue { $0.maxWeightPerMinute = newValue } }
    }

    /// Forgets used weight, 429 state and bans.
    public func resetRateLimits() {
        self.state.withLockedValue {
            $0.usedWeight = 0
            $0.limitedInMinute = nil
            $0.bannedUntil = nil
        }
    }

    /// The documented 429 answer, for `log.inject(path:_:)`.
    public static func tooManyRequests(retryAfter seconds: Int = 30, usedWeight: Int = 2401) -> InjectedAnswer {
        InjectedAnswer(
            status: .tooManyRequests,
            headers: ["Retry-After": "\(seconds)", "X-MBX-USED-WEIGHT-1M": "\(usedWeight)"],
            body:
                #"{"code":-1003,"msg":"Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API."}"#
        )
    }

    // MARK: - Routes

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))

        router.get("/api/v3/time") { request, _ in try await self.serve(request, .none) { call in .json(["serverTime": Int(call.now)]) } }
        router.get("/fapi/v1/time") { request, _ in try await self.serve(request, .none) { call in .json(["serverTime": Int(call.now)]) } }
        router.get("/sapi/v1/account/apiRestrictions") { request, _ in
            try await self.serve(request, .keyOnly) { call in .json(Self.restrictionsJSON(call.key!)) }
        }
        router.get("/fapi/v1/exchangeInfo") { request, _ in try await self.serve(request, .none) { call in .json(self.exchangeInfo(now: call.now)) } }
        router.get("/fapi/v1/ticker/bookTicker") { request, _ in
            try await self.serve(request, .none, weight: { $0["symbol"] == nil ? 5 : 2 }) { call in self.bookTicker(call) }
        }
        router.get("/fapi/v1/ticker/price") { request, _ in
            try await self.serve(request, .none, weight: { $0["symbol"] == nil ? 2 : 1 }) { call in self.tickerPrice(call) }
        }
        router.get("/fapi/v2/ticker/price") { request, _ in
            try await self.serve(request, .none, weight: { $0["symbol"] == nil ? 2 : 1 }) { call in self.tickerPrice(call) }
        }
        router.post("/fapi/v1/order") { request, _ in
            try await self.serve(request, .futures, weight: { _ in 0 }, countsOrder: true) { call in self.newOrder(call) }
        }
        router.delete("/fapi/v1/order") { request, _ in try await self.serve(request, .futures) { call in self.cancelOrder(call) } }
        router.get("/fapi/v1/order") { request, _ in try await self.serve(request, .futures) { call in self.queryOrder(call) } }
        router.delete("/fapi/v1/allOpenOrders") { request, _ in try await self.serve(request, .futures) { call in self.cancelAll(call) } }
        router.get("/fapi/v1/openOrders") { request, _ in
            try await self.serve(request, .futures, weight: { $0["symbol"] == nil ? 40 : 1 }) { call in self.listOpenOrders(call) }
        }
        router.post("/fapi/v1/algoOrder") { request, _ in
            try await self.serve(request, .futures, weight: { _ in 0 }, countsOrder: true) { call in self.newAlgoOrder(call) }
        }
        router.delete("/fapi/v1/algoOrder") { request, _ in try await self.serve(request, .futures) { call in self.cancelAlgoOrder(call) } }
        router.delete("/fapi/v1/algoOpenOrders") { request, _ in try await self.serve(request, .futures) { call in self.cancelAllAlgo(call) } }
        router.get("/fapi/v1/openAlgoOrders") { request, _ in
            try await self.serve(request, .futures, weight: { $0["symbol"] == nil ? 40 : 1 }) { call in self.listOpenAlgoOrders(call) }
        }
        router.get("/fapi/v3/positionRisk") { request, _ in
            try await self.serve(request, .futures, weight: { _ in 5 }) { call in self.positionRisk(call) }
        }
        router.get("/fapi/v3/balance") { request, _ in try await self.serve(request, .futures, weight: { _ in 5 }) { call in self.balance(call) } }
        return router
    }

    // MARK: - Request pipeline

    private enum Security { case none, keyOnly, futures }

    private struct Call {
        let params: [String: String]
        let key: BinanceKey?
        let now: Int64
    }

    private enum Answer {
        case json(Any)
        case error(HTTPResponse.Status, Int, String)
    }

    private enum WeightVerdict {
        case ok(Int)
        case limited(retryAfter: Int, used: Int)
        case banned(retryAfter: Int, until: Int64, used: Int)
    }

    /// Charges weight, authenticates, runs the handler and adds the rate-limit headers every answer carries.
    private func serve(
        _ request: Request,
        _ security: Security,
        weight: ([String: String]) -> Int = { _ in 1 },
        countsOrder: Bool = false,
        _ handle: (Call) -> Answer
    ) async throws -> Response {
        var request = request
        let rawBody = String(buffer: try await request.collectBody(upTo: 1 << 20))
        let rawQuery = request.uri.query ?? ""
        let path = request.uri.path
        // Binance: a parameter sent in both query string and body takes the query string's value.
        var params: [String: String] = [:]
        for (name, value) in BBFakeSupport.formDecode(rawBody) { params[name] = value }
        for (name, value) in BBFakeSupport.formDecode(rawQuery) { params[name] = value }
        let now = self.log.nowMilliseconds

        var headers: [String: String] = [:]
        switch self.chargeWeight(weight(params), now: now) {
        case .banned(let retryAfter, let until, let used):
            return fakeJSON(
                .init(code: 418),
                [
                    "code": -1003,
                    "msg": "Way too many requests; IP(127.0.0.1) banned until \(until). Please use the websocket for live updates to avoid bans.",
                ],
                headers: self.weightHeaders(path: path, used: used).merging(["Retry-After": "\(retryAfter)"]) { $1 }
            )
        case .limited(let retryAfter, let used):
            return fakeJSON(
                .tooManyRequests,
                [
                    "code": -1003,
                    "msg":
                        "Too many requests; current limit of IP(127.0.0.1) is \(self.maxWeightPerMinute) requests per minute. Please use the websocket for live updates to avoid polling the API.",
                ],
                headers: self.weightHeaders(path: path, used: used).merging(["Retry-After": "\(retryAfter)"]) { $1 }
            )
        case .ok(let used):
            headers = self.weightHeaders(path: path, used: used)
        }

        var key: BinanceKey?
        if security != .none {
            switch self.authenticate(request: request, rawQuery: rawQuery, rawBody: rawBody, params: params, now: now, security: security, path: path)
            {
            case .success(let found): key = found
            case .failure(let rejection): return fakeJSON(rejection.status, ["code": rejection.code, "msg": rejection.msg], headers: headers)
            }
        }
        if countsOrder {
            let (tenSeconds, minute) = self.state.withLockedValue { state -> (Int, Int) in
                state.orderTimes.append(now)
                state.orderTimes.removeAll { $0 < now - 60_000 }
                return (state.orderTimes.filter { $0 >= now - 10_000 }.count, state.orderTimes.count)
            }
            headers["X-MBX-ORDER-COUNT-10S"] = "\(tenSeconds)"
            headers["X-MBX-ORDER-COUNT-1M"] = "\(minute)"
        }
        switch handle(Call(params: params, key: key, now: now)) {
        case .json(let object): return fakeJSON(.ok, object, headers: headers)
        case .error(let status, let code, let msg): return fakeJSON(status, ["code": code, "msg": msg], headers: headers)
        }
    }

    private func weightHeaders(path: String, used: Int) -> [String: String] {
        var headers = ["X-MBX-USED-WEIGHT-1M": "\(used)"]
        if path.hasPrefix("/sapi/") { headers["X-SAPI-USED-IP-WEIGHT-1M"] = "\(used)" }
        return headers
    }

    /// Binance's IP weight: a 429 (with Retry-After) once the minute's weight is exceeded, a 418 ban if requests keep coming.
    private func chargeWeight(_ weight: Int, now: Int64) -> WeightVerdict {
        self.state.withLockedValue { state in
            let minute = now / 60_000
            if minute != state.weightMinute {
                state.weightMinute = minute
                state.usedWeight = 0
            }
            let secondsToNextMinute = Int((minute + 1) * 60_000 - now + 999) / 1000
            if let until = state.bannedUntil, until > now {
                return .banned(retryAfter: Int((until - now + 999) / 1000), until: until, used: state.usedWeight)
            }
            if state.limitedInMinute == minute {
                // Ignoring a 429 gets the IP banned (Binance: from 2 minutes up to 3 days).
                let until = now + 120_000
                state.bannedUntil = until
                return .banned(retryAfter: 120, until: until, used: state.usedWeight)
            }
            state.usedWeight += weight
            if state.usedWeight > state.maxWeightPerMinute {
                state.limitedInMinute = minute
                return .limited(retryAfter: max(secondsToNextMinute, 1), used: state.usedWeight)
            }
            return .ok(state.usedWeight)
        }
    }

    private struct Rejection: Error {
        let status: HTTPResponse.Status
        let code: Int
        let msg: String
    }

    /// SIGNED request checks: key header, mandatory timestamp/signature, recvWindow, HMAC over query+body, timing, permissions.
    private func authenticate(
        request: Request,
        rawQuery: String,
        rawBody: String,
        params: [String: String],
        now: Int64,
        security: Security,
        path: String
    ) -> Result<BinanceKey, Rejection> {
        let isFutures = path.hasPrefix("/fapi/")
        guard let apiKey = request.headers[HTTPField.Name("X-MBX-APIKEY")!], !apiKey.isEmpty,
            apiKey.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0)) })
        else { return .failure(.init(status: .unauthorized, code: -2014, msg: "API-key format invalid.")) }
        let invalidKey = Rejection(
            status: .unauthorized,
            code: -2015,
            msg: isFutures
                ? "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"
                : "Invalid API-key, IP, or permissions for action."
        )
        guard let key = self.state.withLockedValue({ $0.keys[apiKey] }) else { return .failure(invalidKey) }
        guard let timestampText = params["timestamp"], let timestamp = Int64(timestampText) else {
            return .failure(
                .init(status: .badRequest, code: -1102, msg: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
            )
        }
        guard let signature = params["signature"], !signature.isEmpty else {
            return .failure(
                .init(status: .badRequest, code: -1102, msg: "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
            )
        }
        var recvWindow: Decimal = 5000
        if let text = params["recvWindow"] {
            guard let value = Decimal(string: text), value > 0 else {
                return .failure(
                    .init(status: .badRequest, code: -1102, msg: "Mandatory parameter 'recvWindow' was not sent, was empty/null, or malformed.")
                )
            }
            guard value <= 60_000 else { return .failure(.init(status: .badRequest, code: -1131, msg: "recvWindow must be less than 60000")) }
            recvWindow = value
        }
        // The signed payload is the query string concatenated (no separator) with the body, without the signature itself.
        let payload = BBFakeSupport.droppingSignature(rawQuery) + BBFakeSupport.droppingSignature(rawBody)
        guard BBFakeSupport.hmacHex(secret: key.secret, message: payload) == signature.lowercased() else {
            return .failure(.init(status: .badRequest, code: -1022, msg: "Signature for this request is not valid."))
        }
        guard timestamp < now + 1000 else {
            return .failure(.init(status: .badRequest, code: -1021, msg: "Timestamp for this request was 1000ms ahead of the server's time."))
        }
        guard Decimal(now - timestamp) <= recvWindow else {
            return .failure(.init(status: .badRequest, code: -1021, msg: "Timestamp for this request is outside of the recvWindow."))
        }
        if security == .futures && !key.enableFutures { return .failure(invalidKey) }
        return .success(key)
    }

    // MARK: - Market data

    static func restrictionsJSON(_ key: BinanceKey) -> [String: Any] {
        var json: [String: Any] = [
            "ipRestrict": key.ipRestrict, "createTime": Int(key.createTime), "enableReading": key.enableReading,
            "enableWithdrawals": key.enableWithdrawals, "enableInternalTransfer": key.enableInternalTransfer,
            "enableMargin": key.enableMargin, "enableFutures": key.enableFutures,
            "permitsUniversalTransfer": key.permitsUniversalTransfer, "enableVanillaOptions": key.enableVanillaOptions,
            "enableFixApiTrade": key.enableFixApiTrade, "enableFixReadOnly": key.enableFixReadOnly,
            "enableSpotAndMarginTrading": key.enableSpotAndMarginTrading,
            "enablePortfolioMarginTrading": key.enablePortfolioMarginTrading,
        ]
        if let expiry = key.tradingAuthorityExpirationTime { json["tradingAuthorityExpirationTime"] = Int(expiry) }
        return json
    }

    private func exchangeInfo(now: Int64) -> [String: Any] {
        let symbols: [[String: Any]] = Self.rules.keys.sorted().map { symbol in
            let rules = Self.rules[symbol]!
            return [
                "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "deliveryDate": 4_133_404_800_000,
                "onboardDate": 1_569_398_400_000, "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": rules.baseAsset, "quoteAsset": "USDT", "marginAsset": "USDT",
                "pricePrecision": rules.pricePrecision, "quantityPrecision": rules.quantityPrecision,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [String](),
                "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
                "filters": [
                    [
                        "filterType": "PRICE_FILTER", "minPrice": BBFakeSupport.text(rules.tickSize), "maxPrice": "4529764",
                        "tickSize": BBFakeSupport.text(rules.tickSize),
                    ],
                    [
                        "filterType": "LOT_SIZE", "minQty": BBFakeSupport.text(rules.minQty), "maxQty": BBFakeSupport.text(rules.maxQty),
                        "stepSize": BBFakeSupport.text(rules.stepSize),
                    ],
                    [
                        "filterType": "MARKET_LOT_SIZE", "minQty": BBFakeSupport.text(rules.minQty), "maxQty": BBFakeSupport.text(rules.marketMaxQty),
                        "stepSize": BBFakeSupport.text(rules.stepSize),
                    ],
                    ["filterType": "MAX_NUM_ORDERS", "limit": 200],
                    ["filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10],
                    ["filterType": "MIN_NOTIONAL", "notional": BBFakeSupport.text(rules.minNotional)],
                    ["filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"],
                ] as [[String: Any]],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            ]
        }
        return [
            "timezone": "UTC", "serverTime": Int(now), "futuresType": "U_MARGINED", "exchangeFilters": [String](),
            "rateLimits": [
                ["rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.maxWeightPerMinute],
                ["rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200],
                ["rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300],
            ],
            "assets": [["asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"]],
            "symbols": symbols,
        ]
    }

    private func pricedSymbols(_ call: Call) -> Result<[(String, Decimal)], Rejection> {
        let prices = self.state.withLockedValue { $0.prices }
        if let symbol = call.params["symbol"] {
            guard let price = prices[symbol], Self.rules[symbol] != nil else {
                return .failure(.init(status: .badRequest, code: -1121, msg: "Invalid symbol."))
            }
            return .success([(symbol, price)])
        }
        return .success(prices.filter { Self.rules[$0.key] != nil }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    private func bookTicker(_ call: Call) -> Answer {
        switch self.pricedSymbols(call) {
        case .failure(let rejection): return .error(rejection.status, rejection.code, rejection.msg)
        case .success(let list):
            let tickers: [[String: Any]] = list.map { symbol, price in
                let tick = Self.rules[symbol]!.tickSize
                return [
                    "symbol": symbol, "bidPrice": BBFakeSupport.text(price - tick), "bidQty": "10.000",
                    "askPrice": BBFakeSupport.text(price + tick), "askQty": "10.000", "time": Int(call.now), "lastUpdateId": Int(call.now),
                ]
            }
            return .json(call.params["symbol"] == nil ? tickers as Any : tickers[0] as Any)
        }
    }

    private func tickerPrice(_ call: Call) -> Answer {
        switch self.pricedSymbols(call) {
        case .failure(let rejection): return .error(rejection.status, rejection.code, rejection.msg)
        case .success(let list):
            let tickers: [[String: Any]] = list.map { ["symbol": $0.0, "price": BBFakeSupport.text($0.1), "time": Int(call.now)] }
            return .json(call.params["symbol"] == nil ? tickers as Any : tickers[0] as Any)
        }
    }

    // MARK: - Orders

    private static func missing(_ name: String) -> Answer {
        .error(.badRequest, -1102, "Mandatory parameter '\(name)' was not sent, was empty/null, or malformed.")
    }

    private static func orderJSON(_ order: BinanceOrder, ack: Bool = false, withTime: Bool = false) -> [String: Any] {
        // An ACK answer reports the order as accepted, before any fill.
        let executed = ack ? 0 : order.executedQty
        var json: [String: Any] = [
            "orderId": order.orderId, "symbol": order.symbol, "status": ack ? "NEW" : order.status,
            "clientOrderId": order.clientOrderId, "price": BBFakeSupport.text(order.price),
            "avgPrice": BBFakeSupport.text(ack ? 0 : order.avgPrice), "origQty": BBFakeSupport.text(order.origQty),
            "executedQty": BBFakeSupport.text(executed), "cumQty": BBFakeSupport.text(executed),
            "cumQuote": BBFakeSupport.text(ack ? 0 : order.executedQty * order.avgPrice), "timeInForce": order.timeInForce,
            "type": order.type, "origType": order.type, "reduceOnly": order.reduceOnly, "closePosition": false,
            "side": order.side, "positionSide": order.positionSide, "stopPrice": "0", "workingType": "CONTRACT_PRICE",
            "priceProtect": false, "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "updateTime": Int(order.updateTime),
        ]
        if withTime {
            json["time"] = Int(order.time)
            json.removeValue(forKey: "cumQty")
        }
        return json
    }

    private static func algoJSON(_ algo: BinanceAlgoOrder) -> [String: Any] {
        [
            "algoId": algo.algoId, "clientAlgoId": algo.clientAlgoId, "algoType": "CONDITIONAL", "orderType": algo.orderType,
            "symbol": algo.symbol, "side": algo.side, "positionSide": algo.positionSide, "timeInForce": algo.timeInForce,
            "quantity": algo.quantity.map(BBFakeSupport.text) ?? "0", "algoStatus": algo.algoStatus,
            "actualOrderId": algo.actualOrderId, "actualPrice": "0.00000",
            "triggerPrice": algo.triggerPrice.map(BBFakeSupport.text) ?? "0", "price": algo.price.map(BBFakeSupport.text) ?? "0",
            "icebergQuantity": NSNull(), "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000",
            "slPrice": "0.000", "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": algo.workingType,
            "priceMatch": "NONE", "closePosition": algo.closePosition, "priceProtect": algo.priceProtect,
            "reduceOnly": algo.reduceOnly, "createTime": Int(algo.createTime), "updateTime": Int(algo.updateTime),
            "triggerTime": Int(algo.triggerTime), "goodTillDate": 0,
        ]
    }

    /// Binance's rule for client order ids: `^[\.A-Z\:/a-z0-9_-]{1,36}$`.
    private static func validClientId(_ id: String) -> Bool {
        BBFakeSupport.isIdentifier(id, maxLength: 36, extra: ".:/_-")
    }

    private static func isTrue(_ text: String?) -> Bool { text?.lowercased() == "true" }

    private func newOrder(_ call: Call) -> Answer {
        let p = call.params
        guard let symbol = p["symbol"] else { return Self.missing("symbol") }
        guard let rules = Self.rules[symbol] else { return .error(.badRequest, -1121, "Invalid symbol.") }
        guard let side = p["side"] else { return Self.missing("side") }
        guard side == "BUY" || side == "SELL" else { return .error(.badRequest, -1117, "Invalid side.") }
        guard let type = p["type"] else { return Self.missing("type") }
        if Self.conditionalTypes.contains(type) {
            // Since 2025-12 conditional orders must go through the algo-order API.
            return .error(.badRequest, -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")
        }
        guard type == "LIMIT" || type == "MARKET" else { return .error(.badRequest, -1116, "Invalid orderType.") }
        guard let quantityText = p["quantity"] else { return Self.missing("quantity") }
        guard let quantity = Decimal(string: quantityText) else { return Self.missing("quantity") }
        var price: Decimal = 0
        var timeInForce = "GTC"
        if type == "LIMIT" {
            guard let tif = p["timeInForce"] else { return Self.missing("timeInForce") }
            guard ["GTC", "IOC", "FOK", "GTX", "GTD"].contains(tif) else { return .error(.badRequest, -1115, "Invalid timeInForce.") }
            timeInForce = tif
            guard let priceText = p["price"] else { return Self.missing("price") }
            guard let parsed = Decimal(string: priceText), parsed > 0 else { return .error(.badRequest, -4013, "Price less than min price.") }
            guard BBFakeSupport.isMultiple(parsed, of: rules.tickSize) else { return .error(.badRequest, -4014, "Price not increased by tick size.") }
            price = parsed
        }
        let clientOrderId = p["newClientOrderId"] ?? "fake_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(22)
        guard Self.validClientId(clientOrderId) else { return .error(.badRequest, -4015, "Client order id is not valid.") }
        guard quantity > 0 else { return .error(.badRequest, -4003, "Quantity less than or equal to zero.") }
        guard BBFakeSupport.isMultiple(quantity, of: rules.stepSize) else {
            return .error(.badRequest, -1111, "Precision is over the maximum defined for this asset.")
        }
        guard quantity >= rules.minQty else { return .error(.badRequest, -4004, "Quantity less than min quantity.") }
        guard quantity <= (type == "MARKET" ? rules.marketMaxQty : rules.maxQty) else {
            return .error(.badRequest, -4005, "Quantity greater than max quantity.")
        }
        let reduceOnly = Self.isTrue(p["reduceOnly"])
        let respondWithResult = p["newOrderRespType"] == "RESULT"
        let now = call.now

        return self.state.withLockedValue { state -> Answer in
            if state.orders.contains(where: { $0.isOpen && $0.clientOrderId == clientOrderId })
                || state.algoOrders.contains(where: { $0.algoStatus == "NEW" && $0.clientAlgoId == clientOrderId })
            {
                return .error(.badRequest, -4116, "ClientOrderId is duplicated.")
            }
            let mark = state.prices[symbol] ?? 0
            if !reduceOnly && quantity * (type == "MARKET" ? mark : price) < rules.minNotional {
                return .error(
                    .badRequest,
                    -4164,
                    "Order's notional must be no smaller than \(BBFakeSupport.text(rules.minNotional)) (unless you choose reduce only)."
                )
            }
            if reduceOnly {
                let held = state.positions[symbol]?.positionAmt ?? 0
                if held == 0 || (held > 0) == (side == "BUY") { return .error(.badRequest, -2022, "ReduceOnly Order is rejected.") }
            }
            var order = BinanceOrder(
                orderId: state.nextOrderId,
                clientOrderId: clientOrderId,
                symbol: symbol,
                side: side,
                type: type,
                timeInForce: timeInForce,
                price: price,
                origQty: quantity,
                executedQty: 0,
                avgPrice: 0,
                status: "NEW",
                reduceOnly: reduceOnly,
                positionSide: p["positionSide"] ?? "BOTH",
                time: now,
                updateTime: now
            )
            state.nextOrderId += 1
            let crosses = type == "MARKET" || (side == "BUY" ? price >= mark : price <= mark)
            if crosses && timeInForce == "GTX" {
                order.status = "EXPIRED"  // post-only would take liquidity
            } else if crosses {
                Self.fill(&state, &order, at: mark, fee: Self.takerFee, now: now)
            } else if timeInForce == "IOC" || timeInForce == "FOK" {
                order.status = "EXPIRED"
            }
            state.orders.append(order)
            return .json(Self.orderJSON(order, ack: !respondWithResult))
        }
    }

    /// Executes the whole order at `price`: position, realized PnL and fee go to the USDT balance.
    private static func fill(_ state: inout State, _ order: inout BinanceOrder, at price: Decimal, fee: Decimal, now: Int64) {
        var quantity = order.origQty
        var position = state.positions[order.symbol] ?? BinancePosition(symbol: order.symbol, positionAmt: 0, entryPrice: 0, updateTime: now)
        if order.reduceOnly { quantity = min(quantity, abs(position.positionAmt)) }  // reduce-only never flips
        let signed = order.side == "BUY" ? quantity : -quantity
        let result = BBFakeSupport.applyFill(amount: position.positionAmt, entry: position.entryPrice, signedQty: signed, price: price)
        position.positionAmt = result.amount
        position.entryPrice = result.entry
        position.updateTime = now
        state.positions[order.symbol] = position
        state.balances["USDT", default: 0] += result.realized - quantity * price * fee
        order.executedQty = quantity
        order.avgPrice = price
        order.status = "FILLED"
        order.updateTime = now
    }

    /// Fills resting limit orders the price crossed and triggers algo orders whose trigger price was reached.
    private static func matchResting(_ state: inout State, symbol: String, now: Int64) {
        guard let mark = state.prices[symbol] else { return }
        for index in state.orders.indices
        where state.orders[index].symbol == symbol && state.orders[index].isOpen && state.orders[index].type == "LIMIT" {
            var order = state.orders[index]
            if order.side == "BUY" ? mark <= order.price : mark >= order.price {
                Self.fill(&state, &order, at: order.price, fee: Self.makerFee, now: now)
                state.orders[index] = order
            }
        }
        for index in state.algoOrders.indices where state.algoOrders[index].symbol == symbol && state.algoOrders[index].algoStatus == "NEW" {
            var algo = state.algoOrders[index]
            guard let trigger = algo.triggerPrice else { continue }
            // STOP buys above / sells below the trigger; TAKE_PROFIT the other way round.
            let isStop = algo.orderType.hasPrefix("STOP")
            let reached = (algo.side == "BUY") == isStop ? mark >= trigger : mark <= trigger
            guard reached else { continue }
            let held = state.positions[symbol]?.positionAmt ?? 0
            let quantity = algo.closePosition ? abs(held) : (algo.quantity ?? 0)
            algo.triggerTime = now
            algo.updateTime = now
            if quantity > 0 {
                var order = BinanceOrder(
                    orderId: state.nextOrderId,
                    clientOrderId: "autoclose-\(algo.algoId)",
                    symbol: symbol,
                    side: algo.side,
                    type: "MARKET",
                    timeInForce: "GTC",
                    price: 0,
                    origQty: quantity,
                    executedQty: 0,
                    avgPrice: 0,
                    status: "NEW",
                    reduceOnly: algo.reduceOnly || algo.closePosition,
                    positionSide: algo.positionSide,
                    time: now,
                    updateTime: now
                )
                state.nextOrderId += 1
                Self.fill(&state, &order, at: mark, fee: Self.takerFee, now: now)
                state.orders.append(order)
                algo.actualOrderId = "\(order.orderId)"
            }
            algo.algoStatus = "FINISHED"
            state.algoOrders[index] = algo
        }
    }

    private func findOrderIndex(_ state: State, _ p: [String: String]) -> Int? {
        if let idText = p["orderId"] {
            return state.orders.firstIndex { "\($0.orderId)" == idText && $0.symbol == p["symbol"] }
        }
        if let clientId = p["origClientOrderId"] {
            // A client id may be reused once its order closed: the newest order with it is meant.
            return state.orders.lastIndex { $0.clientOrderId == clientId && $0.symbol == p["symbol"] }
        }
        return nil
    }

    private func cancelOrder(_ call: Call) -> Answer {
        let p = call.params
        guard p["symbol"] != nil else { return Self.missing("symbol") }
        guard p["orderId"] != nil || p["origClientOrderId"] != nil else {
            return .error(.badRequest, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        }
        return self.state.withLockedValue { state -> Answer in
            guard let index = self.findOrderIndex(state, p), state.orders[index].isOpen else {
                return .error(.badRequest, -2011, "Unknown order sent.")
            }
            state.orders[index].status = "CANCELED"
            state.orders[index].updateTime = call.now
            return .json(Self.orderJSON(state.orders[index]))
        }
    }

    private func queryOrder(_ call: Call) -> Answer {
        let p = call.params
        guard p["symbol"] != nil else { return Self.missing("symbol") }
        guard p["orderId"] != nil || p["origClientOrderId"] != nil else {
            return .error(.badRequest, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        }
        return self.state.withLockedValue { state -> Answer in
            guard let index = self.findOrderIndex(state, p) else { return .error(.badRequest, -2013, "Order does not exist.") }
            return .json(Self.orderJSON(state.orders[index], withTime: true))
        }
    }

    private func cancelAll(_ call: Call) -> Answer {
        guard let symbol = call.params["symbol"] else { return Self.missing("symbol") }
        guard Self.rules[symbol] != nil else { return .error(.badRequest, -1121, "Invalid symbol.") }
        self.state.withLockedValue { state in
            for index in state.orders.indices where state.orders[index].symbol == symbol && state.orders[index].isOpen {
                state.orders[index].status = "CANCELED"
                state.orders[index].updateTime = call.now
            }
        }
        // Documented answer: HTTP 200 with "code": 200.
        return .json(["code": 200, "msg": "The operation of cancel all open order is done."])
    }

    private func listOpenOrders(_ call: Call) -> Answer {
        let symbol = call.params["symbol"]
        if let symbol, Self.rules[symbol] == nil { return .error(.badRequest, -1121, "Invalid symbol.") }
        let open = self.state.withLockedValue { $0.orders.filter { $0.isOpen && (symbol == nil || $0.symbol == symbol) } }
        return .json(open.map { Self.orderJSON($0, withTime: true) })
    }

    // MARK: - Algo orders

    private func newAlgoOrder(_ call: Call) -> Answer {
        let p = call.params
        guard let algoType = p["algoType"] else { return Self.missing("algoType") }
        guard algoType == "CONDITIONAL" else { return .error(.badRequest, -1116, "Invalid algoType.") }
        guard let symbol = p["symbol"] else { return Self.missing("symbol") }
        guard let rules = Self.rules[symbol] else { return .error(.badRequest, -1121, "Invalid symbol.") }
        guard let side = p["side"] else { return Self.missing("side") }
        guard side == "BUY" || side == "SELL" else { return .error(.badRequest, -1117, "Invalid side.") }
        guard let type = p["type"] else { return Self.missing("type") }
        guard Self.conditionalTypes.contains(type) else { return .error(.badRequest, -1116, "Invalid orderType.") }
        let closePosition = Self.isTrue(p["closePosition"])
        var quantity: Decimal?
        if let text = p["quantity"] {
            guard !closePosition else { return .error(.badRequest, -1106, "Parameter 'quantity' sent when not required.") }
            guard let parsed = Decimal(string: text), parsed > 0 else { return .error(.badRequest, -4003, "Quantity less than or equal to zero.") }
            guard BBFakeSupport.isMultiple(parsed, of: rules.stepSize) else {
                return .error(.badRequest, -1111, "Precision is over the maximum defined for this asset.")
            }
            quantity = parsed
        } else if !closePosition {
            return Self.missing("quantity")
        }
        var triggerPrice: Decimal?
        if let text = p["triggerPrice"] {
            guard let parsed = Decimal(string: text), parsed > 0 else { return Self.missing("triggerPrice") }
            guard BBFakeSupport.isMultiple(parsed, of: rules.tickSize) else { return .error(.badRequest, -4014, "Price not increased by tick size.") }
            triggerPrice = parsed
        } else if type != "TRAILING_STOP_MARKET" {
            return Self.missing("triggerPrice")
        }
        var price: Decimal?
        if type == "STOP" || type == "TAKE_PROFIT" {
            guard let text = p["price"], let parsed = Decimal(string: text) else { return Self.missing("price") }
            price = parsed
        }
        let clientAlgoId = p["clientAlgoId"] ?? UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(22).description
        guard Self.validClientId(clientAlgoId) else { return .error(.badRequest, -4015, "Client order id is not valid.") }
        let now = call.now
        return self.state.withLockedValue { state -> Answer in
            // Undocumented for algo orders; mirrors the regular-order duplicate answer.
            if state.algoOrders.contains(where: { $0.algoStatus == "NEW" && $0.clientAlgoId == clientAlgoId }) {
                return .error(.badRequest, -4116, "ClientOrderId is duplicated.")
            }
            let mark = state.prices[symbol] ?? 0
            if let triggerPrice {
                let isStop = type.hasPrefix("STOP")
                let immediate = (side == "BUY") == isStop ? mark >= triggerPrice : mark <= triggerPrice
                if immediate { return .error(.badRequest, -2021, "Order would immediately trigger.") }
            }
            let algo = BinanceAlgoOrder(
                algoId: state.nextAlgoId,
                clientAlgoId: clientAlgoId,
                symbol: symbol,
                side: side,
                orderType: type,
                quantity: quantity,
                price: price,
                triggerPrice: triggerPrice,
                timeInForce: p["timeInForce"] ?? "GTC",
                workingType: p["workingType"] ?? "CONTRACT_PRICE",
                closePosition: closePosition,
                reduceOnly: Self.isTrue(p["reduceOnly"]),
                priceProtect: Self.isTrue(p["priceProtect"]),
                positionSide: p["positionSide"] ?? "BOTH",
                algoStatus: "NEW",
                actualOrderId: "",
                createTime: now,
                updateTime: now,
                triggerTime: 0
            )
            state.nextAlgoId += 1
            state.algoOrders.append(algo)
            return .json(Self.algoJSON(algo))
        }
    }

    private func cancelAlgoOrder(_ call: Call) -> Answer {
        let p = call.params
        guard p["algoId"] != nil || p["clientAlgoId"] != nil else {
            return .error(.badRequest, -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        }
        return self.state.withLockedValue { state -> Answer in
            let index = state.algoOrders.lastIndex { algo in
                if let id = p["algoId"] { return "\(algo.algoId)" == id }
                return algo.clientAlgoId == p["clientAlgoId"]
            }
            guard let index, state.algoOrders[index].algoStatus == "NEW" else { return .error(.badRequest, -2011, "Unknown order sent.") }
            state.algoOrders[index].algoStatus = "CANCELED"
            state.algoOrders[index].updateTime = call.now
            let algo = state.algoOrders[index]
            return .json(["algoId": algo.algoId, "clientAlgoId": algo.clientAlgoId, "code": "200", "msg": "success"])
        }
    }

    private func cancelAllAlgo(_ call: Call) -> Answer {
        guard let symbol = call.params["symbol"] else { return Self.missing("symbol") }
        guard Self.rules[symbol] != nil else { return .error(.badRequest, -1121, "Invalid symbol.") }
        self.state.withLockedValue { state in
            for index in state.algoOrders.indices where state.algoOrders[index].symbol == symbol && state.algoOrders[index].algoStatus == "NEW" {
                state.algoOrders[index].algoStatus = "CANCELED"
                state.algoOrders[index].updateTime = call.now
            }
        }
        return .json(["code": 200, "msg": "The operation of cancel all open order is done."])
    }

    private func listOpenAlgoOrders(_ call: Call) -> Answer {
        let symbol = call.params["symbol"]
        let algoId = call.params["algoId"]
        let open = self.state.withLockedValue { state in
            state.algoOrders.filter {
                $0.algoStatus == "NEW" && (symbol == nil || $0.symbol == symbol) && (algoId == nil || "\($0.algoId)" == algoId)
            }
        }
        return .json(open.map(Self.algoJSON))
    }

    // MARK: - Account

    private func positionRisk(_ call: Call) -> Answer {
        let symbol = call.params["symbol"]
        let rows: [[String: Any]] = self.state.withLockedValue { state in
            // v3 lists only symbols with a position or open orders.
            let symbols = Set(state.positions.values.filter { $0.positionAmt != 0 }.map(\.symbol))
                .union(state.orders.filter(\.isOpen).map(\.symbol))
                .filter { symbol == nil || $0 == symbol }
            return symbols.sorted().map { name in
                let position = state.positions[name] ?? BinancePosition(symbol: name, positionAmt: 0, entryPrice: 0, updateTime: 0)
                let mark = state.prices[name] ?? 0
                let notional = position.positionAmt * mark
                return [
                    "symbol": name, "positionSide": "BOTH", "positionAmt": BBFakeSupport.text(position.positionAmt),
                    "entryPrice": BBFakeSupport.text(position.entryPrice), "breakEvenPrice": BBFakeSupport.text(position.entryPrice),
                    "markPrice": BBFakeSupport.text(mark),
                    "unRealizedProfit": BBFakeSupport.text(position.positionAmt * (mark - position.entryPrice)),
                    "liquidationPrice": "0", "isolatedMargin": "0", "notional": BBFakeSupport.text(notional), "marginAsset": "USDT",
                    "isolatedWallet": "0", "initialMargin": BBFakeSupport.text(abs(notional) / 20),
                    "maintMargin": BBFakeSupport.text(abs(notional) / 250), "positionInitialMargin": BBFakeSupport.text(abs(notional) / 20),
                    "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
                    "updateTime": Int(position.updateTime),
                ]
            }
        }
        return .json(rows)
    }

    private func balance(_ call: Call) -> Answer {
        let rows: [[String: Any]] = self.state.withLockedValue { state in
            let unrealized = state.positions.values.reduce(Decimal(0)) { sum, position in
                sum + position.positionAmt * ((state.prices[position.symbol] ?? 0) - position.entryPrice)
            }
            return state.balances.keys.sorted().map { asset in
                let wallet = state.balances[asset] ?? 0
                let pnl = asset == "USDT" ? unrealized : 0
                return [
                    "accountAlias": "SgsR", "asset": asset, "balance": BBFakeSupport.text(wallet),
                    "crossWalletBalance": BBFakeSupport.text(wallet), "crossUnPnl": BBFakeSupport.text(pnl),
                    "availableBalance": BBFakeSupport.text(wallet + pnl), "maxWithdrawAmount": BBFakeSupport.text(wallet + min(pnl, 0)),
                    "marginAvailable": true, "updateTime": Int(call.now),
                ]
            }
        }
        return .json(rows)
    }
}

/// Helpers shared by the Binance and Bybit fakes (signing, form decoding, decimal steps, position arithmetic).
enum BBFakeSupport {
    static func hmacHex(secret: String, message: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Decodes `a=1&b=x%20y` (form encoding: `+` is a space).
    static func formDecode(_ raw: String) -> [(String, String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// The raw parameter string without its `signature=` pair, bytes otherwise untouched.
    static func droppingSignature(_ raw: String) -> String {
        raw.split(separator: "&", omittingEmptySubsequences: false).filter { !$0.hasPrefix("signature=") }.joined(separator: "&")
    }

    static func text(_ value: Decimal) -> String { "\(value)" }

    /// 1...maxLength ASCII letters, digits and the `extra` characters.
    static func isIdentifier(_ id: String, maxLength: Int, extra: String) -> Bool {
        !id.isEmpty && id.count <= maxLength
            && id.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || extra.unicodeScalars.contains($0)) }
    }

    static func isMultiple(_ value: Decimal, of step: Decimal) -> Bool {
        guard step > 0 else { return true }
        var quotient = value / step
        var rounded = Decimal()
        NSDecimalRound(&rounded, &quotient, 0, .plain)
        return rounded == quotient
    }

    /// Applies a signed fill to a one-way position; returns the new amount, entry price and realized PnL.
    static func applyFill(amount: Decimal, entry: Decimal, signedQty: Decimal, price: Decimal) -> (amount: Decimal, entry: Decimal, realized: Decimal)
    {
        let newAmount = amount + signedQty
        if amount == 0 || (amount > 0) == (signedQty > 0) {
            let entry = newAmount == 0 ? 0 : (abs(amount) * entry + abs(signedQty) * price) / abs(newAmount)
            return (newAmount, entry, 0)
        }
        let closed = min(abs(signedQty), abs(amount))
        let realized = closed * (price - entry) * (amount > 0 ? 1 : -1)
        if newAmount == 0 { return (0, 0, realized) }
        if (newAmount > 0) == (amount > 0) { return (newAmount, entry, realized) }
        return (newAmount, price, realized)  // flipped: the remainder opened at the fill price
    }
}
