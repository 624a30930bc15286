// bcrypt password hashing on threads of its own behind a bounded queue: a 250 ms hash never blocks an event loop,
// and a flood of logins waits (or is refused) here, never in front of the database or the bot engine.

import Crypto
import Foundation
import HummingbirdBcrypt
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The hashing queue is full: the caller answers 503 with Retry-After instead of waiting behind the flood.
public struct PasswordHashingBusy: Error, Sendable {
    public init() {}
}

/// Where hashes run: threads of their own, and at most `queueLimit` hashing calls admitted (running or waiting).
public final class HashingExecutor: Sendable {
    let pool: NIOThreadPool
    public let queueLimit: Int
    private let admitted = NIOLockedValueBox(0)

    public init(queueLimit: Int, pool: NIOThreadPool = HashingExecutor.sharedPool) {
        precondition(queueLimit > 0)
        self.pool = pool
        self.queueLimit = queueLimit
    }

    /// Half the cores (at least one) hash; the other half stays with the event loops and the database.
    public static let sharedPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount / 2))
        pool.start()
        return pool
    }()

    public static let defaultQueueLimit = 32

    /// Calls admitted now (running or queued).
    public var load: Int { self.admitted.withLockedValue { $0 } }

    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        let admitted = self.admitted.withLockedValue { count -> Bool in
            guard count < self.queueLimit else { return false }
            count += 1
            return true
        }
        guard admitted else {
            Counter(label: "tradekeep_password_hash_refused_total").increment()
            throw PasswordHashingBusy()
        }
        defer { self.admitted.withLockedValue { $0 -= 1 } }
        return try await self.pool.runIfActive(work)
    }
}

public struct PasswordHasher: Sendable {
    /// Cost 12 (about 250 ms per hash on a current core) is the production floor.
    public static let productionCost: UInt8 = 12

    public let cost: UInt8
    let executor: HashingExecutor

    public init(cost: UInt8 = productionCost, executor: HashingExecutor = HashingExecutor(queueLimit: HashingExecutor.defaultQueueLimit)) {
        self.cost = cost
        self.executor = executor
    }

    public func hash(_ password: String) async throws -> String {
        let input = Self.bcryptInput(password)
        let cost = self.cost
        return try await self.executor.run { Bcrypt.hash(input, cost: cost) }
    }

    /// Several hashes as one admission (a set of backup codes): one slot of the queue, one thread.
    public func hash(all passwords: [String]) async throws -> [String] {
        let inputs = passwords.map(Self.bcryptInput)
        let cost = self.cost
        return try await self.executor.run { inputs.map { Bcrypt.hash($0, cost: cost) } }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        let input = Self.bcryptInput(password)
        return try await self.executor.run { Bcrypt.verify(input, hash: hash) }
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
