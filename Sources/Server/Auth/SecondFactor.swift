// TOTP and backup-code checks, and the lockout their failures count towards: shared by sign-in, password reset
// and step-up, so every path counts failures the same way.

import Accounts
import AuditLog
import Bots
import Foundation
import Guard
import Hummingbird
import Logging
import Storage

/// Stops an account's trading when the account is locked (by an administrator, or by a lockout that shows its
/// password is known). Implemented by the bot service.
protocol TradingStop: Sendable {
    func stopTrading(owner: UUID, reason: String, client: ClientInfo) async throws
}

extension BotService: TradingStop {
    func stopTrading(owner: UUID, reason: String, client: ClientInfo) async throws {
        _ = try await self.stopOwner(owner, reason: reason, client: client)
    }
}

struct SecondFactor: Sendable {
    let store: AccountStore
    let hasher: PasswordHasher
    /// Events that change nothing else (a replayed code).
    let audit: any AuditSink
    let mailer: any Mailer
    let sessions: SessionCache
    /// Nil only in command-line tools, which run no bots.
    let trading: (any TradingStop)?
    let logger: Logger
    let now: @Sendable () -> Date
    let totp = TOTP.standard
    let lockout = LockoutPolicy()

    /// Verify a TOTP code for `user` and spend its step. A replayed code is refused and recorded.
    func checkTOTP(user: UserRecord, code: String, now: Date, client: ClientInfo) async throws -> Bool {
        guard let secretID = user.totpSecretID else { return false }
        let verification = try await self.store.secrets.withSecret(id: secretID, ownerID: user.id) { secret in
            self.totp.verify(code, secret: secret, at: now, lastUsedStep: user.totpLastStep)
        }
        switch verification {
        case .accepted(let step):
            if try await self.store.advanceTOTPStep(userID: user.id, to: step) { return true }
            try await self.audit.record(
                AuditEvent(.totpReplay, user: user.id, client: client, ["step": String(step), "concurrent": "true"], at: now)
            )
            return false
        case .replayed(let step):
            try await self.audit.record(AuditEvent(.totpReplay, user: user.id, client: client, ["step": String(step)], at: now))
            return false
        case .invalid:
            return false
        }
    }

    func useBackupCode(userID: UUID, typed: String) async throws -> Bool {
        guard let code = BackupCode.parse(typed),
            let stored = try await self.store.unusedBackupCode(userID: userID, lookupID: code.lookupID)
        else {
            try await self.hasher.verifyAgainstDummy(typed)
            return false
        }
        guard try await self.hasher.verify(code.full, hash: stored.hash) else { return false }
        return try await self.store.consumeBackupCode(id: stored.id, userID: userID)
    }

    /// Evaluate one attempt (a password, a code) under the lockout. It is counted by one atomic statement before
    /// `check` runs, so whatever the concurrency at most `maximumFailures` attempts are evaluated before the account
    /// locks; a locked account is refused (423) without evaluating anything. Returns whether `check` passed; a
    /// failure that locked the account comes back as `.locked`.
    func attempt(
        _ user: UserRecord,
        reason: String,
        now: Date,
        client: ClientInfo,
        _ check: () async throws -> Bool
    ) async throws -> AttemptResult {
        switch try await self.store.reserveAttempt(
            userID: user.id,
            maximum: self.lockout.maximumFailures,
            lockDuration: self.lockout.lockDuration,
            now: now
        ) {
        case .refused(let until?) where until > now:
            try await self.audit.record(AuditEvent(.loginFailed, user: user.id, client: client, ["reason": "locked"], at: now))
            throw APIError.accountLocked(until: until, now: now)
        case .refused:
            // Not locked: the allowance is taken by attempts still being checked. Nothing is evaluated or counted.
            try await self.audit.record(AuditEvent(.loginFailed, user: user.id, client: client, ["reason": "attempts_in_progress"], at: now))
            throw APIError.attemptsInProgress
        case .granted:
            break
        }
        let passed: Bool
        do {
            passed = try await check()
        } catch {
            // Not evaluated (the hashing queue was full, the database failed): the attempt does not count.
            try? await self.store.releaseAttempt(userID: user.id)
            throw error
        }
        if passed {
            try await self.store.releaseAttempt(userID: user.id)
            return .passed
        }
        if let until = try await self.recordFailure(user: user, reason: reason, now: now, client: client) { return .locked(until: until) }
        return .failed
    }

    enum AttemptResult: Equatable {
        case passed
        case failed
        /// Wrong, and this failure locked the account.
        case locked(until: Date)
    }

