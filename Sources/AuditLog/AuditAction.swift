// Stable names of audited actions: they are part of the export format and must never change meaning.

/// An action recorded in the audit log.
public struct AuditAction: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    // Accounts (issue 3 names these; they are stable).
    public static let login: AuditAction = "auth.login"
    public static let loginFailed: AuditAction = "auth.login_failed"
    public static let locked: AuditAction = "auth.locked"
    public static let totpEnrolled: AuditAction = "auth.totp_enrolled"
    public static let totpReplay: AuditAction = "auth.totp_replay"
    public static let logout: AuditAction = "auth.logout"
    public static let sessionRevoked: AuditAction = "auth.session_revoked"
    public static let passwordChanged: AuditAction = "auth.password_changed"
    public static let passwordReset: AuditAction = "auth.password_reset"
    public static let backupCodes: AuditAction = "auth.backup_codes"
    public static let registered: AuditAction = "auth.registered"
    public static let emailVerified: AuditAction = "auth.email_verified"
    public static let adminLockedUser: AuditAction = "admin.user_locked"
    public static let adminUnlockedUser: AuditAction = "admin.user_unlocked"
}

extension AuditAction {
    // Exchange keys (issue 5; stable names). `credential.rejected` carries the reason only, never key material.
    public static let credentialAdded: AuditAction = "credential.added"
    public static let credentialRejected: AuditAction = "credential.rejected"
    public static let credentialRotated: AuditAction = "credential.rotated"
    public static let credentialDeleted: AuditAction = "credential.deleted"
    // Issue 14: a stored key that failed its re-check (a forbidden permission, no IP lock, revoked) is disabled.
    public static let credentialDisabled: AuditAction = "credential.disabled"
}

extension AuditAction {
    // Bots and orders (issue 6; stable names).
    public static let botDeployed: AuditAction = "bot.deployed"
    public static let botParamsChanged: AuditAction = "bot.params_changed"
    public static let botStarted: AuditAction = "bot.started"
    public static let botStopped: AuditAction = "bot.stopped"
    public static let botKilled: AuditAction = "bot.killed"
    public static let botRiskStop: AuditAction = "bot.risk_stop"
    public static let botFailed: AuditAction = "bot.failed"
    public static let botDeleted: AuditAction = "bot.deleted"
    public static let botWebhookSecret: AuditAction = "bot.webhook_secret_regenerated"
    public static let orderPlaced: AuditAction = "order.placed"
    public static let orderCancelled: AuditAction = "order.cancelled"
    public static let orderFilled: AuditAction = "order.filled"
    public static let accountKillSwitch: AuditAction = "account.kill_switch"
    public static let signalReceived: AuditAction = "signal.received"
    public static let tradingHalted: AuditAction = "admin.trading_halted"
    public static let tradingResumed: AuditAction = "admin.trading_resumed"
}

extension AuditAction {
    // The audit log itself (issue 12; stable names).
    public static let auditExported: AuditAction = "audit.exported"
}

extension AuditAction {
    // Alerts (issue 14; stable names). An alert's entry names its kind, never more than the alert's message says.
    public static let alertRaised: AuditAction = "alert.raised"
    public static let alertDelivered: AuditAction = "alert.delivered"
    public static let alertDeliveryFailed: AuditAction = "alert.delivery_failed"
    public static let alertAcknowledged: AuditAction = "alert.acknowledged"
    public static let anomalyScanRequested: AuditAction = "admin.anomaly_scan"
    public static let telegramLinked: AuditAction = "telegram.linked"
    public static let telegramUnlinked: AuditAction = "telegram.unlinked"
}
