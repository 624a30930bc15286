// `tradekeep-bench audit [entries] [sqlite|postgres://…] [proof-leaves]` (scripts/bench-audit): durable appends through
// the sequencer, export verification, and inclusion-proof latency on a tree of a million leaves.

import AuditLog
import Crypto
import FluentKit
import Foundation
import Logging
import SQLKit
import Storage

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func openBenchDatabase(_ target: String) async throws -> (TradekeepDatabase, URL?) {
    let logger = Logger(label: "bench")
    if target.hasPrefix("postgres") {
        // A fresh schema for each part, so each starts from an empty log.
        let schema = "tkbench_\(UUID().uuidString.prefix(8).lowercased())"
        let url = target + (target.contains("?") ? "&" : "?") + "schema=\(schema)"
        let database = try TradekeepDatabase(location: try DatabaseLocation(url: url))
        try await database.migrate(logger: logger)
        return (database, nil)
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tradekeep-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let database = try TradekeepDatabase(location: .sqliteFile(path: folder.appendingPathComponent("bench.sqlite").path))
    try await database.migrate(logger: logger)
    return (database, folder)
}

func auditBench(entries count: Int, database target: String, proofLeaves: Int) async throws {
    let logger = Logger(label: "bench")
    let key = try AuditSigningKey(seed: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })

    // 1. Durable appends: pending rows written by many small transactions (as requests do), then sequenced.
    do {
        let (database, folder) = try await openBenchDatabase(target)
        let users = (0..<50).map { _ in UUID() }
        let writeStart = ContinuousClock.now
        for batch in stride(from: 0, to: count, by: 100) {
            try await database.transaction(logger: logger) { transaction in
                try await transaction.record(
                    (batch..<min(batch + 100, count)).map { index in
                        AuditEvent(
                            .login,
                            user: users[index % users.count],
                            client: ClientInfo(ip: "10.0.0.\(index % 250)", userAgent: "bench"),
                            ["n": "\(index)"]
                        )
                    }
                )
            }
        }
        let written = ContinuousClock.now - writeStart
        let store = AuditLogStore(database: database, logger: logger)
        let start = ContinuousClock.now
        var sequenced = 0
        while true {
            let batch = try await store.integratePending(key: key)
            if batch.isEmpty { break }
            sequenced += batch.count
        }
        let elapsed = ContinuousClock.now - start
        let checkpointStart = ContinuousClock.now
        _ = try await store.signCheckpoint(origin: "bench.example/audit", key: key, now: Date())
        let checkpoint = ContinuousClock.now - checkpointStart
        print(
            #"{"operation":"audit_sequence","database":"\#(target.hasPrefix("postgres") ? "postgresql" : "sqlite")","entries":\#(sequenced),"#
                + #""pending_writes_per_second":\#(Int(Double(count) / seconds(written))),"sequenced_per_second":\#(Int(Double(sequenced) / seconds(elapsed))),"#
                + #""checkpoint_ms":\#(Int(seconds(checkpoint) * 1000))}"#
        )
        await database.shutdown()
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    // 2. Export verification: a signed export of `count` entries of one actor, verified as `tradekeep audit verify` does.
    do {
        let signing = key
        var tree = InMemoryMerkleTree()
        var rows: [(entry: [UInt8], salt: [UInt8], signature: [UInt8])] = []
        var prev = ""
        for index in 0..<count {
            let entry = AuditEntry(
                action: "auth.login",
                actor: "me",
                details: ["n": "\(index)"],
                ip: "10.0.0.1",
                prev: prev,
                target: "",
                time: "2026-12-02T06:30:00.000Z",
                userAgent: "bench"
            ).bytes
            let salt = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            let leaf = AuditEntry.commitment(salt: salt, entry: entry)
            let leafHash = RFC6962.leafHash(leaf)
            tree.append(leafHash: leafHash)
            prev = Hex.encode(leafHash)
            rows.append((entry, salt, Array(try signing.signature(for: leaf))))
        }
        let origin = "bench.example/audit"
        let note = try SignedNote.sign(Checkpoint(origin: origin, size: tree.size, root: try tree.root()).text, name: origin, key: signing)
        let entries = try rows.enumerated().map { index, row in
            AuditExport.Entry(
                index: UInt64(index),
                entry: row.entry,
                salt: row.salt,
                signature: row.signature,
                inclusionProof: try MerkleProofs.inclusion(index: UInt64(index), size: tree.size, node: tree.node)
            )
        }
        let export = try JSONEncoder().encode(
            AuditExport(
                origin: origin,
                publicKey: NoteVerifierKey(name: origin, publicKey: signing.publicKey).text,
                checkpoint: note,
                entries: entries
            )
        )
        let start = ContinuousClock.now
        let verified = try AuditExportVerifier.verify(export)
        let elapsed = ContinuousClock.now - start
        print(
            #"{"operation":"audit_export_verify","entries":\#(verified.entries.count),"entries_per_second":\#(Int(Double(count) / seconds(elapsed)))}"#
        )
    }

    // 3. Inclusion proofs at `proofLeaves` leaves, from the stored nodes (O(log n) point reads).
    do {
        let (database, folder) = try await openBenchDatabase(target)
        let sql = try database.sql(logger: logger)
        var frontier = try MerkleFrontier(size: 0) { _, _ in [] }
        var nodes: [(level: Int, index: UInt64, hash: MerkleHash)] = []
        let fillStart = ContinuousClock.now
        for index in 0..<proofLeaves {
            var leaf = [UInt8](repeating: 0, count: 32)
            withUnsafeBytes(of: UInt64(index).bigEndian) { leaf.replaceSubrange(0..<8, with: $0) }
            nodes += frontier.append(leafHash: RFC6962.leafHash(leaf))
            if nodes.count >= 20_000 || index == proofLeaves - 1 {
                let batch = nodes
                try await database.database(logger: logger).transaction { transaction in
                    let sql = transaction as! any SQLDatabase
                    for chunk in stride(from: 0, to: batch.count, by: 5_000) {
                        var insert = sql.insert(into: "audit_nodes").columns("level", "idx", "hash")
                        for node in batch[chunk..<min(chunk + 5_000, batch.count)] {
                            insert = insert.values(SQLBind(node.level), SQLBind(Int64(node.index)), SQLBind(Data(node.hash)))
                        }
                        try await insert.run()
                    }
                }
                nodes.removeAll(keepingCapacity: true)
            }
        }
        // The tree's size is read from the last integrated entry.
        try await sql.insert(into: "audit_events").columns("id", "action", "details", "created_at", "state", "leaf_index")
            .values(SQLBind(UUID()), SQLBind("bench"), SQLBind("{}"), SQLBind(Date()), SQLBind("integrated"), SQLBind(Int64(proofLeaves - 1))).run()
        let filled = ContinuousClock.now - fillStart
        let store = AuditLogStore(database: database, logger: logger)
        var generator = SystemRandomNumberGenerator()
        var latencies: [Double] = []
        let root = frontier.root
        for _ in 0..<1_000 {
            let index = UInt64.random(in: 0..<UInt64(proofLeaves), using: &generator)
            let start = ContinuousClock.now
            let proof = try await store.inclusionProof(index: index, size: UInt64(proofLeaves))
            latencies.append(seconds(ContinuousClock.now - start) * 1000)
            var leaf = [UInt8](repeating: 0, count: 32)
            withUnsafeBytes(of: index.bigEndian) { leaf.replaceSubrange(0..<8, with: $0) }
            try MerkleVerifier.verifyInclusion(index: index, size: UInt64(proofLeaves), leafHash: RFC6962.leafHash(leaf), proof: proof, root: root)
        }
        latencies.sort()
        print(
            #"{"operation":"audit_inclusion_proof","database":"\#(target.hasPrefix("postgres") ? "postgresql" : "sqlite")","leaves":\#(proofLeaves),"#
                + #""fill_seconds":\#(Int(seconds(filled))),"p50_ms":\#(String(format: "%.2f", latencies[499])),"p99_ms":\#(String(format: "%.2f", latencies[989]))}"#
        )
        await database.shutdown()
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }
}
