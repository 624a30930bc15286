// Which HTTP answer each domain error becomes: the domain modules know codes and messages, only Server knows statuses.

import Accounts
import AsyncKit
import Bots
import Hummingbird
import Venues

extension BotError: APIErrorConvertible {
    var apiError: APIError {
        let status: HTTPResponse.Status =
            switch self {
            case .notFound, .signalNotFound: .notFound
            case .invalidParameters, .credentialRequired, .notASignalBot, .invalidSignal, .signalQuantityAboveLimit, .orderRefused:
                .unprocessableContent
            case .running, .notRunning, .tradingHalted, .botLimitReached, .runningLimitReached, .duplicateSignal, .riskStop: .conflict
            case .venue(let error):
                switch error {
                case .notSupported: .unprocessableContent
                case .unavailable: .serviceUnavailable
                default: .badGateway
                }
            case .stopIncomplete: .serviceUnavailable
            }
        return APIError(status, code: self.code, message: self.message)
    }
}

extension CredentialError: APIErrorConvertible {
    var apiError: APIError {
        let status: HTTPResponse.Status =
            switch self {
            case .notFound: .notFound
            case .invalidLabel, .unknownVenue, .invalidKeyMaterial, .rejected: .unprocessableContent
            case .venueUnreachable: .badGateway
            case .venueUnavailable: .serviceUnavailable
            case .inUse, .disabled: .conflict
            }
        return APIError(status, code: self.code, message: self.message)
    }
}

extension PasswordHashingBusy: APIErrorConvertible {
    /// The hashing queue is full (a login flood): come back shortly rather than wait behind it.
    var apiError: APIError { .busy("The server is busy checking passwords. Try again in a few seconds.") }
}

extension ConnectionPoolTimeoutError: APIErrorConvertible {
    /// No database connection came free in time: a queue too long, not a fault of the request.
    var apiError: APIError { .busy("The server is busy. Try again in a few seconds.") }
}

extension APIError {
    /// 503 `busy` with Retry-After: nothing was done; the same request later will be served.
    static func busy(_ message: String) -> APIError {
        APIError(.serviceUnavailable, code: "busy", message: message, headers: [.retryAfter: "5"])
    }
}
