// `tradekeep audit verify EXPORT.json [--checkpoint OLDER.txt] [--witness VKEY …] [--log-url URL]`: everything checked
// offline; with --log-url the consistency proof to an older checkpoint is computed from the log's public tiles.

import AsyncHTTPClient
import AuditLog
import Foundation
import NIOCore
import NIOHTTP1

public enum OfflineAuditVerification {
    public static func verify(export data: Data, older: String?, witnesses: [String], logURL: URL?) async throws -> AuditVerification {
        var keys: [CosignerKey] = []
        for text in witnesses {
            guard let key = CosignerKey(text) else { throw AuditExportVerifier.Failure("--witness \(text) is not a cosignature/v1 vkey line") }
            keys.append(key)
        }
        guard let older else { return try AuditExportVerifier.verify(data, witnesses: keys) }
        // The proof from the older size to the export's, from tiles (when a URL is given and the sizes differ).
        var proof: [MerkleHash]?
        if let logURL, let export = try? JSONDecoder().decode(AuditExport.self, from: data), let key = NoteVerifierKey(export.publicKey),
            let current = try? Checkpoint.open(export.checkpoint, logKey: key), let earlier = try? Checkpoint.open(older, logKey: key),
            earlier.size > 0, earlier.size < current.size
        {
            proof = try await self.consistencyProof(from: earlier.size, to: current.size, logURL: logURL)
        }
        return try AuditExportVerifier.verify(data, witnesses: keys, older: .init(note: older, proof: proof))
    }

    /// Fetch the tiles a consistency proof needs from `<logURL>/audit/log/` and compute it.
    static func consistencyProof(from size1: UInt64, to size2: UInt64, logURL: URL) async throws -> [MerkleHash] {
        let needed = MerkleProofs.nodesNeeded { _ = try MerkleProofs.consistency(from: size1, to: size2, node: $0) }
        let tileIDs = Set(needed.compactMap { TileNodeReader.tile(forLevel: $0.level, index: $0.index, size: size2) })
        var tiles: [TileID: Data] = [:]
        for id in tileIDs {
            let url = logURL.appendingPathComponent("audit/log").appendingPathComponent(id.path)
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(30))
            guard response.status == .ok else { throw AuditExportVerifier.Failure("\(url.absoluteString) answered \(response.status.code)") }
            tiles[id] = Data((try await response.body.collect(upTo: 16 * 1024)).readableBytesView)
        }
        let reader = try TileNodeReader(size: size2, tiles: tiles)
        return try MerkleProofs.consistency(from: size1, to: size2, node: reader.node)
    }
}
