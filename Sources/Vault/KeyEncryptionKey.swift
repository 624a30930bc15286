// Key-encryption keys: where each lives (a reference), and the providers that wrap and unwrap data keys.

import Crypto
import Foundation
import NIOConcurrencyHelpers

/// Which key wrapped a data key: the provider kind and that provider's name for the key
/// (local: the keyring version; aws-kms: the key id or ARN; pkcs11: the object label).
public struct KEKReference: Sendable, Hashable, CustomStringConvertible {
    public let provider: String
    public let key: String

    public init(provider: String, key: String) {
        self.provider = provider
        self.key = key
    }

    public var description: String { "\(self.provider):\(self.key)" }
}

/// A source of key-encryption keys. The KEK never leaves the provider (for KMS and HSM, never leaves the
/// service or device); only data keys are wrapped and unwrapped.
public protocol KeyEncryptionKeyProvider: Sendable {
    var kind: String { get }
    /// A fresh data key and its wrapped form (one call to a KMS's GenerateDataKey).
    func generateDataKey(key: String, context: SecretContext) async throws -> (dataKey: SecretBytes, wrapped: [UInt8])
    func wrap(_ dataKey: SecretBytes, key: String, context: SecretContext) async throws -> [UInt8]
    func unwrap(_ wrapped: [UInt8], key: String, context: SecretContext) async throws -> SecretBytes
    /// Make a new key for `vault rotate` and return its name (local: a new keyring version).
    func createKey() async throws -> String
    /// Forget a key no record uses any more (`vault prune`). Providers that cannot delete do nothing.
    func retireKey(_ key: String) async throws
}

extension KeyEncryptionKeyProvider {
    public func generateDataKey(key: String, context: SecretContext) async throws -> (dataKey: SecretBytes, wrapped: [UInt8]) {
        let dataKey = SecretBytes.random(count: 32)
        return (dataKey, try await self.wrap(dataKey, key: key, context: context))
    }
}

/// The `local` provider: a versioned keyring file in the data folder (or one key from TRADEKEEP_LOCAL_KEK).
/// Data keys are sealed with AES-256-GCM under the keyring key, the secret's context as associated data.
public final class LocalKEKProvider: KeyEncryptionKeyProvider {
    public let kind = "local"
    /// The keyring file; nil when the key came from a variable (then rotation is not possible).
    let file: URL?
    private let keyring: NIOLockedValueBox<LocalKeyring>

    public init(keyring: LocalKeyring, file: URL? = nil) {
        self.keyring = NIOLockedValueBox(keyring)
        self.file = file
    }

    public var currentKeyring: LocalKeyring { self.keyring.withLockedValue { $0 } }

    public func wrap(_ dataKey: SecretBytes, key: String, context: SecretContext) async throws -> [UInt8] {
        let kek = try self.key(named: key)
        let sealed = try dataKey.withUnsafeBytes { bytes in
            try AES.GCM.seal(bytes, using: kek.symmetricKey, authenticating: context.associatedData(label: "tradekeep/kek-wrap", formatVersion: 1))
        }
        return Array(sealed.combined!)
    }

    public func unwrap(_ wrapped: [UInt8], key: String, context: SecretContext) async throws -> SecretBytes {
        let kek = try self.key(named: key)
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped)
            var plain = try AES.GCM.open(
                box,
                using: kek.symmetricKey,
                authenticating: context.associatedData(label: "tradekeep/kek-wrap", formatVersion: 1)
            )
            defer { plain.resetBytes(in: 0..<plain.count) }
            return SecretBytes(copying: plain)
        } catch {
            throw VaultError.decryptionFailed
        }
    }

    /// The key of that keyring version, re-reading the file once if another process (vault rotate) added it.
    func key(named name: String) throws -> SecretBytes {
        guard let version = Int(name) else { throw VaultError.unknownKEK(KEKReference(provider: self.kind, key: name)) }
        if let key = self.currentKeyring.key(version: version) { return key }
        try self.reload()
        guard let key = self.currentKeyring.key(version: version) else {
            throw VaultError.unknownKEK(KEKReference(provider: self.kind, key: name))
        }
        return key
    }

    public func reload() throws {
        guard let file = self.file else { return }
        var bytes = try SecureFile.read(file)
        defer { bytes.resetBytes() }
        let fresh = try LocalKeyring.parse(bytes)
        self.keyring.withLockedValue { $0 = fresh }
    }

    /// Add a key to the keyring file (atomically replaced) and return its version.
    public func createKey() async throws -> String {
        guard let file = self.file else {
            throw VaultError.rotationUnavailable("the local KEK comes from TRADEKEEP_LOCAL_KEK; rotate it by adding a keyring file")
        }
        try self.reload()
        let updated = self.currentKeyring.adding(.random(count: LocalKeyring.keyByteCount))
        var bytes = updated.serialized()
        defer { bytes.resetBytes() }
        try SecureFile.write(bytes, to: file, overwrite: true)
        self.keyring.withLockedValue { $0 = updated }
        return String(updated.currentVersion)
    }

    public func retireKey(_ key: String) async throws {
        guard let file = self.file, let version = Int(key) else { return }
        try self.reload()
        guard let updated = self.currentKeyring.removing(version: version) else { return }
        var bytes = updated.serialized()
        defer { bytes.resetBytes() }
        try SecureFile.write(bytes, to: file, overwrite: true)
        self.keyring.withLockedValue { $0 = updated }
    }
}
