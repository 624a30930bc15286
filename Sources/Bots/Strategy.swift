// The trading strategies a bot can run (SPEC §5).

/// A bot's strategy, as named in the API.
public enum Strategy: String, CaseIterable, Sendable, Codable {
    case grid
    case dca
    case signal
}
