// Why a bot operation was refused: a machine code and a message a person can act on. Only the Server module
// knows which HTTP status each becomes.

import Foundation
import Venues

public enum BotError: Error, Sendable {
    case notFound
    case invalidParameters(String)
    case credentialRequired(VenueID)
    case running
    case notRunning
    case tradingHalted
    case botLimitReached(Int)
    case runningLimitReached(Int)
    case notASignalBot
    /// An unknown bot and a wrong secret are the same answer.
    case signalNotFound
    case invalidSignal(String)
    case duplicateSignal
    case signalQuantityAboveLimit(Decimal)
    /// The pre-trade checks refused the order; the bot goes on.
    case orderRefused(String)
    /// The order would have breached a risk limit; the bot stopped.
    case riskStop(String)
    case venue(VenueError)
    /// A kill switch or halt could not stop every bot: what it did, and what failed.
    case stopIncomplete(String)

    public var code: String {
        switch self {
        case .notFound, .signalNotFound: "not_found"
        case .invalidParameters: "invalid_params"
        case .credentialRequired: "credential_required"
        case .running: "bot_running"
        case .notRunning: "bot_not_running"
        case .tradingHalted: "trading_halted"
        case .botLimitReached: "bot_limit_reached"
        case .runningLimitReached: "running_bot_limit_reached"
        case .notASignalBot: "not_a_signal_bot"
        case .invalidSignal: "invalid_signal"
        case .duplicateSignal: "duplicate_signal"
        case .signalQuantityAboveLimit: "signal_quantity_above_limit"
        case .orderRefused: "order_refused"
        case .riskStop: "risk_limit"
        case .venue(let error):
            switch error {
            case .notSupported: "not_supported"
            case .unavailable: "venue_unavailable"
            default: "venue_unreachable"
            }
        case .stopIncomplete: "stop_incomplete"
        }
    }

    /// A venue failure for a person: what happened and what to do, without the transport's internals (they are in
    /// the log).
    static func describe(_ error: VenueError) -> String {
        let venue = error.venue.displayName
        switch error {
        case .unreachable, .invalidResponse: return "\(venue) could not be reached or answered unexpectedly. Try again later."
        case .rateLimited: return error.description
        case .rejected(_, let code, _): return "\(venue) refused the request (\(code))."
        case .notSupported, .unavailable: return error.description
        }
    }

    public var message: String {
        switch self {
        case .notFound: "You have no bot with this id."
        case .invalidParameters(let message): message
        case .credentialRequired(let venue):
            "A \(venue.displayName) bot needs `credential_id` of one of your verified \(venue.displayName) keys."
        case .running: "Stop the bot before changing its parameters."
        case .notRunning: "Start the bot to act on signals."
        case .tradingHalted: "An administrator has halted all trading on this server."
        case .botLimitReached(let limit): "You have \(limit) bots, the most this server allows. Delete one first."
        case .runningLimitReached(let limit): "You have \(limit) running bots, the most this server allows. Stop one first."
        case .notASignalBot: "Only signal bots have a webhook secret."
        case .signalNotFound: "No bot takes signals with this id and secret."
        case .invalidSignal(let message): message
        case .duplicateSignal: "A signal with this id was already received."
        case .signalQuantityAboveLimit(let limit):
            "`quantity` is above this bot's max_signal_quantity (\(limit.plain)). Ask for less, or raise the bot's limit."
        case .orderRefused(let reason): reason
        case .riskStop(let reason): reason
        case .venue(let error): BotError.describe(error)
        case .stopIncomplete(let message): message
        }
    }
}
