// Email verification, password reset and change, backup-code regeneration, step-up checks, admin actions.

import Accounts
import AuditLog
import Foundation
import Guard
import HTTPTypes
import Logging
import Storage

extension AuthService {
    // MARK: Email verification

    func sendEmailVerification(userID: UUID, email: String) async throws {
        let token = OpaqueToken.generate()
        try await self.store.createOneTimeToken(
            userID: userID,
            purpose: .emailVerification,
            tokenHash: OpaqueToken.hash(token),
            expiresAt: self.now().addingTimeInterval(Self.emailVerificationLifetime)
        )
        let link = self.link("api/v1/auth/verify-email", token: token)
        try await self.mailer.send(
            MailMessage(
                to: email,
                subject: "Confirm your email for Tradekeep",
                body: """
                    Welcome to Tradekeep. Confirm this address by opening:

                    \(link)

                    The link works once, for 48 hours. If you did not register, ignore this message.
                    """
            )
        )
    }

    func verifyEmail(token: String, client: ClientInfo) async throws {
        guard let record = try await self.store.oneTimeToken(hash: OpaqueToken.hash(token), purpose: .emailVerification, now: self.now()),
            try await self.store.consumeOneTimeToken(id: record.id)
        else { throw APIError.invalidToken }
        try await self.store.markEmailVerified(userID: record.userID)
        try await self.record(.emailVerified, record.userID, client)
    }

    // MARK: Password reset

    /// Answer at once, whatever the email: the lookup and the mail happen in the background, so neither the
    /// answer nor its timing says whether an account exists.
    func requestPasswordReset(email: String, client: ClientInfo) {
        self.jobs.enqueue {
            do {
                try await self.sendPasswordReset(email: email, client: client)
            } catch {
                self.logger.error("password reset mail failed", metadata: ["error.detail": .string(String(reflecting: error))])
            }
        }
    }

    func sendPasswordReset(email: String, client: ClientInfo) async throws {
        guard let user = try await self.store.user(email: email), user.status == .active else { return }
        let token = OpaqueToken.generate()
        try await self.store.revokeOneTimeTokens(userID: user.id, purpose: .passwordReset)
        try await self.store.createOneTimeToken(
            userID: user.id,
            purpose: .passwordReset,
            tokenHash: OpaqueToken.hash(token),
            expiresAt: self.now().addingTimeInterval(Self.passwordResetLifetime)
        )
        try await self.mailer.send(
            MailMessage(
                to: user.email,
                subject: "Reset your Tradekeep password",
                body: """
                    Someone (\(client.ip ?? "unknown address")) asked to reset the password of this Tradekeep account.

                    Reset token (valid once, for 30 minutes): \(token)

                    POST it to \(self.link("api/v1/auth/password/reset", token: nil)) with `new_password` and a current
                    `totp_code`. Resetting signs out every session. If this was not you, ignore this message.
                    """
            )
        )
    }

    func resetPassword(token: String, newPassword: String, totpCode: String?, backupCode: String?, client: ClientInfo) async throws {
        let now = self.now()
        guard let record = try await self.store.oneTimeToken(hash: OpaqueToken.hash(token), purpose: .passwordReset, now: now),
            let user = try await self.store.user(id: record.userID), user.status == .active
        else { throw APIError.invalidToken }
        let secondFactor: Bool
        if let totpCode, !totpCode.isEmpty {
            secondFactor = try await self.checkTOTP(user: user, code: totpCode, now: now, client: client)
        } else if let backupCode, !backupCode.isEmpty {
            secondFactor = try await self.useBackupCode(userID: user.id, typed: backupCode)
        } else {
            throw APIError.stepUpRequired
        }
        guard secondFactor else {
            if try await self.store.recordTokenAttempt(id: record.id) >= Self.tokenAttempts {
                _ = try await self.store.consumeOneTimeToken(id: record.id)
            }
            throw APIError.invalidTOTP
        }
        try await self.checkNewPassword(newPassword)
        let hash = try await self.hasher.hash(newPassword)
        guard try await self.store.consumeOneTimeToken(id: record.id) else { throw APIError.invalidToken }
        try await self.store.setPasswordHash(userID: user.id, hash)
        try await self.store.clearFailedLogins(userID: user.id)
        let ended = try await self.revokeAllSessions(userID: user.id, reason: "password_reset")
        try await self.record(.passwordReset, user.id, client, ["sessions_revoked": String(ended)])
    }

