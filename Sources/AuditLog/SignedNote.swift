// C2SP signed notes (https://c2sp.org/signed-note): the text format of audit checkpoints, with Ed25519 signatures.

import Crypto
import Foundation

/// A note verifier key: `<name>+<key hash hex>+<base64(0x01 ‖ Ed25519 public key)>`.
public struct NoteVerifierKey: Sendable, Equatable {
    public let name: String
    /// The first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), as in the key and in each signature.
    public let keyHash: [UInt8]
    public let publicKey: Curve25519.Signing.PublicKey

    static let ed25519: UInt8 = 0x01

    public static func == (lhs: NoteVerifierKey, rhs: NoteVerifierKey) -> Bool {
        lhs.name == rhs.name && lhs.publicKey.rawRepresentation == rhs.publicKey.rawRepresentation
    }

    public init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyHash = Self.hash(name: name, publicKey: publicKey)
    }

    /// Parse a `vkey` line; nil unless the name is valid, the algorithm is Ed25519 and the hash matches.
    public init?(_ text: String) {
        // Base64 may itself contain "+": the name and hash never do, so split twice only.
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, Self.isValidName(parts[0]), parts[1].count == 8,
            let hashBytes = Self.hexBytes(parts[1]), let encoded = StrictBase64.decode(parts[2]),
            encoded.count == 33, encoded.first == Self.ed25519,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: encoded.dropFirst())
        else { return nil }
        self.init(name: String(parts[0]), publicKey: key)
        guard self.keyHash == hashBytes else { return nil }
    }

    /// The `vkey` line of this key.
    public var text: String {
        let encoded = Data([Self.ed25519] + self.publicKey.rawRepresentation).base64EncodedString()
        return "\(self.name)+\(self.keyHash.map { String(format: "%02x", $0) }.joined())+\(encoded)"
    }

    static func hash(name: String, publicKey: Curve25519.Signing.PublicKey, algorithm: UInt8 = ed25519) -> [UInt8] {
        var material = Array(name.utf8)
        material.append(0x0A)
        material.append(algorithm)
        material.append(contentsOf: publicKey.rawRepresentation)
        return Array(SHA256.hash(data: material).prefix(4))
    }

    /// Key names are non-empty, without spaces or plus signs (signed-note.md).
    public static func isValidName(_ name: Substring) -> Bool {
        !name.isEmpty && !name.contains(" ") && !name.contains("+") && name.unicodeScalars.allSatisfy { $0.value > 0x20 }
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        Hex.decode(text)
    }
}

/// A signed note: the text (ending in a newline), a blank line, then one `— <name> <base64(key hash ‖ signature)>`
/// line per signature.
public enum SignedNote {
    public enum Failure: Error, Equatable {
        case malformed, noSignatureByKey, badSignature
    }

    /// The note's text, if `note` carries a valid signature by `key`. Signatures by other keys are ignored.
    public static func open(_ note: String, verifiedBy key: NoteVerifierKey) throws(Failure) -> String {
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw .malformed }
        let text = String(note[..<split.lowerBound]) + "\n"
        let signatureLines = note[split.upperBound...].split(separator: "\n")
        guard !signatureLines.isEmpty, note.hasSuffix("\n") else { throw .malformed }
        var sawKey = false
        for line in signatureLines {
            guard line.hasPrefix("\u{2014} ") else { throw .malformed }
            let fields = line.dropFirst(2).split(separator: " ")
            guard fields.count == 2, let blob = StrictBase64.decode(fields[1]), blob.count >= 5 else { throw .malformed }
            guard fields[0] == key.name, Array(blob.prefix(4)) == key.keyHash else { continue }
            sawKey = true
            if blob.count == 68, key.publicKey.isValidSignature(blob.dropFirst(4), for: Data(text.utf8)) { return text }
        }
        throw sawKey ? .badSignature : .noSignatureByKey
    }

    /// `text` (which must end in a newline) signed by `key` under `name`.
    public static func sign(_ text: String, name: String, key: AuditSigningKey) throws -> String {
        precondition(text.hasSuffix("\n"), "a note's text ends in a newline")
        let verifier = NoteVerifierKey(name: name, publicKey: key.publicKey)
        let signature = try key.signature(for: Data(text.utf8))
        let blob = Data(verifier.keyHash + Array(signature)).base64EncodedString()
        return "\(text)\n\u{2014} \(name) \(blob)\n"
    }
}
