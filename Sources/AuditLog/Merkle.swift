// RFC 6962 / RFC 9162 Merkle trees: hashing, proof generation and proof verification, written after
// transparency-dev/merkle. Pure: proofs are built from a function that answers the hash of a perfect subtree,
// so storage decides where node hashes live (the audit log keeps every perfect node, see Storage).

import Crypto

/// A 32-byte SHA-256 Merkle tree hash.
public typealias MerkleHash = [UInt8]

public enum RFC6962 {
    public static let hashSize = 32

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: MerkleHash = Array(SHA256.hash(data: [UInt8]()))

    /// SHA-256(0x00 ‖ data).
    public static func leafHash<D: Sequence>(_ data: D) -> MerkleHash where D.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return Array(hasher.finalize())
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }
}

/// Proofs over a tree whose perfect subtrees are known: `node(level, index)` is the hash of the perfect subtree of
/// 2^level leaves starting at leaf index × 2^level.
public enum MerkleProofs {
    public typealias NodeReader = (_ level: Int, _ index: UInt64) throws -> MerkleHash

    /// The perfect nodes a proof or root needs: run the algorithm against a recorder, then fetch them in one go.
    public struct Node: Hashable, Sendable {
        public let level: Int
        public let index: UInt64

        public init(level: Int, index: UInt64) {
            self.level = level
            self.index = index
        }
    }

    /// MTH(D[start..<end]) for a range whose start is aligned to a power of two at least as large as its length
    /// (every range RFC 6962's recursions visit is).
    public static func rangeRoot(_ start: UInt64, _ end: UInt64, node: NodeReader) throws -> MerkleHash {
        precondition(end > start)
        let count = end - start
        if count & (count - 1) == 0 {
            let level = count.trailingZeroBitCount
            return try node(level, start >> UInt64(level))
        }
        let split = largestPowerOfTwo(below: count)
        return RFC6962.nodeHash(
            try node(split.trailingZeroBitCount, start >> UInt64(split.trailingZeroBitCount)),
            try rangeRoot(start + split, end, node: node)
        )
    }

    /// The root of a tree of `size` leaves.
    public static func root(size: UInt64, node: NodeReader) throws -> MerkleHash {
        size == 0 ? RFC6962.emptyRoot : try rangeRoot(0, size, node: node)
    }

    /// RFC 6962 §2.1.1 PATH(index, D[0:size]), leaf-side first.
    public static func inclusion(index: UInt64, size: UInt64, node: NodeReader) throws -> [MerkleHash] {
        guard index < size else { throw MerkleTreeError.outOfRange }
        var proof: [MerkleHash] = []
        try path(index, 0, size, into: &proof, node: node)
        return proof
    }

    static func path(_ index: UInt64, _ start: UInt64, _ end: UInt64, into proof: inout [MerkleHash], node: NodeReader) throws {
        let count = end - start
        guard count > 1 else { return }
        let split = largestPowerOfTwo(below: count)
        if index < split {
            try path(index, start, start + split, into: &proof, node: node)
            proof.append(try rangeRoot(start + split, end, node: node))
        } else {
            try path(index - split, start + split, end, into: &proof, node: node)
            proof.append(try rangeRoot(start, start + split, node: node))
        }
    }

    /// RFC 6962 §2.1.2 PROOF(size1, D[0:size2]); empty when the sizes are equal or size1 is zero.
    public static func consistency(from size1: UInt64, to size2: UInt64, node: NodeReader) throws -> [MerkleHash] {
        guard size1 <= size2 else { throw MerkleTreeError.outOfRange }
        guard size1 > 0, size1 < size2 else { return [] }
        var proof: [MerkleHash] = []
        try subproof(size1, 0, size2, complete: true, into: &proof, node: node)
        return proof
    }

