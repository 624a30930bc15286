// Sealed records with known plaintexts, for rotation, migration and backup tests.

import Crypto
import Foundation
import Logging
import SQLKit
import Vault

@testable import Server
@testable import Storage

enum VaultSeed {
    /// The plaintext of record `index`: distinct, recognisable, 32 bytes.
    static func plaintext(_ index: Int) -> [UInt8] { Array(SHA256.hash(data: Array("tradekeep-test-secret-\(index)".utf8))) }

    /// Seal `count` records through the store, as the application does; returns id → index.
    static func seed(_ count: Int, database: TradekeepDatabase, vault: Envelope, logger: Logger) async throws -> [UUID: Int] {
        let secrets = SecretStore(database: database, envelope: vault, logger: logger)
        var ids: [UUID: Int] = [:]
        for index in 0..<count {
            let sealed = try await secrets.seal(SecretBytes(copying: plaintext(index)), purpose: "test", ownerID: UUID())
            try await database.transaction(logger: logger) { try await SecretStore.insert(sealed, in: $0.sql) }
            ids[sealed.id] = index
        }
        return ids
    }

    /// Open every seeded record and compare it with its plaintext. Returns how many matched.
    static func verify(_ ids: [UUID: Int], database: TradekeepDatabase, vault: Envelope, logger: Logger) async throws -> Int {
        let sql = try database.database(logger: logger) as! any SQLDatabase
        let rows = try await sql.select().column("*").from("vault_secrets")
            .all(decoding: SecretRow.self, keyDecodingStrategy: .convertFromSnakeCase)
        var matched = 0
        for row in rows {
            guard let index = ids[row.id] else { continue }
            let bytes = try await vault.withSecret(row.sealed, context: row.context) { $0.withUnsafeBytes(Array.init) }
            if bytes == plaintext(index) { matched += 1 }
        }
        return matched
    }
}
