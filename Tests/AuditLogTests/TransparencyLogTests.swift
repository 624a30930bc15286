// C2SP tiles, checkpoints, cosignature/v1, canonical entries and the export verifier, including a byte flip at
// every position of a small export.

import Crypto
import Foundation
import Testing

@testable import AuditLog

@Suite struct TransparencyLogTests {
    @Test("Tile paths: the spec's examples, one spelling per index, partial widths 1…255, levels 0…63")
    func tilePaths() {
        #expect(TileID.encode(1_234_067) == "x001/x234/067")
        #expect(TileID(level: 0, index: 1_234_067).path == "tile/0/x001/x234/067")
        #expect(TileID(level: nil, index: 5, width: 17).path == "tile/entries/005.p/17")
        #expect(TileID(path: "0/x001/x234/067") == TileID(level: 0, index: 1_234_067))
        #expect(TileID(path: "entries/005.p/17") == TileID(level: nil, index: 5, width: 17))
        #expect(TileID(path: "2/000") == TileID(level: 2, index: 0))
        for bad in ["0/5", "0/x000/005", "0/001/234", "0/005.p/0", "0/005.p/256", "0/005.p/07", "64/000", "01/000", "0/x1234/000", "0/", "x/000"] {
            #expect(TileID(path: bad) == nil, "\(bad)")
        }
    }

    @Test("The spec's example: a tree of 70,000 leaves has 273 full level-0 tiles, partial widths 112, 17 and 1")
    func tileExistence() {
        #expect(TileID.existing(level: 0, index: 272, size: 70_000) == TileID(level: 0, index: 272))
        #expect(TileID.existing(level: 0, index: 273, size: 70_000) == TileID(level: 0, index: 273, width: 112))
        #expect(TileID.existing(level: 0, index: 274, size: 70_000) == nil)
        #expect(TileID.existing(level: 1, index: 0, size: 70_000) == TileID(level: 1, index: 0))
        #expect(TileID.existing(level: 1, index: 1, size: 70_000) == TileID(level: 1, index: 1, width: 17))
        #expect(TileID.existing(level: 2, index: 0, size: 70_000) == TileID(level: 2, index: 0, width: 1))
        #expect(TileID.existing(level: 1, index: 0, size: 256) == TileID(level: 1, index: 0, width: 1))
        #expect(TileID.existing(level: 0, index: 1, size: 256) == nil)
    }