    static func subproof(_ size1: UInt64, _ start: UInt64, _ end: UInt64, complete: Bool, into proof: inout [MerkleHash], node: NodeReader) throws {
        let count = end - start
        if size1 == count {
            if !complete { proof.append(try rangeRoot(start, end, node: node)) }
            return
        }
        let split = largestPowerOfTwo(below: count)
        if size1 <= split {
            try subproof(size1, start, start + split, complete: complete, into: &proof, node: node)
            proof.append(try rangeRoot(start + split, end, node: node))
        } else {
            try subproof(size1 - split, start + split, end, complete: false, into: &proof, node: node)
            proof.append(try rangeRoot(start, start + split, node: node))
        }
    }

    /// The perfect nodes `work` reads: proofs' shapes do not depend on the hashes, so a recording pass names
    /// every node to fetch before the real one.
    public static func nodesNeeded(_ work: (NodeReader) throws -> Void) -> Set<Node> {
        var needed = Set<Node>()
        let zero = MerkleHash(repeating: 0, count: RFC6962.hashSize)
        try? work { level, index in
            needed.insert(Node(level: level, index: index))
            return zero
        }
        return needed
    }

    /// The largest power of two strictly below `count` (count > 1).
    static func largestPowerOfTwo(below count: UInt64) -> UInt64 {
        UInt64(1) << UInt64(63 - (count - 1).leadingZeroBitCount)
    }
}

/// RFC 9162 §2.1.3.2 and §2.1.4.2 verification.
public enum MerkleVerifier {
    public enum Failure: Error, Equatable {
        case indexBeyondSize, wrongProofSize, rootMismatch, badHashSize, sizesOutOfOrder, emptyFirstTree
    }

