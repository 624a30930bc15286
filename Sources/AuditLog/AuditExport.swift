// The JSON export `tradekeep-audit-export/2` and its offline verification: commitments, entry signatures, each
// actor's chain, inclusion proofs, the checkpoint's signature, witnesses' cosignatures and consistency with a
// checkpoint saved earlier.

import Crypto
import Dispatch
import Foundation
import Synchronization

public struct AuditExport: Codable, Sendable, Equatable {
    public static let formatName = "tradekeep-audit-export/2"

    public struct Entry: Codable, Sendable, Equatable {
        public var index: UInt64
        /// base64 E
        public var entry: String
        /// base64 S
        public var salt: String
        /// base64 Ed25519 signature over L
        public var signature: String
        public var inclusionProof: [String]

        enum CodingKeys: String, CodingKey {
            case index, entry, salt, signature
            case inclusionProof = "inclusion_proof"
        }

        public init(index: UInt64, entry: [UInt8], salt: [UInt8], signature: [UInt8], inclusionProof: [MerkleHash]) {
            self.index = index
            self.entry = Data(entry).base64EncodedString()
            self.salt = Data(salt).base64EncodedString()
            self.signature = Data(signature).base64EncodedString()
            self.inclusionProof = inclusionProof.map { Data($0).base64EncodedString() }
        }
    }

    public var format: String
    public var origin: String
    /// The log's vkey line.
    public var publicKey: String
    /// The signed checkpoint note every proof is against.
    public var checkpoint: String
    public var entries: [Entry]

    enum CodingKeys: String, CodingKey {
        case format, origin, checkpoint, entries
        case publicKey = "public_key"
    }

    public init(origin: String, publicKey: String, checkpoint: String, entries: [Entry]) {
        self.format = Self.formatName
        self.origin = origin
        self.publicKey = publicKey
        self.checkpoint = checkpoint
        self.entries = entries
    }
}

/// What a verification established.
public struct AuditVerification: Sendable, Equatable {
    public var checkpoint: Checkpoint
    public var entries: [(index: UInt64, entry: AuditEntry, leafHash: MerkleHash)]
    public var witnessesVerified: [String]
    public var consistentWithOlder: Bool

    public static func == (lhs: AuditVerification, rhs: AuditVerification) -> Bool {
        lhs.checkpoint == rhs.checkpoint && lhs.entries.map(\.index) == rhs.entries.map(\.index)
            && lhs.witnessesVerified == rhs.witnessesVerified && lhs.consistentWithOlder == rhs.consistentWithOlder
    }
}

public enum AuditExportVerifier {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// An earlier checkpoint the user saved, and the consistency proof from its size to the export's.
    public struct Older: Sendable {
        public var note: String
        public var proof: [MerkleHash]?
        public init(note: String, proof: [MerkleHash]?) {
            self.note = note
            self.proof = proof
        }
    }

    public static func verify(_ data: Data, witnesses: [CosignerKey] = [], older: Older? = nil) throws(Failure) -> AuditVerification {
        guard let export = try? JSONDecoder().decode(AuditExport.self, from: data) else {
            throw Failure("the export is not tradekeep-audit-export/2 JSON")
        }
        return try self.verify(export, witnesses: witnesses, older: older)
    }

    public static func verify(_ export: AuditExport, witnesses: [CosignerKey] = [], older: Older? = nil) throws(Failure) -> AuditVerification {
        guard export.format == AuditExport.formatName else { throw Failure("unknown format \(export.format)") }
        guard let logKey = NoteVerifierKey(export.publicKey) else { throw Failure("public_key is not an Ed25519 vkey line") }
        guard logKey.name == export.origin else { throw Failure("public_key is not the key of origin \(export.origin)") }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(export.checkpoint, logKey: logKey)
        } catch {
            throw Failure("the checkpoint is not signed by the log's key: \(error)")
        }
        // Each entry's own checks (bytes, commitment, signature, inclusion) are independent: spread them over the
        // cores; then the chains, in index order.
        let checked = Self.checkEntries(export.entries, key: logKey, checkpoint: checkpoint)
        var verified: [(index: UInt64, entry: AuditEntry, leafHash: MerkleHash)] = []
        var heads: [String: MerkleHash] = [:]
        var lastIndex: UInt64?
        for (item, result) in zip(export.entries, checked) {
            if let lastIndex, item.index <= lastIndex { throw Failure("entry \(item.index): indexes are not increasing") }
            lastIndex = item.index
            let (entry, leafHash) = try result.get()
            if !entry.actor.hasPrefix("operator:") {
                let expected = heads[entry.actor].map(Hex.encode) ?? ""
                guard entry.prev == expected else {
                    throw Failure("entry \(item.index): the chain is broken (prev does not name the actor's previous entry)")
                }
                heads[entry.actor] = leafHash
            }
            verified.append((item.index, entry, leafHash))
        }
        var witnessed: [String] = []
        for witness in witnesses {
            do {
                _ = try Cosignature.verify(note: export.checkpoint, key: witness)
            } catch {
                throw Failure("no valid cosignature by witness \(witness.name) (\(error))")
            }
            witnessed.append(witness.name)
        }
        var consistent = false
        if let older {
            let earlier: Checkpoint
            do { earlier = try Checkpoint.open(older.note, logKey: logKey) } catch {
                throw Failure("the older checkpoint is not signed by the log's key")
            }
            guard earlier.size <= checkpoint.size else { throw Failure("the older checkpoint is larger than the export's: the log shrank") }
            if earlier.size == checkpoint.size {
                guard earlier.root == checkpoint.root else { throw Failure("two checkpoints of one size with different roots: the log forked") }
            } else if earlier.size > 0 {
                guard let proof = older.proof else { throw Failure("a consistency proof is needed (give --log-url)") }
                do {
                    try MerkleVerifier.verifyConsistency(
                        size1: earlier.size,
                        size2: checkpoint.size,
                        root1: earlier.root,
                        root2: checkpoint.root,
                        proof: proof
                    )
                } catch {
                    throw Failure("the older checkpoint is not consistent with the export's: the log was rewritten (\(error))")
                }
            }
            consistent = true
        }
        return AuditVerification(checkpoint: checkpoint, entries: verified, witnessesVerified: witnessed, consistentWithOlder: consistent)
    }
}

