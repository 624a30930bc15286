// A C2SP tlog-witness (https://c2sp.org/tlog-witness) decision: what to answer an `add-checkpoint` request, given
// the logs it trusts and the latest checkpoint it cosigned for each. Pure; `tradekeep witness serve` adds HTTP and
// a state file, and checks and persists atomically.

import Crypto
import Foundation

public struct WitnessLog: Sendable, Equatable {
    public var size: UInt64
    public var root: MerkleHash

    public init(size: UInt64, root: MerkleHash) {
        self.size = size
        self.root = root
    }
}

public struct Witness: Sendable {
    public let name: String
    let key: Curve25519.Signing.PrivateKey
    /// Trusted log keys by origin.
    public let logs: [String: NoteVerifierKey]

    public init(name: String, key: Curve25519.Signing.PrivateKey, logs: [NoteVerifierKey]) {
        self.name = name
        self.key = key
        self.logs = Dictionary(logs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var verifierKey: CosignerKey { CosignerKey(name: self.name, publicKey: self.key.publicKey) }

    public struct Answer: Sendable, Equatable {
        public let status: Int
        public let contentType: String
        public let body: String
        /// The new state for the origin, to persist before answering (200 only).
        public let update: (origin: String, log: WitnessLog)?

        public static func == (lhs: Answer, rhs: Answer) -> Bool {
            lhs.status == rhs.status && lhs.body == rhs.body && lhs.update?.origin == rhs.update?.origin && lhs.update?.log == rhs.update?.log
        }

        static func error(_ status: Int, _ message: String) -> Answer {
            Answer(status: status, contentType: "text/plain; charset=utf-8", body: message + "\n", update: nil)
        }
    }

    /// Answer an add-checkpoint body, given the latest cosigned state of each origin.
    public func addCheckpoint(_ body: String, state: [String: WitnessLog], time: UInt64) -> Answer {
        guard let blank = body.range(of: "\n\n") else {
            return .error(400, "the body needs an old size line, proof lines, a blank line and a checkpoint")
        }
        let header = body[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        let note = String(body[blank.upperBound...])
        guard let first = header.first, first.hasPrefix("old "), let old = UInt64(first.dropFirst(4)), String(old) == first.dropFirst(4) else {
            return .error(400, "the first line must be `old <size>`")
        }
        var proof: [MerkleHash] = []
        for line in header.dropFirst() {
            guard let hash = StrictBase64.decode(line), hash.count == RFC6962.hashSize else {
                return .error(400, "a proof line is not a base64 hash")
            }
            proof.append(Array(hash))
        }
        guard proof.count <= 63 else { return .error(400, "more than 63 proof lines") }
        guard let text = note.range(of: "\n").map({ String(note[..<$0.lowerBound]) }), let logKey = self.logs[text] else {
            return .error(404, "unknown log")
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(text: try SignedNote.open(note, verifiedBy: logKey))
        } catch {
            return .error(403, "the checkpoint is not signed by the log's key")
        }
        guard old <= checkpoint.size else { return .error(400, "old size is larger than the checkpoint's") }
        let latest = state[checkpoint.origin] ?? WitnessLog(size: 0, root: RFC6962.emptyRoot)
        guard old == latest.size else {
            return Answer(status: 409, contentType: "text/x.tlog.size", body: "\(latest.size)\n", update: nil)
        }
        if checkpoint.size == 0, checkpoint.root != RFC6962.emptyRoot { return .error(422, "an empty tree has the empty root") }
        if old == 0 {
            guard proof.isEmpty else { return .error(422, "no proof is needed from size 0") }
        } else if old == checkpoint.size {
            guard proof.isEmpty, checkpoint.root == latest.root else { return .error(422, "same size, another root: a fork") }
        } else {
            do {
                try MerkleVerifier.verifyConsistency(size1: old, size2: checkpoint.size, root1: latest.root, root2: checkpoint.root, proof: proof)
            } catch {
                return .error(422, "the checkpoint is not consistent with the one cosigned before")
            }
        }
        guard let line = try? Cosignature.sign(checkpointText: checkpoint.text, time: time, name: self.name, key: self.key) else {
            return .error(500, "signing failed")
        }
        return Answer(
            status: 200,
            contentType: "text/plain; charset=utf-8",
            body: line,
            update: (checkpoint.origin, WitnessLog(size: checkpoint.size, root: checkpoint.root))
        )
    }

    /// The request body for `add-checkpoint`.
    public static func request(old: UInt64, proof: [MerkleHash], note: String) -> String {
        "old \(old)\n" + proof.map { Data($0).base64EncodedString() + "\n" }.joined() + "\n" + note
    }
}
