// Exchange keys of each user: metadata rows in exchange_credentials, key material only as a sealed vault secret.

import AuditLog
import FluentKit
import Foundation
import Logging
import SQLKit
import Vault
import Venues

public struct CredentialStore: CredentialRepository {
    let database: TradekeepDatabase
    let secrets: SecretStore
    let logger: Logger
    public static let purpose = "exchange-credential"

    public init(database: TradekeepDatabase, secrets: SecretStore, logger: Logger) {
        self.database = database
        self.secrets = secrets
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.sql(logger: self.logger) }

    struct Row: Codable {
        var id: UUID
        var userId: UUID
        var venue: String
        var label: String
        var keyHint: String
        var permissions: String
        var ipRestricted: Bool?
        var warnings: String
        var secretId: UUID
        var createdAt: Date
        var rotatedAt: Date?
        var checkedAt: Date?
        var disabledAt: Date?
        var disabledReason: String?

        init(_ record: CredentialRecord, secretID: UUID) throws {
            self.id = record.id
            self.userId = record.userID
            self.venue = record.venue.rawValue
            self.label = record.label
            self.keyHint = record.keyHint
            self.permissions = try Self.text(record.permissions)
            self.ipRestricted = record.ipRestricted
            self.warnings = try Self.text(record.warnings)
            self.secretId = secretID
            self.createdAt = record.createdAt
            self.rotatedAt = record.rotatedAt
            self.checkedAt = record.checkedAt
            self.disabledAt = record.disabledAt
            self.disabledReason = record.disabledReason
        }

        func record() throws -> CredentialRecord {
            guard let venue = VenueID(rawValue: self.venue) else {
                throw StorageDataError.corrupt(table: "exchange_credentials", id: self.id.uuidString, column: "venue")
            }
            return CredentialRecord(
                id: self.id,
                userID: self.userId,
                venue: venue,
                label: self.label,
                keyHint: self.keyHint,
                permissions: try self.list(self.permissions, "permissions"),
                ipRestricted: self.ipRestricted,
                warnings: try self.list(self.warnings, "warnings"),
                createdAt: self.createdAt,
                rotatedAt: self.rotatedAt,
                disabledAt: self.disabledAt,
                disabledReason: self.disabledReason,
                checkedAt: self.checkedAt
            )
        }

        func list(_ text: String, _ column: String) throws -> [String] {
            guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
                throw StorageDataError.corrupt(table: "exchange_credentials", id: self.id.uuidString, column: column)
            }
            return list
        }

