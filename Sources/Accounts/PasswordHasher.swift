// bcrypt password hashing, always on a thread pool so a 250 ms hash never blocks an event loop.

import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

public struct PasswordHasher: Sendable {
    /// Cost 12 (about 250 ms per hash on a current core) is the production floor.
    public static let productionCost: UInt8 = 12

    public let cost: UInt8
    let threadPool: NIOThreadPool

    public init(cost: UInt8 = productionCost, threadPool: NIOThreadPool) {
        self.cost = cost
        self.threadPool = threadPool
    }

    public func hash(_ password: String) async throws -> String {
        let input = Self.bcryptInput(password)
        let cost = self.cost
        return try await self.threadPool.runIfActive { Bcrypt.hash(input, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        let input = Self.bcryptInput(password)
        return try await self.threadPool.runIfActive { Bcrypt.verify(input, hash: hash) }
    }

    /// Spend the time of one verification for a user that does not exist, so the answer to an unknown
    /// email takes as long as a wrong password.
    public func verifyAgainstDummy(_ password: String) async throws {
        _ = try await self.verify(password, hash: self.dummyHash)
    }

    /// A valid hash at this hasher's cost whose password nobody knows.
    private var dummyHash: String {
        "$2b$\(self.cost < 10 ? "0" : "")\(self.cost)$" + "abcdefghijklmnopqrstuu" + "9HbFpY2cGHr/m1ZVEypJdX9vHuJ9ZhC"
    }

    /// bcrypt reads at most 72 bytes and stops at NUL. Passwords are NFKC-normalised (NIST SP 800-63B);
    /// longer ones are pre-hashed (base64 of SHA-256, 44 bytes) so every character counts.
    static func bcryptInput(_ password: String) -> String {
        let normalized = password.precomposedStringWithCompatibilityMapping
        guard normalized.utf8.count > 72 else { return normalized }
        return Data(SHA256.hash(data: Array(normalized.utf8))).base64EncodedString()
    }
}
