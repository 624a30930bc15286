// Accounts end to end (SPEC §2): registration, TOTP enrolment, two-step login, sessions and refresh tokens.
// HTTP-free: controllers turn requests into calls here; the CLI calls it too.

import Accounts
import AuditLog
import Foundation
import Guard
import Logging
import NIOPosix
import Storage
import Vault

/// Where a request came from, for the audit log and the session list.
struct ClientInfo: Sendable {
    let ip: String?
    let userAgent: String?
}

struct AuthService: Sendable {
    static let refreshLifetime: TimeInterval = 7 * 24 * 3600
    static let mfaTokenLifetime: TimeInterval = 5 * 60
    static let enrollmentLifetime: TimeInterval = 24 * 3600
    static let emailVerificationLifetime: TimeInterval = 48 * 3600
    static let passwordResetLifetime: TimeInterval = 30 * 60
    /// Wrong answers accepted with one mfa, enrolment or reset token before it is spent.
    static let tokenAttempts = 5
    static let issuer = "Tradekeep"

    let store: AccountStore
    let audit: any AuditSink
    let hasher: PasswordHasher
    let envelope: Envelope
    let accessTokens: AccessTokens
    let totp = TOTP.standard
    let passwordPolicy = PasswordPolicy()
    let commonPasswords: CommonPasswords
    let pwned: PwnedPasswords?
    let mailer: any Mailer
    let jobs: BackgroundJobs
    let sessions: SessionCache
    let lockout = LockoutPolicy()
    let publicURL: URL
    let logger: Logger
    /// The time; tests move it forward to reach the next TOTP step or the end of a lockout.
    let now: @Sendable () -> Date

    // MARK: Registration and enrolment

    struct Enrollment: Sendable {
        let userID: UUID
        let enrollmentToken: String
        let totpSecret: String
        let otpauthURI: String
    }

    func register(email rawEmail: String, password: String, role: AccountRole = .user, client: ClientInfo) async throws -> Enrollment {
        let email = AccountStore.normalize(email: rawEmail)
        guard Self.isPlausibleEmail(email) else { throw APIError.invalidEmail }
        guard try await self.store.user(email: email) == nil else { throw APIError.emailTaken }
        try await self.checkNewPassword(password)
        let hash = try await self.hasher.hash(password)
        let user: UserRecord
        do {
            user = try await self.store.createUser(
                email: email,
                passwordHash: hash,
                role: role,
                totpSecret: .random(count: TOTP.secretByteCount),
                envelope: self.envelope
            )
        } catch AccountStoreError.emailTaken {
            throw APIError.emailTaken
        }
        let secretID = user.totpSecretID!  // createUser always stores one
        let enrollment = try await self.issueEnrollment(for: user.id, email: email, secretID: secretID)
        try await self.sendEmailVerification(userID: user.id, email: email)
        try await self.record(.registered, user.id, client, ["role": role.rawValue])
        return enrollment
    }

    /// A fresh enrolment token for a pending account, with the (unconfirmed) secret it must confirm.
    func issueEnrollment(for userID: UUID, email: String, secretID: UUID) async throws -> Enrollment {
        let token = OpaqueToken.generate()
        try await self.store.revokeOneTimeTokens(userID: userID, purpose: .enrollment)
        try await self.store.createOneTimeToken(
            userID: userID,
            purpose: .enrollment,
            tokenHash: OpaqueToken.hash(token),
            expiresAt: self.now().addingTimeInterval(Self.enrollmentLifetime)
        )
        let (secret, uri) = try await self.store.withSecret(id: secretID, ownerID: userID, envelope: self.envelope) { secret in
            (secret.withUnsafeBytes { Base32.encode($0) }, self.totp.provisioningURI(secret: secret, account: email, issuer: Self.issuer))
        }
        return Enrollment(userID: userID, enrollmentToken: token, totpSecret: secret, otpauthURI: uri)
    }

