// The Binance USDⓈ-M and Bybit linear adapters against their fakes: place, look up, cancel, cancel-all, rate limits, clock skew.

import Foundation
import Testing
import VenueFakes

@testable import Venues

@Suite struct BinanceTradingTests {
    static func key() -> BinanceKey { BinanceKey(apiKey: TestKeys.text(64), secret: TestKeys.text(64)) }

    @Test(
        "Limit orders rest and are found by client order id; a reused id of an open order is refused; cancel; cancel-all clears regular and algo orders; a market order fills into a position"
    )
    func placeCancelCancelAll() async throws {
        let fake = FakeBinance()
        let key = Self.key()
        fake.addKey(key)
        fake.setPrice(symbol: "BTCUSDT", price: 50_000)
        try await LiveVenue.run(fake.router()) { url in
            let venue = BinanceFuturesVenue(spotBaseURL: url, futuresBaseURL: url)
            let credentials = VenueCredentials(apiKey: key.apiKey, secret: LiveVenue.text(key.secret))
            let order = OrderRequest(
                symbol: "BTCUSDT",
                side: .buy,
                type: .limit,
                quantity: Decimal(string: "0.01")!,
                price: 45_000,
                clientOrderID: "grid-1"
            )
            let placed = try await venue.placeOrder(order, credentials: credentials)
            #expect(placed.status == .open && placed.clientOrderID == "grid-1")
            let found = try await venue.order(symbol: "BTCUSDT", clientOrderID: "grid-1", credentials: credentials)
            #expect(found.venueOrderID == placed.venueOrderID)
            await #expect(throws: VenueError.self) { try await venue.placeOrder(order, credentials: credentials) }
            #expect(fake.openOrders.count == 1)
            #expect(try await venue.cancelOrder(symbol: "BTCUSDT", clientOrderID: "grid-1", credentials: credentials)?.status == .cancelled)
            #expect(try await venue.cancelOrder(symbol: "BTCUSDT", clientOrderID: "grid-1", credentials: credentials) == nil)

            for index in 0..<4 {
                _ = try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTCUSDT",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: Decimal(44_000 - index * 100),
                        clientOrderID: "grid-b\(index)"
                    ),
                    credentials: credentials
                )
            }
            // A conditional order lives in the algo book, which a plain cancel-all would miss.
            _ = try await venue.futures.signed(
                .POST,
                "/fapi/v1/algoOrder",
                [
                    ("algoType", "CONDITIONAL"), ("symbol", "BTCUSDT"), ("side", "SELL"),
                    ("type", "STOP_MARKET"), ("quantity", "0.01"), ("triggerPrice", "40000"),
                    ("clientAlgoId", "stop-1"),
                ],
                credentials: credentials
            )
            #expect(fake.algoOpenOrders.count == 1)
            #expect(try await venue.cancelAllOrders(symbol: "BTCUSDT", credentials: credentials) == 5)
            #expect(fake.openOrders.isEmpty && fake.algoOpenOrders.isEmpty)

            let market = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .market,
                    quantity: Decimal(string: "0.02")!,
                    clientOrderID: "dca-1"
                ),
                credentials: credentials
            )
            #expect(market.status == .filled && market.filledQuantity == Decimal(string: "0.02")!)
            #expect(try await venue.positions(credentials: credentials).first?.quantity == Decimal(string: "0.02")!)
            #expect(try await venue.balances(credentials: credentials).contains { $0.asset == "USDT" })
            let rules = try await venue.symbolRules(symbol: "BTCUSDT")
            #expect(rules.tickSize == Decimal(string: "0.1")! && rules.stepSize == Decimal(string: "0.001")!)
            #expect(try await venue.ticker(symbol: "BTCUSDT").price == 50_000)
        }
    }

    @Test(
        "A 429 with Retry-After is waited out, then the request is re-signed and sent once more; a long Retry-After fails the call, and later calls, without resending"
    )
    func rateLimits() async throws {
        let fake = FakeBinance()
        let key = Self.key()
        fake.addKey(key)
        fake.setPrice(symbol: "BTCUSDT", price: 50_000)
        try await LiveVenue.run(fake.router()) { url in
            let venue = BinanceFuturesVenue(spotBaseURL: url, futuresBaseURL: url)
            let credentials = VenueCredentials(apiKey: key.apiKey, secret: LiveVenue.text(key.secret))
            _ = try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials)
            fake.log.inject(path: "/fapi/v1/order", FakeBinance.tooManyRequests(retryAfter: 1, usedWeight: 100))
            let start = ContinuousClock.now
            _ = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .limit,
                    quantity: Decimal(string: "0.01")!,
                    price: 45_000,
                    clientOrderID: "after-429"
                ),
                credentials: credentials
            )
            #expect(ContinuousClock.now - start >= .seconds(1))
            let posts = fake.log.requests.filter { $0.path == "/fapi/v1/order" && $0.method == "POST" }
            #expect(posts.count == 2)
            #expect(posts[0].query != posts[1].query)  // a fresh timestamp and signature

            fake.log.inject(path: "/fapi/v1/order", FakeBinance.tooManyRequests(retryAfter: 120, usedWeight: 100))
            await #expect(throws: VenueError.self) {
                try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTCUSDT",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: 45_000,
                        clientOrderID: "banned"
                    ),
                    credentials: credentials
                )
            }
            await #expect(throws: VenueError.self) { try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials) }
            #expect(fake.log.requests.filter { $0.path == "/fapi/v1/order" && $0.method == "POST" }.count == 3)
            #expect(fake.log.count(path: "/fapi/v1/openOrders") == 1)
        }
    }

    @Test("With the venue's clock 3 s ahead, requests are stamped in its time (the clock is synced first), and a -1021 resyncs once")
    func clockSkew() async throws {
        let fake = FakeBinance()
        let key = Self.key()
        fake.addKey(key)
        fake.log.clockSkew = 3
        try await LiveVenue.run(fake.router()) { url in
            let venue = BinanceFuturesVenue(spotBaseURL: url, futuresBaseURL: url)
            let credentials = VenueCredentials(apiKey: key.apiKey, secret: LiveVenue.text(key.secret))
            let before = try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials)
            #expect(before.isEmpty)
            // The venue's clock jumps 10 s behind ours: the next request is refused with -1021, resynced, and sent again.
            fake.log.clockSkew = -10
            let after = try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials)
            #expect(after.isEmpty)
            #expect(fake.log.count(path: "/fapi/v1/time") == 2)
        }
    }
}

