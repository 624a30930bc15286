// The one policy every exchange key passes before it is stored (SPEC §4): a decision with a reason a person can act on.

import Foundation

/// Why a key is refused (or, under the warn policy, what is wrong with it). `code` is the API's machine code.
public struct KeyRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case withdrawalPermission = "withdrawal_permission"
        case transferPermission = "transfer_permission"
        case tradePermissionMissing = "trade_permission_missing"
        case ipAllowlistMissing = "ip_allowlist_missing"
        case ipAllowlistMismatch = "ip_allowlist_mismatch"
        case unverifiableKey = "unverifiable_key"
        case masterWalletKey = "master_wallet_key"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code.rawValue): \(self.message)" }
}

/// The policy's answer for one inspected key.
public enum KeyDecision: Sendable, Equatable {
    /// Store the key. `warnings` are what the operator chose to tolerate (TRADEKEEP_IP_ALLOWLIST=warn, unknown IP lock).
    case accepted(warnings: [KeyRejection])
    case rejected(KeyRejection)
}

/// SPEC §4: no withdrawal or transfer permission, must trade, must be locked to the platform's egress IPs.
public struct KeyPolicy: Sendable {
    public enum IPAllowlistMode: String, Sendable, CaseIterable {
        case required, warn
    }

    /// The platform's published outbound addresses (TRADEKEEP_EGRESS_IPS).
    public var egressIPs: [String]
    public var ipAllowlist: IPAllowlistMode
    /// Testnet venues without key introspection whose keys the operator lets users store unverified
    /// (TRADEKEEP_UNVERIFIED_VENUES); every other uninspected key is refused.
    public var unverifiedVenues: Set<VenueID>

    public init(egressIPs: [String], ipAllowlist: IPAllowlistMode = .required, unverifiedVenues: Set<VenueID> = []) {
        self.egressIPs = egressIPs
        self.ipAllowlist = ipAllowlist
        self.unverifiedVenues = unverifiedVenues
    }

    public func evaluate(_ inspection: KeyInspection) -> KeyDecision {
        let venue = inspection.venue
        let guide = KeyGuide(venue: venue)
        if inspection.role == .masterWallet {
            return .rejected(
                KeyRejection(
                    .masterWalletKey,
                    "This is the private key of a \(venue.displayName) master wallet, which can withdraw everything. \(guide.masterWallet)"
                )
            )
        }
        // What the venue did say is reported first, even when other parts of its answer are not understood.
        if !inspection.withdrawalPermissions.isEmpty {
            let names = inspection.withdrawalPermissions.joined(separator: ", ")
            return .rejected(
                KeyRejection(
                    .withdrawalPermission,
                    "This key can withdraw funds (\(names)). Tradekeep never stores such a key. \(guide.removeWithdrawal) \(self.restrictHint(guide))"
                )
            )
        }
        if !inspection.transferPermissions.isEmpty {
            let names = inspection.transferPermissions.joined(separator: ", ")
            return .rejected(
                KeyRejection(
                    .transferPermission,
                    "This key can move funds between accounts (\(names)). Tradekeep never stores such a key. \(guide.removeTransfer)"
                )
            )
        }
        if inspection.role == .notInspected {
            let name = venue.displayName
            guard self.unverifiedVenues.contains(venue) else {
                return .rejected(
                    KeyRejection(
                        .unverifiableKey,
                        "\(name)'s testnet cannot tell what a key can do, so Tradekeep cannot check this key. "
                            + "The operator can allow unverified testnet keys with TRADEKEEP_UNVERIFIED_VENUES=\(venue.rawValue)."
                    )
                )
            }
            let warning =
                "Not verified: \(name)'s testnet cannot tell what a key can do, and this server stores testnet keys unchecked "
                + "(TRADEKEEP_UNVERIFIED_VENUES)."
            return .accepted(warnings: [KeyRejection(.unverifiableKey, warning)])
        }
        if case .unverifiable(let reason) = inspection.role {
            return .rejected(KeyRejection(.unverifiableKey, "\(reason) The key was not stored."))
        }
        if !inspection.canTrade {
            return .rejected(KeyRejection(.tradePermissionMissing, "This key cannot trade, so a bot could not use it. \(guide.enableTrading)"))
        }
        var warnings: [KeyRejection] = []
        if let (problem, refusable) = self.ipProblem(inspection.ipRestriction, guide: guide) {
            if refusable && self.ipAllowlist == .required { return .rejected(problem) }
            warnings.append(problem)
        }
        return .accepted(warnings: warnings)
    }

    /// What is wrong with the key's IP lock, and whether `required` refuses the key for it.
    private func ipProblem(_ restriction: IPRestriction, guide: KeyGuide) -> (KeyRejection, refusable: Bool)? {
        switch restriction {
        case .unrestricted, .addresses([]):
            return (
                KeyRejection(
                    .ipAllowlistMissing,
                    "This key works from any IP address, so anyone who copied it could trade with it. \(guide.restrictIPs) \(self.egressSentence)"
                ), true
            )
        case .addresses(let addresses):
            let outside = addresses.filter { !self.isEgress($0) }
            if outside.isEmpty { return nil }
            return (
                KeyRejection(
                    .ipAllowlistMismatch,
                    "This key also allows addresses that are not this server's (\(outside.joined(separator: ", "))). \(guide.restrictIPs) \(self.egressSentence)"
                ), true
            )
        case .notOffered:
            return nil
        case .restrictedUnlisted:
            // Binance says "restricted" without revealing the list: our answered call shows it includes this server,
            // not that it includes nothing else. Stored, with what to check.
            return (
                KeyRejection(
                    .ipAllowlistMismatch,
                    "\(guide.venue.displayName) does not reveal which addresses this key allows; make sure they are only \(self.egressIPs.isEmpty ? "this server's" : self.egressIPs.joined(separator: ", "))."
                ), false
            )
        case .unknown:
            // The venue offers no way to tell, so even `required` can only warn (SPEC §4 issue notes: Coinbase).
            return (
                KeyRejection(
                    .ipAllowlistMissing,
                    "\(guide.venue.displayName) does not report whether this key is locked to IP addresses; make sure it is."
                ), false
            )
        }
    }

