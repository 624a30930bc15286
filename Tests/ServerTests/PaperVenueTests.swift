// The embedded paper venue in the server: its markets through HTTP, and its state across a restart.

import Foundation
import HTTPTypes
import Logging
import Storage
import Testing
import Vault
import VenueFakes
import Venues

@testable import Server

@Suite struct PaperVenueTests {
    @Test(
        "GET /markets/{venue}/{symbol}: paper answers {symbol, price, bid, ask, time}; unknown symbols and venues are 404; an inspection-only venue says so; a live venue answers through its adapter"
    )
    func markets() async throws {
        let fake = FakeBybit()
        fake.setPrice(symbol: "BTCUSDT", price: 61_000)
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(VenueHarness.settings(.bybit, url))
            try await app.test { client in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                let paper = try await driver.request(.get, "/api/v1/markets/paper/btcusdt", ip: user.ip, token: token)
                #expect(paper.status == .ok)
                let body = try paper.json()
                #expect(Set(body.keys) == ["symbol", "price", "bid", "ask", "time"])
                #expect(body["symbol"] as? String == "BTCUSDT")
                let price = try #require(body["price"] as? Double)
                let bid = try #require(body["bid"] as? Double)
                let ask = try #require(body["ask"] as? Double)
                #expect(bid <= price && price <= ask && price > 0)
                #expect(try await driver.request(.get, "/api/v1/markets/paper/DOGEUSDT", ip: user.ip, token: token).status == .notFound)
                #expect(try await driver.request(.get, "/api/v1/markets/mtgox/BTCUSDT", ip: user.ip, token: token).status == .notFound)
                #expect(try await driver.request(.get, "/api/v1/markets/okx/BTCUSDT", ip: user.ip, token: token).errorCode == "not_supported")
                let bybit = try await driver.request(.get, "/api/v1/markets/bybit/BTCUSDT", ip: user.ip, token: token)
                #expect(bybit.status == .ok)
                #expect(try bybit.json()["price"] as? Double == 61_000)
                #expect(try await driver.request(.get, "/api/v1/markets/paper/BTCUSDT", ip: user.ip).status == .unauthorized)
            }
        }
    }

    @Test("Orders, balances, prices and the feed position survive a restart: a second server on the same database continues")
    func restartContinues() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let settings = [
            Setting.dataDirectory.name: directory.appending("data").path,
            Setting.databaseURL.name: "sqlite:\(directory.appending("data/tradekeep.sqlite").path)",
        ]
        let logger = Logger(label: "paper-test")
        func started() async throws -> (PaperTrading, TradekeepDatabase) {
            let configuration = try AuthDriver.application(settings).prepared.configuration
            let database = try TradekeepDatabase(location: configuration.database)
            try await database.migrate(logger: logger)
            let paper = PaperTrading(configuration: configuration, database: database, logger: logger)
            try await paper.restore()
            return (paper, database)
        }
        let account = VenueCredentials(apiKey: UUID().uuidString, secret: SecretBytes(copying: [UInt8]()))
        let (first, firstDatabase) = try await started()
        let price = try await first.venue.ticker(symbol: "ETHUSDT").price
        let resting = OrderRequest(
            symbol: "ETHUSDT",
            side: .buy,
            type: .limit,
            quantity: 1,
            price: (price * Decimal(string: "0.5")!).rounded(2),
            clientOrderID: "grid-1"
        )
        _ = try await first.venue.placeOrder(resting, credentials: account)
        _ = try await first.venue.placeOrder(
            OrderRequest(symbol: "SOLUSDT", side: .buy, type: .market, quantity: 2, clientOrderID: "dca-1"),
            credentials: account
        )
        try await first.venue.tick()
        let before = await first.venue.exchange.snapshot()
        await firstDatabase.shutdown()

        let (second, secondDatabase) = try await started()
        let after = await second.venue.exchange.snapshot()
        #expect(after == before)
        #expect(try await second.venue.openOrders(symbol: nil, credentials: account).map(\.clientOrderID) == ["grid-1"])
        await #expect(throws: VenueError.self) { try await second.venue.placeOrder(resting, credentials: account) }
        try await second.venue.tick()
        #expect(await second.venue.exchange.snapshot().feedPosition != before.feedPosition)
        await secondDatabase.shutdown()
    }

    @Test("TRADEKEEP_PAPER_FEED=csv:<file> replays the file's closes; a bad file or feed refuses start-up naming the setting")
    func csvFeed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.appending("prices.csv")
        try "time,symbol,open,high,low,close\n1,BTCUSDT,1,1,1,42000\n1,ETHUSDT,1,1,1,2100\n2,BTCUSDT,1,1,1,42100\n".write(
            to: file,
            atomically: true,
            encoding: .utf8
        )
        let app = try AuthDriver.application([Setting.paperFeed.name: "csv:\(file.path)"])
        let database = try TradekeepDatabase(location: .sqliteMemory)
        try await database.migrate(logger: Logger(label: "t"))
        let paper = PaperTrading(configuration: app.prepared.configuration, database: database, logger: Logger(label: "t"))
        try await paper.restore()
        #expect(try await paper.venue.ticker(symbol: "BTCUSDT").price == 42_000)
        #expect(try await paper.venue.ticker(symbol: "ETHUSDT").price == 2_100)
        await paper.venue.exchange.tick()
        #expect(try await paper.venue.ticker(symbol: "BTCUSDT").price == 42_100)

        let bad = directory.appending("bad.csv")
        try "time,close\n1,abc\n".write(to: bad, atomically: true, encoding: .utf8)
        for feed in ["csv:\(bad.path)", "csv:/nonexistent.csv", "sine"] {
            #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.paperFeed.name: feed]) }
        }
        #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.paperMakerFee.name: "0.5"]) }
        await database.shutdown()
    }
}

extension Decimal {
    func rounded(_ places: Int) -> Decimal {
        var value = self
        var result = Decimal()
        NSDecimalRound(&result, &value, places, .down)
        return result
    }
}
