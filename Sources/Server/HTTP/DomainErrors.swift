// Which HTTP answer each domain error becomes: the domain modules know codes and messages, only Server knows statuses.

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
            case .inUse: .conflict
            }
        return APIError(status, code: self.code, message: self.message)
    }
}
