// The kinds of anomaly the background scanner flags (SPEC §7).

import AuditLog

/// A pattern in the audit log worth alerting the user and the admins about.
public enum AnomalyKind: String, CaseIterable, Sendable, Codable {
    case rapidFireTrading = "rapid_fire_trading"
    case newIPAddress = "new_ip_address"
    case credentialStuffing = "credential_stuffing"
    case totpReplay = "totp_replay"
    case repeatedRejectedKeys = "repeated_rejected_keys"
}