    // MARK: Signed-in account changes (step-up)

    /// Require a fresh TOTP code from the signed-in user. Wrong codes count towards the lockout.
    func stepUp(_ identity: Identity, code: String?, client: ClientInfo) async throws {
        guard let code, !code.isEmpty else { throw APIError.stepUpRequired }
        let now = self.now()
        guard let user = try await self.store.user(id: identity.userID), user.status == .active else { throw APIError.unauthorized() }
        guard try await self.checkTOTP(user: user, code: code, now: now, client: client) else {
            try await self.recordFailure(user: user, reason: "step_up", now: now, client: client)
            throw APIError.stepUpFailed
        }
        try await self.store.clearFailedLogins(userID: user.id)
    }

    func changePassword(_ identity: Identity, current: String, new: String, totpCode: String?, client: ClientInfo) async throws {
        guard let user = try await self.store.user(id: identity.userID) else { throw APIError.unauthorized() }
        guard try await self.hasher.verify(current, hash: user.passwordHash) else {
            try await self.recordFailure(user: user, reason: "current_password", now: self.now(), client: client)
            throw APIError.wrongPassword
        }
        try await self.stepUp(identity, code: totpCode, client: client)
        try await self.checkNewPassword(new)
        try await self.store.setPasswordHash(userID: user.id, try await self.hasher.hash(new))
        let ended = try await self.revokeAllSessions(userID: user.id, reason: "password_changed", keeping: identity.sessionID)
        try await self.record(.passwordChanged, user.id, client, ["other_sessions_revoked": String(ended)])
    }

    func regenerateBackupCodes(_ identity: Identity, totpCode: String?, client: ClientInfo) async throws -> [String] {
        try await self.stepUp(identity, code: totpCode, client: client)
        let codes = try await self.replaceBackupCodes(userID: identity.userID)
        try await self.record(.backupCodes, identity.userID, client)
        return codes
    }

    // MARK: Administration

    func requireAdmin(_ identity: Identity, totpCode: String?, client: ClientInfo) async throws {
        guard identity.role == .admin else { throw APIError.adminRequired }
        try await self.stepUp(identity, code: totpCode, client: client)
    }

    func setLocked(_ locked: Bool, userID: UUID, by admin: Identity, client: ClientInfo) async throws {
        guard let user = try await self.store.user(id: userID) else { throw APIError.notFound("No user has this id.") }
        guard user.id != admin.userID else {
            throw APIError(.conflict, code: "cannot_lock_self", message: "An administrator cannot lock their own account.")
        }
        if locked {
            try await self.store.setStatus(userID: user.id, .disabled)
            let ended = try await self.revokeAllSessions(userID: user.id, reason: "admin_locked")
            try await self.record(.adminLockedUser, user.id, client, ["admin": admin.userID.apiString, "sessions_revoked": String(ended)])
        } else {
            // Confirming TOTP spends a step, so a spent step means the account had finished enrolment.
            try await self.store.setStatus(userID: user.id, user.totpLastStep != nil ? .active : .pendingTOTP)
            try await self.store.clearFailedLogins(userID: user.id)
            try await self.record(.adminUnlockedUser, user.id, client, ["admin": admin.userID.apiString])
        }
    }

    func link(_ path: String, token: String?) -> String {
        var components = URLComponents(url: self.publicURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if let token { components.queryItems = [URLQueryItem(name: "token", value: token)] }
        return components.string!
    }
}