    /// Recompute the root from a leaf hash and its inclusion proof.
    public static func rootFromInclusion(index: UInt64, size: UInt64, leafHash: MerkleHash, proof: [MerkleHash]) throws(Failure) -> MerkleHash {
        guard index < size else { throw .indexBeyondSize }
        guard leafHash.count == RFC6962.hashSize, proof.allSatisfy({ $0.count == RFC6962.hashSize }) else { throw .badHashSize }
        var fn = index
        var sn = size - 1
        var result = leafHash
        for sibling in proof {
            guard sn != 0 else { throw .wrongProofSize }
            if fn & 1 == 1 || fn == sn {
                result = RFC6962.nodeHash(sibling, result)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                result = RFC6962.nodeHash(result, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofSize }
        return result
    }

    public static func verifyInclusion(index: UInt64, size: UInt64, leafHash: MerkleHash, proof: [MerkleHash], root: MerkleHash) throws(Failure) {
        guard root.count == RFC6962.hashSize else { throw .badHashSize }
        guard try rootFromInclusion(index: index, size: size, leafHash: leafHash, proof: proof) == root else { throw .rootMismatch }
    }

    /// Check that the tree of `size1` leaves with `root1` is a prefix of the tree of `size2` leaves with `root2`.
    /// An empty first tree is refused: a proof from nothing proves nothing (callers handle size 0 themselves).
    public static func verifyConsistency(
        size1: UInt64,
        size2: UInt64,
        root1: MerkleHash,
        root2: MerkleHash,
        proof: [MerkleHash]
    ) throws(Failure) {
        guard size1 <= size2 else { throw .sizesOutOfOrder }
        guard size1 > 0 else { throw .emptyFirstTree }
        if size1 == size2 {
            guard proof.isEmpty else { throw .wrongProofSize }
            guard root1 == root2 else { throw .rootMismatch }
            return
        }
        guard !proof.isEmpty, proof.allSatisfy({ $0.count == RFC6962.hashSize }) else { throw proof.isEmpty ? .wrongProofSize : .badHashSize }
        var path = proof[...]
        if size1 & (size1 - 1) == 0 { path.insert(root1, at: path.startIndex) }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path.removeFirst()
        var sr = fr
        for hash in path {
            guard sn != 0 else { throw .wrongProofSize }
            if fn & 1 == 1 || fn == sn {
                fr = RFC6962.nodeHash(hash, fr)
                sr = RFC6962.nodeHash(hash, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = RFC6962.nodeHash(sr, hash)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofSize }
        guard fr == root1, sr == root2 else { throw .rootMismatch }
    }
}

/// A tree held in memory: the perfect nodes of every level, appended leaf by leaf. Used by verifiers (the
/// export's checker, tests, the benchmark) and by the sequencer to compute the nodes a batch adds.
public struct InMemoryMerkleTree: Sendable {
    /// levels[h][i] = hash of the perfect subtree of 2^h leaves starting at i × 2^h.
    public private(set) var levels: [[MerkleHash]] = [[]]

    public init() {}

    public var size: UInt64 { UInt64(self.levels[0].count) }

    /// Append a leaf hash; returns the perfect nodes it completed, level 0 first.
    @discardableResult
    public mutating func append(leafHash: MerkleHash) -> [(level: Int, index: UInt64, hash: MerkleHash)] {
        var added: [(level: Int, index: UInt64, hash: MerkleHash)] = []
        var level = 0
        var hash = leafHash
        while true {
            if self.levels.count == level { self.levels.append([]) }
            self.levels[level].append(hash)
            let index = self.levels[level].count - 1
            added.append((level, UInt64(index), hash))
            guard index & 1 == 1 else { break }
            hash = RFC6962.nodeHash(self.levels[level][index - 1], hash)
            level += 1
        }
        return added
    }

    public func node(level: Int, index: UInt64) throws -> MerkleHash {
        guard level < self.levels.count, index < UInt64(self.levels[level].count) else {
            throw MerkleTreeError.missingNode(level: level, index: index)
        }
        return self.levels[level][Int(index)]
    }

    public func root(size: UInt64? = nil) throws -> MerkleHash {
        try MerkleProofs.root(size: size ?? self.size, node: self.node)
    }
}

public enum MerkleTreeError: Error, Equatable {
    case missingNode(level: Int, index: UInt64)
    /// An index beyond the tree, or a first size larger than the second.
    case outOfRange
}

/// The right edge of a tree: the perfect nodes still waiting for a right sibling (one per set bit of the size).
/// Enough to append leaves and to compute the root without reading the rest of the tree.
public struct MerkleFrontier: Sendable, Equatable {
    public private(set) var size: UInt64
    /// level → hash of the perfect node at (level, (size >> level) - 1), for each set bit of size.
    public private(set) var border: [Int: MerkleHash]

    /// The nodes to read to resume a tree of `size` leaves.
    public static func borderNodes(size: UInt64) -> [MerkleProofs.Node] {
        (0..<64).filter { (size >> UInt64($0)) & 1 == 1 }.map { MerkleProofs.Node(level: $0, index: (size >> UInt64($0)) - 1) }
    }

    public init(size: UInt64 = 0, node: MerkleProofs.NodeReader) throws {
        self.size = size
        self.border = [:]
        for needed in Self.borderNodes(size: size) { self.border[needed.level] = try node(needed.level, needed.index) }
    }

    /// Append a leaf; returns the perfect nodes it completes (the leaf first, then up).
    public mutating func append(leafHash: MerkleHash) -> [(level: Int, index: UInt64, hash: MerkleHash)] {
        var index = self.size
        var hash = leafHash
        var level = 0
        var added = [(level: level, index: index, hash: hash)]
        while index & 1 == 1 {
            hash = RFC6962.nodeHash(self.border.removeValue(forKey: level)!, hash)
            level += 1
            index >>= 1
            added.append((level, index, hash))
        }
        self.border[level] = hash
        self.size += 1
        return added
    }

    public var root: MerkleHash {
        var root: MerkleHash?
        for level in self.border.keys.sorted() {
            root = root.map { RFC6962.nodeHash(self.border[level]!, $0) } ?? self.border[level]!
        }
        return root ?? RFC6962.emptyRoot
    }
}