    /// A counted attempt failed: its audit entries, and the lock when the count is exhausted. Returns the lock deadline
    /// when this failure locked the account. A lock after a right password (a wrong code, or a wrong step-up in a live
    /// session) means whoever is guessing holds more than an email: their sessions end and the account's trading stops.
    @discardableResult
    func recordFailure(user: UserRecord, reason: String, now: Date, client: ClientInfo) async throws -> Date? {
        let lockout = self.lockout
        let (failures, lockedUntil) = try await self.store.transaction { transaction in
            let outcome = try await self.store.recordFailedAttempt(
                userID: user.id,
                maximum: lockout.maximumFailures,
                until: now.addingTimeInterval(lockout.lockDuration),
                now: now,
                in: transaction
            )
            var events = [
                AuditEvent(.loginFailed, user: user.id, client: client, ["reason": reason, "consecutive": String(outcome.failures)], at: now)
            ]
            if let until = outcome.lockedUntil {
                events.append(AuditEvent(.locked, user: user.id, client: client, ["until": until.formatted(.iso8601)], at: now))
            }
            try await transaction.record(events)
            return outcome
        }
        _ = failures
        guard let lockedUntil else { return nil }
        if reason != "password" {
            try await self.revokeAllSessions(userID: user.id, reason: "locked", client: client)
            do {
                let reason = "Stopped: your account was locked after \(self.lockout.maximumFailures) failed codes; sign in again and restart it."
                try await self.trading?.stopTrading(owner: user.id, reason: reason, client: client)
            } catch {
                // The lock stands; the bots' stops are retried by the engine, and the failure is in the log.
                self.logger.error("trading not stopped for a locked account", metadata: ["error": .string(String(describing: error))])
            }
        }
        let body = """
            Your Tradekeep account was locked for 15 minutes after \(self.lockout.maximumFailures) failed sign-in attempts \
            (the last from \(client.ip ?? "an unknown address")).

            If this was not you, someone knows or is guessing your email and password. Once the lock ends, \
            sign in and change your password.
            """
        try await self.mailer.send(MailMessage(to: user.email, subject: "Your Tradekeep account was locked", body: body))
        return lockedUntil
    }

    /// End every session of a user (except `keeping`), with one audit entry; returns how many ended.
    @discardableResult
    func revokeAllSessions(userID: UUID, reason: String, keeping: UUID? = nil, client: ClientInfo) async throws -> Int {
        let now = self.now()
        let revoked = try await self.store.transaction { transaction in
            let revoked = try await self.store.revokeAllSessions(userID: userID, reason: reason, keeping: keeping, now: now, in: transaction)
            if !revoked.isEmpty {
                try await transaction.record(
                    AuditEvent(.sessionRevoked, user: userID, client: client, ["reason": reason, "sessions": String(revoked.count)], at: now)
                )
            }
            return revoked
        }
        self.sessions.invalidate(sessions: revoked)
        return revoked.count
    }
}

/// Step-up (SPEC §2): sensitive actions need a fresh TOTP code in the request. Wrong codes count towards the lockout.
struct StepUp: Sendable {
    let store: AccountStore
    let factor: SecondFactor

    func verify(_ identity: Identity, code: String?, client: ClientInfo) async throws {
        guard let code, !code.isEmpty else { throw APIError.stepUpRequired }
        let now = self.factor.now()
        guard let user = try await self.store.user(id: identity.userID), user.status == .active else { throw APIError.unauthorized() }
        let result = try await self.factor.attempt(user, reason: "step_up", now: now, client: client) {
            try await self.factor.checkTOTP(user: user, code: code, now: now, client: client)
        }
        guard result == .passed else { throw APIError.stepUpFailed }
        try await self.store.clearFailedLogins(userID: user.id)
    }

    /// Administrators only, each call with a fresh TOTP code.
    func requireAdmin(_ identity: Identity, code: String?, client: ClientInfo) async throws {
        guard identity.role == .admin else { throw APIError.adminRequired }
        try await self.verify(identity, code: code, client: client)
    }
}

extension StepUp {
    /// A route whose only input is the step-up code: in the body (`StepUpBody`) or the X-TOTP-Code header.
    func verify(_ request: Request, _ context: AuthenticatedContext) async throws {
        try await self.verify(context.identity, code: try await StepUpBody.code(request, context: context), client: context.client)
    }

    func requireAdmin(_ request: Request, _ context: AuthenticatedContext) async throws {
        try await self.requireAdmin(context.identity, code: try await StepUpBody.code(request, context: context), client: context.client)
    }
}
