// The trading strategies a bot can run and the states a bot can be in (SPEC §5).

/// A bot's strategy, as named in the API.
public enum Strategy: String, CaseIterable, Sendable, Codable {
    case grid
    case dca
    case signal
}

/// Where a bot is in its life. Only `running` bots trade; every other status is a stop with a reason.
public enum BotStatus: String, CaseIterable, Sendable, Codable {
    case stopped
    case running
    /// A risk limit was reached; the bot stays stopped until its owner starts it again.
    case riskStopped = "risk_stopped"
    /// The kill switch (per bot or account-wide) stopped it and cancelled its orders.
    case killed
    /// Something the engine cannot recover from (its key was deleted, the venue refuses it).
    case failed
}
