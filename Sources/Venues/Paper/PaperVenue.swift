// The paper venue as a Venue: the same calls as an exchange, on the embedded matching engine, each change saved
// through the ledger before it is acknowledged.

import Foundation

/// Paper trading needs no exchange key: `credentials.apiKey` names the paper account (the user's id).
public struct PaperVenue: Venue {
    public let id = VenueID.paper
    public let exchange: PaperExchange
    let ledger: any PaperLedger
    let commits: PaperGroupCommit

    public init(exchange: PaperExchange, ledger: any PaperLedger) {
        self.exchange = exchange
        self.ledger = ledger
        self.commits = PaperGroupCommit(exchange: exchange, ledger: ledger)
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

    /// A change, returned once a save that includes it has completed, so an acknowledged order survives a crash.
    /// A failed save is `unreachable`: the change may or may not be kept, so callers look the order up by client id.
    func change<T: Sendable>(_ body: @Sendable (isolated PaperExchange) throws -> T) async throws -> T {
        let (result, version) = try await self.run { try await self.exchange.applying(body) }
        do {
            try await self.commits.save(through: version)
        } catch {
            throw VenueError.unreachable(self.id, "its state could not be saved: \(error)")
        }
        return result
    }

    /// One price step and its fills, saved. Throws the ledger's error if the save fails (the change stays pending
    /// and the next save writes it).
    public func tick(now: Date = Date()) async throws {
        let (_, version) = await self.exchange.applying { $0.tick(now: now) }
        try await self.commits.save(through: version)
    }

    public func ticker(symbol: String) async throws -> Ticker { try await self.run { try await self.exchange.ticker(symbol) } }
    public func symbolRules(symbol: String) async throws -> SymbolRules { try await self.run { try await self.exchange.rules(symbol) } }

    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        let account = credentials.apiKey
        return try await self.change { try $0.place(account: account, order) }
    }

    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        let account = credentials.apiKey
        return try await self.change { $0.cancel(account: account, symbol: symbol, clientOrderID: clientOrderID) }
    }

    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        let account = credentials.apiKey
        return try await self.change { $0.cancelAll(account: account, symbol: symbol) }
    }

    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        await self.exchange.openOrders(account: credentials.apiKey, symbol: symbol)
    }

    /// Open orders (and closed ones not saved yet) from memory; closed ones from the ledger's archive.
    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        do {
            return try await self.exchange.order(account: credentials.apiKey, clientOrderID: clientOrderID)
        } catch PaperError.unknownOrder {
            // Not in memory: archived, or never placed. An order leaves memory only after its save, so one of the two holds.
        }
        let archived: PaperOrder?
        do {
            archived = try await self.ledger.archivedOrder(account: credentials.apiKey, clientOrderID: clientOrderID)
        } catch {
            throw VenueError.unreachable(self.id, "its order archive could not be read: \(error)")
        }
        guard let archived else {
            throw VenueError.rejected(self.id, code: PaperError.unknownOrder.code, message: PaperError.unknownOrder.description)
        }
        return archived.venueOrder
    }

    public func positions(credentials: VenueCredentials) async throws -> [Position] { await self.exchange.positions(account: credentials.apiKey) }
    public func balances(credentials: VenueCredentials) async throws -> [Balance] { await self.exchange.balances(account: credentials.apiKey) }
}
