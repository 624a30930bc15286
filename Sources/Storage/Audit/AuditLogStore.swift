// The audit log's storage: the sequencer that integrates pending entries (index, chain, commitment, signature,
// Merkle nodes) in one transaction per batch, the signed checkpoints, tiles and proofs. Every perfect node is kept,
// so a tile is one range read and a proof O(log n) point reads, never a rebuild.

import AuditLog
import Crypto
import FluentKit
import Foundation
import Logging
import SQLKit

public enum AuditLogError: Error, CustomStringConvertible, Equatable {
    case inconsistent(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .inconsistent(let why): "the audit log is inconsistent: \(why)"
        case .outOfRange(let why): why
        }
    }
}

/// An entry just given its place in the log (what high-impact mail needs).
public struct SequencedEntry: Sendable, Equatable {
    public let index: UInt64
    public let userID: UUID?
    public let action: String
    public let ip: String?
    public let details: [String: String]
}

public struct StoredCheckpoint: Sendable, Equatable {
    public let size: UInt64
    public let root: MerkleHash
    public let note: String

    public init(size: UInt64, root: MerkleHash, note: String) {
        self.size = size
        self.root = root
        self.note = note
    }
}

/// One integrated entry as stored.
public struct IntegratedEntry: Sendable {
    public let index: UInt64
    public let entry: [UInt8]
    public let salt: [UInt8]
    public let leaf: [UInt8]
    public let signature: [UInt8]
}

