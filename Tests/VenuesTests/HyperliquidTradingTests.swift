// The Hyperliquid adapter against the fake venue: place, look up, cancel and cancel-all with signed L1 actions.

import Foundation
import Testing
import VenueFakes

@testable import Venues

@Suite struct HyperliquidTradingTests {
    @Test(
        "Limit orders rest and are found by client order id; cancel by client id; cancel-all empties the coin's book; a market order fills into a position"
    )
    func placeCancelCancelAll() async throws {
        guard LiveVenue.secp256k1Available() else { return }
        let fake = FakeHyperliquid.recovering()
        let master = try TestWallet()
        let agent = try TestWallet()
        fake.registerUser(address: master.address)
        fake.registerAgent(agent: agent.address, master: master.address)
        fake.setMid(coin: "BTC", price: 50_000)
        fake.setMid(coin: "ETH", price: 3_000)
        try await LiveVenue.run(fake.router()) { url in
            let venue = HyperliquidVenue(baseURL: url)
            let credentials = VenueCredentials(apiKey: master.address, secret: LiveVenue.text(agent.privateKeyHex))
            let placed = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTCUSDT",
                    side: .buy,
                    type: .limit,
                    quantity: Decimal(string: "0.01")!,
                    price: 45_000,
                    clientOrderID: "grid-1"
                ),
                credentials: credentials
            )
            #expect(placed.status == .open)
            #expect(fake.openOrders(user: master.address).count == 1)
            let found = try await venue.order(symbol: "BTC", clientOrderID: "grid-1", credentials: credentials)
            #expect(found.venueOrderID == placed.venueOrderID && found.status == .open && found.price == 45_000)

            // The same client order id names the same cloid: a retry cannot create a second order.
            await #expect(throws: VenueError.self) {
                try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTC",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: 45_000,
                        clientOrderID: "grid-1"
                    ),
                    credentials: credentials
                )
            }
            #expect(fake.openOrders(user: master.address).count == 1)

            let cancelled = try await venue.cancelOrder(symbol: "BTC", clientOrderID: "grid-1", credentials: credentials)
            #expect(cancelled?.status == .cancelled)
            #expect(try await venue.cancelOrder(symbol: "BTC", clientOrderID: "grid-1", credentials: credentials) == nil)

            for index in 0..<5 {
                _ = try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTC",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: Decimal(44_000 - index * 100),
                        clientOrderID: "grid-b\(index)"
                    ),
                    credentials: credentials
                )
            }
            _ = try await venue.placeOrder(
                OrderRequest(
                    symbol: "ETH",
                    side: .sell,
                    type: .limit,
                    quantity: Decimal(string: "0.1")!,
                    price: 3_500,
                    clientOrderID: "eth-1"
                ),
                credentials: credentials
            )
            #expect(try await venue.openOrders(symbol: "BTC", credentials: credentials).count == 5)
            #expect(try await venue.cancelAllOrders(symbol: "BTC", credentials: credentials) == 5)
            #expect(fake.openOrders(user: master.address).map(\.coin) == ["ETH"])

            let market = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTC",
                    side: .buy,
                    type: .market,
                    quantity: Decimal(string: "0.02")!,
                    clientOrderID: "dca-1"
                ),
                credentials: credentials
            )
            #expect(market.status == .filled)
            #expect(fake.position(user: master.address, coin: "BTC") == Decimal(string: "0.02")!)
            let positions = try await venue.positions(credentials: credentials)
            #expect(positions.first { $0.symbol == "BTC" }?.quantity == Decimal(string: "0.02")!)
            #expect(try await venue.balances(credentials: credentials).first?.asset == "USDC")
            let rules = try await venue.symbolRules(symbol: "BTC")
            #expect(rules.stepSize == Decimal(string: "0.00001")!)
        }
    }

    @Test(
        "A 429 with Retry-After is waited out before the next signed request (with a fresh nonce); a long Retry-After fails the call without resending"
    )
    func rateLimits() async throws {
        guard LiveVenue.secp256k1Available() else { return }
        let fake = FakeHyperliquid.recovering()
        let master = try TestWallet()
        let agent = try TestWallet()
        fake.registerUser(address: master.address)
        fake.registerAgent(agent: agent.address, master: master.address)
        fake.setMid(coin: "BTC", price: 50_000)
        try await LiveVenue.run(fake.router()) { url in
            let venue = HyperliquidVenue(baseURL: url)
            let credentials = VenueCredentials(apiKey: master.address, secret: LiveVenue.text(agent.privateKeyHex))
            _ = try await venue.symbolRules(symbol: "BTC")
            fake.log.inject(path: "/exchange", .init(status: .tooManyRequests, headers: ["Retry-After": "1"], body: "null"))
            let start = ContinuousClock.now
            let order = try await venue.placeOrder(
                OrderRequest(
                    symbol: "BTC",
                    side: .buy,
                    type: .limit,
                    quantity: Decimal(string: "0.01")!,
                    price: 45_000,
                    clientOrderID: "after-429"
                ),
                credentials: credentials
            )
            #expect(order.status == .open)
            #expect(ContinuousClock.now - start >= .seconds(1))
            let posts = fake.log.requests.filter { $0.path == "/exchange" }
            #expect(posts.count == 2)
            #expect(Set(posts.compactMap { JSON(bytes: Array($0.body.utf8))["nonce"].int64 }).count == 2)
            #expect(await venue.transport.refusals == 1)

            fake.log.inject(path: "/exchange", .init(status: .tooManyRequests, headers: ["Retry-After": "30"], body: "null"))
            await #expect(throws: VenueError.self) {
                try await venue.placeOrder(
                    OrderRequest(
                        symbol: "BTC",
                        side: .buy,
                        type: .limit,
                        quantity: Decimal(string: "0.01")!,
                        price: 45_000,
                        clientOrderID: "during-ban"
                    ),
                    credentials: credentials
                )
            }
            // The pause holds for later calls too: nothing is sent until it has passed.
            await #expect(throws: VenueError.self) { try await venue.openOrders(symbol: nil, credentials: credentials) }
            #expect(fake.log.requests.filter { $0.path == "/exchange" }.count == 3)
        }
    }
}