    private func restrictHint(_ guide: KeyGuide) -> String {
        guard KeyGuide.supportsIPAllowlist(guide.venue) else { return "" }
        return self.egressIPs.isEmpty ? "" : "Also restrict access to \(self.egressIPs.joined(separator: ", "))."
    }

    private var egressSentence: String {
        self.egressIPs.isEmpty
            ? "This server publishes no egress IPs yet: its operator must set TRADEKEEP_EGRESS_IPS."
            : "Allow only \(self.egressIPs.joined(separator: ", "))."
    }

    /// Whether `entry` (an address or a CIDR range from the venue) lies inside the published egress list.
    /// A range is accepted only if it is a single address (/32 or /128) that is published.
    func isEgress(_ entry: String) -> Bool {
        let trimmed = entry.trimmingCharacters(in: .whitespaces)
        var address = trimmed
        if let slash = trimmed.firstIndex(of: "/") {
            let bits = trimmed[trimmed.index(after: slash)...]
            guard bits == "32" || bits == "128" else { return false }
            address = String(trimmed[..<slash])
        }
        return self.egressIPs.contains { $0.caseInsensitiveCompare(address) == .orderedSame }
    }
}

/// Where on each venue's website a person fixes what the policy found.
struct KeyGuide {
    let venue: VenueID

    static func supportsIPAllowlist(_ venue: VenueID) -> Bool {
        switch venue {
        case .binance, .binanceUSDM, .bybit, .okx, .kraken: true
        case .coinbase, .hyperliquid, .paper: false
        }
    }

    var removeWithdrawal: String {
        switch self.venue {
        case .binance, .binanceUSDM: "On Binance: API Management → Edit restrictions → untick Enable Withdrawals."
        case .bybit: "On Bybit: API Management → Edit → under Assets untick Withdrawal (keep Contract/Unified Trading → Orders and Positions)."
        case .okx: "On OKX: API → create a key with the Read and Trade permissions only (OKX cannot remove Withdraw from an existing key)."
        case .coinbase: "On Coinbase Developer Platform: create an API key with View and Trade only — not Transfer."
        case .kraken: "On Kraken: Settings → API → edit the key and untick Withdraw Funds."
        case .hyperliquid, .paper: "Use an API (agent) wallet, which cannot withdraw."
        }
    }

    var removeTransfer: String {
        switch self.venue {
        case .binance, .binanceUSDM:
            "On Binance: API Management → Edit restrictions → untick Permits Universal Transfer and Enable Internal Transfer."
        case .bybit: "On Bybit: API Management → Edit → under Assets untick Account Transfer and Subaccount Transfer."
        case .okx: "On OKX: create a key with the Read and Trade permissions only."
        case .coinbase: "On Coinbase Developer Platform: create an API key with View and Trade only — not Transfer."
        case .kraken: "On Kraken: Settings → API → edit the key and untick every Funds permission except Query Funds."
        case .hyperliquid, .paper: "Use an API (agent) wallet, which cannot move funds."
        }
    }

    var enableTrading: String {
        switch self.venue {
        case .binance: "On Binance: API Management → Edit restrictions → tick Enable Spot & Margin Trading."
        case .binanceUSDM: "On Binance: API Management → Edit restrictions → tick Enable Futures."
        case .bybit: "On Bybit: API Management → Edit → choose Read-Write and tick Contract (or Unified Trading) → Orders and Positions."
        case .okx: "On OKX: create a key with the Trade permission."
        case .coinbase: "On Coinbase Developer Platform: give the API key the Trade permission."
        case .kraken: "On Kraken: Settings → API → edit the key and tick Create & Modify Orders and Cancel & Close Orders."
        case .hyperliquid, .paper: "Approve the API wallet for trading on app.hyperliquid.xyz → More → API."
        }
    }

    var restrictIPs: String {
        switch self.venue {
        case .binance, .binanceUSDM: "On Binance: API Management → Edit restrictions → Restrict access to trusted IPs only."
        case .bybit: "On Bybit: API Management → Edit → Only IPs with permissions granted are allowed to access the OpenAPI."
        case .okx: "On OKX: API → edit the key → link IP addresses."
        case .kraken: "On Kraken: Settings → API → edit the key → IP allowlisting."
        case .coinbase, .hyperliquid, .paper: "This venue does not offer IP restrictions for keys."
        }
    }

    var masterWallet: String {
        "Create an API wallet on app.hyperliquid.xyz → More → API, authorise it for your account, and give Tradekeep that API wallet's private key with your account address as api_key."
    }
}

extension VenueID {
    /// The venue's name as people know it.
    public var displayName: String {
        switch self {
        case .paper: "Paper trading"
        case .binance: "Binance"
        case .binanceUSDM: "Binance USDⓈ-M Futures"
        case .bybit: "Bybit"
        case .okx: "OKX"
        case .coinbase: "Coinbase Advanced Trade"
        case .kraken: "Kraken"
        case .hyperliquid: "Hyperliquid"
        }
    }
}
