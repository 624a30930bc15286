// Venues that only inspect keys so far answer trading calls with a clear error instead of trying.

import Foundation
import Testing
import Vault

@testable import Venues

@Suite struct InspectionOnlyVenueTests {
    @Test("Binance spot, OKX, Coinbase and Kraken answer market data and trading with VenueError.notSupported, sending nothing")
    func tradingNotSupported() async throws {
        let directory = VenueDirectory(baseURLs: Dictionary(uniqueKeysWithValues: VenueID.allCases.map { ($0, "http://127.0.0.1:9") }))
        let credentials = VenueCredentials(apiKey: "key", secret: SecretBytes(copying: Array("secret".utf8)))
        let order = OrderRequest(symbol: "BTCUSDT", side: .buy, type: .limit, quantity: 1, price: 1, clientOrderID: "x")
        for id in [VenueID.binance, .okx, .coinbase, .kraken] {
            let venue = try #require(directory.venue(id))
            for call in [
                { _ = try await venue.placeOrder(order, credentials: credentials) },
                { _ = try await venue.cancelAllOrders(symbol: "BTCUSDT", credentials: credentials) },
                { _ = try await venue.ticker(symbol: "BTCUSDT") },
            ] as [@Sendable () async throws -> Void] {
                do {
                    try await call()
                    Issue.record("\(id) did not refuse")
                } catch let error as VenueError {
                    guard case .notSupported(let venue, _) = error else {
                        Issue.record("\(id): \(error)")
                        continue
                    }
                    #expect(venue == id)
                    #expect(error.description.contains("is not supported yet"))
                }
            }
        }
        #expect(directory.venue(.paper) == nil)
    }
}