public struct AuditLogStore: Sendable {
    /// "tradaudt": the advisory lock that makes one sequencer at a time extend the tree on PostgreSQL.
    static let sequencerLockKey: Int64 = 0x7472_6164_6175_6474

    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Run `body` in a transaction holding the sequencer lock (PostgreSQL); SQLite has one writer anyway.
    func locked<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await self.database.database(logger: self.logger).transaction { transaction in
            let sql = transaction as! any SQLDatabase
            if sql.dialect.name == "postgresql" { try await sql.raw("SELECT pg_advisory_xact_lock(\(literal: Self.sequencerLockKey))").run() }
            return try await body(sql)
        }
    }

    static func size(_ sql: any SQLDatabase) async throws -> UInt64 {
        let row = try await sql.raw("SELECT MAX(leaf_index) AS last FROM audit_events").first()
        let last = try row?.decodeNil(column: "last") == false ? try row!.decode(column: "last", as: Int64.self) : nil
        return last.map { UInt64($0) + 1 } ?? 0
    }

    /// The number of integrated entries.
    public func size() async throws -> UInt64 {
        try await Self.size(try self.database.sql(logger: self.logger))
    }

    static func nodes(_ needed: Set<MerkleProofs.Node>, _ sql: any SQLDatabase) async throws -> [MerkleProofs.Node: MerkleHash] {
        guard !needed.isEmpty else { return [:] }
        let byLevel = Dictionary(grouping: needed, by: \.level)
        let rows = try await sql.select().columns("level", "idx", "hash").from("audit_nodes")
            .where { group in
                var group = group
                for (level, nodes) in byLevel {
                    group = group.orWhere { $0.where("level", .equal, level).where("idx", .in, nodes.map { Int64($0.index) }) }
                }
                return group
            }
            .all()
        var found: [MerkleProofs.Node: MerkleHash] = [:]
        for row in rows {
            let node = MerkleProofs.Node(
                level: try row.decode(column: "level", as: Int.self),
                index: UInt64(try row.decode(column: "idx", as: Int64.self))
            )
            found[node] = Array(try row.decode(column: "hash", as: Data.self))
        }
        return found
    }

    /// Run a proof or root computation against the stored nodes: one read for every node it needs.
    static func compute<T>(_ sql: any SQLDatabase, _ work: @escaping (MerkleProofs.NodeReader) throws -> T) async throws -> T {
        let fetched = try await Self.nodes(MerkleProofs.nodesNeeded { _ = try work($0) }, sql)
        return try work { level, index in
            guard let hash = fetched[MerkleProofs.Node(level: level, index: index)] else {
                throw MerkleTreeError.missingNode(level: level, index: index)
            }
            return hash
        }
    }

    // MARK: Sequencing

    /// Integrate up to `limit` pending entries, oldest first, in one transaction; returns how many.
    public func integratePending(key: AuditSigningKey, limit: Int = 2000) async throws -> [SequencedEntry] {
        // Nothing pending: no transaction, no lock.
        let probe = try self.database.sql(logger: self.logger)
        guard try await probe.select().column("id").from("audit_events").where("state", .equal, "pending").limit(1).first() != nil else { return [] }
        return try await self.locked { sql in
            struct Pending: Decodable {
                var id: UUID
                var userId: UUID?
                var action: String
                var ip: String?
                var userAgent: String?
                var details: String
                var createdAt: Date
            }
            let pending = try await sql.select().columns("id", "user_id", "action", "ip", "user_agent", "details", "created_at").from("audit_events")
                .where("state", .equal, "pending").orderBy(sql.dialect.name == "postgresql" ? "seq" : "rowid").limit(limit)
                .all(decoding: Pending.self, keyDecodingStrategy: .convertFromSnakeCase)
            guard !pending.isEmpty else { return [] }
            let size = try await Self.size(sql)
            let border = try await Self.nodes(Set(MerkleFrontier.borderNodes(size: size)), sql)
            var frontier = try MerkleFrontier(size: size) { level, index in
                guard let hash = border[MerkleProofs.Node(level: level, index: index)] else {
                    throw MerkleTreeError.missingNode(level: level, index: index)
                }
                return hash
            }
            var heads: [String: String] = [:]
            var nodes: [(level: Int, index: UInt64, hash: MerkleHash)] = []
            var integrated: [[SQLBind]] = []
            var sequenced: [SequencedEntry] = []
            var leaves: [[UInt8]] = []
            for row in pending {
                let details = (try? JSONDecoder().decode([String: String].self, from: Data(row.details.utf8))) ?? [:]
                let actor = AuditEntry.actor(userID: row.userId, action: row.action, details: details)
                if heads[actor] == nil {
                    let last = try await sql.select().column("leaf").from("audit_events").where("actor", .equal, actor)
                        .where("leaf_index", .isNot, SQLLiteral.null).orderBy("leaf_index", .descending).limit(1).first()
                    heads[actor] = try last.map { Hex.encode(RFC6962.leafHash(Array(try $0.decode(column: "leaf", as: Data.self)))) } ?? ""
                }
                let entry = AuditEntry(
                    action: row.action,
                    actor: actor,
                    details: details,
                    ip: row.ip ?? "",
                    prev: heads[actor]!,
                    target: AuditEntry.target(userID: row.userId, details: details),
                    time: AuditEntry.timestamp(row.createdAt),
                    userAgent: row.userAgent ?? ""
                ).bytes
                let salt = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
                let leaf = AuditEntry.commitment(salt: salt, entry: entry)
                let index = frontier.size
                let added = frontier.append(leafHash: RFC6962.leafHash(leaf))
                nodes.append(contentsOf: added)
                heads[actor] = Hex.encode(added[0].hash)
                sequenced.append(SequencedEntry(index: index, userID: row.userId, action: row.action, ip: row.ip, details: details))
                integrated.append(
                    [SQLBind(row.id), SQLBind(Int64(index)), SQLBind(actor), SQLBind(Data(entry)), SQLBind(Data(salt)), SQLBind(Data(leaf))]
                )
                leaves.append(leaf)
            }
            // Signing is the costly part and each leaf is final once its actor's chain is: sign the batch on every core.
            for (position, signature) in try key.signatures(for: leaves).enumerated() { integrated[position].append(SQLBind(signature)) }
            // One statement for the whole batch (a statement per entry doubled the database work of every audited request).
            for chunk in stride(from: 0, to: integrated.count, by: 500) {
                let rows = integrated[chunk..<min(chunk + 500, integrated.count)]
                let values = SQLList(rows.map { SQLGroupExpression(SQLList($0)) })
                let updated = try await sql.raw(
                    """
                    WITH v(id, leaf_index, actor, entry, salt, leaf, signature) AS (VALUES \(values)) \
                    UPDATE audit_events SET state = 'integrated', leaf_index = v.leaf_index, actor = v.actor, entry = v.entry, \
                    salt = v.salt, leaf = v.leaf, signature = v.signature FROM v \
                    WHERE audit_events.id = v.id AND audit_events.state = 'pending' RETURNING audit_events.id
                    """
                ).all()
                guard updated.count == rows.count else { throw AuditLogError.inconsistent("pending entries changed during sequencing") }
            }
            for chunk in stride(from: 0, to: nodes.count, by: 500) {
                var insert = sql.insert(into: "audit_nodes").columns("level", "idx", "hash")
                for node in nodes[chunk..<min(chunk + 500, nodes.count)] {
                    insert = insert.values(SQLBind(node.level), SQLBind(Int64(node.index)), SQLBind(Data(node.hash)))
                }
                try await insert.run()
            }
            return sequenced
        }
    }

    // MARK: Checkpoints

    public func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await Self.latestCheckpoint(try self.database.sql(logger: self.logger))
    }

    static func latestCheckpoint(_ sql: any SQLDatabase) async throws -> StoredCheckpoint? {
        guard let row = try await sql.select().columns("size", "root", "note").from("audit_checkpoints").orderBy("size", .descending).limit(1).first()
        else {
            return nil
        }
        return StoredCheckpoint(
            size: UInt64(try row.decode(column: "size", as: Int64.self)),
            root: Array(try row.decode(column: "root", as: Data.self)),
            note: try row.decode(column: "note", as: String.self)
        )
    }

    /// The checkpoint of exactly `size` leaves, if one was signed.
    public func checkpoint(size: UInt64) async throws -> StoredCheckpoint? {
        let sql = try self.database.sql(logger: self.logger)
        guard let row = try await sql.select().columns("size", "root", "note").from("audit_checkpoints").where("size", .equal, Int64(size)).first()
        else {
            return nil
        }
        return StoredCheckpoint(
            size: size,
            root: Array(try row.decode(column: "root", as: Data.self)),
            note: try row.decode(column: "note", as: String.self)
        )
    }

    /// Sign a checkpoint of the current tree if it grew (or if none exists yet), after checking it is consistent
    /// with the latest one. Returns the new checkpoint, or nil when there was nothing new.
    public func signCheckpoint(origin: String, key: AuditSigningKey, now: Date) async throws -> StoredCheckpoint? {
        try await self.locked { sql in
            let size = try await Self.size(sql)
            let latest = try await Self.latestCheckpoint(sql)
            if let latest, latest.size == size { return nil }
            if let latest, latest.size > size {
                throw AuditLogError.inconsistent("the tree has \(size) leaves, fewer than the checkpoint of \(latest.size)")
            }
            let root = try await Self.compute(sql) { try MerkleProofs.root(size: size, node: $0) }
            if let latest, latest.size > 0 {
                let proof = try await Self.compute(sql) { try MerkleProofs.consistency(from: latest.size, to: size, node: $0) }
                do {
                    try MerkleVerifier.verifyConsistency(size1: latest.size, size2: size, root1: latest.root, root2: root, proof: proof)
                } catch {
                    throw AuditLogError.inconsistent("the tree of \(size) leaves does not extend the checkpoint of \(latest.size)")
                }
            }
            let note = try SignedNote.sign(Checkpoint(origin: origin, size: size, root: root).text, name: origin, key: key)
            try await sql.insert(into: "audit_checkpoints").columns("size", "root", "note", "created_at")
                .values(SQLBind(Int64(size)), SQLBind(Data(root)), SQLBind(note), SQLBind(now)).run()
            return StoredCheckpoint(size: size, root: root, note: note)
        }
    }

    // MARK: Reading

    /// A tile or entry bundle of the tree of `size` leaves (or of an earlier, smaller tree); nil if none has it.
    public func tile(_ id: TileID, size: UInt64) async throws -> Data? {
        // A partial tile narrower than today's is the tile of an earlier checkpoint's tree: its first W hashes.
        guard let available = TileID.existing(level: id.level, index: id.index, size: size), id.width <= available.width else { return nil }
        let sql = try self.database.sql(logger: self.logger)
        let first = Int64(id.firstNode)
        let end = first + Int64(id.width)
        if id.level == nil {
            let rows = try await sql.select().column("leaf").from("audit_events").where("leaf_index", .greaterThanOrEqual, first)
                .where("leaf_index", .lessThan, end).orderBy("leaf_index").all()
            guard rows.count == id.width else { throw AuditLogError.inconsistent("entry bundle \(id.path) is missing entries") }
            return TileContent.bundle(try rows.map { Array(try $0.decode(column: "leaf", as: Data.self)) })
        }
        let rows = try await sql.select().column("hash").from("audit_nodes").where("level", .equal, id.treeLevel)
            .where("idx", .greaterThanOrEqual, first).where("idx", .lessThan, end).orderBy("idx").all()
        guard rows.count == id.width else { throw AuditLogError.inconsistent("tile \(id.path) is missing nodes") }
        return TileContent.hashes(try rows.map { Array(try $0.decode(column: "hash", as: Data.self)) })
    }

    public func inclusionProof(index: UInt64, size: UInt64) async throws -> [MerkleHash] {
        let sql = try self.database.sql(logger: self.logger)
        guard index < size, size <= (try await Self.size(sql)) else {
            throw AuditLogError.outOfRange("index must be below size, and size at most the tree's")
        }
        return try await Self.compute(sql) { try MerkleProofs.inclusion(index: index, size: size, node: $0) }
    }

    public func consistencyProof(from size1: UInt64, to size2: UInt64) async throws -> [MerkleHash] {
        let sql = try self.database.sql(logger: self.logger)
        guard size1 <= size2, size2 <= (try await Self.size(sql)) else {
            throw AuditLogError.outOfRange("from must be at most to, and to at most the tree's size")
        }
        return try await Self.compute(sql) { try MerkleProofs.consistency(from: size1, to: size2, node: $0) }
    }

    /// A user's integrated entries below `size`, oldest first (for the export).
    public func entries(userID: UUID, below size: UInt64) async throws -> [IntegratedEntry] {
        let sql = try self.database.sql(logger: self.logger)
        let rows = try await sql.select().columns("leaf_index", "entry", "salt", "leaf", "signature").from("audit_events")
            .where("user_id", .equal, userID).where("leaf_index", .lessThan, Int64(size)).orderBy("leaf_index").all()
        return try rows.map(Self.integrated)
    }

    /// A user's integrated entries, newest first, before `before` (a leaf index), optionally of one action.
    public func page(userID: UUID, before: UInt64?, limit: Int, action: String?) async throws -> [IntegratedEntry] {
        let sql = try self.database.sql(logger: self.logger)
        var query = sql.select().columns("leaf_index", "entry", "salt", "leaf", "signature").from("audit_events")
            .where("user_id", .equal, userID).where("leaf_index", .isNot, SQLLiteral.null)
        if let before { query = query.where("leaf_index", .lessThan, Int64(before)) }
        if let action { query = query.where("action", .equal, action) }
        return try await query.orderBy("leaf_index", .descending).limit(limit).all().map(Self.integrated)
    }

    /// Every integrated entry from `start`, in index order, `limit` at a time (for verify-db).
    public func integrated(from start: UInt64, limit: Int) async throws -> [IntegratedEntry] {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().columns("leaf_index", "entry", "salt", "leaf", "signature").from("audit_events")
            .where("leaf_index", .greaterThanOrEqual, Int64(start)).orderBy("leaf_index").limit(limit).all().map(Self.integrated)
    }

    /// Stored perfect nodes of one level in an index range (for verify-db).
    public func storedNodes(level: Int, from start: UInt64, below end: UInt64) async throws -> [UInt64: MerkleHash] {
        let sql = try self.database.sql(logger: self.logger)
        let rows = try await sql.select().columns("idx", "hash").from("audit_nodes").where("level", .equal, level)
            .where("idx", .greaterThanOrEqual, Int64(start)).where("idx", .lessThan, Int64(end)).all()
        var found: [UInt64: MerkleHash] = [:]
        for row in rows { found[UInt64(try row.decode(column: "idx", as: Int64.self))] = Array(try row.decode(column: "hash", as: Data.self)) }
        return found
    }

    /// Every checkpoint, oldest first (for verify-db).
    public func checkpoints() async throws -> [StoredCheckpoint] {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().columns("size", "root", "note").from("audit_checkpoints").orderBy("size").all().map { row in
            StoredCheckpoint(
                size: UInt64(try row.decode(column: "size", as: Int64.self)),
                root: Array(try row.decode(column: "root", as: Data.self)),
                note: try row.decode(column: "note", as: String.self)
            )
        }
    }

    static func integrated(_ row: any SQLRow) throws -> IntegratedEntry {
        IntegratedEntry(
            index: UInt64(try row.decode(column: "leaf_index", as: Int64.self)),
            entry: Array(try row.decode(column: "entry", as: Data.self)),
            salt: Array(try row.decode(column: "salt", as: Data.self)),
            leaf: Array(try row.decode(column: "leaf", as: Data.self)),
            signature: Array(try row.decode(column: "signature", as: Data.self))
        )
    }
}

