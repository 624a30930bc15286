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

/// One adapter per venue, built once: their transports keep rate-limit pauses and clock offsets, and their nonce
/// sources stay unique, across requests.
public struct VenueDirectory: Sendable {
    public let baseURLs: [VenueID: String]
    public let testnets: Set<VenueID>
    private let adapters: [VenueID: any Venue]

    /// Venues with a testnet switch.
    public static let testnetCapable: [VenueID] = [.binance, .binanceUSDM, .bybit, .okx, .hyperliquid]
    /// Binance's testnets have no /sapi, so no key introspection: keys there cannot be verified.
    public static let noIntrospectionOnTestnet: Set<VenueID> = [.binance, .binanceUSDM]

    public init(baseURLs: [VenueID: String] = [:], testnets: Set<VenueID> = [], client: HTTPClient = .shared) {
        self.baseURLs = baseURLs
        self.testnets = testnets
        var adapters: [VenueID: any Venue] = [:]
        func url(_ venue: VenueID) -> String? { baseURLs[venue] ?? Self.defaultBaseURL(venue, testnet: testnets.contains(venue)) }
        for id in VenueID.allCases {
            guard let base = url(id) else { continue }
            adapters[id] =
                switch id {
                case .paper: nil
                case .binance: BinanceSpotVenue(baseURL: base, client: client)
                case .binanceUSDM: BinanceFuturesVenue(spotBaseURL: url(.binance) ?? base, futuresBaseURL: base, client: client)
                case .bybit: BybitVenue(baseURL: base, client: client)
                case .okx: OKXVenue(baseURL: base, simulated: testnets.contains(.okx), client: client)
                case .coinbase: CoinbaseVenue(baseURL: base, client: client)
                case .kraken: KrakenVenue(baseURL: base, client: client)
                case .hyperliquid: HyperliquidVenue(baseURL: base, isMainnet: !testnets.contains(.hyperliquid), client: client)
                }
        }
        self.adapters = adapters
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

    /// The adapter for `venue`; nil for the paper venue, which is not an exchange.
    public func venue(_ id: VenueID) -> (any Venue)? { self.adapters[id] }

    public static func describe(_ id: VenueID) -> VenueDescription {
        let binanceForbidden = ["enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer"]
        let (required, forbidden): ([String], [String]) =
            switch id {
            case .paper: ([], [])
            case .binance: (["enableReading", "enableSpotAndMarginTrading"], binanceForbidden)
            case .binanceUSDM: (["enableReading", "enableFutures"], binanceForbidden)
            case .bybit:
                (
                    ["ContractTrade.Order", "ContractTrade.Position"],
                    ["Wallet.Withdraw", "Wallet.AccountTransfer", "Wallet.SubMemberTransfer", "Wallet.SubMemberTransferList"]
                        + BybitVenue.fundsOutGroups.sorted().map { "\($0).*" }
                )
            case .okx: (["read_only", "trade"], ["withdraw"])
            case .coinbase: (["can_view", "can_trade"], ["can_transfer"])
            case .kraken: (["query-funds", "query-open-trades", "modify-trades", "close-trades"], Array(KrakenVenue.withdrawal).sorted())
            case .hyperliquid: (["agent"], ["user"])
            }
        return VenueDescription(
            id: id,
            name: id.displayName,
            requiredScopes: required,
            forbiddenScopes: forbidden,
            supportsIPAllowlist: KeyGuide.supportsIPAllowlist(id)
        )
    }
}