@Suite struct BybitTradingTests {
    static func key() -> BybitKey { BybitKey(apiKey: TestKeys.text(18), secret: TestKeys.text(36)) }

    @Test(
        "Place, look up, cancel; cancel-all repeats until Bybit answers an empty list (it cancels at most a batch per call); a reused orderLinkId is refused; a market order fills"
    )
    func placeCancelCancelAllLoops() async throws {
        let fake = FakeBybit()
        let key = Self.key()
        fake.addKey(key)
        fake.setPrice(symbol: "BTCUSDT", price: 50_000)
        fake.cancelAllBatchLimit = 3
        try await LiveVenue.run(fake.router()) { url in
            let venue = BybitVenue(baseURL: url)
            let credentials = VenueCredentials(apiKey: key.apiKey, secret: LiveVenue.text(key.secret))
            let order = OrderRequest(
                symbol: "BTCUSDT",
                side: .buy,
                type: .limit,
                quantity: Decimal(string: "0.01")!,
                price: 45_000,
                clientOrderID: "grid-1"
            )
            let placed = try await venue.placeOrder(order, credentials: credentials)
            #expect(placed.status == .open && placed.clientOrderID == "grid-1")
            await #expect(throws: VenueError.self) { try await venue.placeOrder(order, credentials: credentials) }
            #expect(try await venue.cancelOrder(symbol: "BTCUSDT", clientOrderID: "grid-1", credentials: credentials)?.status == .cancelled)
            #expect(try await venue.cancelOrder(symbol: "BTCUSDT", clientOrderID: "grid-1", credentials: credentials) == nil)

            for index in 0..<7 {
                _ = try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTCUSDT",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: Decimal(44_000 - index * 100),
                        clientOrderID: "grid-b\(index)"
                    ),
                    credentials: credentials
                )
            }
            #expect(try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials).count == 7)
            #expect(try await venue.cancelAllOrders(symbol: "BTCUSDT", credentials: credentials) == 7)
            #expect(fake.openOrders.isEmpty)
            #expect(fake.log.count(path: "/v5/order/cancel-all") == 4)

            let market = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .sell,
                    type: .market,
                    quantity: Decimal(string: "0.02")!,
                    clientOrderID: "dca-1"
                ),
                credentials: credentials
            )
            #expect(market.status == .filled)
            #expect(try await venue.positions(credentials: credentials).first?.quantity == Decimal(string: "-0.02")!)
            #expect(try await venue.balances(credentials: credentials).contains { $0.asset == "USDT" })
            #expect(try await venue.symbolRules(symbol: "BTCUSDT").stepSize == Decimal(string: "0.001")!)
            #expect(try await venue.ticker(symbol: "BTCUSDT").price == 50_000)
        }
    }

    @Test(
        "10006 Too many visits is waited out until X-Bapi-Limit-Reset-Timestamp and the request re-signed; a reset far away fails the call without resending"
    )
    func rateLimits() async throws {
        let fake = FakeBybit()
        let key = Self.key()
        fake.addKey(key)
        fake.setPrice(symbol: "BTCUSDT", price: 50_000)
        try await LiveVenue.run(fake.router()) { url in
            let venue = BybitVenue(baseURL: url)
            let credentials = VenueCredentials(apiKey: key.apiKey, secret: LiveVenue.text(key.secret))
            _ = try await venue.openOrders(symbol: "BTCUSDT", credentials: credentials)
            let soon = Int64(Date().timeIntervalSince1970 * 1000) + 800
            fake.log.inject(path: "/v5/order/create", FakeBybit.tooManyVisits(resetAt: soon))
            let start = ContinuousClock.now
            _ = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .limit,
                    quantity: Decimal(string: "0.01")!,
                    price: 45_000,
                    clientOrderID: "after-10006"
                ),
                credentials: credentials
            )
            #expect(ContinuousClock.now - start >= .milliseconds(500))
            #expect(fake.log.count(path: "/v5/order/create") == 2)
            #expect(await venue.transport.refusals == 1)

            let later = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
            fake.log.inject(path: "/v5/order/create", FakeBybit.tooManyVisits(resetAt: later))
            await #expect(throws: VenueError.self) {
                try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTCUSDT",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: 45_000,
                        clientOrderID: "limited"
                    ),
                    credentials: credentials
                )
            }
            #expect(fake.log.count(path: "/v5/order/create") == 3)
        }
    }
}
