// Identifiers of the venues Tradekeep can trade on (API.md, GET /venues).

import Foundation

/// A trading venue. The raw value is the id used in the API and in TRADEKEEP_VENUE_<ID>_BASE_URL.
public enum VenueID: String, CaseIterable, Sendable, Codable {
    case paper
    case binance
    case binanceUSDM = "binance-usdm"
    case bybit
    case okx
    case coinbase
    case kraken
    case hyperliquid

    /// The suffix of the venue's base-URL variable, e.g. `BINANCE_USDM`.
    public var environmentName: String { self.rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }
}
