// `tradekeep admin create`: the only way to make an administrator (SPEC §2).

import AuditLog
import Foundation
import Logging
import Storage
import Vault

/// What the operator sees once: the TOTP secret to enrol and the token that confirms it.
public struct CreatedAdmin: Sendable {
    public let userID: UUID
    public let otpauthURI: String
    public let enrollmentToken: String
}

public enum AdminAccounts {
    /// Create an administrator in the configured database. The account is pending until its TOTP is
    /// confirmed (POST /api/v1/auth/totp/confirm with the enrolment token, or by signing in).
    public static func create(email: String, password: String, sources: ConfigurationSources, logger: Logger) async throws -> CreatedAdmin {
        let prepared = try StartupPolicy.prepareForCommand(sources)
        let configuration = prepared.configuration
        let database = try TradekeepDatabase(location: configuration.database)
        do {
            let vault = try makeVault(prepared, database: database, logger: logger)
            try await prepareDatabase(prepared, database: database, vault: vault, logger: logger)
            let auth = try await makeAuthService(
                prepared,
                database: database,
                secrets: SecretStore(database: database, envelope: vault, logger: logger),
                trading: nil,
                jobs: BackgroundJobs(logger: logger),
                logger: logger
            )
            let enrollment = try await auth.register(
                email: email,
                password: password,
                role: .admin,
                client: ClientInfo(ip: nil, userAgent: "tradekeep admin create")
            )
            await database.shutdown()
            return CreatedAdmin(userID: enrollment.userID, otpauthURI: enrollment.otpauthURI, enrollmentToken: enrollment.enrollmentToken)
        } catch {
            await database.shutdown()
            throw error
        }
    }
}
