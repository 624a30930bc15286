// RFC 6962 hashing and proofs: every probe in ../shared/vectors/rfc6962 (happy and failure cases), and proofs we
// generate checked against an independent root computation for every size and index of small trees.

import Foundation
import Testing

@testable import AuditLog

@Suite struct MerkleTests {
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/vectors/rfc6962")

    static func probes(_ kind: String) throws -> [(name: String, json: [String: Any])] {
        let root = self.vectors.appendingPathComponent(kind)
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!.compactMap { $0 as? URL }
            .filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
        return try files.map { file in
            (
                file.path.replacingOccurrences(of: root.path, with: ""),
                try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            )
        }
    }

    static func hash(_ value: Any?) -> MerkleHash {
        Array(Data(base64Encoded: value as? String ?? "") ?? Data())
    }

    @Test("Every RFC 6962 inclusion probe: happy paths verify, every failure case is refused")
    func inclusionVectors() throws {
        let probes = try Self.probes("inclusion")
        #expect(probes.count > 50)
        for (name, probe) in probes {
            let proof = (probe["proof"] as? [String] ?? []).map { Self.hash($0) }
            let result = Result { () throws(MerkleVerifier.Failure) in
                try MerkleVerifier.verifyInclusion(
                    index: (probe["leafIdx"] as! NSNumber).uint64Value,
                    size: (probe["treeSize"] as! NSNumber).uint64Value,
                    leafHash: Self.hash(probe["leafHash"]),
                    proof: proof,
                    root: Self.hash(probe["root"])
                )
            }
            let wantError = probe["wantErr"] as! Bool
            #expect((try? result.get()) == nil ? wantError : !wantError, "inclusion probe \(name)")
        }
    }

    @Test("Every RFC 6962 consistency probe: happy paths verify, every failure case is refused")
    func consistencyVectors() throws {
        let probes = try Self.probes("consistency")
        #expect(probes.count > 50)
        for (name, probe) in probes {
            let proof = (probe["proof"] as? [String] ?? []).map { Self.hash($0) }
            let result = Result { () throws(MerkleVerifier.Failure) in
                try MerkleVerifier.verifyConsistency(
                    size1: (probe["size1"] as! NSNumber).uint64Value,
                    size2: (probe["size2"] as! NSNumber).uint64Value,
                    root1: Self.hash(probe["root1"]),
                    root2: Self.hash(probe["root2"]),
                    proof: proof
                )
            }
            let wantError = probe["wantErr"] as! Bool
            #expect((try? result.get()) == nil ? wantError : !wantError, "consistency probe \(name)")
        }
    }

    /// MTH straight from RFC 6962 §2.1, over leaf data: the independent computation proofs are checked against.
    static func referenceRoot(_ leaves: ArraySlice<[UInt8]>) -> MerkleHash {
        if leaves.isEmpty { return RFC6962.emptyRoot }
        if leaves.count == 1 { return RFC6962.leafHash(leaves.first!) }
        var split = 1
        while split * 2 < leaves.count { split *= 2 }
        return RFC6962.nodeHash(
            self.referenceRoot(leaves.prefix(split)),
            self.referenceRoot(leaves.dropFirst(split))
        )
    }

    @Test("Generated proofs verify for every index and size pair up to 40 leaves; roots match RFC 6962's definition")
    func generatedProofs() throws {
        let leaves = (0..<40).map { [UInt8]("leaf \($0)".utf8) }
        var tree = InMemoryMerkleTree()
        for leaf in leaves { tree.append(leafHash: RFC6962.leafHash(leaf)) }
        for size in 1...UInt64(leaves.count) {
            let root = try tree.root(size: size)
            #expect(root == Self.referenceRoot(leaves[0..<Int(size)]))
            for index in 0..<size {
                let proof = try MerkleProofs.inclusion(index: index, size: size, node: tree.node)
                try MerkleVerifier.verifyInclusion(index: index, size: size, leafHash: RFC6962.leafHash(leaves[Int(index)]), proof: proof, root: root)
                // The wrong leaf, or the right leaf at another index, does not verify.
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyInclusion(
                        index: index,
                        size: size,
                        leafHash: RFC6962.leafHash(leaves[Int((index + 1) % size)] + [0]),
                        proof: proof,
                        root: root
                    )
                }
            }
            for older in 1...size {
                let proof = try MerkleProofs.consistency(from: older, to: size, node: tree.node)
                try MerkleVerifier.verifyConsistency(size1: older, size2: size, root1: try tree.root(size: older), root2: root, proof: proof)
                if older < size {
                    // A forked older tree (another last leaf) is not consistent.
                    var forked = Array(leaves[0..<Int(older)])
                    forked[forked.count - 1] += [1]
                    #expect(throws: MerkleVerifier.Failure.self) {
                        try MerkleVerifier.verifyConsistency(
                            size1: older,
                            size2: size,
                            root1: Self.referenceRoot(forked[...]),
                            root2: root,
                            proof: proof
                        )
                    }
                }
            }
        }
    }

    @Test("A proof's recording pass names exactly the perfect nodes the proof reads")
    func nodesNeeded() throws {
        var tree = InMemoryMerkleTree()
        for index in 0..<1000 { tree.append(leafHash: RFC6962.leafHash(Array("\(index)".utf8))) }
        let needed = MerkleProofs.nodesNeeded { node in _ = try MerkleProofs.inclusion(index: 517, size: 999, node: node) }
        #expect(needed.count <= 2 * 10)
        let fetched = Dictionary(uniqueKeysWithValues: try needed.map { ($0, try tree.node(level: $0.level, index: $0.index)) })
        let proof = try MerkleProofs.inclusion(index: 517, size: 999) { level, index in
            try #require(fetched[MerkleProofs.Node(level: level, index: index)])
        }
        #expect(proof == (try MerkleProofs.inclusion(index: 517, size: 999, node: tree.node)))
    }
}
