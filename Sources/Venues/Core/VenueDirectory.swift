// Which venues this server talks to and where: base URLs (TRADEKEEP_VENUE_<ID>_BASE_URL), testnets, and what each requires of a key.

import AsyncHTTPClient
import Foundation

/// What GET /venues says about a venue: the permissions a key needs, the ones it must not have (venue's words).
public struct VenueDescription: Sendable, Equatable {
    public var id: VenueID
    public var name: String
    public var requiredScopes: [String]
    public var forbiddenScopes: [String]
    public var supportsIPAllowlist: Bool
}

public struct VenueDirectory: Sendable {
    public var baseURLs: [VenueID: String]
    public var testnets: Set<VenueID>
    /// Testnet venues without key introspection whose keys the operator lets users store unverified.
    public var unverified: Set<VenueID>
    let client: HTTPClient

    /// Venues with a testnet switch.
    public static let testnetCapable: [VenueID] = [.binance, .binanceUSDM, .bybit, .okx, .hyperliquid]
    /// Binance's testnets have no /sapi, so no key introspection: keys there cannot be verified.
    public static let noIntrospectionOnTestnet: Set<VenueID> = [.binance, .binanceUSDM]

    public init(baseURLs: [VenueID: String] = [:], testnets: Set<VenueID> = [], unverified: Set<VenueID> = [], client: HTTPClient = .shared) {
        self.baseURLs = baseURLs
        self.testnets = testnets
        self.unverified = unverified
        self.client = client
    }

    /// Whether the venue, as configured, can be asked what a key can do.
    public func hasKeyIntrospection(_ venue: VenueID) -> Bool {
        !(self.testnets.contains(venue) && Self.noIntrospectionOnTestnet.contains(venue))
    }

    public static func defaultBaseURL(_ venue: VenueID, testnet: Bool) -> String? {
        switch venue {
        case .paper: nil
        case .binance: testnet ? "https://testnet.binance.vision" : "https://api.binance.com"
        case .binanceUSDM: testnet ? "https://testnet.binancefuture.com" : "https://fapi.binance.com"
        case .bybit: testnet ? "https://api-testnet.bybit.com" : "https://api.bybit.com"
        case .okx: "https://www.okx.com"
        case .coinbase: "https://api.coinbase.com"
        case .kraken: "https://api.kraken.com"
        case .hyperliquid: testnet ? "https://api.hyperliquid-testnet.xyz" : "https://api.hyperliquid.xyz"
        }
    }

    public func baseURL(_ venue: VenueID) -> String? {
        self.baseURLs[venue] ?? Self.defaultBaseURL(venue, testnet: self.testnets.contains(venue))
    }

    /// The adapter for `venue`; nil for the paper venue, which is not an exchange.
    public func venue(_ id: VenueID) -> (any Venue)? {
        guard let url = self.baseURL(id) else { return nil }
        switch id {
        case .paper: return nil
        case .binance: return BinanceSpotVenue(baseURL: url, client: self.client)
        case .binanceUSDM:
            return BinanceFuturesVenue(spotBaseURL: self.baseURL(.binance) ?? url, futuresBaseURL: url, client: self.client)
        case .bybit: return BybitVenue(baseURL: url, client: self.client)
        case .okx: return OKXVenue(baseURL: url, simulated: self.testnets.contains(.okx), client: self.client)
        case .coinbase: return CoinbaseVenue(baseURL: url, client: self.client)
        case .kraken: return KrakenVenue(baseURL: url, client: self.client)
        case .hyperliquid: return HyperliquidVenue(baseURL: url, isMainnet: !self.testnets.contains(.hyperliquid), client: self.client)
        }
    }

    public static func describe(_ id: VenueID) -> VenueDescription {
        let binanceForbidden = ["enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer"]
        let (required, forbidden): ([String], [String]) = switch id {
        case .paper: ([], [])
        case .binance: (["enableReading", "enableSpotAndMarginTrading"], binanceForbidden)
        case .binanceUSDM: (["enableReading", "enableFutures"], binanceForbidden)
        case .bybit: (["ContractTrade.Order", "ContractTrade.Position"], ["Wallet.Withdraw", "Wallet.AccountTransfer", "Wallet.SubMemberTransfer"])
        case .okx: (["read_only", "trade"], ["withdraw"])
        case .coinbase: (["can_view", "can_trade"], ["can_transfer"])
        case .kraken: (["query-funds", "query-open-trades", "modify-trades", "close-trades"], Array(KrakenVenue.withdrawal).sorted())
        case .hyperliquid: (["agent"], ["user"])
        }
        return VenueDescription(id: id, name: id.displayName, requiredScopes: required, forbiddenScopes: forbidden,
                                supportsIPAllowlist: KeyGuide.supportsIPAllowlist(id))
    }
}