extension AuditLogStore {
    /// The user an integrated entry concerns (nil for none, or no such index).
    public func owner(ofIndex index: UInt64) async throws -> UUID? {
        let sql = try self.database.sql(logger: self.logger)
        let row = try await sql.select().column("user_id").from("audit_events").where("leaf_index", .equal, Int64(index)).first()
        return try row?.decode(column: "user_id", as: UUID?.self)
    }
}

extension AuditLogStore {
    /// The stored hashes of the given perfect nodes (missing ones are absent).
    public func storedNodes(_ needed: Set<MerkleProofs.Node>) async throws -> [MerkleProofs.Node: MerkleHash] {
        try await Self.nodes(needed, try self.database.sql(logger: self.logger))
    }

    /// How many entries wait to be sequenced.
    public func pendingCount() async throws -> Int {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("audit_events")
            .where("state", .equal, "pending").first(decodingColumn: "n", as: Int.self) ?? 0
    }
}

extension AuditLogStore {
    /// Keep a witness's verified cosignature of the checkpoint of `size` (once per witness).
    public func addCosignature(size: UInt64, witness: String, line: String) async throws {
        let sql = try self.database.sql(logger: self.logger)
        let existing = try await sql.select().column("line").from("audit_cosignatures").where("size", .equal, Int64(size))
            .where("witness", .equal, witness).first()
        guard existing == nil else { return }
        try await sql.insert(into: "audit_cosignatures").columns("size", "witness", "line")
            .values(SQLBind(Int64(size)), SQLBind(witness), SQLBind(line)).run()
    }

