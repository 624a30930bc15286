// Envelope encryption: each secret under its own random AES-256-GCM data key, the data key wrapped by a
// key-encryption key (KEK) the database never holds, and both bound to the secret's owner, record and purpose.

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
    case unknownKEKVersion(provider: String, version: Int)
    case unknownProvider(String)
    case unsupportedFormat(Int)

    public var description: String {
        switch self {
        case .decryptionFailed: "the secret could not be decrypted (wrong key, wrong record, or modified ciphertext)"
        case .unknownKEKVersion(let provider, let version): "KEK version \(version) of provider \(provider) is not available"
        case .unknownProvider(let id): "no KEK provider \(id) is configured"
        case .unsupportedFormat(let version): "sealed-secret format \(version) is not supported"
        }
    }
}

/// A source of key-encryption keys. Implementations: the local keyring (now), AWS KMS and PKCS#11 (later).
public protocol KeyEncryptionKeyProvider: Sendable {
    var id: String { get }
    func wrap(_ dataKey: SecretBytes, context: SecretContext) async throws -> (wrapped: [UInt8], version: Int)
    func unwrap(_ wrapped: [UInt8], version: Int, context: SecretContext) async throws -> SecretBytes
}

/// The `local` provider: AES-256-GCM of the data key under the keyring's current key.
public struct LocalKEKProvider: KeyEncryptionKeyProvider {
    public let id = "local"
    let keyring: LocalKeyring

    public init(keyring: LocalKeyring) {
        self.keyring = keyring
    }

    public func wrap(_ dataKey: SecretBytes, context: SecretContext) async throws -> (wrapped: [UInt8], version: Int) {
        let kek = self.keyring.current
        let sealed = try dataKey.withUnsafeBytes { bytes in
            try AES.GCM.seal(bytes, using: kek.key.symmetricKey, authenticating: context.associatedData(label: "tradekeep/kek-wrap", formatVersion: 1))
        }
        return (Array(sealed.combined!), kek.version)
    }

    public func unwrap(_ wrapped: [UInt8], version: Int, context: SecretContext) async throws -> SecretBytes {
        guard let kek = self.keyring.key(version: version) else {
            throw VaultError.unknownKEKVersion(provider: self.id, version: version)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped)
            var plain = try AES.GCM.open(box, using: kek.symmetricKey, authenticating: context.associatedData(label: "tradekeep/kek-wrap", formatVersion: 1))
            defer { plain.resetBytes(in: 0..<plain.count) }
            return SecretBytes(copying: plain)
        } catch {
            throw VaultError.decryptionFailed
        }
    }
}

/// Seals and opens secrets. Plaintext is reachable only inside `withSecret`.
public struct Envelope: Sendable {
    public static let formatVersion = 1
    let provider: any KeyEncryptionKeyProvider

    public init(provider: any KeyEncryptionKeyProvider) {
        self.provider = provider
    }

    public func seal(_ plaintext: SecretBytes, context: SecretContext) async throws -> SealedSecret {
        let dataKey = SecretBytes.random(count: 32)
        let nonce = AES.GCM.Nonce()
        let box = try plaintext.withUnsafeBytes { bytes in
            try AES.GCM.seal(bytes, using: dataKey.symmetricKey, nonce: nonce,
                             authenticating: context.associatedData(label: "tradekeep/secret", formatVersion: Self.formatVersion))
        }
        let (wrapped, version) = try await self.provider.wrap(dataKey, context: context)
        return SealedSecret(
            ciphertext: Array(box.ciphertext) + Array(box.tag),
            nonce: Array(nonce),
            wrappedKey: wrapped,
            kekProvider: self.provider.id,
            kekVersion: version,
            formatVersion: Self.formatVersion
        )
    }

    /// Decrypt `sealed` for the duration of `body`; the plaintext buffer is zeroed when it is released.
    public func withSecret<R: Sendable>(_ sealed: SealedSecret, context: SecretContext, _ body: (SecretBytes) throws -> R) async throws -> R {
        guard sealed.formatVersion == Self.formatVersion else { throw VaultError.unsupportedFormat(sealed.formatVersion) }
        guard sealed.kekProvider == self.provider.id else { throw VaultError.unknownProvider(sealed.kekProvider) }
        let dataKey = try await self.provider.unwrap(sealed.wrappedKey, version: sealed.kekVersion, context: context)
        let secret: SecretBytes
        do {
            guard sealed.ciphertext.count >= 16 else { throw VaultError.decryptionFailed }
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed.nonce),
                ciphertext: sealed.ciphertext.dropLast(16),
                tag: sealed.ciphertext.suffix(16)
            )
            var plain = try AES.GCM.open(box, using: dataKey.symmetricKey,
                                         authenticating: context.associatedData(label: "tradekeep/secret", formatVersion: sealed.formatVersion))
            defer { plain.resetBytes(in: 0..<plain.count) }
            secret = SecretBytes(copying: plain)
        } catch {
            throw VaultError.decryptionFailed
        }
        return try body(secret)
    }
}
