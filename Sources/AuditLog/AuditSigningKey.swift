// The server's Ed25519 audit key: signs audit entries and checkpoints.

import Crypto
import Foundation

/// The audit signing key, loaded from its 32-byte seed in the data folder.
public struct AuditSigningKey: Sendable {
    public static let seedByteCount = 32

    let privateKey: Curve25519.Signing.PrivateKey

    public init<D: ContiguousBytes>(seed: D) throws {
        self.privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    public var publicKey: Curve25519.Signing.PublicKey { self.privateKey.publicKey }

    public func signature<D: DataProtocol>(for message: D) throws -> Data {
        try self.privateKey.signature(for: message)
    }
}
