// What a sealed secret is (ciphertext, nonce, wrapped data key, KEK version), the context it is bound to,
// and the vault's errors. The engine that seals and opens is `Envelope` (Envelope.swift).

import Crypto
import Foundation

/// What a sealed secret belongs to. It is authenticated as associated data, so a ciphertext copied onto
/// another record, owner or purpose fails to decrypt.
public struct SecretContext: Sendable, Equatable {
    public let purpose: String
    public let ownerID: String
    public let recordID: String

    public init(purpose: String, ownerID: String, recordID: String) {
        self.purpose = purpose
        self.ownerID = ownerID
        self.recordID = recordID
    }

    /// Length-prefixed fields after a version label: unambiguous, so no two contexts share bytes.
    func associatedData(label: String, formatVersion: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in [label, String(formatVersion), self.purpose, self.ownerID, self.recordID] {
            let utf8 = Array(field.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }
}

/// A secret at rest: everything the database stores for it. None of it is secret without the KEK.
/// `kekVersion` names a row of the database's KEK-version table; `kekProvider` repeats its provider kind.
public struct SealedSecret: Sendable, Equatable {
    public var ciphertext: [UInt8]
    public var nonce: [UInt8]
    public var wrappedKey: [UInt8]
    public var kekProvider: String
    public var kekVersion: Int
    public var formatVersion: Int

    public init(ciphertext: [UInt8], nonce: [UInt8], wrappedKey: [UInt8], kekProvider: String, kekVersion: Int, formatVersion: Int) {
        self.ciphertext = ciphertext
        self.nonce = nonce
        self.wrappedKey = wrappedKey
        self.kekProvider = kekProvider
        self.kekVersion = kekVersion
        self.formatVersion = formatVersion
    }
}

public enum VaultError: Error, Equatable, CustomStringConvertible {
    /// Wrong key, wrong context or modified bytes: AES-GCM does not say which, and neither do we.
    case decryptionFailed
    case unknownKEKVersion(Int)
    case unknownKEK(KEKReference)
    case providerUnavailable(String)
    case unsupportedFormat(Int)
    case rotationUnavailable(String)

    public var description: String {
        switch self {
        case .decryptionFailed: "the secret could not be decrypted (wrong key, wrong record, or modified ciphertext)"
        case .unknownKEKVersion(let version): "KEK version \(version) is not in the vault's version table"
        case .unknownKEK(let reference): "the key-encryption key \(reference) is not available"
        case .providerUnavailable(let kind):
            "records use the \(kind) KEK provider, which is not configured: set TRADEKEEP_KEK (or keep its settings while old records remain)"
        case .unsupportedFormat(let version): "sealed-secret format \(version) is not supported"
        case .rotationUnavailable(let why): why
        }
    }
}
