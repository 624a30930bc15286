// Operator tools for the audit log: `tradekeep audit verify-db` recomputes the whole log from the database and
// names the first thing that does not match; `tradekeep audit export --user EMAIL` exports a user's log (and is
// itself audited).

import AuditLog
import Crypto
import Foundation
import Logging
import Storage
import Vault

/// The audit origin a server uses: TRADEKEEP_AUDIT_ORIGIN, else derived from the public URL, else the instance.
func auditOrigin(_ prepared: PreparedServer) -> String {
    prepared.configuration.auditOrigin ?? "tradekeep.invalid/\(prepared.secrets.keyring.id)"
}

public struct AuditAdministration: Sendable {
    let database: TradekeepDatabase
    let publisher: AuditLogPublisher
    let logger: Logger

    /// What `verify-db` found wrong, naming the first entry, node or checkpoint that does not match.
    public struct Mismatch: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public struct Verified: Sendable, Equatable {
        public let entries: UInt64
        public let checkpoints: Int
        public let pending: Int
    }

    public static func open(_ sources: ConfigurationSources, logger: Logger) async throws -> AuditAdministration {
        let prepared = try StartupPolicy.prepareForCommand(sources)
        let database = try TradekeepDatabase(location: prepared.configuration.database)
        do {
            try await database.migrate(logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        return AuditAdministration(database: database, prepared: prepared, logger: logger)
    }

    init(database: TradekeepDatabase, prepared: PreparedServer, logger: Logger) {
        self.database = database
        self.logger = logger
        self.publisher = AuditLogPublisher(
            store: AuditLogStore(database: database, logger: logger),
            key: prepared.secrets.auditSigningKey,
            origin: auditOrigin(prepared),
            checkpointInterval: prepared.configuration.auditCheckpointInterval,
            witnesses: prepared.configuration.auditWitnesses,
            logger: logger,
            now: { Date() }
        )
    }

    init(database: TradekeepDatabase, publisher: AuditLogPublisher, logger: Logger) {
        self.database = database
        self.publisher = publisher
        self.logger = logger
    }

    public func close() async {
        await self.database.shutdown()
    }

    /// Recompute every commitment, signature, chain link, Merkle node and checkpoint from the stored entries.
    public func verifyDatabase(batch: Int = 1000) async throws -> Verified {
        let store = self.publisher.store
        let key = self.publisher.verifierKey
        let checkpoints = try await store.checkpoints()
        var nextCheckpoint = checkpoints.startIndex
        var frontier = try MerkleFrontier(size: 0) { _, _ in RFC6962.emptyRoot }
        var heads: [String: String] = [:]

        func checkCheckpoints() throws {
            while nextCheckpoint < checkpoints.endIndex, checkpoints[nextCheckpoint].size == frontier.size {
                let stored = checkpoints[nextCheckpoint]
                guard let opened = try? Checkpoint.open(stored.note, logKey: key), opened.size == stored.size, opened.root == stored.root else {
                    throw Mismatch(
                        description: "checkpoint \(stored.size): its note is not signed by the audit key, or does not say its size and root"
                    )
                }
                guard stored.root == frontier.root else {
                    throw Mismatch(description: "checkpoint \(stored.size): its root is not the root of the first \(stored.size) entries")
                }
                nextCheckpoint += 1
            }
        }

        try checkCheckpoints()
        while true {
            let rows = try await store.integrated(from: frontier.size, limit: batch)
            if rows.isEmpty { break }
            var added: [(level: Int, index: UInt64, hash: MerkleHash)] = []
            for row in rows {
                let at = "entry \(row.index)"
                guard row.index == frontier.size else {
                    throw Mismatch(description: "entry \(frontier.size) is missing (the next one is \(row.index))")
                }
                guard AuditEntry.commitment(salt: row.salt, entry: row.entry) == row.leaf else {
                    throw Mismatch(description: "\(at): the stored commitment is not SHA-256(salt ‖ entry); the entry or its salt was changed")
                }
                guard key.publicKey.isValidSignature(row.signature, for: row.leaf) else {
                    throw Mismatch(description: "\(at): the signature does not verify")
                }
                guard let entry = try? AuditEntry(bytes: row.entry) else { throw Mismatch(description: "\(at): the entry is not canonical JSON") }
                let leafHash = RFC6962.leafHash(row.leaf)
                // The database holds every entry, so every actor's chain is checked, operators' included.
                guard entry.prev == heads[entry.actor] ?? "" else {
                    throw Mismatch(description: "\(at): prev does not name the actor's previous entry")
                }
                heads[entry.actor] = Hex.encode(leafHash)
                added += frontier.append(leafHash: leafHash)
                try checkCheckpoints()
            }
            let stored = try await store.storedNodes(Set(added.map { MerkleProofs.Node(level: $0.level, index: $0.index) }))
            for node in added where stored[MerkleProofs.Node(level: node.level, index: node.index)] != node.hash {
                throw Mismatch(
                    description: "Merkle node (level \(node.level), index \(node.index)) is missing or differs from the one its entries give"
                )
            }
        }
        guard nextCheckpoint == checkpoints.endIndex else {
            throw Mismatch(description: "checkpoint \(checkpoints[nextCheckpoint].size) is larger than the log (\(frontier.size) entries)")
        }
        return Verified(entries: frontier.size, checkpoints: checkpoints.count, pending: try await store.pendingCount())
    }

    /// A user's export, as the server would answer it, after recording that the operator exported it.
    public func export(email: String, operator name: String = "cli") async throws -> Data {
        guard let userID = try await self.publisher.store.userID(email: AccountStore.normalize(email: email)) else {
            throw Mismatch(description: "no account has the email \(email)")
        }
        try await DatabaseAuditSink(database: self.database, logger: self.logger).record(
            AuditEvent(.auditExported, user: userID, client: ClientInfo(ip: nil, userAgent: "tradekeep cli"), ["operator": name, "format": "json"])
        )
        try await self.publisher.sequence()
        try await self.publisher.checkpointIfDue(force: true)
        // The configured witnesses cosign the new checkpoint, as they would the server's (an unreachable one is skipped).
        await self.publisher.cosign(try await self.publisher.latest())
        return try await self.publisher.exportJSON(owner: userID, checkpoint: try await self.publisher.published())
    }
}
