// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) and tlog-cosignature cosignature/v1
// (https://c2sp.org/tlog-cosignature): the signed tree heads of the audit log and the witnesses' cosignatures.

import Crypto
import Foundation

/// A checkpoint body: origin line, tree size, base64 root hash, then optional extension lines.
public struct Checkpoint: Sendable, Equatable {
    public let origin: String
    public let size: UInt64
    public let root: MerkleHash
    public let extensions: [String]

    public enum Failure: Error, Equatable {
        case malformed(String)
    }

    public init(origin: String, size: UInt64, root: MerkleHash, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The note text, ending in a newline.
    public var text: String {
        ([self.origin, String(self.size), Data(self.root).base64EncodedString()] + self.extensions).joined(separator: "\n") + "\n"
    }

    /// Parse a note text (what `SignedNote.open` returns).
    public init(text: String) throws(Failure) {
        guard text.hasSuffix("\n") else { throw .malformed("a checkpoint ends in a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3 else { throw .malformed("a checkpoint has an origin, a size and a root hash") }
        guard !lines[0].isEmpty else { throw .malformed("the origin line is empty") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else { throw .malformed("the size is not a decimal without leading zeros") }
        guard let root = Data(base64Encoded: lines[2]), root.count == RFC6962.hashSize, Data(root).base64EncodedString() == lines[2] else {
            throw .malformed("the root is not the base64 of 32 bytes")
        }
        guard lines.dropFirst(3).allSatisfy({ !$0.isEmpty }) else { throw .malformed("an extension line is empty") }
        self.init(origin: lines[0], size: size, root: Array(root), extensions: Array(lines.dropFirst(3)))
    }

    /// Open a signed checkpoint with the log's key and parse it; the origin must be the key's name.
    public static func open(_ note: String, logKey: NoteVerifierKey) throws -> Checkpoint {
        let checkpoint = try Checkpoint(text: try SignedNote.open(note, verifiedBy: logKey))
        guard checkpoint.origin == logKey.name else { throw Failure.malformed("the origin is not the log key's name") }
        return checkpoint
    }
}

/// A cosigner's key, cosignature/v1 (Ed25519, key-id algorithm byte 0x04).
public struct CosignerKey: Sendable, Equatable {
    public let name: String
    public let keyHash: [UInt8]
    public let publicKey: Curve25519.Signing.PublicKey

    static let algorithm: UInt8 = 0x04

    public static func == (lhs: CosignerKey, rhs: CosignerKey) -> Bool {
        lhs.name == rhs.name && lhs.publicKey.rawRepresentation == rhs.publicKey.rawRepresentation
    }

    public init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyHash = NoteVerifierKey.hash(name: name, publicKey: publicKey, algorithm: Self.algorithm)
    }

    /// Parse a vkey line `<name>+<hash>+<base64(0x04 ‖ key)>`; nil unless well formed and the hash matches.
    public init?(_ text: String) {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, NoteVerifierKey.isValidName(parts[0]), parts[1].count == 8,
            let hashBytes = NoteVerifierKey.hexBytes(parts[1]), let encoded = StrictBase64.decode(parts[2]),
            encoded.count == 33, encoded.first == Self.algorithm,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: encoded.dropFirst())
        else { return nil }
        self.init(name: String(parts[0]), publicKey: key)
        guard self.keyHash == hashBytes else { return nil }
    }

    public var text: String {
        let encoded = Data([Self.algorithm] + self.publicKey.rawRepresentation).base64EncodedString()
        return "\(self.name)+\(self.keyHash.map { String(format: "%02x", $0) }.joined())+\(encoded)"
    }
}

public enum Cosignature {
    public enum Failure: Error, Equatable {
        case malformed, noCosignatureByKey, badSignature
    }

    static func message(checkpointText: String, time: UInt64) -> Data {
        Data("cosignature/v1\ntime \(time)\n\(checkpointText)".utf8)
    }

    /// The signature line `— <name> base64(key id ‖ u64 time ‖ signature)` over a checkpoint's text.
    public static func sign(checkpointText: String, time: UInt64, name: String, key: Curve25519.Signing.PrivateKey) throws -> String {
        let verifier = CosignerKey(name: name, publicKey: key.publicKey)
        let signature = try key.signature(for: self.message(checkpointText: checkpointText, time: time))
        var blob = verifier.keyHash
        withUnsafeBytes(of: time.bigEndian) { blob.append(contentsOf: $0) }
        blob.append(contentsOf: signature)
        return "\u{2014} \(name) \(Data(blob).base64EncodedString())\n"
    }

    /// The timestamp of the valid cosignature by `key` among a note's signature lines (other keys are ignored).
    public static func verify(signatureLines: [Substring], checkpointText: String, key: CosignerKey) throws(Failure) -> UInt64 {
        var sawKey = false
        for line in signatureLines {
            guard line.hasPrefix("\u{2014} ") else { throw .malformed }
            let fields = line.dropFirst(2).split(separator: " ")
            guard fields.count == 2, let blob = StrictBase64.decode(fields[1]), blob.count >= 4 else { throw .malformed }
            guard fields[0] == key.name, Array(blob.prefix(4)) == key.keyHash else { continue }
            sawKey = true
            guard blob.count == 4 + 8 + 64 else { continue }
            let time = blob.dropFirst(4).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard time > 0, time <= UInt64(Int64.max) else { continue }
            if key.publicKey.isValidSignature(blob.suffix(64), for: self.message(checkpointText: checkpointText, time: time)) { return time }
        }
        throw sawKey ? .badSignature : .noCosignatureByKey
    }

    /// Verify a cosignature by `key` on a whole signed note (text, blank line, signature lines).
    public static func verify(note: String, key: CosignerKey) throws(Failure) -> UInt64 {
        guard let split = note.range(of: "\n\n", options: .backwards), note.hasSuffix("\n") else { throw .malformed }
        let text = String(note[..<split.lowerBound]) + "\n"
        return try self.verify(signatureLines: note[split.upperBound...].split(separator: "\n"), checkpointText: text, key: key)
    }
}
