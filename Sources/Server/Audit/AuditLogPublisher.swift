// The audit log's running side: one sequencer integrating pending entries in batches (group commit), and signed
// checkpoints when the tree grew, at most every TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL.

import AsyncHTTPClient
import AuditLog
import Foundation
import Logging
import NIOCore
import NIOHTTP1
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
    let witnesses: [AuditWitness]
    /// Mail for high-impact entries (nil for command-line tools).
    let mail: HighImpactMail?
    private let lastSigned = Mutex<ContinuousClock.Instant?>(nil)
    /// The size each witness last cosigned (0 until it says otherwise with a 409).
    private let witnessSizes = Mutex<[URL: UInt64]>([:])
    /// Checkpoints waiting to be sent to the witnesses (the newest only: a witness cosigns the latest).
    let toCosign: AsyncStream<StoredCheckpoint>
    private let toCosignContinuation: AsyncStream<StoredCheckpoint>.Continuation

    init(
        store: AuditLogStore,
        key: AuditSigningKey,
        origin: String,
        checkpointInterval: Duration,
        witnesses: [AuditWitness] = [],
        mail: HighImpactMail? = nil,
        logger: Logger,
        now: @escaping @Sendable () -> Date
    ) {
        self.mail = mail
        self.store = store
        self.key = key
        self.origin = origin
        self.checkpointInterval = checkpointInterval
        self.witnesses = witnesses
        self.logger = logger
        self.now = now
        (self.toCosign, self.toCosignContinuation) = AsyncStream.makeStream(of: StoredCheckpoint.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The log's verifier key line.
    var verifierKey: NoteVerifierKey { NoteVerifierKey(name: self.origin, publicKey: self.key.publicKey) }

    /// Integrate every pending entry, then mail the users concerned by high-impact ones; returns how many.
    @discardableResult
    func sequence() async throws -> Int {
        var total = 0
        while true {
            let batch = try await self.store.integratePending(key: self.key)
            total += batch.count
            if batch.isEmpty { return total }
            if let mail = self.mail { await mail.notify(batch, store: self.store) }
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
        if let signed {
            self.lastSigned.withLock { $0 = .now }
            if !self.witnesses.isEmpty { self.toCosignContinuation.yield(signed) }
        }
        return signed
    }

    /// The latest checkpoint with every cosignature collected for it.
    func published() async throws -> StoredCheckpoint {
        let latest = try await self.latest()
        let lines = try await self.store.cosignatures(size: latest.size)
        return StoredCheckpoint(size: latest.size, root: latest.root, note: latest.note + lines.joined())
    }

    /// Submit a checkpoint to every witness (C2SP tlog-witness add-checkpoint) and keep the cosignatures that verify.
    /// A witness that is unreachable or refuses is logged and skipped; nothing waits on it.
    func cosign(_ checkpoint: StoredCheckpoint, timeout: TimeAmount = .seconds(5)) async {
        let text = Checkpoint(origin: self.origin, size: checkpoint.size, root: checkpoint.root).text
        for witness in self.witnesses {
            var old = self.witnessSizes.withLock { $0[witness.url] } ?? 0
            for _ in 0..<3 {
                do {
                    guard old <= checkpoint.size else {
                        self.logger.error(
                            "audit witness",
                            metadata: ["witness": .string(witness.key.name), "finding": "the witness has seen a larger tree than ours"]
                        )
                        break
                    }
                    let proof = old == 0 ? [] : try await self.store.consistencyProof(from: old, to: checkpoint.size)
                    var request = HTTPClientRequest(url: witness.url.appendingPathComponent("add-checkpoint").absoluteString)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
                    request.body = .bytes(ByteBuffer(string: Witness.request(old: old, proof: proof, note: checkpoint.note)))
                    let response = try await HTTPClient.shared.execute(request, timeout: timeout)
                    let body = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                    if response.status.code == 409, let size = UInt64(body.trimmingCharacters(in: .newlines)) {
                        old = size
                        continue
                    }
                    guard response.status == .ok else {
                        self.logger.warning(
                            "audit witness",
                            metadata: ["witness": .string(witness.key.name), "status": .stringConvertible(response.status.code)]
                        )
                        break
                    }
                    let lines = body.split(separator: "\n")
                    _ = try Cosignature.verify(signatureLines: lines, checkpointText: text, key: witness.key)
                    let line = lines.first {
                        $0.hasPrefix("\u{2014} \(witness.key.name) ")
                            && (try? Cosignature.verify(signatureLines: [$0], checkpointText: text, key: witness.key)) != nil
                    }!
                    try await self.store.addCosignature(size: checkpoint.size, witness: witness.key.name, line: String(line) + "\n")
                    self.witnessSizes.withLock { $0[witness.url] = checkpoint.size }
                    break
                } catch {
                    self.logger.warning(
                        "audit witness",
                        metadata: ["witness": .string(witness.key.name), "error": .string(String(describing: error))]
                    )
                    break
                }
            }
        }
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

    /// The JSON export (`tradekeep-audit-export/2`) of the owner's entries covered by `checkpoint`.
    func exportJSON(owner: UUID, checkpoint: StoredCheckpoint) async throws -> Data {
        let entries = try await self.export(owner: owner, checkpoint: checkpoint).map { row, proof in
            AuditExport.Entry(index: row.index, entry: row.entry, salt: row.salt, signature: row.signature, inclusionProof: proof)
        }
        let export = AuditExport(origin: self.origin, publicKey: self.verifierKey.text, checkpoint: checkpoint.note, entries: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(export)
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
    var gather: Duration = .milliseconds(50)
    var description: String { "AuditLogService" }

    func run() async throws {
        if !Task.isCancelled { _ = try? await self.publisher.latest() }
        await withDiscardingTaskGroup { group in
            group.addTask {
                // The fallback tick: entries committed by another instance on the same PostgreSQL, and checkpoints
                // that fell due while nothing new was written.
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.poll)
                    self.wakeUps.signal()
                }
            }
            group.addTask {
                for await checkpoint in self.publisher.toCosign.cancelOnGracefulShutdown() { await self.publisher.cosign(checkpoint) }
            }
            for await _ in self.wakeUps.wakeUps.cancelOnGracefulShutdown() {
                // Group commit: entries committed in the next few milliseconds join this batch.
                try? await Task.sleep(for: self.gather)
                await self.pass()
            }
            group.cancelAll()
        }
        // Entries committed while we were stopping still get their place in the log — on a graceful shutdown only:
        // once cancelled, the database may be closing under us, and the entries wait for the next start.
        if !Task.isCancelled { await self.pass() }
    }

    func pass() async {
        guard !Task.isCancelled else { return }
        do {
            try await self.publisher.sequence()
            try await self.publisher.checkpointIfDue()
        } catch {
            self.publisher.logger.error("audit log", metadata: ["error": .string(String(describing: error))])
        }
    }
}
