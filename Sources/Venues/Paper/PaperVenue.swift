// The paper venue as a Venue: the same calls as an exchange, on the embedded matching engine, persisted after each change.

import Foundation

/// Paper trading needs no exchange key: `credentials.apiKey` names the paper account (the user's id).
public struct PaperVenue: Venue {
    public let id = VenueID.paper
    public let exchange: PaperExchange
    /// Saves the engine's state; called after every change, so an acknowledged order survives a crash.
    let persist: @Sendable (PaperSnapshot) async throws -> Void

    public init(exchange: PaperExchange, persist: @escaping @Sendable (PaperSnapshot) async throws -> Void = { _ in }) {
        self.exchange = exchange
        self.persist = persist
    }

    /// Paper keys are not a thing; nothing is ever inspected.
    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        throw VenueError.notSupported(self.id, "Exchange keys")
    }

    func run<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as PaperError {
            throw VenueError.rejected(self.id, code: error.code, message: error.description)
        }
    }

    /// A change, then its persistence.
    func change<T>(_ body: () async throws -> T) async throws -> T {
        let result = try await self.run(body)
        try await self.persist(await self.exchange.snapshot())
        return result
    }

    /// One price step and its fills, persisted.
    public func tick(now: Date = Date()) async throws {
        try await self.change { await self.exchange.tick(now: now) }
    }

    public func ticker(symbol: String) async throws -> Ticker { try await self.run { try await self.exchange.ticker(symbol) } }
    public func symbolRules(symbol: String) async throws -> SymbolRules { try await self.run { try await self.exchange.rules(symbol) } }

    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        try await self.change { try await self.exchange.place(account: credentials.apiKey, order) }
    }

    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        try await self.change { await self.exchange.cancel(account: credentials.apiKey, symbol: symbol, clientOrderID: clientOrderID) }
    }

    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        try await self.change { await self.exchange.cancelAll(account: credentials.apiKey, symbol: symbol) }
    }

    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        await self.exchange.openOrders(account: credentials.apiKey, symbol: symbol)
    }

    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        try await self.run { try await self.exchange.order(account: credentials.apiKey, clientOrderID: clientOrderID) }
    }

    public func positions(credentials: VenueCredentials) async throws -> [Position] { await self.exchange.positions(account: credentials.apiKey) }
    public func balances(credentials: VenueCredentials) async throws -> [Balance] { await self.exchange.balances(account: credentials.apiKey) }
}
