// Plain values the account store returns: the Server module never touches a database row type.

import Foundation

public enum AccountStatus: String, Sendable, Codable {
    /// Registered, TOTP not yet confirmed: the account can only enrol.
    case pendingTOTP = "pending_totp"
    case active
    /// Locked by an administrator (as opposed to the temporary lockout after failed logins).
    case disabled
}

public enum AccountRole: String, Sendable, Codable {
    case user
    case admin
}

public struct UserRecord: Sendable, Equatable {
    public let id: UUID
    public let email: String
    public let emailVerifiedAt: Date?
    public let passwordHash: String
    public let status: AccountStatus
    public let role: AccountRole
    public let totpSecretID: UUID?
    public let totpLastStep: Int64?
    public let failedLogins: Int
    public let lockedUntil: Date?
    public let createdAt: Date
}

public struct SessionRecord: Sendable, Equatable {
    public let id: UUID
    public let userID: UUID
    public let createdAt: Date
    public let lastSeenAt: Date
    public let expiresAt: Date
    public let ip: String?
    public let userAgent: String?
    public let revokedAt: Date?

    public func isActive(at now: Date) -> Bool { self.revokedAt == nil && self.expiresAt > now }
}

public enum OneTimeTokenPurpose: String, Sendable, Codable, CaseIterable {
    case mfa
    case enrollment
    case emailVerification = "email_verification"
    case passwordReset = "password_reset"
}

public struct OneTimeTokenRecord: Sendable, Equatable {
    public let id: UUID
    public let userID: UUID
    public let purpose: OneTimeTokenPurpose
    public let expiresAt: Date
    public let attempts: Int
}

public enum RefreshOutcome: Sendable, Equatable {
    /// A valid, unused token: it is now spent, and the session may get a new one.
    case rotated(sessionID: UUID, userID: UUID)
    /// A token that was already spent: somebody replayed it. The caller revokes the session family.
    case reused(sessionID: UUID, userID: UUID)
    case invalid
}

public struct StoredAuditEvent: Sendable, Equatable {
    public let id: UUID
    public let userID: UUID?
    public let action: String
    public let ip: String?
    public let userAgent: String?
    public let details: [String: String]
    public let createdAt: Date
}

/// The outcome of counting an attempt before evaluating it.
public enum AttemptReservation: Sendable, Equatable {
    /// Evaluate it: the attempt's number among the consecutive failures counted (1-based).
    case granted(attempt: Int)
    /// Do not evaluate it: the account is locked (until then), or attempts in flight have used the allowance (nil).
    case refused(lockedUntil: Date?)
}