extension AuditExportVerifier {
    static func checkEntries(
        _ entries: [AuditExport.Entry],
        key: NoteVerifierKey,
        checkpoint: Checkpoint
    ) -> [Result<(AuditEntry, MerkleHash), Failure>] {
        let results = Mutex([Result<(AuditEntry, MerkleHash), Failure>](repeating: .failure(Failure("unchecked")), count: entries.count))
        let chunk = 64
        DispatchQueue.concurrentPerform(iterations: (entries.count + chunk - 1) / chunk) { part in
            let range = part * chunk..<min(entries.count, (part + 1) * chunk)
            let local = range.map { index in Result { () throws(Failure) in try Self.checkEntry(entries[index], key: key, checkpoint: checkpoint) } }
            results.withLock { all in for (offset, result) in local.enumerated() { all[range.lowerBound + offset] = result } }
        }
        return results.withLock { $0 }
    }

    static func checkEntry(_ item: AuditExport.Entry, key: NoteVerifierKey, checkpoint: Checkpoint) throws(Failure) -> (AuditEntry, MerkleHash) {
        let where_ = "entry \(item.index)"
        guard let bytes = StrictBase64.decode(item.entry), let salt = StrictBase64.decode(item.salt), salt.count == 32,
            let signature = StrictBase64.decode(item.signature)
        else { throw Failure("\(where_): entry, salt or signature is not valid base64 of the right size") }
        let entry: AuditEntry
        do { entry = try AuditEntry(bytes: Array(bytes)) } catch { throw Failure("\(where_): the entry is not canonical JSON of an audit entry") }
        let leaf = AuditEntry.commitment(salt: Array(salt), entry: Array(bytes))
        guard key.publicKey.isValidSignature(signature, for: leaf) else { throw Failure("\(where_): the signature does not verify") }
        var proof: [MerkleHash] = []
        for hash in item.inclusionProof {
            guard let decoded = StrictBase64.decode(hash), decoded.count == RFC6962.hashSize else {
                throw Failure("\(where_): a proof hash is malformed")
            }
            proof.append(Array(decoded))
        }
        let leafHash = RFC6962.leafHash(leaf)
        do {
            try MerkleVerifier.verifyInclusion(index: item.index, size: checkpoint.size, leafHash: leafHash, proof: proof, root: checkpoint.root)
        } catch {
            throw Failure("\(where_): not included in the checkpoint's tree (\(error))")
        }
        return (entry, leafHash)
    }
}

/// Perfect nodes read from C2SP hash tiles: what a client needs to compute any proof from the public log.
public struct TileNodeReader {
    public let size: UInt64
    /// (tile level, tile index) → the tile's bytes (full or the partial tile this size implies).
    let tiles: [TileID: [MerkleHash]]

    public init(size: UInt64, tiles: [TileID: Data]) throws {
        self.size = size
        var parsed: [TileID: [MerkleHash]] = [:]
        for (id, data) in tiles {
            guard data.count == id.width * RFC6962.hashSize else { throw MerkleTreeError.missingNode(level: id.treeLevel, index: id.firstNode) }
            parsed[id] = stride(from: 0, to: data.count, by: RFC6962.hashSize).map {
                Array(data[data.startIndex + $0..<data.startIndex + $0 + RFC6962.hashSize])
            }
        }
        self.tiles = parsed
    }

    /// The tiles (full or partial for this size) that hold the level-8k nodes `node(level, index)` reads from.
    public static func tile(forLevel level: Int, index: UInt64, size: UInt64) -> TileID? {
        let tileLevel = level / TileID.height
        let below = level % TileID.height
        let first = index << UInt64(below)
        return TileID.existing(level: tileLevel, index: first / UInt64(TileID.fullWidth), size: size)
    }

    public func node(level: Int, index: UInt64) throws -> MerkleHash {
        let below = level % TileID.height
        let count = UInt64(1) << UInt64(below)
        let first = index << UInt64(below)
        guard let id = Self.tile(forLevel: level, index: index, size: self.size), let hashes = self.tiles[id] else {
            throw MerkleTreeError.missingNode(level: level, index: index)
        }
        let offset = Int(first % UInt64(TileID.fullWidth))
        guard offset + Int(count) <= hashes.count else { throw MerkleTreeError.missingNode(level: level, index: index) }
        var row = Array(hashes[offset..<offset + Int(count)])
        while row.count > 1 { row = stride(from: 0, to: row.count, by: 2).map { RFC6962.nodeHash(row[$0], row[$0 + 1]) } }
        return row[0]
    }
}
