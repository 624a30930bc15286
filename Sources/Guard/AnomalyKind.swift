// The kinds of anomaly the background scanner flags (SPEC §7).

import AuditLog

/// A pattern in the audit log worth alerting the user and the admins about. The raw values are stable: they are
/// stored with each alert, shown by the API and used for deduplication.
public enum AnomalyKind: String, CaseIterable, Sendable, Codable {
    /// More than `rapidFireOpens` orders placed on one account within `rapidFireWindow`.
    case rapidFireTrading = "rapid_fire_trading"
    /// A sign-in or an action from an IP address not seen on the account in `newIPLookback`.
    case newIPAddress = "new_ip_address"
    /// Failed sign-ins for many accounts from one IP address (an operator alert), or from many IP addresses on one
    /// account (the account's owner is alerted too).
    case credentialStuffing = "credential_stuffing"
    /// A TOTP code used a second time: someone who saw a code tried it again.
    case totpReplay = "totp_replay"
    /// Several exchange keys refused by the key policy on one account within `rejectedKeysWindow`.
    case repeatedRejectedKeys = "repeated_rejected_keys"
    /// A bot stopped by a risk limit or by failing.
    case botStopped = "bot_stopped"
    /// A stored exchange key failed its re-check (a forbidden permission, no IP lock, revoked) and was disabled.
    case keyDisabled = "key_disabled"
}

extension ClientInfo {
    /// The anomaly scanner and the alert deliveries, acting on their own.
    public static let scanner = ClientInfo(ip: nil, userAgent: "anomaly-scanner")
}
