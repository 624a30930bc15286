// Exchange keys of each user: metadata rows in exchange_credentials, key material only as a sealed vault secret.

import FluentKit
import Foundation
import Logging
import SQLKit
import Vault

/// A stored exchange key as the API shows it: never any secret.
public struct CredentialRecord: Sendable, Equatable {
    public var id: UUID
    public var userID: UUID
    public var venue: String
    public var label: String
    public var keyHint: String
    public var permissions: [String]
    public var ipRestricted: Bool?
    public var warnings: [String]
    public var createdAt: Date
    public var rotatedAt: Date?
}

/// The key material of one credential, sealed as one vault secret.
public struct CredentialMaterial: Sendable {
    public var apiKey: String
    public var secret: SecretBytes
    public var passphrase: SecretBytes?

    public init(apiKey: String, secret: SecretBytes, passphrase: SecretBytes?) {
        self.apiKey = apiKey
        self.secret = secret
        self.passphrase = passphrase
    }

    /// Length-prefixed fields (u32 big-endian each; passphrase absent = 0xFFFFFFFF), so no JSON copy of the secret
    /// lingers in memory: the buffer is zeroed once sealed.
    func encoded() -> SecretBytes {
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

    static func decoded(_ secret: SecretBytes) throws -> CredentialMaterial {
        try secret.withUnsafeBytes { raw in
            var offset = 0
            func field() throws -> UnsafeRawBufferPointer? {
                guard offset + 4 <= raw.count else { throw CredentialStoreError.damaged }
                let count = raw[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                offset += 4
                if count == UInt32.max { return nil }
                guard offset + Int(count) <= raw.count else { throw CredentialStoreError.damaged }
                defer { offset += Int(count) }
                return UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(count)])
            }
            guard let apiKey = try field(), let secretBytes = try field() else { throw CredentialStoreError.damaged }
            let passphrase = try field()
            return CredentialMaterial(
                apiKey: String(decoding: apiKey, as: UTF8.self),
                secret: SecretBytes(copying: secretBytes),
                passphrase: passphrase.map { SecretBytes(copying: $0) }
            )
        }
    }
}

public enum CredentialStoreError: Error {
    case notFound, damaged
}

