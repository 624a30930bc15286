// The server's Ed25519 audit key: signs audit entries and checkpoints.

import Crypto
import Dispatch
import Foundation
import Synchronization

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

    /// Signatures of many messages, spread over the cores (a batch of the sequencer, the benchmark).
    public func signatures(for messages: [[UInt8]]) throws -> [Data] {
        guard messages.count > 32 else { return try messages.map { try self.signature(for: $0) } }
        let results = Mutex([Data?](repeating: nil, count: messages.count))
        let failed = Mutex(false)
        let chunk = 32
        DispatchQueue.concurrentPerform(iterations: (messages.count + chunk - 1) / chunk) { part in
            let range = part * chunk..<min(messages.count, (part + 1) * chunk)
            var local: [Data] = []
            for index in range {
                guard let signature = try? self.signature(for: messages[index]) else {
                    failed.withLock { $0 = true }
                    return
                }
                local.append(signature)
            }
            results.withLock { all in for (offset, signature) in local.enumerated() { all[range.lowerBound + offset] = signature } }
        }
        guard !failed.withLock({ $0 }) else { throw AuditSigningFailure() }
        return results.withLock { $0.map { $0! } }
    }
}

struct AuditSigningFailure: Error {}
