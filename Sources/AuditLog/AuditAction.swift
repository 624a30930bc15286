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
}