public struct CredentialStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger
    public static let purpose = "exchange-credential"

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.database(logger: self.logger) as! any SQLDatabase }

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

        var record: CredentialRecord {
            CredentialRecord(
                id: self.id,
                userID: self.userId,
                venue: self.venue,
                label: self.label,
                keyHint: self.keyHint,
                permissions: Self.list(self.permissions),
                ipRestricted: self.ipRestricted,
                warnings: Self.list(self.warnings),
                createdAt: self.createdAt,
                rotatedAt: self.rotatedAt
            )
        }

        static func list(_ text: String) -> [String] { (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? [] }
        static func text(_ list: [String]) -> String { String(decoding: (try? JSONEncoder().encode(list)) ?? Data("[]".utf8), as: UTF8.self) }
    }

    /// Seal the material first (a KMS or HSM failure stores nothing), then write secret and row in one transaction.
    public func create(
        userID: UUID,
        venue: String,
        label: String,
        keyHint: String,
        permissions: [String],
        ipRestricted: Bool?,
        warnings: [String],
        material: CredentialMaterial,
        envelope: Envelope,
        now: Date = Date()
    ) async throws -> CredentialRecord {
        let id = UUID()
        let secretID = UUID()
        let sealed = try await envelope.seal(
            material.encoded(),
            context: AccountStore.secretContext(purpose: Self.purpose, ownerID: userID, secretID: secretID)
        )
        let row = Row(
            id: id,
            userId: userID,
            venue: venue,
            label: label,
            keyHint: keyHint,
            permissions: Row.text(permissions),
            ipRestricted: ipRestricted,
            warnings: Row.text(warnings),
            secretId: secretID,
            createdAt: now,
            rotatedAt: nil
        )
        try await self.database.database(logger: self.logger).transaction { transaction in
            let sql = transaction as! any SQLDatabase
            try await sql.insert(into: "vault_secrets")
                .model(
                    SecretRow(id: secretID, purpose: Self.purpose, ownerID: userID, sealed: sealed, createdAt: now),
                    keyEncodingStrategy: .convertToSnakeCase
                ).run()
            try await sql.insert(into: "exchange_credentials").model(row, keyEncodingStrategy: .convertToSnakeCase).run()
        }
        return row.record
    }

    public func list(userID: UUID) async throws -> [CredentialRecord] {
        try await self.sql().select().column("*").from("exchange_credentials").where("user_id", .equal, userID).orderBy("created_at")
            .all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase).map(\.record)
    }

    /// The owner's credential; another user's id is simply not found.
    public func credential(id: UUID, userID: UUID) async throws -> CredentialRecord? {
        try await self.row(id: id, userID: userID)?.record
    }

    func row(id: UUID, userID: UUID) async throws -> Row? {
        try await self.sql().select().column("*").from("exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID)
            .first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    /// Open the credential's key material for the duration of `body`.
    public func withMaterial<R: Sendable>(id: UUID, userID: UUID, envelope: Envelope, _ body: (CredentialMaterial) throws -> R) async throws -> R {
        guard let row = try await self.row(id: id, userID: userID) else { throw CredentialStoreError.notFound }
        return try await AccountStore(database: self.database, logger: self.logger).withSecret(id: row.secretId, ownerID: userID, envelope: envelope)
        { secret in
            try body(try CredentialMaterial.decoded(secret))
        }
    }

    /// Replace the key material (after the new key passed inspection); the old sealed secret is deleted in the same transaction.
    public func rotate(
        id: UUID,
        userID: UUID,
        keyHint: String,
        permissions: [String],
        ipRestricted: Bool?,
        warnings: [String],
        material: CredentialMaterial,
        envelope: Envelope,
        now: Date = Date()
    ) async throws -> CredentialRecord {
        let secretID = UUID()
        let sealed = try await envelope.seal(
            material.encoded(),
            context: AccountStore.secretContext(purpose: Self.purpose, ownerID: userID, secretID: secretID)
        )
        try await self.database.database(logger: self.logger).transaction { transaction in
            let sql = transaction as! any SQLDatabase
            // The current secret is read under a row lock (PostgreSQL; SQLite serialises writers), so a concurrent
            // rotate or delete cannot leave a sealed copy behind; a row deleted meanwhile rolls everything back.
            guard let old = try await Self.lockedSecretID(sql, id: id, userID: userID) else { throw CredentialStoreError.notFound }
            try await sql.insert(into: "vault_secrets")
                .model(
                    SecretRow(id: secretID, purpose: Self.purpose, ownerID: userID, sealed: sealed, createdAt: now),
                    keyEncodingStrategy: .convertToSnakeCase
                ).run()
            try await sql.update("exchange_credentials")
                .set("secret_id", to: secretID).set("key_hint", to: keyHint).set("permissions", to: Row.text(permissions))
                .set("ip_restricted", to: ipRestricted).set("warnings", to: Row.text(warnings)).set("rotated_at", to: now)
                .where("id", .equal, id).where("user_id", .equal, userID).run()
            try await sql.delete(from: "vault_secrets").where("id", .equal, old).where("owner_id", .equal, userID).run()
        }
        guard let record = try await self.credential(id: id, userID: userID) else { throw CredentialStoreError.notFound }
        return record
    }

    static func lockedSecretID(_ sql: any SQLDatabase, id: UUID, userID: UUID) async throws -> UUID? {
        try await sql.select().column("secret_id").from("exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID)
            .for(.update).first()?.decode(column: "secret_id", as: UUID.self)
    }

    /// Delete the row and its sealed secret together. False if the owner has no such credential.
    public func delete(id: UUID, userID: UUID) async throws -> Bool {
        try await self.database.database(logger: self.logger).transaction { transaction in
            let sql = transaction as! any SQLDatabase
            guard let secretID = try await Self.lockedSecretID(sql, id: id, userID: userID) else { return false }
            try await sql.delete(from: "exchange_credentials").where("id", .equal, id).where("user_id", .equal, userID).run()
            try await sql.delete(from: "vault_secrets").where("id", .equal, secretID).where("owner_id", .equal, userID).run()
            return true
        }
    }
}
