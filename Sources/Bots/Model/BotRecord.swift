// A bot and its orders as stored: typed values (statuses, decimals, parameters), never strings passed around.

import Foundation
import Venues

/// A bot's strategy parameters. Exactly one strategy's, so nothing is force-unwrapped.
public enum StrategyParameters: Sendable, Equatable {
    case grid(GridParameters)
    case dca(DCAParameters)
    case signal(SignalParameters)

    public var strategy: Strategy {
        switch self {
        case .grid: .grid
        case .dca: .dca
        case .signal: .signal
        }
    }

    /// A fresh state for this strategy (a new bot, or new parameters).
    public var initialState: StrategyState {
        switch self {
        case .grid: .grid(GridState())
        case .dca: .dca(DCAState())
        case .signal: .signal
        }
    }
}

/// A bot's parameters: its strategy's and its risk limits.
public struct BotParameters: Sendable, Equatable {
    public var strategy: StrategyParameters
    public var risk: RiskLimits

    public init(_ strategy: StrategyParameters, risk: RiskLimits = RiskLimits()) {
        self.strategy = strategy
        self.risk = risk
    }
}

/// What a strategy remembers between steps.
public enum StrategyState: Sendable, Equatable {
    case grid(GridState)
    case dca(DCAState)
    /// Signal bots act on webhooks only and keep no state.
    case signal
}

/// What the bot's own fills add up to: the base it holds and the quote it spent or received (negative: spent),
/// and the equity it had at the start of the current UTC day, for the daily-loss limit.
public struct BotLedger: Sendable, Equatable {
    public var position: Decimal
    public var quoteFlow: Decimal
    public var dayStart: Date?
    public var dayStartEquity: Decimal?

    public init(position: Decimal = 0, quoteFlow: Decimal = 0, dayStart: Date? = nil, dayStartEquity: Decimal? = nil) {
        self.position = position
        self.quoteFlow = quoteFlow
        self.dayStart = dayStart
        self.dayStartEquity = dayStartEquity
    }

    /// What the bot's trading is worth at `price`: its quote flow plus what it holds.
    public func equity(at price: Decimal) -> Decimal { self.quoteFlow + self.position * price }
}

public struct BotRecord: Sendable, Equatable {
    public var id: UUID
    public var userID: UUID
    public var name: String
    public var venue: VenueID
    /// The owner's verified key for a live venue; nil on the paper venue.
    public var credentialID: UUID?
    public var symbol: String
    public var parameters: BotParameters
    public var status: BotStatus
    /// Why the bot is not running, or what it is waiting for: a sentence for a person.
    public var statusReason: String?
    public var state: StrategyState
    /// The last client-order sequence number used: ids are derived from it, and it is saved before each order goes out.
    public var sequence: Int64
    public var webhookSecretHash: Data?
    public var ledger: BotLedger
    public var createdAt: Date
    public var updatedAt: Date

    public var strategy: Strategy { self.parameters.strategy.strategy }

    public init(
        id: UUID,
        userID: UUID,
        name: String,
        venue: VenueID,
        credentialID: UUID?,
        symbol: String,
        parameters: BotParameters,
        status: BotStatus,
        statusReason: String?,
        state: StrategyState,
        sequence: Int64,
        webhookSecretHash: Data?,
        ledger: BotLedger,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.venue = venue
        self.credentialID = credentialID
        self.symbol = symbol
        self.parameters = parameters
        self.status = status
        self.statusReason = statusReason
        self.state = state
        self.sequence = sequence
        self.webhookSecretHash = webhookSecretHash
        self.ledger = ledger
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// A bot as created: stopped, its strategy's initial state, no orders yet, nothing traded.
    public init(newFor owner: UUID, name: String, venue: VenueID, credentialID: UUID?, symbol: String, parameters: BotParameters, at now: Date) {
        self.init(
            id: UUID(),
            userID: owner,
            name: name,
            venue: venue,
            credentialID: credentialID,
            symbol: symbol,
            parameters: parameters,
            status: .stopped,
            statusReason: nil,
            state: parameters.strategy.initialState,
            sequence: 0,
            webhookSecretHash: nil,
            ledger: BotLedger(),
            createdAt: now,
            updatedAt: now
        )
    }
}

/// One of a bot's orders as stored: the strategy's view of it, and bookkeeping.
public struct BotOrderRecord: Sendable, Equatable {
    public var id: UUID
    public var botID: UUID
    public var userID: UUID
    public var order: BotOrder
    /// Whether the bot's strategy has been told this order ended (each fill is told once).
    public var reported: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID, botID: UUID, userID: UUID, order: BotOrder, reported: Bool = false, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.botID = botID
        self.userID = userID
        self.order = order
        self.reported = reported
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Client order ids name the order at the venue: derived from the bot and a saved sequence number, so a retry or a
/// restart reuses the id of the order it may already have sent, never a fresh one.
public enum ClientOrderID {
    public static func make(bot: UUID, sequence: Int64) -> String {
        let hex = bot.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return "tk" + hex.prefix(12) + "-" + String(sequence)
    }
}
