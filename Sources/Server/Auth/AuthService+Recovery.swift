// Email verification, password reset and change, backup-code regeneration, admin locks.

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
        let now = self.now()
        guard let record = try await self.store.oneTimeToken(hash: OpaqueToken.hash(token), purpose: .emailVerification, now: now) else {
            throw APIError.invalidToken
        }
        let verified = try await self.store.transaction { transaction in
            guard try await self.store.consumeOneTimeToken(id: record.id, in: transaction) else { return false }
            try await self.store.markEmailVerified(userID: record.userID, now: now, in: transaction)
            try await transaction.record(AuditEvent(.emailVerified, user: record.userID, client: client, at: now))
            return true
        }
        guard verified else { throw APIError.invalidToken }
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
        let check: () async throws -> Bool
        if let totpCode, !totpCode.isEmpty {
            check = { try await self.factor.checkTOTP(user: user, code: totpCode, now: now, client: client) }
        } else if let backupCode, !backupCode.isEmpty {
            check = { try await self.factor.useBackupCode(userID: user.id, typed: backupCode) }
        } else {
            throw APIError.stepUpRequired
        }
        guard try await self.tokenAttempt(record.id, check) else { throw APIError.invalidTOTP }
        try await self.checkNewPassword(newPassword)
        let hash = try await self.hasher.hash(newPassword)
        let revoked = try await self.store.transaction { transaction -> [UUID]? in
            guard try await self.store.consumeOneTimeToken(id: record.id, in: transaction) else { return nil }
            try await self.store.setPasswordHash(userID: user.id, hash, in: transaction)
            try await self.store.clearFailedLogins(userID: user.id, in: transaction)
            let revoked = try await self.store.revokeAllSessions(userID: user.id, reason: "password_reset", now: now, in: transaction)
            try await transaction.record(
                AuditEvent(.passwordReset, user: user.id, client: client, ["sessions_revoked": String(revoked.count)], at: now)
            )
            return revoked
        }
        guard let revoked else { throw APIError.invalidToken }
        self.sessions.invalidate(sessions: revoked)
    }

    // MARK: Signed-in account changes (step-up)

    func changePassword(_ identity: Identity, current: String, new: String, totpCode: String?, client: ClientInfo) async throws {
        guard let user = try await self.store.user(id: identity.userID) else { throw APIError.unauthorized() }
        let result = try await self.factor.attempt(user, reason: "current_password", now: self.now(), client: client) {
            try await self.hasher.verify(current, hash: user.passwordHash)
        }
        guard result == .passed else { throw APIError.wrongPassword }
        try await self.stepUp.verify(identity, code: totpCode, client: client)
        try await self.checkNewPassword(new)
        let hash = try await self.hasher.hash(new)
        let now = self.now()
        let revoked = try await self.store.transaction { transaction in
            try await self.store.setPasswordHash(userID: user.id, hash, in: transaction)
            let revoked = try await self.store.revokeAllSessions(
                userID: user.id,
                reason: "password_changed",
                keeping: identity.sessionID,
                now: now,
                in: transaction
            )
            try await transaction.record(
                AuditEvent(.passwordChanged, user: user.id, client: client, ["other_sessions_revoked": String(revoked.count)], at: now)
            )
            return revoked
        }
        self.sessions.invalidate(sessions: revoked)
    }

    /// Ten new backup codes (the caller checked step-up); the old ones stop working.
    func regenerateBackupCodes(_ identity: Identity, client: ClientInfo) async throws -> [String] {
        let (codes, hashes) = try await self.newBackupCodes()
        let event = AuditEvent(.backupCodes, user: identity.userID, client: client, at: self.now())
        try await self.store.transaction { transaction in
            try await self.store.replaceBackupCodes(userID: identity.userID, codes: hashes, in: transaction)
            try await transaction.record(event)
        }
        return codes
    }

    // MARK: Administration

    /// Lock (or unlock) an account. A lock disables it, ends its sessions and stops its trading like the kill
    /// switch; unlocking does not start its bots again.
    func setLocked(_ locked: Bool, userID: UUID, by admin: Identity, client: ClientInfo) async throws {
        guard let user = try await self.store.user(id: userID) else { throw APIError.notFound("No user has this id.") }
        guard user.id != admin.userID else {
            throw APIError(.conflict, code: "cannot_lock_self", message: "An administrator cannot lock their own account.")
        }
        let now = self.now()
        if locked {
            let revoked = try await self.store.transaction { transaction in
                try await self.store.setStatus(userID: user.id, .disabled, in: transaction)
                let revoked = try await self.store.revokeAllSessions(userID: user.id, reason: "admin_locked", now: now, in: transaction)
                try await transaction.record(
                    AuditEvent(
                        .adminLockedUser,
                        user: user.id,
                        client: client,
                        ["admin": admin.userID.apiString, "sessions_revoked": String(revoked.count)],
                        at: now
                    )
                )
                return revoked
            }
            self.sessions.invalidate(sessions: revoked)
            try await self.factor.trading?.stopTrading(owner: user.id, reason: "Stopped: an administrator locked your account.", client: client)
        } else {
            // Confirming TOTP spends a step, so a spent step means the account had finished enrolment.
            try await self.store.transaction { transaction in
                try await self.store.setStatus(userID: user.id, user.totpLastStep != nil ? .active : .pendingTOTP, in: transaction)
                try await self.store.clearFailedLogins(userID: user.id, in: transaction)
                try await transaction.record(
                    AuditEvent(.adminUnlockedUser, user: user.id, client: client, ["admin": admin.userID.apiString], at: now)
                )
            }
        }
    }

    func link(_ path: String, token: String?) -> String {
        var components = URLComponents(url: self.publicURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if let token { components.queryItems = [URLQueryItem(name: "token", value: token)] }
        return components.string!
    }
}

extension AuthService {
    /// Every account, for the administrators' list.
    func users(limit: Int = 100, offset: Int = 0) async throws -> [UserRecord] {
        try await self.store.users(limit: limit, offset: offset)
    }
}
