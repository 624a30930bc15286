// Binance USDⓈ-M futures: key inspection through the spot API's /sapi, trading through /fapi.

import AsyncHTTPClient
import Foundation
import NIOHTTP1

public struct BinanceFuturesVenue: Venue {
    public let id = VenueID.binanceUSDM
    /// /sapi lives on the spot host only, so the key is inspected there.
    let spot: BinanceClient
    let futures: BinanceClient

    public init(spotBaseURL: String, futuresBaseURL: String, client: HTTPClient = .shared) {
        self.spot = BinanceClient(venue: .binanceUSDM, baseURL: spotBaseURL, timePath: "/api/v3/time", client: client, weightLimit: 6000)
        self.futures = BinanceClient(venue: .binanceUSDM, baseURL: futuresBaseURL, timePath: "/fapi/v1/time", client: client, weightLimit: 2400)
    }

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        try await self.spot.inspect(credentials)
    }

    // MARK: Market data

    public func ticker(symbol: String) async throws -> Ticker {
        let book = try await self.futures.get("/fapi/v1/ticker/bookTicker", [("symbol", symbol)])
        let last = try await self.futures.get("/fapi/v1/ticker/price", [("symbol", symbol)])
        guard let price = last["price"].decimal else { throw VenueError.invalidResponse(self.id, "ticker without price") }
        let time = (last["time"].int64 ?? book["time"].int64).map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        return Ticker(symbol: symbol, price: price, bid: book["bidPrice"].decimal, ask: book["askPrice"].decimal, time: time)
    }

    public func symbolRules(symbol: String) async throws -> SymbolRules {
        let info = try await self.futures.get("/fapi/v1/exchangeInfo")
        guard let entry = info["symbols"].array?.first(where: { $0["symbol"].string == symbol }) else {
            throw VenueError.rejected(self.id, code: "unknown_symbol", message: "\(symbol) is not listed")
        }
        let filters = entry["filters"].array ?? []
        func filter(_ type: String) -> JSON { filters.first { $0["filterType"].string == type } ?? .null }
        return SymbolRules(
            symbol: symbol,
            tickSize: filter("PRICE_FILTER")["tickSize"].decimal ?? 0,
            stepSize: filter("LOT_SIZE")["stepSize"].decimal ?? 0,
            minQuantity: filter("LOT_SIZE")["minQty"].decimal ?? 0,
            minNotional: filter("MIN_NOTIONAL")["notional"].decimal ?? 0
        )
    }

    // MARK: Trading

    /// POST /fapi/v1/order's parameters; RESULT asks for the order's state after matching (a market order's fill).
    public static func orderParameters(_ order: OrderRequest) throws -> [(String, String)] {
        var params: [(String, String)] = [
            ("symbol", order.symbol), ("side", order.side == .buy ? "BUY" : "SELL"),
            ("type", order.type == .limit ? "LIMIT" : "MARKET"), ("quantity", order.quantity.plain),
        ]
        if order.type == .limit {
            guard let price = order.price else {
                throw VenueError.rejected(.binanceUSDM, code: "price_required", message: "a limit order needs a price")
            }
            params += [("timeInForce", "GTC"), ("price", price.plain)]
        }
        if order.reduceOnly { params.append(("reduceOnly", "true")) }
        return params + [("newClientOrderId", order.clientOrderID), ("newOrderRespType", "RESULT")]
    }

    /// The signed order request exactly as it would be sent (for the signing benchmark).
    public static func signedOrderRequest(_ order: OrderRequest, timestamp: Int64, credentials: VenueCredentials) throws -> VenueRequest {
        BinanceClient.signedRequest(.POST, "/fapi/v1/order", try Self.orderParameters(order), timestamp: timestamp, credentials: credentials)
    }

    /// Binance documents a 5xx as "execution status unknown": the order is looked up by its client id before giving up.
    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        do {
            return try Self.order(
                from: try await self.futures.signed(.POST, "/fapi/v1/order", try Self.orderParameters(order), credentials: credentials)
            )
        } catch VenueError.unreachable(let venue, let reason) {
            if let placed = try? await self.order(symbol: order.symbol, clientOrderID: order.clientOrderID, credentials: credentials) {
                return placed
            }
            throw VenueError.unreachable(venue, reason)
        }
    }

    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        do {
            let answer = try await self.futures.signed(
                .DELETE,
                "/fapi/v1/order",
                [("symbol", symbol), ("origClientOrderId", clientOrderID)],
                credentials: credentials
            )
            return try Self.order(from: answer)
        } catch VenueError.rejected(_, "-2011", _) {
            return nil  // "Unknown order sent.": already gone
        }
    }

    /// Both books: plain open orders (`allOpenOrders`) and conditional ones, which now live in the algo-order service.
    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        let open = try await self.openOrders(symbol: symbol, credentials: credentials).count
        let algo = try await self.futures.signed(.GET, "/fapi/v1/openAlgoOrders", [("symbol", symbol)], credentials: credentials).array?.count ?? 0
        _ = try await self.futures.signed(.DELETE, "/fapi/v1/allOpenOrders", [("symbol", symbol)], credentials: credentials)
        _ = try await self.futures.signed(.DELETE, "/fapi/v1/algoOpenOrders", [("symbol", symbol)], credentials: credentials)
        return open + algo
    }

    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        let answer = try await self.futures.signed(.GET, "/fapi/v1/openOrders", symbol.map { [("symbol", $0)] } ?? [], credentials: credentials)
        return try (answer.array ?? []).map(Self.order(from:))
    }

    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        try Self.order(
            from: try await self.futures.signed(
                .GET,
                "/fapi/v1/order",
                [("symbol", symbol), ("origClientOrderId", clientOrderID)],
                credentials: credentials
            )
        )
    }

    public func positions(credentials: VenueCredentials) async throws -> [Position] {
        let answer = try await self.futures.signed(.GET, "/fapi/v3/positionRisk", [], credentials: credentials)
        return (answer.array ?? []).compactMap { entry in
            guard let symbol = entry["symbol"].string, let quantity = entry["positionAmt"].decimal, quantity != 0 else { return nil }
            return Position(symbol: symbol, quantity: quantity, entryPrice: entry["entryPrice"].decimal)
        }
    }

    public func balances(credentials: VenueCredentials) async throws -> [Balance] {
        let answer = try await self.futures.signed(.GET, "/fapi/v3/balance", [], credentials: credentials)
        return (answer.array ?? []).compactMap { entry in
            guard let asset = entry["asset"].string, let total = entry["balance"].decimal else { return nil }
            return Balance(asset: asset, total: total, available: entry["availableBalance"].decimal ?? total)
        }
    }

    static func order(from json: JSON) throws -> VenueOrder {
        guard let id = json["orderId"].string, let symbol = json["symbol"].string else {
            throw VenueError.invalidResponse(.binanceUSDM, "order without orderId")
        }
        let status: OrderStatus =
            switch json["status"].string {
            case "PARTIALLY_FILLED": .partiallyFilled
            case "FILLED": .filled
            case "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH": .cancelled
            case "REJECTED": .rejected
            default: .open
            }
        let average = json["avgPrice"].decimal.flatMap { $0 == 0 ? nil : $0 }
        return VenueOrder(
            venueOrderID: id,
            clientOrderID: json["clientOrderId"].string,
            symbol: symbol,
            side: json["side"].string == "SELL" ? .sell : .buy,
            type: json["type"].string == "MARKET" ? .market : .limit,
            price: json["price"].decimal.flatMap { $0 == 0 ? nil : $0 },
            quantity: json["origQty"].decimal ?? 0,
            filledQuantity: json["executedQty"].decimal ?? 0,
            averagePrice: average,
            status: status
        )
    }
}
