// The venues bots trade on, and the keys they trade with: the paper venue, the exchange adapters, and the
// owners' verified keys opened from the vault (kept in memory a short while, forgotten when a key changes).

import Foundation
import Synchronization
import Vault
import Venues

public struct TradingVenues: Sendable {
    public let paper: any Venue
    public let directory: VenueDirectory

    public init(paper: any Venue, directory: VenueDirectory) {
        self.paper = paper
        self.directory = directory
    }

    /// Venues whose trading is perpetual futures: balances hold margin, and what a bot can sell is its position.
    public static let derivatives: Set<VenueID> = [.binanceUSDM, .bybit, .hyperliquid]

    public func venue(_ id: VenueID) throws -> any Venue {
        if id == .paper { return self.paper }
        guard let venue = self.directory.venue(id) else { throw VenueError.notSupported(id, "Trading") }
        return venue
    }
}

/// The trading account an order draws on: a user's paper wallet, or the exchange account behind one key.
struct AccountKey: Hashable, Sendable {
    let venue: VenueID
    /// The user's id on the paper venue, the credential's id on an exchange.
    let owner: UUID

    init(_ bot: BotRecord) {
        self.venue = bot.venue
        self.owner = bot.venue == .paper ? bot.userID : (bot.credentialID ?? bot.userID)
    }
}

struct MarketKey: Hashable, Sendable {
    let venue: VenueID
    let symbol: String

    init(_ bot: BotRecord) {
        self.init(venue: bot.venue, symbol: bot.symbol)
    }

    init(venue: VenueID, symbol: String) {
        self.venue = venue
        self.symbol = symbol
    }
}

/// The owners' exchange keys, opened from the vault once and kept for `lifetime`.
final class KeyCache: Sendable {
    private struct Entry {
        let keys: VenueCredentials
        let until: ContinuousClock.Instant
    }

    private let entries = Mutex([UUID: Entry]())
    let repository: any CredentialRepository
    let lifetime: Duration

    init(repository: any CredentialRepository, lifetime: Duration) {
        self.repository = repository
        self.lifetime = lifetime
    }

    /// The keys a bot trades with: none on the paper venue (its account is the user), the owner's verified key elsewhere.
    func keys(for bot: BotRecord) async throws -> VenueCredentials {
        guard bot.venue != .paper else {
            return VenueCredentials(apiKey: bot.userID.uuidString.lowercased(), secret: SecretBytes(copying: [UInt8]()))
        }
        guard let id = bot.credentialID else { throw CredentialError.notFound }
        let now = ContinuousClock.now
        if let entry = self.entries.withLock({ $0[id] }), entry.until > now { return entry.keys }
        let keys = try await self.repository.keys(id: id, userID: bot.userID)
        self.entries.withLock { $0[id] = Entry(keys: keys, until: now + self.lifetime) }
        return keys
    }

    func forget(_ credentialID: UUID) {
        _ = self.entries.withLock { $0.removeValue(forKey: credentialID) }
    }
}

/// Free balances of one account during one tick, shared by every bot on it: each accepted order takes its cost,
/// so two bots cannot both spend the same quote.
final class Funds: Sendable {
    private let available: Mutex<[String: Decimal]>

    init(_ balances: [Balance]) {
        self.available = Mutex(Dictionary(balances.map { ($0.asset, $0.available) }, uniquingKeysWith: { first, _ in first }))
    }

    /// On a derivatives venue the base of each symbol is what the account holds long there.
    init(_ balances: [Balance], positions: [Position], venue: VenueID) {
        var available = Dictionary(balances.map { ($0.asset, $0.available) }, uniquingKeysWith: { first, _ in first })
        for position in positions where position.quantity > 0 {
            available[assets(position.symbol, venue: venue).base] = position.quantity
        }
        self.available = Mutex(available)
    }

    func available(_ asset: String) -> Decimal { self.available.withLock { $0[asset] ?? 0 } }

    /// Take `amount` of `asset` if that much is free.
    func take(_ asset: String, _ amount: Decimal) -> Bool {
        self.available.withLock { available in
            guard (available[asset] ?? 0) >= amount else { return false }
            available[asset, default: 0] -= amount
            return true
        }
    }
}

/// The base and quote assets of a symbol (BTCUSDT → BTC, USDT). Hyperliquid names coins alone and settles in USDC.
func assets(_ symbol: String, venue: VenueID) -> (base: String, quote: String) {
    if venue == .hyperliquid { return (symbol, "USDC") }
    for quote in ["USDT", "USDC", "USD"] where symbol.hasSuffix(quote) { return (String(symbol.dropLast(quote.count)), quote) }
    return (symbol, "USDT")
}
