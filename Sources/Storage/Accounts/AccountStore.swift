// Every query on accounts, sessions and tokens. Methods that act on a user's data take that user's id and
// scope the query to it, so a handler cannot reach another user's rows by passing a foreign record id.

import AuditLog
import FluentKit
import Foundation
import Logging
import SQLKit
import Vault

public enum AccountStoreError: Error, Equatable {
    case emailTaken
    case notFound
}

public struct AccountStore: Sendable {
    let database: TradekeepDatabase
    public let secrets: SecretStore
    let logger: Logger

    public init(database: TradekeepDatabase, secrets: SecretStore, logger: Logger) {
        self.database = database
        self.secrets = secrets
        self.logger = logger
    }

    /// The transaction's connection when inside one (every statement of a unit of work must use it: SQLite has
    /// one connection), else the pool.
    func sql(_ transaction: AuditedTransaction? = nil) throws -> any SQLDatabase {
        if let transaction { return transaction.sql }
        return try self.database.sql(logger: self.logger)
    }

    /// Run a unit of work: its changes and the audit entries it records commit together or not at all.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (AuditedTransaction) async throws -> T) async throws -> T {
        try await self.database.transaction(logger: self.logger, body)
    }

    // MARK: Users

    struct UserRow: Codable {
        var id: UUID
        var email: String
        var emailVerifiedAt: Date?
        var passwordHash: String
        var status: String
        var role: String
        var totpSecretId: UUID?
        var totpLastStep: Int64?
        var failedLogins: Int
        var lockedUntil: Date?
        var createdAt: Date
        var updatedAt: Date

        var record: UserRecord {
            UserRecord(
                id: self.id,
                email: self.email,
                emailVerifiedAt: self.emailVerifiedAt,
                passwordHash: self.passwordHash,
                status: AccountStatus(rawValue: self.status) ?? .disabled,
                role: AccountRole(rawValue: self.role) ?? .user,
                totpSecretID: self.totpSecretId,
                totpLastStep: self.totpLastStep,
                failedLogins: self.failedLogins,
                lockedUntil: self.lockedUntil,
                createdAt: self.createdAt
            )
        }
    }

    /// Emails are compared case-insensitively: stored lower-cased and trimmed.
    public static func normalize(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// Create a pending account with its TOTP secret. The secret is sealed first (a KMS or HSM failure stores
    /// nothing), then the sealed secret, the user and `audit` are written in one transaction.
    public func createUser(
        id userID: UUID = UUID(),
        email: String,
        passwordHash: String,
        role: AccountRole,
        totpSecret: SecretBytes,
        audit: [AuditEvent],
        now: Date = Date()
    ) async throws -> UserRecord {
        let sealed = try await self.secrets.seal(totpSecret, purpose: Self.totpPurpose, ownerID: userID, now: now)
        let row = UserRow(
            id: userID,
            email: Self.normalize(email: email),
            emailVerifiedAt: nil,
            passwordHash: passwordHash,
            status: AccountStatus.pendingTOTP.rawValue,
            role: role.rawValue,
            totpSecretId: sealed.id,
            totpLastStep: nil,
            failedLogins: 0,
            lockedUntil: nil,
            createdAt: now,
            updatedAt: now
        )
        if try await self.user(email: email) != nil { throw AccountStoreError.emailTaken }
        do {
            try await self.transaction { transaction in
                try await SecretStore.insert(sealed, in: transaction.sql)
                try await transaction.sql.insert(into: "users").model(row, keyEncodingStrategy: .convertToSnakeCase).run()
                try await transaction.record(audit)
            }
        } catch {
            // The unique index settles a race between two registrations of one address.
            if try await self.user(email: email) != nil { throw AccountStoreError.emailTaken }
            throw error
        }
        return row.record
    }

    public func user(id: UUID, in transaction: AuditedTransaction? = nil) async throws -> UserRecord? {
        try await self.sql(transaction).select().column("*").from("users").where("id", .equal, id)
            .first(decoding: UserRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record
    }

    public func user(email: String, in transaction: AuditedTransaction? = nil) async throws -> UserRecord? {
        try await self.sql(transaction).select().column("*").from("users").where("email", .equal, Self.normalize(email: email))
            .first(decoding: UserRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record
    }

    public func users(limit: Int = 100, offset: Int = 0) async throws -> [UserRecord] {
        try await self.sql().select().column("*").from("users").orderBy("created_at").limit(limit).offset(offset)
            .all(decoding: UserRow.self, keyDecodingStrategy: .convertFromSnakeCase).map(\.record)
    }

    func updateUser(
        _ id: UUID,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil,
        _ set: (SQLUpdateBuilder) -> SQLUpdateBuilder
    ) async throws {
        let builder = try self.sql(transaction).update("users").set("updated_at", to: now).where("id", .equal, id)
        try await set(builder).run()
    }

    public func setStatus(userID: UUID, _ status: AccountStatus, in transaction: AuditedTransaction? = nil) async throws {
        try await self.updateUser(userID, in: transaction) { $0.set("status", to: status.rawValue) }
    }

    public func setPasswordHash(userID: UUID, _ hash: String, in transaction: AuditedTransaction? = nil) async throws {
        try await self.updateUser(userID, in: transaction) { $0.set("password_hash", to: hash) }
    }

    public func markEmailVerified(userID: UUID, now: Date = Date(), in transaction: AuditedTransaction? = nil) async throws {
        try await self.updateUser(userID, now: now, in: transaction) { $0.set("email_verified_at", to: now) }
    }

    /// Count an attempt (a password, a code) before it is evaluated: one statement adds it to the account's attempts
    /// in flight only if the account is not locked and its failures plus the attempts in flight are fewer than
    /// `maximum`, so however many requests arrive at once, at most `maximum` are evaluated before the account locks.
    /// An expired lock starts the count afresh. A right answer, or one never evaluated, gives its place back
    /// (`releaseAttempt`); a wrong one becomes a failure (`recordFailedAttempt`). Failures and attempts in flight are
    /// kept apart so that a lock stands for `maximum` wrong answers, not for answers still being checked.
    public func reserveAttempt(userID: UUID, maximum: Int, lockDuration: TimeInterval, now: Date) async throws -> AttemptReservation {
        let rows = try await self.sql().raw(
            """
            UPDATE users SET
              failed_logins = CASE WHEN locked_until IS NOT NULL THEN 0 ELSE failed_logins END,
              attempts_in_flight = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE attempts_in_flight + 1 END,
              locked_until = NULL,
              updated_at = \(bind: now)
            WHERE id = \(bind: userID)
              AND ((locked_until IS NULL AND failed_logins + attempts_in_flight < \(bind: maximum)) OR locked_until <= \(bind: now))
            RETURNING failed_logins + attempts_in_flight AS attempt
            """
        ).all()
        if let row = rows.first { return .granted(attempt: try row.decode(column: "attempt", as: Int.self)) }
        // Refused: locked, or the allowance is taken by failures and attempts not yet settled. Attempts settle within
        // seconds (a hash waits at most its queue); attempts still in flight a minute after the last one lost their
        // settlement (the database failed after counting). They count as the failures they may have been, and an
        // exhausted count becomes the lock it stands for, dated from that last attempt, so the account can never
        // stay refused for good.
        struct State: Decodable {
            var failedLogins: Int
            var attemptsInFlight: Int
            var lockedUntil: Date?
            var updatedAt: Date
        }
        guard
            let state = try await self.sql().select().columns("failed_logins", "attempts_in_flight", "locked_until", "updated_at")
                .from("users").where("id", .equal, userID)
                .first(decoding: State.self, keyDecodingStrategy: .convertFromSnakeCase)
        else { return .refused(lockedUntil: nil) }
        if state.lockedUntil == nil, state.failedLogins + state.attemptsInFlight >= maximum,
            state.updatedAt <= now.addingTimeInterval(-Self.settleTime)
        {
            let until = state.updatedAt.addingTimeInterval(lockDuration)
            try await self.sql().raw(
                """
                UPDATE users SET failed_logins = failed_logins + attempts_in_flight, attempts_in_flight = 0, locked_until = \(bind: until)
                WHERE id = \(bind: userID) AND locked_until IS NULL AND failed_logins + attempts_in_flight >= \(bind: maximum)
                """
            ).run()
            return .refused(lockedUntil: until)
        }
        return .refused(lockedUntil: state.lockedUntil)
    }

    /// How long counted attempts may take to settle (be evaluated and released or kept).
    public static let settleTime: TimeInterval = 60

    /// A counted attempt was right (or never evaluated): give its place back.
    public func releaseAttempt(userID: UUID) async throws {
        try await self.sql().raw(
            "UPDATE users SET attempts_in_flight = attempts_in_flight - 1 WHERE id = \(bind: userID) AND attempts_in_flight > 0"
        ).run()
    }

    /// A counted attempt was wrong: it becomes a failure. When the failures reach `maximum`, lock the account until
    /// `until` (once: a lock already in force is not extended). The count stays as it is: the lock records how it
    /// came about. Returns the failures, and the lock deadline when this call locked the account.
    public func recordFailedAttempt(
        userID: UUID,
        maximum: Int,
        until: Date,
        now: Date,
        in transaction: AuditedTransaction? = nil
    ) async throws -> (failures: Int, lockedUntil: Date?) {
        let sql = try self.sql(transaction)
        try await sql.raw(
            """
            UPDATE users SET failed_logins = failed_logins + 1,
              attempts_in_flight = CASE WHEN attempts_in_flight > 0 THEN attempts_in_flight - 1 ELSE 0 END,
              updated_at = \(bind: now)
            WHERE id = \(bind: userID)
            """
        ).run()
        let locked = try await sql.raw(
            """
            UPDATE users SET locked_until = \(bind: until)
            WHERE id = \(bind: userID) AND failed_logins >= \(bind: maximum) AND (locked_until IS NULL OR locked_until <= \(bind: now))
            RETURNING failed_logins
            """
        ).all()
        if let row = locked.first { return (try row.decode(column: "failed_logins", as: Int.self), until) }
        return (try await self.user(id: userID, in: transaction)?.failedLogins ?? 0, nil)
    }

    public func clearFailedLogins(userID: UUID, in transaction: AuditedTransaction? = nil) async throws {
        try await self.updateUser(userID, in: transaction) { $0.set("failed_logins", to: 0).set("locked_until", to: SQLLiteral.null) }
    }

    /// Accept a TOTP step only if it is later than the last one used, atomically: two requests with the
    /// same code cannot both succeed.
    public func advanceTOTPStep(userID: UUID, to step: Int64) async throws -> Bool {
        let rows = try await self.sql().raw(
            """
            UPDATE users SET totp_last_step = \(bind: step), updated_at = \(bind: Date())
            WHERE id = \(bind: userID) AND (totp_last_step IS NULL OR totp_last_step < \(bind: step)) RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    // MARK: Sealed secrets

    /// The purpose of TOTP secrets in the vault.
    public static let totpPurpose = "totp"

    // MARK: Sessions and refresh tokens

    struct SessionRow: Codable {
        var id: UUID
        var userId: UUID
        var createdAt: Date
        var lastSeenAt: Date
        var expiresAt: Date
        var ip: String?
        var userAgent: String?
        var revokedAt: Date?
        var revokedReason: String?

        var record: SessionRecord {
            SessionRecord(
                id: self.id,
                userID: self.userId,
                createdAt: self.createdAt,
                lastSeenAt: self.lastSeenAt,
                expiresAt: self.expiresAt,
                ip: self.ip,
                userAgent: self.userAgent,
                revokedAt: self.revokedAt
            )
        }
    }

    public func createSession(
        userID: UUID,
        ip: String?,
        userAgent: String?,
        expiresAt: Date,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws -> SessionRecord {
        let row = SessionRow(
            id: UUID(),
            userId: userID,
            createdAt: now,
            lastSeenAt: now,
            expiresAt: expiresAt,
            ip: ip,
            userAgent: userAgent.map { String($0.prefix(512)) },
            revokedAt: nil,
            revokedReason: nil
        )
        try await self.sql(transaction).insert(into: "sessions").model(row, keyEncodingStrategy: .convertToSnakeCase).run()
        return row.record
    }

    /// The session, whoever owns it: only for validating an access token's `sid` (the token names the owner).
    public func session(id: UUID) async throws -> SessionRecord? {
        try await self.sql().select().column("*").from("sessions").where("id", .equal, id)
            .first(decoding: SessionRow.self, keyDecodingStrategy: .convertFromSnakeCase)?.record
    }

    public func activeSessions(userID: UUID, now: Date = Date()) async throws -> [SessionRecord] {
        try await self.sql().select().column("*").from("sessions")
            .where("user_id", .equal, userID).where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, now)
            .orderBy("created_at", .descending)
            .all(decoding: SessionRow.self, keyDecodingStrategy: .convertFromSnakeCase).map(\.record)
    }

    public func touchSession(id: UUID, userID: UUID, now: Date, ip: String?) async throws {
        var update = try self.sql().update("sessions").set("last_seen_at", to: now)
        if let ip { update = update.set("ip", to: ip) }
        try await update.where("id", .equal, id).where("user_id", .equal, userID).run()
    }

    /// Revoke one of the user's sessions. False when the user has no such active session.
    public func revokeSession(
        id: UUID,
        userID: UUID,
        reason: String,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws -> Bool {
        let rows = try await self.sql(transaction).update("sessions").set("revoked_at", to: now).set("revoked_reason", to: reason)
            .where("id", .equal, id).where("user_id", .equal, userID).where("revoked_at", .is, SQLLiteral.null)
            .returning("id").all()
        return !rows.isEmpty
    }

    /// Revoke every active session of the user (except `keeping`); returns the ids revoked.
    public func revokeAllSessions(
        userID: UUID,
        reason: String,
        keeping: UUID? = nil,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws -> [UUID] {
        var update = try self.sql(transaction).update("sessions").set("revoked_at", to: now).set("revoked_reason", to: reason)
            .where("user_id", .equal, userID).where("revoked_at", .is, SQLLiteral.null)
        if let keeping { update = update.where("id", .notEqual, keeping) }
        let rows = try await update.returning("id").all()
        return try rows.map { try $0.decode(column: "id", as: UUID.self) }
    }

    public func addRefreshToken(
        sessionID: UUID,
        tokenHash: String,
        expiresAt: Date,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws {
        try await self.sql(transaction).insert(into: "refresh_tokens")
            .columns("id", "session_id", "token_hash", "created_at", "expires_at")
            .values(SQLBind(UUID()), SQLBind(sessionID), SQLBind(tokenHash), SQLBind(now), SQLBind(expiresAt))
            .run()
    }

    /// Spend a refresh token. Exactly one of two concurrent presentations rotates; the other sees reuse.
    public func consumeRefreshToken(hash: String, now: Date) async throws -> RefreshOutcome {
        let sql = try self.sql()
        struct TokenRow: Decodable {
            var id: UUID
            var sessionId: UUID
            var expiresAt: Date
            var usedAt: Date?
        }
        guard
            let token = try await sql.select().columns("id", "session_id", "expires_at", "used_at").from("refresh_tokens")
                .where("token_hash", .equal, hash).first(decoding: TokenRow.self, keyDecodingStrategy: .convertFromSnakeCase),
            let session = try await self.session(id: token.sessionId)
        else { return .invalid }
        if token.usedAt != nil { return .reused(sessionID: session.id, userID: session.userID) }
        guard token.expiresAt > now, session.isActive(at: now) else { return .invalid }
        let spent = try await sql.update("refresh_tokens").set("used_at", to: now)
            .where("id", .equal, token.id).where("used_at", .is, SQLLiteral.null).returning("id").all()
        return spent.isEmpty ? .reused(sessionID: session.id, userID: session.userID) : .rotated(sessionID: session.id, userID: session.userID)
    }

    public func extendSession(id: UUID, userID: UUID, expiresAt: Date, in transaction: AuditedTransaction? = nil) async throws {
        try await self.sql(transaction).update("sessions").set("expires_at", to: expiresAt)
            .where("id", .equal, id).where("user_id", .equal, userID).run()
    }

    // MARK: Backup codes

    /// Replace the user's backup codes; part of the caller's transaction (confirming TOTP, regenerating codes).
    public func replaceBackupCodes(
        userID: UUID,
        codes: [(lookupID: String, hash: String)],
        now: Date = Date(),
        in transaction: AuditedTransaction
    ) async throws {
        let sql = transaction.sql
        try await sql.delete(from: "backup_codes").where("user_id", .equal, userID).run()
        var insert = sql.insert(into: "backup_codes").columns("id", "user_id", "lookup_id", "code_hash", "created_at")
        for code in codes {
            insert = insert.values(SQLBind(UUID()), SQLBind(userID), SQLBind(code.lookupID), SQLBind(code.hash), SQLBind(now))
        }
        if !codes.isEmpty { try await insert.run() }
    }

    /// The unused code of this user with this lookup id: (row id, bcrypt hash).
    public func unusedBackupCode(userID: UUID, lookupID: String) async throws -> (id: UUID, hash: String)? {
        struct Row: Decodable {
            var id: UUID
            var codeHash: String
        }
        let row = try await self.sql().select().columns("id", "code_hash").from("backup_codes")
            .where("user_id", .equal, userID).where("lookup_id", .equal, lookupID).where("used_at", .is, SQLLiteral.null)
            .first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
        return row.map { ($0.id, $0.codeHash) }
    }

    public func consumeBackupCode(id: UUID, userID: UUID, now: Date = Date(), in transaction: AuditedTransaction? = nil) async throws -> Bool {
        let rows = try await self.sql(transaction).update("backup_codes").set("used_at", to: now)
            .where("id", .equal, id).where("user_id", .equal, userID).where("used_at", .is, SQLLiteral.null)
            .returning("id").all()
        return !rows.isEmpty
    }

    public func unusedBackupCodeCount(userID: UUID) async throws -> Int {
        try await self.sql().select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("backup_codes")
            .where("user_id", .equal, userID).where("used_at", .is, SQLLiteral.null)
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    // MARK: One-time tokens

    public func createOneTimeToken(
        userID: UUID,
        purpose: OneTimeTokenPurpose,
        tokenHash: String,
        expiresAt: Date,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws {
        try await self.sql(transaction).insert(into: "one_time_tokens")
            .columns("id", "user_id", "purpose", "token_hash", "created_at", "expires_at", "attempts")
            .values(SQLBind(UUID()), SQLBind(userID), SQLBind(purpose.rawValue), SQLBind(tokenHash), SQLBind(now), SQLBind(expiresAt), SQLBind(0))
            .run()
    }

    /// A usable (unspent, unexpired) token of this purpose.
    public func oneTimeToken(hash: String, purpose: OneTimeTokenPurpose, now: Date) async throws -> OneTimeTokenRecord? {
        struct Row: Decodable {
            var id: UUID
            var userId: UUID
            var expiresAt: Date
            var attempts: Int
        }
        return try await self.sql().select().columns("id", "user_id", "expires_at", "attempts").from("one_time_tokens")
            .where("token_hash", .equal, hash).where("purpose", .equal, purpose.rawValue)
            .where("used_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, now)
            .first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
            .map { OneTimeTokenRecord(id: $0.id, userID: $0.userId, purpose: purpose, expiresAt: $0.expiresAt, attempts: $0.attempts) }
    }

    /// Spend a token. False when it was already spent (by a concurrent request).
    public func consumeOneTimeToken(id: UUID, now: Date = Date(), in transaction: AuditedTransaction? = nil) async throws -> Bool {
        let rows = try await self.sql(transaction).update("one_time_tokens").set("used_at", to: now)
            .where("id", .equal, id).where("used_at", .is, SQLLiteral.null).returning("id").all()
        return !rows.isEmpty
    }

    /// Count an answer given with a token before it is evaluated, in one statement: false (and nothing counted)
    /// when the token is spent or has had its `maximum` answers, however many arrive at once.
    public func reserveTokenAttempt(id: UUID, maximum: Int) async throws -> Int? {
        let rows = try await self.sql().raw(
            """
            UPDATE one_time_tokens SET attempts = attempts + 1
            WHERE id = \(bind: id) AND used_at IS NULL AND attempts < \(bind: maximum)
            RETURNING attempts
            """
        ).all()
        return try rows.first?.decode(column: "attempts", as: Int.self)
    }

    /// Spend every unspent token of this purpose for the user (a new one replaces them).
    public func revokeOneTimeTokens(
        userID: UUID,
        purpose: OneTimeTokenPurpose,
        now: Date = Date(),
        in transaction: AuditedTransaction? = nil
    ) async throws {
        try await self.sql(transaction).update("one_time_tokens").set("used_at", to: now)
            .where("user_id", .equal, userID).where("purpose", .equal, purpose.rawValue).where("used_at", .is, SQLLiteral.null)
            .run()
    }
}