        static func text(_ list: [String]) throws -> String { String(decoding: try JSONEncoder().encode(list), as: UTF8.self) }
    }

    /// Seal the material first (a KMS or HSM failure stores nothing), then write secret, row and audit entry in one transaction.
    public func create(_ record: CredentialRecord, keys: VenueCredentials, audit: AuditEvent) async throws {
        let sealed = try await self.secrets.seal(keys.vaultEncoded(), purpose: Self.purpose, ownerID: record.userID, now: record.createdAt)
        let row = try Row(record, secretID: sealed.id)
        try await self.database.transaction(logger: self.logger) { transaction in
            try await SecretStore.insert(sealed, in: transaction.sql)
            try await transaction.sql.insert(into: "exchange_credentials").model(row, keyEncodingStrategy: .convertToSnakeCase).run()
            try await transaction.record(audit)
        }
    }

    public func list(userID: UUID) async throws -> [CredentialRecord] {
        try await self.sql().select().column("*").from("exchange_credentials").where("user_id", .equal, userID).orderBy("created_at")
            .all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
    }

    /// The owner's credential; another user's id is simply not found.
    public func credential(id: UUID, userID: UUID) async throws -> CredentialRecord? {
        try await self.row(id: id, userID: userID)?.record()
    }

    func row(id: UUID, userID: UUID) async throws -> Row? {
        try await self.sql().select().column("*").from("exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID)
            .first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    public func keys(id: UUID, userID: UUID) async throws -> VenueCredentials {
        guard let row = try await self.row(id: id, userID: userID) else { throw CredentialError.notFound }
        if row.disabledAt != nil { throw CredentialError.disabled(row.disabledReason ?? "it failed its re-check.") }
        return try await self.secrets.withSecret(id: row.secretId, ownerID: userID) { try VenueCredentials(vaultEncoded: $0) }
    }

    /// Replace the key material (after the new key passed inspection); the old sealed secret is deleted in the same transaction.
    public func rotate(
        id: UUID,
        userID: UUID,
        findings: KeyFindings,
        keys: VenueCredentials,
        at now: Date,
        audit: AuditEvent
    ) async throws -> CredentialRecord? {
        let sealed = try await self.secrets.seal(keys.vaultEncoded(), purpose: Self.purpose, ownerID: userID, now: now)
        let rotated = try await self.database.transaction(logger: self.logger) { transaction -> Bool in
            let sql = transaction.sql
            // The current secret is read under a row lock (PostgreSQL; SQLite serialises writers), so a concurrent
            // rotate or delete cannot leave a sealed copy behind.
            guard let old = try await Self.lockedSecretID(sql, id: id, userID: userID) else { return false }
            try await SecretStore.insert(sealed, in: sql)
            try await sql.update("exchange_credentials")
                .set("secret_id", to: sealed.id).set("key_hint", to: findings.keyHint).set("permissions", to: try Row.text(findings.permissions))
                .set("ip_restricted", to: findings.ipRestricted).set("warnings", to: try Row.text(findings.warnings)).set("rotated_at", to: now)
                .set("checked_at", to: now).set("disabled_at", to: SQLLiteral.null).set("disabled_reason", to: SQLLiteral.null)
                .where("id", .equal, id).where("user_id", .equal, userID).run()
            try await SecretStore.delete(id: old, ownerID: userID, in: sql)
            try await transaction.record(audit)
            return true
        }
        return rotated ? try await self.credential(id: id, userID: userID) : nil
    }

    public func disable(id: UUID, userID: UUID, reason: String, at now: Date, audit: AuditEvent) async throws -> Bool {
        try await self.database.transaction(logger: self.logger) { transaction in
            // The owner's lock, which starting a bot takes: a start either finished before (its bot is then stopped
            // by the disabled key at its next step) or sees the key disabled.
            try await BotStore.lockOwner(userID, transaction.sql)
            let rows = try await transaction.sql.raw(
                """
                UPDATE exchange_credentials SET disabled_at = \(bind: now), disabled_reason = \(bind: reason)
                WHERE id = \(bind: id) AND user_id = \(bind: userID) AND disabled_at IS NULL RETURNING id
                """
            ).all()
            guard !rows.isEmpty else { return false }
            try await transaction.record(audit)
            return true
        }
    }

    public func markChecked(id: UUID, userID: UUID, findings: KeyFindings, at now: Date) async throws {
        try await self.sql().update("exchange_credentials")
            .set("checked_at", to: now).set("permissions", to: try Row.text(findings.permissions))
            .set("ip_restricted", to: findings.ipRestricted).set("warnings", to: try Row.text(findings.warnings))
            .where("id", .equal, id).where("user_id", .equal, userID).where("disabled_at", .is, SQLLiteral.null).run()
    }

    public func dueForCheck(checkedBefore: Date, limit: Int) async throws -> [CredentialRecord] {
        try await self.sql().raw(
            """
            SELECT * FROM exchange_credentials WHERE disabled_at IS NULL AND COALESCE(checked_at, rotated_at, created_at) < \(bind: checkedBefore)
            ORDER BY COALESCE(checked_at, rotated_at, created_at) LIMIT \(bind: limit)
            """
        ).all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase).map { try $0.record() }
    }

    static func lockedSecretID(_ sql: any SQLDatabase, id: UUID, userID: UUID) async throws -> UUID? {
        try await sql.select().column("secret_id").from("exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID)
            .for(.update).first()?.decode(column: "secret_id", as: UUID.self)
    }

    /// Delete the row, its sealed secret and write the audit entry together. False if the owner has no such credential.
    public func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool {
        try await self.database.transaction(logger: self.logger) { transaction in
            let sql = transaction.sql
            guard let secretID = try await Self.lockedSecretID(sql, id: id, userID: userID) else { return false }
            try await sql.delete(from: "exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID).run()
            try await SecretStore.delete(id: secretID, ownerID: userID, in: sql)
            try await transaction.record(audit)
            return true
        }
    }
}

extension VenueCredentials {
    /// Length-prefixed fields (u32 big-endian each; passphrase absent = 0xFFFFFFFF), so no JSON copy of the secret
    /// lingers in memory: the buffer is zeroed once copied into the sealed secret's input.
    func vaultEncoded() -> SecretBytes {
        // The exact size up front: a growing buffer would leave unzeroed copies of the secret behind.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(12 + self.apiKey.utf8.count + self.secret.count + (self.passphrase?.count ?? 0))
        func append(_ bytes: UnsafeRawBufferPointer?) {
            guard let bytes else {
                buffer += [0xFF, 0xFF, 0xFF, 0xFF]
                return
            }
            let count = UInt32(bytes.count)
            buffer += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            buffer += bytes
        }
        Array(self.apiKey.utf8).withUnsafeBytes { append($0) }
        self.secret.withUnsafeBytes { append($0) }
        if let passphrase = self.passphrase { passphrase.withUnsafeBytes { append($0) } } else { append(nil) }
        defer { for index in buffer.indices { buffer[index] = 0 } }
        return SecretBytes(copying: buffer)
    }

    init(vaultEncoded secret: SecretBytes) throws {
        self = try secret.withUnsafeBytes { raw in
            var offset = 0
            func field() throws -> UnsafeRawBufferPointer? {
                guard offset + 4 <= raw.count else { throw CredentialMaterialError.damaged }
                let count = raw[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                offset += 4
                if count == UInt32.max { return nil }
                guard offset + Int(count) <= raw.count else { throw CredentialMaterialError.damaged }
                defer { offset += Int(count) }
                return UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(count)])
            }
            guard let apiKey = try field(), let secretBytes = try field() else { throw CredentialMaterialError.damaged }
            let passphrase = try field()
            return VenueCredentials(
                apiKey: String(decoding: apiKey, as: UTF8.self),
                secret: SecretBytes(copying: secretBytes),
                passphrase: passphrase.map { SecretBytes(copying: $0) }
            )
        }
    }
}

/// Opened key material that does not have the stored layout.
enum CredentialMaterialError: Error {
    case damaged
}
