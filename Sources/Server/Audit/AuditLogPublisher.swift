// The audit log's running side: one sequencer integrating pending entries in batches (group commit), and signed
// checkpoints when the tree grew, at most every TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL.

import AuditLog
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

final class AuditLogPublisher: Sendable {
    let store: AuditLogStore
    let key: AuditSigningKey
    let origin: String
    let checkpointInterval: Duration
    let logger: Logger
    let now: @Sendable () -> Date
    private let lastSigned = Mutex<ContinuousClock.Instant?>(nil)

    init(
        store: AuditLogStore,
        key: AuditSigningKey,
        origin: String,
        checkpointInterval: Duration,
        logger: Logger,
        now: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.key = key
        self.origin = origin
        self.checkpointInterval = checkpointInterval
        self.logger = logger
        self.now = now
    }

    /// The log's verifier key line.
    var verifierKey: NoteVerifierKey { NoteVerifierKey(name: self.origin, publicKey: self.key.publicKey) }

    /// Integrate every pending entry; returns how many.
    @discardableResult
    func sequence() async throws -> Int {
        var total = 0
        while true {
            let count = try await self.store.integratePending(key: self.key)
            total += count
            if count == 0 { return total }
        }
    }

    /// Sign a checkpoint if the tree grew and the interval has passed since the last one (or `force`).
    @discardableResult
    func checkpointIfDue(force: Bool = false) async throws -> StoredCheckpoint? {
        let due = self.lastSigned.withLock { last in
            force || last.map { ContinuousClock.now - $0 >= self.checkpointInterval } ?? true
        }
        guard due else { return nil }
        let signed = try await self.store.signCheckpoint(origin: self.origin, key: self.key, now: self.now())
        if signed != nil { self.lastSigned.withLock { $0 = .now } }
        return signed
    }

    /// The latest checkpoint; signs the first one (the empty tree) if none exists yet.
    func latest() async throws -> StoredCheckpoint {
        if let latest = try await self.store.latestCheckpoint() { return latest }
        _ = try await self.checkpointIfDue(force: true)
        guard let latest = try await self.store.latestCheckpoint() else { throw AuditLogError.inconsistent("no checkpoint could be signed") }
        return latest
    }
}

// What the routes read: the service layer owns the store, so handlers never reach it (IsolationTests).
extension AuditLogPublisher {
    func size() async throws -> UInt64 { try await self.store.size() }

    func tile(_ id: TileID) async throws -> Data? { try await self.store.tile(id, size: try await self.store.size()) }

    func page(owner: UUID, before: UInt64?, limit: Int, action: String?) async throws -> [IntegratedEntry] {
        try await self.store.page(userID: owner, before: before, limit: limit, action: action)
    }

    /// The owner's entries covered by `checkpoint`, each with its inclusion proof against it.
    func export(owner: UUID, checkpoint: StoredCheckpoint) async throws -> [(stored: IntegratedEntry, proof: [MerkleHash])] {
        var result: [(stored: IntegratedEntry, proof: [MerkleHash])] = []
        for row in try await self.store.entries(userID: owner, below: checkpoint.size) {
            result.append((row, try await self.store.inclusionProof(index: row.index, size: checkpoint.size)))
        }
        return result
    }

    func consistencyProof(from: UInt64, to: UInt64) async throws -> [MerkleHash] { try await self.store.consistencyProof(from: from, to: to) }

    /// Nil unless the entry at `index` is the owner's: another user's index is answered as if it did not exist.
    func inclusionProof(index: UInt64, size: UInt64, owner: UUID) async throws -> [MerkleHash]? {
        guard try await self.store.owner(ofIndex: index) == owner else { return nil }
        return try await self.store.inclusionProof(index: index, size: size)
    }
}

/// Runs the sequencer when a transaction committed audit entries (and every `poll`, for entries other instances
/// wrote), and the checkpoint signer; a last pass on shutdown.
struct AuditLogService: Service, CustomStringConvertible {
    let publisher: AuditLogPublisher
    let wakeUps: AuditCommitSignal
    let poll: Duration
    var description: String { "AuditLogService" }

    func run() async throws {
        _ = try? await self.publisher.latest()
        await withDiscardingTaskGroup { group in
            group.addTask {
                // The fallback tick: entries committed by another instance on the same PostgreSQL, and checkpoints
                // that fell due while nothing new was written.
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.poll)
                    self.wakeUps.signal()
                }
            }
            for await _ in self.wakeUps.wakeUps.cancelOnGracefulShutdown() {
                await self.pass()
            }
            group.cancelAll()
        }
        // Entries committed while we were stopping still get their place in the log.
        await self.pass()
    }

    func pass() async {
        do {
            try await self.publisher.sequence()
            try await self.publisher.checkpointIfDue()
        } catch {
            self.publisher.logger.error("audit log", metadata: ["error": .string(String(describing: error))])
        }
    }
}
