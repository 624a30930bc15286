// The one owner of `vault_secrets`: every sealed secret (TOTP secrets, exchange keys) is written, opened,
// re-wrapped and deleted here, always scoped to its owner.

import FluentKit
import Foundation
import Logging
import SQLKit
import Vault

/// A secret sealed for one owner and purpose, ready to be written in the caller's transaction.
public struct SealedRow: Sendable {
    public let id: UUID
    let row: SecretRow
}

public enum SecretStoreError: Error, Equatable {
    case notFound
}

public struct SecretStore: Sendable {
    let database: TradekeepDatabase
    let envelope: Envelope
    let logger: Logger

    public init(database: TradekeepDatabase, envelope: Envelope, logger: Logger) {
        self.database = database
        self.envelope = envelope
        self.logger = logger
    }

    /// The context a secret is sealed under: its purpose, its owner and its own row id, so a ciphertext
    /// copied onto another row or owner does not open.
    public static func context(purpose: String, ownerID: UUID, secretID: UUID) -> SecretContext {
        SecretContext(purpose: purpose, ownerID: ownerID.uuidString.lowercased(), recordID: secretID.uuidString.lowercased())
    }

    /// Seal `secret` first (a KMS or HSM failure stores nothing); the caller inserts it in its transaction.
    public func seal(_ secret: SecretBytes, purpose: String, ownerID: UUID, now: Date = Date()) async throws -> SealedRow {
        let id = UUID()
        let sealed = try await self.envelope.seal(secret, context: Self.context(purpose: purpose, ownerID: ownerID, secretID: id))
        return SealedRow(id: id, row: SecretRow(id: id, purpose: purpose, ownerID: ownerID, sealed: sealed, createdAt: now))
    }

    static func insert(_ sealed: SealedRow, in sql: any SQLDatabase) async throws {
        try await sql.insert(into: "vault_secrets").model(sealed.row, keyEncodingStrategy: .convertToSnakeCase).run()
    }

    static func delete(id: UUID, ownerID: UUID, in sql: any SQLDatabase) async throws {
        try await sql.delete(from: "vault_secrets").where("id", .equal, id).where("owner_id", .equal, ownerID).run()
    }

    /// Open the owner's secret for the duration of `body`.
    public func withSecret<R: Sendable>(id: UUID, ownerID: UUID, _ body: (SecretBytes) throws -> R) async throws -> R {
        let sql = try self.database.sql(logger: self.logger)
        guard
            let row = try await sql.select().column("*").from("vault_secrets")
                .where("id", .equal, id).where("owner_id", .equal, ownerID)
                .first(decoding: SecretRow.self, keyDecodingStrategy: .convertFromSnakeCase)
        else { throw SecretStoreError.notFound }
        return try await self.envelope.withSecret(row.sealed, context: row.context, body)
    }

    // MARK: Re-wrapping (vault rotate, migrate)

    static func rows(notUnder version: Int, limit: Int, in sql: any SQLDatabase) async throws -> [SecretRow] {
        try await sql.select().column("*").from("vault_secrets").where("kek_version", .notEqual, version)
            .orderBy("id").limit(limit)
            .all(decoding: SecretRow.self, keyDecodingStrategy: .convertFromSnakeCase)
    }

    /// Replace a row's wrapped data key, only if nobody changed its version meanwhile.
    static func rewrap(_ row: SecretRow, to moved: SealedSecret, in sql: any SQLDatabase) async throws {
        try await sql.update("vault_secrets")
            .set("wrapped_key", to: Data(moved.wrappedKey)).set("kek_provider", to: moved.kekProvider).set("kek_version", to: moved.kekVersion)
            .where("id", .equal, row.id).where("kek_version", .equal, row.kekVersion)
            .run()
    }
}

/// A row of `vault_secrets`: one sealed secret and what it is bound to.
struct SecretRow: Codable, Sendable {
    var id: UUID
    var ownerId: UUID
    var purpose: String
    var ciphertext: Data
    var nonce: Data
    var wrappedKey: Data
    var kekProvider: String
    var kekVersion: Int
    var formatVersion: Int
    var createdAt: Date

    init(id: UUID, purpose: String, ownerID: UUID, sealed: SealedSecret, createdAt: Date = Date()) {
        self.id = id
        self.ownerId = ownerID
        self.purpose = purpose
        self.ciphertext = Data(sealed.ciphertext)
        self.nonce = Data(sealed.nonce)
        self.wrappedKey = Data(sealed.wrappedKey)
        self.kekProvider = sealed.kekProvider
        self.kekVersion = sealed.kekVersion
        self.formatVersion = sealed.formatVersion
        self.createdAt = createdAt
    }

    var sealed: SealedSecret {
        SealedSecret(
            ciphertext: Array(self.ciphertext),
            nonce: Array(self.nonce),
            wrappedKey: Array(self.wrappedKey),
            kekProvider: self.kekProvider,
            kekVersion: self.kekVersion,
            formatVersion: self.formatVersion
        )
    }

    /// The context the secret is sealed under; its record id is the row's own id.
    var context: SecretContext { SecretStore.context(purpose: self.purpose, ownerID: self.ownerId, secretID: self.id) }
}
