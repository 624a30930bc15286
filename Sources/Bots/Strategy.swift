// The trading strategies a bot can run (SPEC §5).

import Venues

/// A bot's strategy, as named in the API.
public enum Strategy: String, CaseIterable, Sendable, Codable {
    case grid
    case dca
    case signal
}

/// Where a bot trades: every bot starts on the paper venue unless a verified key is attached.
public struct BotPlacement: Sendable, Equatable {
    public var venue: VenueID
    public var symbol: String

    public init(venue: VenueID = .paper, symbol: String) {
        self.venue = venue
        self.symbol = symbol
    }
}
