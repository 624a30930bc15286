// Faults a test injects into the real application: a venue that answers slowly (so steps are in flight when a kill
// arrives) or fails, and audit writes that fail.

import AuditLog
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Storage
import Vault
import Venues

/// Forwards to another venue, after `delay` for order placement, with an optional failure for balances and one for
/// cancels.
struct SlowVenue: Venue {
    let base: any Venue
    let placeDelay: Duration
    let failure: NIOLockedValueBox<(any Error)?>
    let cancelFailure: NIOLockedValueBox<(any Error)?>

    init(
        _ base: any Venue,
        placeDelay: Duration = .zero,
        failure: NIOLockedValueBox<(any Error)?> = NIOLockedValueBox(nil),
        cancelFailure: NIOLockedValueBox<(any Error)?> = NIOLockedValueBox(nil)
    ) {
        self.base = base
        self.placeDelay = placeDelay
        self.failure = failure
        self.cancelFailure = cancelFailure
    }

    var id: VenueID { self.base.id }

    func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection { try await self.base.inspectKey(credentials) }
    func ticker(symbol: String) async throws -> Ticker { try await self.base.ticker(symbol: symbol) }
    func symbolRules(symbol: String) async throws -> SymbolRules { try await self.base.symbolRules(symbol: symbol) }

    func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        if self.placeDelay > .zero { try await Task.sleep(for: self.placeDelay) }
        return try await self.base.placeOrder(order, credentials: credentials)
    }

    func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        if let failure = self.cancelFailure.withLockedValue({ $0 }) { throw failure }
        return try await self.base.cancelOrder(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
    }

    func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        try await self.base.cancelAllOrders(symbol: symbol, credentials: credentials)
    }

    func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        try await self.base.openOrders(symbol: symbol, credentials: credentials)
    }

    func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        try await self.base.order(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
    }

    func positions(credentials: VenueCredentials) async throws -> [Position] { try await self.base.positions(credentials: credentials) }

    func balances(credentials: VenueCredentials) async throws -> [Balance] {
        if let failure = self.failure.withLockedValue({ $0 }) { throw failure }
        return try await self.base.balances(credentials: credentials)
    }
}

/// An error type whose name must never reach a user: only the log may say it.
struct InjectedVenueFault: Error {}

/// Refuses to write audit entries of the given actions, so the transaction of the change they record fails.
struct FailingAuditWriter: AuditWriter {
    let actions: Set<AuditAction>

    struct Refused: Error {}

    func append(_ events: [AuditEvent], in transaction: any SQLDatabase) async throws {
        if events.contains(where: { self.actions.contains($0.action) }) { throw Refused() }
        try await PendingAuditWriter().append(events, in: transaction)
    }
}
