// What a venue says an API key can do: the facts its introspection endpoint reported, in one shape for all venues.

import Foundation
import Vault

/// The key material a user hands over. `apiKey` is an identifier (Binance's API key, a Coinbase key name, a
/// Hyperliquid master address); `secret` and `passphrase` are secrets and live only in `SecretBytes`.
public struct VenueCredentials: Sendable {
    public var apiKey: String
    public var secret: SecretBytes
    public var passphrase: SecretBytes?

    public init(apiKey: String, secret: SecretBytes, passphrase: SecretBytes? = nil) {
        self.apiKey = apiKey
        self.secret = secret
        self.passphrase = passphrase
    }

    /// The last four characters of the key's identifier: enough for a person to tell keys apart.
    public var keyHint: String { String(self.apiKey.suffix(4)) }
}

/// Whether and how a key is locked to IP addresses.
public enum IPRestriction: Sendable, Equatable {
    /// The key works from anywhere.
    case unrestricted
    /// The key works only from these addresses (or CIDR ranges).
    case addresses([String])
    /// The venue says the key is restricted but does not reveal the list (Binance).
    case restrictedUnlisted
    /// The venue does not report IP restrictions at all (Coinbase).
    case unknown
    /// The venue has no IP restrictions for keys (Hyperliquid API wallets sign; there is no key to lock).
    case notOffered

    /// `true`, `false`, or nil when unknown: the API's `ip_restricted`.
    public var isRestricted: Bool? {
        switch self {
        case .unrestricted: false
        case .addresses, .restrictedUnlisted: true
        case .unknown, .notOffered: nil
        }
    }
}

/// The facts a venue reported about a key. Permission names are the venue's own, so a person can match them
/// with what the venue's key-management page shows.
public struct KeyInspection: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        /// An ordinary API key (or a Hyperliquid agent wallet acting for `master`).
        case tradingKey
        /// A Hyperliquid master wallet's private key: it can withdraw, so it is never accepted.
        case masterWallet
        /// The venue's answer does not let us tell what the key can do.
        case unverifiable(reason: String)
        /// The venue, as configured, cannot be asked at all (Binance's testnets have no key introspection).
        case notInspected
    }

    public var venue: VenueID
    public var role: Role
    /// Every permission the venue reported as granted, in the venue's words.
    public var permissions: [String]
    public var canTrade: Bool
    /// Granted permissions that can withdraw funds off the venue.
    public var withdrawalPermissions: [String]
    /// Granted permissions that can move funds between accounts (internal/universal/sub-account transfers).
    public var transferPermissions: [String]
    public var ipRestriction: IPRestriction

    public init(
        venue: VenueID,
        role: Role = .tradingKey,
        permissions: [String],
        canTrade: Bool,
        withdrawalPermissions: [String] = [],
        transferPermissions: [String] = [],
        ipRestriction: IPRestriction
    ) {
        self.venue = venue
        self.role = role
        self.permissions = permissions
        self.canTrade = canTrade
        self.withdrawalPermissions = withdrawalPermissions
        self.transferPermissions = transferPermissions
        self.ipRestriction = ipRestriction
    }
}