    /// The cosignature lines of the checkpoint of `size`.
    public func cosignatures(size: UInt64) async throws -> [String] {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().column("line").from("audit_cosignatures").where("size", .equal, Int64(size)).orderBy("witness").all()
            .map { try $0.decode(column: "line", as: String.self) }
    }
}

extension AuditLogStore {
    /// The id of the account with this (normalised) email, for operator exports.
    public func userID(email: String) async throws -> UUID? {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().column("id").from("users").where("email", .equal, email).first(decodingColumn: "id", as: UUID.self)
    }
}

extension AuditLogStore {
    /// The account's email, for mail about its entries.
    public func email(userID: UUID) async throws -> String? {
        let sql = try self.database.sql(logger: self.logger)
        return try await sql.select().column("email").from("users").where("id", .equal, userID).first(decodingColumn: "email", as: String.self)
    }

    /// Whether the user signed in before `index`, and whether from `ip`.
    public func earlierLogins(userID: UUID, ip: String?, before index: UInt64) async throws -> (any: Bool, fromIP: Bool) {
        let sql = try self.database.sql(logger: self.logger)
        let earlier = sql.select().column("leaf_index").from("audit_events").where("user_id", .equal, userID)
            .where("action", .equal, "auth.login").where("leaf_index", .lessThan, Int64(index))
        guard try await earlier.limit(1).first() != nil else { return (false, false) }
        let fromIP = try await sql.select().column("leaf_index").from("audit_events").where("user_id", .equal, userID)
            .where("action", .equal, "auth.login").where("leaf_index", .lessThan, Int64(index)).where("ip", .equal, ip).limit(1).first()
        return (true, fromIP != nil)
    }
}
