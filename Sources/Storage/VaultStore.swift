// The vault's tables: KEK versions, and the sealed secrets re-wrapped in batches by rotation and migration.
// Each batch is one transaction, so a crash at any point leaves every record under a version that opens it.

import FluentKit
import Foundation
import Logging
import SQLKit
import Vault

public struct VaultStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase {
        try self.database.sql(logger: self.logger)
    }

    // MARK: Versions

    struct VersionRow: Codable {
        var version: Int
        var provider: String
        var keyRef: String
        var createdAt: Date
    }

    /// Every version; the highest is current (rotation and migration only ever add a newer one).
    public func versions() async throws -> KEKVersions {
        let rows = try await self.sql().select().column("*").from("kek_versions")
            .all(decoding: VersionRow.self, keyDecodingStrategy: .convertFromSnakeCase)
        let references = Dictionary(uniqueKeysWithValues: rows.map { ($0.version, KEKReference(provider: $0.provider, key: $0.keyRef)) })
        return KEKVersions(current: references.keys.max() ?? 0, references: references)
    }

    /// On first start, record the configured KEK as version 1.
    public func ensureInitialVersion(_ reference: KEKReference) async throws -> KEKVersions {
        let existing = try await self.versions()
        if !existing.references.isEmpty { return existing }
        do {
            // Version 1 named, not "the current one plus one": an instance that lost the race must not add version 2.
            try await self.insertVersion(1, reference)
            return KEKVersions(current: 1, references: [1: reference])
        } catch {
            // Instances starting together all find no version and all write version 1: one wins, the others fail on
            // its primary key and use it. Any other failure leaves the table empty and is thrown.
            let written = try await self.versions()
            if !written.references.isEmpty { return written }
            throw error
        }
    }

    /// Make `reference` the current version; returns its number.
    public func addVersion(_ reference: KEKReference, now: Date = Date()) async throws -> Int {
        let next = (try await self.versions().current) + 1
        try await self.insertVersion(next, reference, now: now)
        return next
    }

    private func insertVersion(_ version: Int, _ reference: KEKReference, now: Date = Date()) async throws {
        try await self.sql().insert(into: "kek_versions")
            .model(
                VersionRow(version: version, provider: reference.provider, keyRef: reference.key, createdAt: now),
                keyEncodingStrategy: .convertToSnakeCase
            )
            .run()
    }

    public func removeVersion(_ version: Int) async throws {
        try await self.sql().delete(from: "kek_versions").where("version", .equal, version).run()
    }

    public struct VersionCount: Sendable, Equatable {
        public let version: Int
        public let reference: KEKReference?
        public let records: Int
    }

    /// Records per KEK version, including versions no record uses (count 0).
    public func counts() async throws -> [VersionCount] {
        struct Row: Decodable {
            var kekVersion: Int
            var n: Int
        }
        let rows = try await self.sql().select().column("kek_version").column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from("vault_secrets").groupBy("kek_version")
            .all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
        let versions = try await self.versions()
        var byVersion = Dictionary(uniqueKeysWithValues: rows.map { ($0.kekVersion, $0.n) })
        for version in versions.references.keys where byVersion[version] == nil { byVersion[version] = 0 }
        return byVersion.keys.sorted().map { VersionCount(version: $0, reference: versions.references[$0], records: byVersion[$0]!) }
    }

    public func recordCount() async throws -> Int {
        try await self.sql().select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("vault_secrets")
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Records not yet under `version`.
    public func pendingCount(notUnder version: Int) async throws -> Int {
        try await self.sql().select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("vault_secrets")
            .where("kek_version", .notEqual, version).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    // MARK: Re-wrapping

    /// Re-wrap up to `limit` records not yet under `target`, in one transaction. Returns how many moved.
    /// Only the wrapped data key changes; a record is updated only if nobody changed its version meanwhile.
    public func rewrapBatch(to target: Int, limit: Int, envelope: Envelope) async throws -> Int {
        let database = try self.database.database(logger: self.logger)
        let immediate = !self.database.location.isPostgres
        // Load the version table now: inside the transaction the vault must not need a second connection.
        _ = try await envelope.currentVersions(refresh: true)
        return try await database.withConnection { connection in
            let sql = connection as! any SQLDatabase
            // BEGIN IMMEDIATE takes SQLite's write lock up front, so two writers never deadlock upgrading a read lock.
            try await sql.raw(immediate ? "BEGIN IMMEDIATE" : "BEGIN").run()
            do {
                let rows = try await SecretStore.rows(notUnder: target, limit: limit, in: sql)
                for row in rows {
                    let moved = try await envelope.rewrap(row.sealed, context: row.context, to: target)
                    try await SecretStore.rewrap(row, to: moved, in: sql)
                }
                try await sql.raw("COMMIT").run()
                return rows.count
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }
}