    @Test("Proofs computed from tiles alone equal the tree's own, across tile edges")
    func proofsFromTiles() throws {
        var tree = InMemoryMerkleTree()
        for index in 0..<70_000 { tree.append(leafHash: RFC6962.leafHash(Array("leaf \(index)".utf8))) }
        let size: UInt64 = 69_999
        var tiles: [TileID: Data] = [:]
        for level in 0..<3 {
            var index: UInt64 = 0
            while let id = TileID.existing(level: level, index: index, size: size) {
                tiles[id] = TileContent.hashes(try (0..<UInt64(id.width)).map { try tree.node(level: id.treeLevel, index: id.firstNode + $0) })
                index += 1
            }
        }
        let reader = try TileNodeReader(size: size, tiles: tiles)
        #expect(try MerkleProofs.root(size: size, node: reader.node) == (try tree.root(size: size)))
        for older: UInt64 in [1, 255, 256, 257, 65_536, 69_000] {
            #expect(
                try MerkleProofs.consistency(from: older, to: size, node: reader.node)
                    == (try MerkleProofs.consistency(from: older, to: size, node: tree.node))
            )
        }
        for index: UInt64 in [0, 255, 256, 65_535, 69_998] {
            #expect(
                try MerkleProofs.inclusion(index: index, size: size, node: reader.node)
                    == (try MerkleProofs.inclusion(index: index, size: size, node: tree.node))
            )
        }
        #expect(TileContent.entries(ofBundle: TileContent.bundle([[1, 2], [], [3]])) == [[1, 2], [], [3]])
        #expect(TileContent.entries(ofBundle: Data([0, 3, 1])) == nil)
    }

    @Test("Checkpoints: text round trip; sizes with leading zeros, roots of the wrong length and empty lines are refused")
    func checkpoints() throws {
        let root = MerkleHash(repeating: 7, count: 32)
        let checkpoint = Checkpoint(origin: "tradekeep.example/audit", size: 42, root: root)
        #expect(checkpoint.text == "tradekeep.example/audit\n42\n\(Data(root).base64EncodedString())\n")
        #expect(try Checkpoint(text: checkpoint.text) == checkpoint)
        let encoded = Data(root).base64EncodedString()
        for bad in [
            "o\n042\n\(encoded)\n", "o\n42\nAAAA\n", "o\n42\n\(encoded)", "\n42\n\(encoded)\n", "o\n42\n\(encoded)\n\n", "o\n-1\n\(encoded)\n",
        ] {
            #expect(throws: Checkpoint.Failure.self) { try Checkpoint(text: bad) }
        }
    }

    @Test("cosignature/v1: a signature verifies with its vkey, not with another key, not over another checkpoint")
    func cosignatures() throws {
        let witness = Curve25519.Signing.PrivateKey()
        let key = CosignerKey(name: "witness.example/w1", publicKey: witness.publicKey)
        #expect(CosignerKey(key.text) == key)
        #expect(key.text.contains("+") && Data(base64Encoded: String(key.text.split(separator: "+", maxSplits: 2)[2]))?.first == 0x04)
        let body = Checkpoint(origin: "log.example", size: 3, root: MerkleHash(repeating: 1, count: 32)).text
        let line = try Cosignature.sign(checkpointText: body, time: 1_679_315_147, name: key.name, key: witness)
        #expect(try Cosignature.verify(note: body + "\n" + line, key: key) == 1_679_315_147)
        let other = CosignerKey(name: "witness.example/w1", publicKey: Curve25519.Signing.PrivateKey().publicKey)
        #expect(throws: Cosignature.Failure.noCosignatureByKey) { try Cosignature.verify(note: body + "\n" + line, key: other) }
        let another = Checkpoint(origin: "log.example", size: 4, root: MerkleHash(repeating: 1, count: 32)).text
        #expect(throws: Cosignature.Failure.badSignature) { try Cosignature.verify(note: another + "\n" + line, key: key) }
        // A note-signature key (0x01) with the same name and key is another key id: not a cosignature.
        #expect(NoteVerifierKey(name: key.name, publicKey: witness.publicKey).keyHash != key.keyHash)
    }

    @Test("Entries are RFC 8785 canonical: sorted keys, minimal escapes, UTF-8; anything else does not parse")
    func canonicalEntries() throws {
        let entry = AuditEntry(
            action: "auth.login",
            actor: "ab",
            details: ["z": "1", "a": "quote \" backslash \\ tab \t nul \u{0} é 😀", "B": "x"],
            ip: "127.0.0.1",
            prev: "",
            target: "",
            time: "2026-12-02T06:30:00.123Z",
            userAgent: "curl/8"
        )
        let text = String(decoding: entry.bytes, as: UTF8.self)
        #expect(
            text == #"{"action":"auth.login","actor":"ab","details":{"B":"x","a":"quote \" backslash \\ tab \t nul \u0000 é 😀","z":"1"},"#
                + #""ip":"127.0.0.1","prev":"","target":"","time":"2026-12-02T06:30:00.123Z","user_agent":"curl/8"}"#
        )
        #expect(try AuditEntry(bytes: entry.bytes) == entry)
        #expect(throws: AuditEntry.Failure.self) { try AuditEntry(bytes: Array(text.replacingOccurrences(of: ",", with: ", ").utf8)) }
        #expect(AuditEntry.timestamp(Date(timeIntervalSince1970: 1_796_193_000.123_9)) == "2026-12-02T06:30:00.123Z")
        #expect(AuditEntry.pseudonym(of: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!).count == 64)
    }

    /// A small signed log with two actors and an export of one of them.
    static func sampleExport(key: Curve25519.Signing.PrivateKey, witness: Curve25519.Signing.PrivateKey?) throws -> AuditExport {
        let signing = try AuditSigningKey(seed: key.rawRepresentation)
        let origin = "tradekeep.example/audit"
        var tree = InMemoryMerkleTree()
        var heads: [String: String] = [:]
        var rows: [(index: UInt64, entry: [UInt8], salt: [UInt8], signature: [UInt8], actor: String)] = []
        for index in 0..<6 {
            let actor = index % 3 == 2 ? "other" : "me"
            let entry = AuditEntry(
                action: "bot.started",
                actor: actor,
                details: ["bot_id": "b\(index)"],
                ip: "10.0.0.\(index)",
                prev: heads[actor] ?? "",
                target: "bot:b\(index)",
                time: "2026-12-02T06:30:0\(index).000Z",
                userAgent: "ua"
            ).bytes
            let salt = (0..<32).map { UInt8(truncatingIfNeeded: index * 32 + $0) }
            let leaf = AuditEntry.commitment(salt: salt, entry: entry)
            let leafHash = RFC6962.leafHash(leaf)
            tree.append(leafHash: leafHash)
            heads[actor] = Hex.encode(leafHash)
            rows.append((UInt64(index), entry, salt, Array(try signing.signature(for: leaf)), actor))
        }
        let checkpoint = Checkpoint(origin: origin, size: tree.size, root: try tree.root())
        var note = try SignedNote.sign(checkpoint.text, name: origin, key: signing)
        if let witness {
            note += try Cosignature.sign(checkpointText: checkpoint.text, time: 1_796_193_000, name: "witness.example", key: witness)
        }
        let entries = try rows.filter { $0.actor == "me" }.map {
            AuditExport.Entry(
                index: $0.index,
                entry: $0.entry,
                salt: $0.salt,
                signature: $0.signature,
                inclusionProof: try MerkleProofs.inclusion(index: $0.index, size: tree.size, node: tree.node)
            )
        }
        return AuditExport(
            origin: origin,
            publicKey: NoteVerifierKey(name: origin, publicKey: key.publicKey).text,
            checkpoint: note,
            entries: entries
        )
    }

    @Test("An export verifies; flipping any single byte of any entry, salt, signature, proof or the checkpoint fails it")
    func exportByteFlips() throws {
        let key = Curve25519.Signing.PrivateKey()
        let witnessKey = Curve25519.Signing.PrivateKey()
        let witness = CosignerKey(name: "witness.example", publicKey: witnessKey.publicKey)
        let export = try Self.sampleExport(key: key, witness: witnessKey)
        let result = try AuditExportVerifier.verify(export, witnesses: [witness])
        #expect(result.entries.count == 4 && result.witnessesVerified == ["witness.example"])

        func mutated(_ base64: String, at position: Int) -> String {
            var bytes = Array(Data(base64Encoded: base64)!)
            bytes[position] ^= 0x01
            return Data(bytes).base64EncodedString()
        }
        var attempts = 0
        for (row, item) in export.entries.enumerated() {
            let fields: [(String, WritableKeyPath<AuditExport.Entry, String>)] = [("entry", \.entry), ("salt", \.salt), ("signature", \.signature)]
            for (name, path) in fields {
                for position in 0..<Data(base64Encoded: item[keyPath: path])!.count {
                    var copy = export
                    copy.entries[row][keyPath: path] = mutated(item[keyPath: path], at: position)
                    #expect(throws: AuditExportVerifier.Failure.self, "\(name) byte \(position) of entry \(row)") {
                        try AuditExportVerifier.verify(copy, witnesses: [witness])
                    }
                    attempts += 1
                }
            }
            for (hash, proofHash) in item.inclusionProof.enumerated() {
                for position in 0..<32 {
                    var copy = export
                    copy.entries[row].inclusionProof[hash] = mutated(proofHash, at: position)
                    #expect(throws: AuditExportVerifier.Failure.self) { try AuditExportVerifier.verify(copy, witnesses: [witness]) }
                    attempts += 1
                }
            }
        }
        let note = Array(export.checkpoint.utf8)
        for position in note.indices {
            var bytes = note
            bytes[position] ^= 0x01
            var copy = export
            copy.checkpoint = String(decoding: bytes, as: UTF8.self)
            #expect(throws: AuditExportVerifier.Failure.self, "checkpoint byte \(position)") {
                try AuditExportVerifier.verify(copy, witnesses: [witness])
            }
            attempts += 1
        }
        #expect(attempts > 1000)
        // And at the level of the file: any one byte of the JSON flipped, and it does not verify.
        let file = try JSONEncoder().encode(export)
        #expect(try AuditExportVerifier.verify(file, witnesses: [witness]).entries.count == 4)
        for position in file.indices {
            var bytes = file
            bytes[position] ^= 0x01
            #expect(throws: AuditExportVerifier.Failure.self, "file byte \(position)") { try AuditExportVerifier.verify(bytes, witnesses: [witness]) }
        }
        // Dropping the actor's first entry breaks its chain; another log's key does not open the checkpoint.
        var dropped = export
        dropped.entries.removeFirst()
        #expect(throws: AuditExportVerifier.Failure.self) { try AuditExportVerifier.verify(dropped) }
        var rekeyed = export
        rekeyed.publicKey = NoteVerifierKey(name: export.origin, publicKey: Curve25519.Signing.PrivateKey().publicKey).text
        #expect(throws: AuditExportVerifier.Failure.self) { try AuditExportVerifier.verify(rekeyed) }
    }
}
