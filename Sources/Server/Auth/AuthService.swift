// Accounts end to end (SPEC §2): registration, TOTP enrolment, two-step login, sessions and refresh tokens.
// HTTP-free: controllers turn requests into calls here; the CLI calls it too. Every change writes its audit entry
// in its own transaction.

import Accounts
import AuditLog
import Foundation
import Guard
import Logging
import NIOPosix
import Storage
import Vault

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
    let factor: SecondFactor
    let accessTokens: AccessTokens
    let passwordPolicy = PasswordPolicy()
    let commonPasswords: CommonPasswords
    let pwned: PwnedPasswords?
    let jobs: BackgroundJobs
    let publicURL: URL
    let logger: Logger

    var hasher: PasswordHasher { self.factor.hasher }
    var mailer: any Mailer { self.factor.mailer }
    var sessions: SessionCache { self.factor.sessions }
    var audit: any AuditSink { self.factor.audit }
    var stepUp: StepUp { StepUp(store: self.store, factor: self.factor) }
    /// The time; tests move it forward to reach the next TOTP step or the end of a lockout.
    var now: @Sendable () -> Date { self.factor.now }

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
        // The password first: without an acceptable one, the answer says nothing about whether the email is taken.
        try await self.checkNewPassword(password)
        guard try await self.store.user(email: email) == nil else { throw APIError.emailTaken }
        let hash = try await self.hasher.hash(password)
        let userID = UUID()
        let user: UserRecord
        do {
            user = try await self.store.createUser(
                id: userID,
                email: email,
                passwordHash: hash,
                role: role,
                totpSecret: .random(count: TOTP.secretByteCount),
                audit: [AuditEvent(.registered, user: userID, client: client, ["role": role.rawValue], at: self.now())],
                now: self.now()
            )
        } catch AccountStoreError.emailTaken {
            throw APIError.emailTaken
        }
        guard let secretID = user.totpSecretID else { throw AccountStoreError.notFound }
        let enrollment = try await self.issueEnrollment(for: user.id, email: email, secretID: secretID)
        try await self.sendEmailVerification(userID: user.id, email: email)
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
        let (secret, uri) = try await self.store.secrets.withSecret(id: secretID, ownerID: userID) { secret in
            (secret.withUnsafeBytes { Base32.encode($0) }, self.factor.totp.provisioningURI(secret: secret, account: email, issuer: Self.issuer))
        }
        return Enrollment(userID: userID, enrollmentToken: token, totpSecret: secret, otpauthURI: uri)
    }

    /// Confirm TOTP with the first code: the account becomes active and receives its backup codes.
    func confirmTOTP(enrollmentToken: String, code: String, client: ClientInfo) async throws -> [String] {
        try await self.confirmTOTP(enrollmentToken: enrollmentToken, code: code, startSession: false, client: client).codes
    }

    /// Confirm TOTP and, with `startSession` (the dashboard, whose user has just given password and code), start a
    /// session in the same transaction; its id is returned with the backup codes.
    func confirmTOTP(
        enrollmentToken: String,
        code: String,
        startSession: Bool,
        client: ClientInfo
    ) async throws -> (codes: [String], sessionID: UUID?) {
        let now = self.now()
        guard let token = try await self.store.oneTimeToken(hash: OpaqueToken.hash(enrollmentToken), purpose: .enrollment, now: now),
            let user = try await self.store.user(id: token.userID), user.status == .pendingTOTP
        else { throw APIError.invalidToken }
        guard try await self.tokenAttempt(token.id, { try await self.factor.checkTOTP(user: user, code: code, now: now, client: client) }) else {
            throw APIError.invalidTOTP
        }
        let (codes, hashes) = try await self.newBackupCodes()
        let event = AuditEvent(.totpEnrolled, user: user.id, client: client, at: now)
        let confirmed = try await self.store.transaction { transaction -> (Bool, UUID?) in
            guard try await self.store.consumeOneTimeToken(id: token.id, in: transaction) else { return (false, nil) }
            try await self.store.setStatus(userID: user.id, .active, in: transaction)
            try await self.store.replaceBackupCodes(userID: user.id, codes: hashes, in: transaction)
            try await transaction.record(event)
            guard startSession else { return (true, nil) }
            return (true, try await self.startSession(user.id, method: "enrolment", client: client, now: now, in: transaction).id)
        }
        guard confirmed.0 else { throw APIError.invalidToken }
        return (codes, confirmed.1)
    }

    /// Evaluate an answer given with a one-time token. It is counted by one atomic statement before `check` runs: a
    /// token that has had its five answers (or is spent) is refused without evaluating anything, however many
    /// arrive at once, and the fifth wrong answer spends it.
    func tokenAttempt(_ id: UUID, _ check: () async throws -> Bool) async throws -> Bool {
        guard let attempt = try await self.store.reserveTokenAttempt(id: id, maximum: Self.tokenAttempts) else { throw APIError.invalidToken }
        let passed = try await check()
        if !passed && attempt >= Self.tokenAttempts {
            _ = try await self.store.consumeOneTimeToken(id: id)
        }
        return passed
    }

    /// Ten new backup codes and their hashes: one admission to the hashing queue, so a burst of sign-ups waits its
    /// turn there instead of filling it ten slots at a time.
    func newBackupCodes() async throws -> (codes: [String], hashes: [(lookupID: String, hash: String)]) {
        let codes = BackupCode.generateSet(count: 10)
        let hashes = try await self.hasher.hash(all: codes.map(\.full))
        return (codes.map(\.full), zip(codes, hashes).map { (lookupID: $0.lookupID, hash: $1) })
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
            try await self.audit.record(AuditEvent(.loginFailed, user: nil, client: client, ["reason": "unknown_account"], at: now))
            throw APIError.invalidCredentials
        }
        // Counted before bcrypt runs: at most five wrong passwords are ever evaluated before the account locks.
        let result = try await self.factor.attempt(user, reason: "password", now: now, client: client) {
            try await self.hasher.verify(password, hash: user.passwordHash)
        }
        guard result == .passed else { throw APIError.invalidCredentials }
        switch user.status {
        case .disabled:
            try await self.audit.record(AuditEvent(.loginFailed, user: user.id, client: client, ["reason": "disabled"], at: now))
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
        let sessionID: UUID
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
        let check: () async throws -> Bool
        if let code, !code.isEmpty {
            method = "totp"
            check = { try await self.factor.checkTOTP(user: user, code: code, now: now, client: client) }
        } else if let backupCode, !backupCode.isEmpty {
            method = "backup_code"
            check = { try await self.factor.useBackupCode(userID: user.id, typed: backupCode) }
        } else {
            throw APIError.badRequest("Send `code` (from your authenticator app) or `backup_code`.")
        }
        // Both counters before the check: the token's five answers and the account's lockout.
        let result = try await self.factor.attempt(user, reason: method, now: now, client: client) {
            try await self.tokenAttempt(token.id, check)
        }
        switch result {
        case .passed: break
        case .failed: throw APIError.invalidTOTP
        case .locked(let until): throw APIError.accountLocked(until: until, now: now)
        }
        let refresh = OpaqueToken.generate()
        let session = try await self.store.transaction { transaction -> SessionRecord? in
            guard try await self.store.consumeOneTimeToken(id: token.id, in: transaction) else { return nil }
            try await self.store.clearFailedLogins(userID: user.id, in: transaction)
            let session = try await self.startSession(user.id, method: method, client: client, now: now, in: transaction)
            try await self.store.addRefreshToken(
                sessionID: session.id,
                tokenHash: OpaqueToken.hash(refresh),
                expiresAt: now.addingTimeInterval(Self.refreshLifetime),
                now: now,
                in: transaction
            )
            return session
        }
        guard let session else { throw APIError.invalidToken }
        let access = try await self.accessTokens.issue(userID: user.id, sessionID: session.id)
        return IssuedTokens(accessToken: access, expiresIn: Int(self.accessTokens.lifetime), refreshToken: refresh, sessionID: session.id)
    }

    /// A new session for the user, with its `auth.login` entry, inside the caller's transaction.
    func startSession(
        _ userID: UUID,
        method: String,
        client: ClientInfo,
        now: Date,
        in transaction: AuditedTransaction
    ) async throws
        -> SessionRecord
    {
        let session = try await self.store.createSession(
            userID: userID,
            ip: client.ip,
            userAgent: client.userAgent,
            expiresAt: now.addingTimeInterval(Self.refreshLifetime),
            now: now,
            in: transaction
        )
        try await transaction.record(
            AuditEvent(.login, user: userID, client: client, ["session_id": session.id.apiString, "method": method], at: now)
        )
        return session
    }

    /// Rotate a refresh token. Presenting a spent one ends the whole session: a copy is in someone else's hands.
    func refresh(token: String, client: ClientInfo) async throws -> IssuedTokens {
        let now = self.now()
        switch try await self.store.consumeRefreshToken(hash: OpaqueToken.hash(token), now: now) {
        case .invalid:
            throw APIError.invalidToken
        case .reused(let sessionID, let userID):
            try await self.revoke(sessionID, of: userID, reason: "refresh_reused", action: .sessionRevoked, client: client)
            throw APIError.refreshReused
        case .rotated(let sessionID, let userID):
            guard let user = try await self.store.user(id: userID), user.status == .active else { throw APIError.invalidToken }
            try await self.store.extendSession(id: sessionID, userID: userID, expiresAt: now.addingTimeInterval(Self.refreshLifetime))
            try await self.store.touchSession(id: sessionID, userID: userID, now: now, ip: client.ip)
            let refresh = OpaqueToken.generate()
            try await self.store.addRefreshToken(
                sessionID: sessionID,
                tokenHash: OpaqueToken.hash(refresh),
                expiresAt: now.addingTimeInterval(Self.refreshLifetime),
                now: now
            )
            let access = try await self.accessTokens.issue(userID: userID, sessionID: sessionID)
            return IssuedTokens(accessToken: access, expiresIn: Int(self.accessTokens.lifetime), refreshToken: refresh, sessionID: sessionID)
        }
    }

    // MARK: Sessions

    /// Revoke one session with its audit entry; false when the user has no such active session.
    @discardableResult
    func revoke(
        _ sessionID: UUID,
        of userID: UUID,
        reason: String,
        auditReason: String? = nil,
        action: AuditAction,
        client: ClientInfo
    ) async throws -> Bool {
        let now = self.now()
        var details = ["session_id": sessionID.apiString]
        if action == .sessionRevoked { details["reason"] = auditReason ?? reason }
        let event = AuditEvent(action, user: userID, client: client, details, at: now)
        let revoked = try await self.store.transaction { transaction in
            guard try await self.store.revokeSession(id: sessionID, userID: userID, reason: reason, now: now, in: transaction) else { return false }
            try await transaction.record(event)
            return true
        }
        self.sessions.invalidate(sessions: [sessionID])
        return revoked
    }

    func logout(_ identity: Identity, client: ClientInfo) async throws {
        try await self.revoke(identity.sessionID, of: identity.userID, reason: "logout", action: .logout, client: client)
    }

    func listSessions(_ identity: Identity) async throws -> [SessionRecord] {
        try await self.store.activeSessions(userID: identity.userID)
    }

    func revokeSession(_ identity: Identity, sessionID: UUID, client: ClientInfo) async throws {
        guard
            try await self.revoke(
                sessionID,
                of: identity.userID,
                reason: "revoked_by_user",
                auditReason: "user",
                action: .sessionRevoked,
                client: client
            )
        else {
            throw APIError.notFound("You have no active session with this id.")
        }
    }

    /// The identity behind an access token, or nil. The session must be live and its user active; the check
    /// is cached for a few seconds and invalidated on revocation. A database that cannot answer is an error (503
    /// `busy` when its pool is exhausted), not an anonymous caller: a 401 would tell clients to drop a valid token.
    func authenticate(bearer token: String, client: ClientInfo) async throws -> Identity? {
        guard let claims = try? await self.accessTokens.verify(token), let userID = claims.userID, let sessionID = claims.sessionID else {
            return nil
        }
        return try await self.authenticate(sessionID: sessionID, userID: userID, client: client)
    }

    /// The identity behind a live session: `userID` when the credential names one (an access token does), else the
    /// session's owner (a dashboard cookie carries only the session id, under a MAC).
    func authenticate(sessionID: UUID, userID expected: UUID? = nil, client: ClientInfo) async throws -> Identity? {
        let now = self.now()
        if let entry = self.sessions.lookup(sessionID, now: now) {
            guard expected == nil || entry.userID == expected else { return nil }
            return Identity(userID: entry.userID, sessionID: sessionID, role: entry.role)
        }
        guard let session = try await self.store.session(id: sessionID), expected == nil || session.userID == expected,
            session.isActive(at: now),
            let user = try await self.store.user(id: session.userID), user.status == .active
        else { return nil }
        self.sessions.store(sessionID, userID: user.id, role: user.role, sessionExpiresAt: session.expiresAt, now: now)
        try await self.store.touchSession(id: sessionID, userID: user.id, now: now, ip: client.ip)
        return Identity(userID: user.id, sessionID: sessionID, role: user.role)
    }

    // MARK: Shared checks

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

    static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.count <= 254, let at = email.lastIndex(of: "@") else { return false }
        let local = email[..<at]
        let domain = email[email.index(after: at)...]
        return !local.isEmpty && local.count <= 64 && domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".")
            && !email.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true || "<>\",;".contains($0) })
    }
}
