// The ways a call to a venue can fail, each with a message a person can act on and no key material in it.

import Foundation

public enum VenueError: Error, Sendable, CustomStringConvertible {
    /// The venue could not be reached, timed out, or answered something that is not its API (5xx, HTML).
    case unreachable(VenueID, String)
    /// The venue asked us to slow down; nothing was done. `retryAfter` is when it may be asked again.
    case rateLimited(VenueID, retryAfter: Duration)
    /// The venue answered the request with an error of its own (bad key, bad signature, order refused…).
    case rejected(VenueID, code: String, message: String)
    /// This operation is not implemented for this venue yet.
    case notSupported(VenueID, String)
    /// The venue's answer did not have the documented shape.
    case invalidResponse(VenueID, String)
    /// Something this machine lacks (e.g. libsecp256k1 for Hyperliquid).
    case unavailable(VenueID, String)

    public var venue: VenueID {
        switch self {
        case .unreachable(let venue, _), .rateLimited(let venue, _), .rejected(let venue, _, _), .notSupported(let venue, _),
            .invalidResponse(let venue, _), .unavailable(let venue, _):
            venue
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let venue, let reason): "\(venue.displayName) could not be reached (\(reason)). Try again later."
        case .rateLimited(let venue, let retryAfter):
            "\(venue.displayName) asked us to slow down; try again in \(retryAfter.components.seconds + 1) s."
        case .rejected(let venue, let code, let message): "\(venue.displayName) refused the request (\(code): \(message))."
        case .notSupported(let venue, let operation): "\(operation) on \(venue.displayName) is not supported yet."
        case .invalidResponse(let venue, let detail): "\(venue.displayName) answered in an unexpected shape (\(detail))."
        case .unavailable(let venue, let detail): "\(venue.displayName) is unavailable on this server: \(detail)"
        }
    }

    /// What a user may read: no transport error types, no response bodies (those go to the log under the error id).
    public var publicMessage: String {
        switch self {
        case .unreachable(let venue, _): "\(venue.displayName) could not be reached. Try again later."
        case .invalidResponse(let venue, _): "\(venue.displayName) answered in an unexpected shape. Try again later."
        case .unavailable(let venue, _): "\(venue.displayName) is unavailable on this server."
        case .rateLimited, .rejected, .notSupported: self.description
        }
    }
}
