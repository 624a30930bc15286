// The tlog-witness decision: cosigns a growing log, answers 409 with its size to a stale old size, and refuses
// forks, rollbacks, unknown logs and bad signatures without cosigning.

import Crypto
import Foundation
import Testing

@testable import AuditLog

@Suite struct WitnessTests {
    struct Log {
        let origin = "log.example/audit"
        let key: AuditSigningKey
        var tree: InMemoryMerkleTree

        init(key: AuditSigningKey? = nil, tree: InMemoryMerkleTree = InMemoryMerkleTree()) {
            self.key = key ?? (try! AuditSigningKey(seed: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }))
            self.tree = tree
        }

        var verifier: NoteVerifierKey { NoteVerifierKey(name: self.origin, publicKey: self.key.publicKey) }

        mutating func grow(_ count: Int, salt: String = "") {
            for _ in 0..<count { self.tree.append(leafHash: RFC6962.leafHash(Array("\(salt)\(self.tree.size)".utf8))) }
        }

        func note() throws -> String {
            try SignedNote.sign(
                Checkpoint(origin: self.origin, size: self.tree.size, root: try self.tree.root()).text,
                name: self.origin,
                key: self.key
            )
        }

        func request(from old: UInt64) throws -> String {
            let proof = old <= self.tree.size ? try MerkleProofs.consistency(from: old, to: self.tree.size, node: self.tree.node) : []
            return Witness.request(old: old, proof: proof, note: try self.note())
        }
    }

    @Test("Cosigns a growing log; a stale old size gets 409 and the size; a fork, a rollback and bad input are refused")
    func witnessing() throws {
        var log = Log()
        let witness = Witness(name: "witness.example/w", key: Curve25519.Signing.PrivateKey(), logs: [log.verifier])
        var state: [String: WitnessLog] = [:]

        func submit(_ body: String) -> Witness.Answer {
            let answer = witness.addCheckpoint(body, state: state, time: 1_796_193_000)
            if let update = answer.update { state[update.origin] = update.log }
            return answer
        }

        log.grow(5)
        let first = submit(try log.request(from: 0))
        #expect(first.status == 200)
        #expect(try Cosignature.verify(note: try log.note() + first.body, key: witness.verifierKey) == 1_796_193_000)
        log.grow(300)
        // Stale: the witness is at 5.
        let stale = submit(try log.request(from: 0))
        #expect(stale.status == 409 && stale.body == "5\n" && stale.contentType == "text/x.tlog.size")
        let grown = submit(try log.request(from: 5))
        #expect(grown.status == 200)
        #expect(state[log.origin]?.size == 305)
        // The same checkpoint again is fine (same size, same root, empty proof).
        #expect(submit(try log.request(from: 305)).status == 200)

        // A fork: another tree with the same key, its first 305 leaves different from the last one on.
        var fork = Log(key: log.key, tree: InMemoryMerkleTree())
        fork.grow(304)
        fork.grow(20, salt: "evil")
        #expect(submit(try fork.request(from: 305)).status == 422)
        var sameSize = Log(key: log.key, tree: InMemoryMerkleTree())
        sameSize.grow(304)
        sameSize.grow(1, salt: "evil")
        #expect(submit(try sameSize.request(from: 305)).status == 422)
        // A rollback: a smaller checkpoint of the real log.
        var older = Log(key: log.key, tree: InMemoryMerkleTree())
        older.grow(100)
        #expect(submit(try older.request(from: 305)).status == 400)
        #expect(submit(try older.request(from: 0)).status == 409)
        #expect(state[log.origin]?.size == 305)

        // Unknown origin, another key, malformed bodies.
        let stranger = Log()
        #expect(
            submit(try Witness.request(old: 0, proof: [], note: try stranger.note().replacingOccurrences(of: stranger.origin, with: "other.example")))
                .status == 404
        )
        #expect(submit(try Witness.request(old: 0, proof: [], note: try stranger.note())).status == 403)
        #expect(submit("old 05\n\n" + (try log.note())).status == 400)
        #expect(submit("old 305\nnot base64\n\n" + (try log.note())).status == 400)
        #expect(submit("no blank line").status == 400)
        #expect(state[log.origin]?.size == 305)
    }
}