    /// Confirm TOTP with the first code: the account becomes active and receives its backup codes.
    func confirmTOTP(enrollmentToken: String, code: String, client: ClientInfo) async throws -> [String] {
        let now = self.now()
        guard let token = try await self.store.oneTimeToken(hash: OpaqueToken.hash(enrollmentToken), purpose: .enrollment, now: now),
            let user = try await self.store.user(id: token.userID), user.status == .pendingTOTP
        else { throw APIError.invalidToken }
        guard try await self.checkTOTP(user: user, code: code, now: now, client: client) else {
            if try await self.store.recordTokenAttempt(id: token.id) >= Self.tokenAttempts {
                _ = try await self.store.consumeOneTimeToken(id: token.id)
            }
            throw APIError.invalidTOTP
        }
        guard try await self.store.consumeOneTimeToken(id: token.id) else { throw APIError.invalidToken }
        try await self.store.setStatus(userID: user.id, .active)
        let codes = try await self.replaceBackupCodes(userID: user.id)
        try await self.record(.totpEnrolled, user.id, client)
        return codes
    }

    /// Ten new backup codes, hashed in parallel on the thread pool; the old ones stop working.
    func replaceBackupCodes(userID: UUID) async throws -> [String] {
        let codes = BackupCode.generateSet(count: 10)
        let hashes = try await withThrowingTaskGroup(of: (String, String).self) { group in
            for code in codes {
                group.addTask { (code.lookupID, try await self.hasher.hash(code.full)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await self.store.replaceBackupCodes(userID: userID, codes: hashes.map { (lookupID: $0.0, hash: $0.1) })
        return codes.map(\.full)
    }

    // MARK: Login

    enum LoginStep: Sendable {
        case mfa(token: String)
        /// The password is right but TOTP was never confirmed: enrol first.
        case enrollment(Enrollment)
    }

    func login(email: String, password: String, client: ClientInfo) async throws -> LoginStep {
        let now = self.now()
        guard let user = try await self.store.user(email: email) else {
            // As slow as a wrong password, so the answer does not reveal whether the account exists.
            try await self.hasher.verifyAgainstDummy(password)
            try await self.record(.loginFailed, nil, client, ["reason": "unknown_account"])
            throw APIError.invalidCredentials
        }
        if let until = user.lockedUntil, until > now {
            try await self.record(.loginFailed, user.id, client, ["reason": "locked"])
            throw APIError.accountLocked(until: until, now: now)
        }
        guard try await self.hasher.verify(password, hash: user.passwordHash) else {
            try await self.recordFailure(user: user, reason: "password", now: now, client: client)
            throw APIError.invalidCredentials
        }
        switch user.status {
        case .disabled:
            try await self.record(.loginFailed, user.id, client, ["reason": "disabled"])
            throw APIError.accountDisabled
        case .pendingTOTP:
            guard let secretID = user.totpSecretID else { throw APIError.invalidCredentials }
            return .enrollment(try await self.issueEnrollment(for: user.id, email: user.email, secretID: secretID))
        case .active:
            let token = OpaqueToken.generate()
            try await self.store.createOneTimeToken(
                userID: user.id,
                purpose: .mfa,
                tokenHash: OpaqueToken.hash(token),
                expiresAt: now.addingTimeInterval(Self.mfaTokenLifetime)
            )
            return .mfa(token: token)
        }
    }

    struct IssuedTokens: Sendable {
        let accessToken: String
        let expiresIn: Int
        let refreshToken: String
    }

    /// The second step: a TOTP code (or a backup code) with the mfa token starts a session.
    func completeLogin(mfaToken: String, code: String?, backupCode: String?, client: ClientInfo) async throws -> IssuedTokens {
        let now = self.now()
        guard let token = try await self.store.oneTimeToken(hash: OpaqueToken.hash(mfaToken), purpose: .mfa, now: now),
            let user = try await self.store.user(id: token.userID)
        else { throw APIError.invalidToken }
        if let until = user.lockedUntil, until > now { throw APIError.accountLocked(until: until, now: now) }
        guard user.status == .active else { throw APIError.accountDisabled }

        let method: String
        let passed: Bool
        if let code, !code.isEmpty {
            method = "totp"
            passed = try await self.checkTOTP(user: user, code: code, now: now, client: client)
        } else if let backupCode, !backupCode.isEmpty {
            method = "backup_code"
            passed = try await self.useBackupCode(userID: user.id, typed: backupCode)
        } else {
            throw APIError.badRequest("Send `code` (from your authenticator app) or `backup_code`.")
        }
        guard passed else {
            if try await self.store.recordTokenAttempt(id: token.id) >= Self.tokenAttempts {
                _ = try await self.store.consumeOneTimeToken(id: token.id)
            }
            if let until = try await self.recordFailure(user: user, reason: method, now: now, client: client) {
                throw APIError.accountLocked(until: until, now: now)
            }
            throw APIError.invalidTOTP
        }
        guard try await self.store.consumeOneTimeToken(id: token.id) else { throw APIError.invalidToken }
        try await self.store.clearFailedLogins(userID: user.id)
        let session = try await self.store.createSession(
            userID: user.id,
            ip: client.ip,
            userAgent: client.userAgent,
            expiresAt: now.addingTimeInterval(Self.refreshLifetime),
            now: now
        )
        let tokens = try await self.issueTokens(userID: user.id, sessionID: session.id, now: now)
        try await self.record(.login, user.id, client, ["session_id": session.id.apiString, "method": method])
        return tokens
    }

    func issueTokens(userID: UUID, sessionID: UUID, now: Date) async throws -> IssuedTokens {
        let refresh = OpaqueToken.generate()
        try await self.store.addRefreshToken(
            sessionID: sessionID,
            tokenHash: OpaqueToken.hash(refresh),
            expiresAt: now.addingTimeInterval(Self.refreshLifetime),
            now: now
        )
        let access = try await self.accessTokens.issue(userID: userID, sessionID: sessionID)
        return IssuedTokens(accessToken: access, expiresIn: Int(self.accessTokens.lifetime), refreshToken: refresh)
    }

    /// Rotate a refresh token. Presenting a spent one ends the whole session: a copy is in someone else's hands.
    func refresh(token: String, client: ClientInfo) async throws -> IssuedTokens {
        let now = self.now()
        switch try await self.store.consumeRefreshToken(hash: OpaqueToken.hash(token), now: now) {
        case .invalid:
            throw APIError.invalidToken
        case .reused(let sessionID, let userID):
            if try await self.store.revokeSession(id: sessionID, userID: userID, reason: "refresh_reused", now: now) {
                try await self.record(.sessionRevoked, userID, client, ["session_id": sessionID.apiString, "reason": "refresh_reused"])
            }
            self.sessions.invalidate(sessions: [sessionID])
            throw APIError.refreshReused
        case .rotated(let sessionID, let userID):
            guard let user = try await self.store.user(id: userID), user.status == .active else { throw APIError.invalidToken }
            try await self.store.extendSession(id: sessionID, userID: userID, expiresAt: now.addingTimeInterval(Self.refreshLifetime))
            try await self.store.touchSession(id: sessionID, userID: userID, now: now, ip: client.ip)
            return try await self.issueTokens(userID: userID, sessionID: sessionID, now: now)
        }
    }

    // MARK: Sessions

    func logout(_ identity: Identity, client: ClientInfo) async throws {
        if try await self.store.revokeSession(id: identity.sessionID, userID: identity.userID, reason: "logout") {
            try await self.record(.logout, identity.userID, client, ["session_id": identity.sessionID.apiString])
        }
        self.sessions.invalidate(sessions: [identity.sessionID])
    }

    func listSessions(_ identity: Identity) async throws -> [SessionRecord] {
        try await self.store.activeSessions(userID: identity.userID)
    }

    func revokeSession(_ identity: Identity, sessionID: UUID, client: ClientInfo) async throws {
        guard try await self.store.revokeSession(id: sessionID, userID: identity.userID, reason: "revoked_by_user") else {
            throw APIError.notFound("You have no active session with this id.")
        }
        self.sessions.invalidate(sessions: [sessionID])
        try await self.record(.sessionRevoked, identity.userID, client, ["session_id": sessionID.apiString, "reason": "user"])
    }

    /// End every session of a user (password reset, admin lock); returns how many ended.
    @discardableResult
    func revokeAllSessions(userID: UUID, reason: String, keeping: UUID? = nil) async throws -> Int {
        let revoked = try await self.store.revokeAllSessions(userID: userID, reason: reason, keeping: keeping)
        self.sessions.invalidate(sessions: revoked)
        return revoked.count
    }

    /// The identity behind an access token, or nil. The session must be live and its user active; the check
    /// is cached for a few seconds and invalidated on revocation.
    func authenticate(bearer token: String, client: ClientInfo) async -> Identity? {
        guard let claims = try? await self.accessTokens.verify(token), let userID = claims.userID, let sessionID = claims.sessionID else {
            return nil
        }
        let now = self.now()
        if let entry = self.sessions.lookup(sessionID, now: now) {
            return entry.userID == userID ? Identity(userID: userID, sessionID: sessionID, role: entry.role) : nil
        }
        guard let session = try? await self.store.session(id: sessionID), session.userID == userID, session.isActive(at: now),
            let user = try? await self.store.user(id: userID), user.status == .active
        else { return nil }
        self.sessions.store(sessionID, userID: userID, role: user.role, sessionExpiresAt: session.expiresAt, now: now)
        try? await self.store.touchSession(id: sessionID, userID: userID, now: now, ip: client.ip)
        return Identity(userID: userID, sessionID: sessionID, role: user.role)
    }

    // MARK: Shared checks

    /// Verify a TOTP code for `user` and spend its step. A replayed code is refused and recorded.
    func checkTOTP(user: UserRecord, code: String, now: Date, client: ClientInfo) async throws -> Bool {
        guard let secretID = user.totpSecretID else { return false }
        let verification = try await self.store.withSecret(id: secretID, ownerID: user.id, envelope: self.envelope) { secret in
            self.totp.verify(code, secret: secret, at: now, lastUsedStep: user.totpLastStep)
        }
        switch verification {
        case .accepted(let step):
            if try await self.store.advanceTOTPStep(userID: user.id, to: step) { return true }
            try await self.record(.totpReplay, user.id, client, ["step": String(step), "concurrent": "true"])
            return false
        case .replayed(let step):
            try await self.record(.totpReplay, user.id, client, ["step": String(step)])
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

    /// Count a failure towards the lockout. Returns the lock deadline when this failure locked the account.
    @discardableResult
    func recordFailure(user: UserRecord, reason: String, now: Date, client: ClientInfo) async throws -> Date? {
        let (failures, lockedUntil) = try await self.store.recordFailedLogin(userID: user.id, now: now) {
            self.lockout.lockUntil(afterFailures: $0, now: now)
        }
        try await self.record(.loginFailed, user.id, client, ["reason": reason, "consecutive": String(failures)])
        guard let lockedUntil else { return nil }
        try await self.record(.locked, user.id, client, ["until": lockedUntil.formatted(.iso8601)])
        if reason != "password" {
            // The password was right (or a session was used): whoever is guessing codes holds more than an email.
            try await self.revokeAllSessions(userID: user.id, reason: "locked")
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

    /// Length, form, the shipped common list, and (when enabled) Have I Been Pwned.
    func checkNewPassword(_ password: String) async throws {
        if let violation = self.passwordPolicy.checkForm(password) {
            throw APIError.weakPassword(code: violation.code, message: violation.message)
        }
        if self.commonPasswords.contains(password) {
            throw APIError.weakPassword(code: PasswordPolicy.Violation.common.code, message: PasswordPolicy.Violation.common.message)
        }
        if let pwned = self.pwned, case .breached(let count) = await pwned.check(password, logger: self.logger) {
            let violation = PasswordPolicy.Violation.breached(count: count)
            throw APIError.weakPassword(code: violation.code, message: violation.message)
        }
    }

    func record(_ action: AuditAction, _ userID: UUID?, _ client: ClientInfo, _ details: [String: String] = [:]) async throws {
        try await self.audit.record(
            AuditEvent(action: action, userID: userID, ip: client.ip, userAgent: client.userAgent, details: details, at: self.now())
        )
    }

    static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.count <= 254, let at = email.lastIndex(of: "@") else { return false }
        let local = email[..<at]
        let domain = email[email.index(after: at)...]
        return !local.isEmpty && local.count <= 64 && domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".")
            && !email.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true || "<>\",;".contains($0) })
    }
}
