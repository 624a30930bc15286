// `tradekeep vault status|rotate|migrate|prune`: KEK versions and re-wrapping, safe to run while servers serve.

import Foundation
import Logging
import Storage
import Vault

public struct VaultAdministration: Sendable {
    let prepared: PreparedServer
    let database: TradekeepDatabase
    public let vault: Envelope
    let store: VaultStore
    let logger: Logger

    /// Open the configured database and vault (creating nothing but what first start would create).
    /// `migrateTo` adds the provider of a `vault migrate --to` target.
    public static func open(_ sources: ConfigurationSources, logger: Logger, migrateTo: KEKConfiguration? = nil) async throws -> VaultAdministration {
        let prepared = try StartupPolicy.prepareForCommand(sources)
        let configuration = prepared.configuration
        let database = try TradekeepDatabase(location: configuration.database)
        let extra = try migrateTo.flatMap { try makeKEKProvider($0, configuration: configuration) }.map { [$0] } ?? []
        let vault = try makeVault(prepared, database: database, logger: logger, extra: extra)
        do {
            try await prepareDatabase(prepared, database: database, vault: vault, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        return VaultAdministration(
            prepared: prepared,
            database: database,
            vault: vault,
            store: VaultStore(database: database, logger: logger),
            logger: logger
        )
    }

    public func close() async {
        await self.database.shutdown()
    }

    // MARK: Status

    public struct Status: Sendable {
        public let current: Int
        public let versions: [VaultStore.VersionCount]
        public let records: Int
        public let configured: KEKReference

        /// One line per version: `v3  local:3  1200 records  (current)`.
        public var lines: [String] {
            let header = "KEK versions (\(self.records) sealed records; TRADEKEEP_KEK: \(self.configured.provider)):"
            return [header]
                + self.versions.map { entry in
                    let name = entry.reference.map(\.description) ?? "unknown"
                    return "  v\(entry.version)  \(name)  \(entry.records) records\(entry.version == self.current ? "  (current)" : "")"
                }
        }
    }

    public func status() async throws -> Status {
        let versions = try await self.store.versions()
        return Status(
            current: versions.current,
            versions: try await self.store.counts(),
            records: try await self.store.recordCount(),
            configured: configuredKEK(self.prepared)
        )
    }

    // MARK: Rotation and migration

    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let perSecond: Double
        public var remainingSeconds: Double? { self.perSecond > 0 ? Double(self.total - self.done) / self.perSecond : nil }

        public var line: String {
            let percent = self.total > 0 ? Int(Double(self.done) / Double(self.total) * 100) : 100
            let eta = self.remainingSeconds.map { String(format: "%.0fs", $0) } ?? "?"
            return "re-wrapped \(self.done)/\(self.total) (\(percent)%), \(String(format: "%.0f", self.perSecond))/s, ETA \(eta)"
        }
    }

    public enum Outcome: Sendable, Equatable {
        case rotated(to: Int, records: Int)
        case resumed(to: Int, records: Int)
    }

    /// Make a new key of the configured provider the current version, and re-wrap every record under it.
    /// If an earlier rotation stopped part-way (records remain under older versions), finish that one instead.
    public func rotate(
        batchSize: Int = 200,
        settle: Duration = .seconds(6),
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws -> Outcome {
        let versions = try await self.store.versions()
        if try await self.store.pendingCount(notUnder: versions.current) > 0 {
            let moved = try await self.rewrapAll(to: versions.current, batchSize: batchSize, settle: settle, progress: progress)
            return .resumed(to: versions.current, records: moved)
        }
        let configured = configuredKEK(self.prepared)
        guard let provider = self.vault.provider(configured.provider) else { throw VaultError.providerUnavailable(configured.provider) }
        let key = try await provider.createKey()
        let target = try await self.store.addVersion(KEKReference(provider: configured.provider, key: key))
        self.logger.notice(
            "vault rotation started",
            metadata: ["version": .stringConvertible(target), "kek": .string("\(configured.provider):\(key)")]
        )
        let moved = try await self.rewrapAll(to: target, batchSize: batchSize, settle: settle, progress: progress)
        return .rotated(to: target, records: moved)
    }

    /// Re-wrap in batches until no record is left under another version. A server that has not yet seen the
    /// new version may still seal a record under the old one, so the check repeats after `settle`.
    func rewrapAll(to target: Int, batchSize: Int, settle: Duration, progress: @Sendable (Progress) -> Void) async throws -> Int {
        let started = ContinuousClock.now
        var total = try await self.store.pendingCount(notUnder: target)
        var done = 0
        progress(Progress(done: 0, total: total, perSecond: 0))
        while true {
            let moved = try await self.store.rewrapBatch(to: target, limit: batchSize, envelope: self.vault)
            done += moved
            total = max(total, done)
            let elapsed =
                Double((ContinuousClock.now - started).components.seconds) + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            if moved > 0 { progress(Progress(done: done, total: total, perSecond: elapsed > 0 ? Double(done) / elapsed : 0)) }
            if moved == 0 {
                guard settle > .zero else { return done }
                try await Task.sleep(for: settle)
                let late = try await self.store.pendingCount(notUnder: target)
                if late == 0 { return done }
                total += late
            }
        }
    }

    /// Move every record to another provider (`local` → `aws-kms` is the usual upgrade): the target becomes the
    /// current version and every data key is re-wrapped under it. Servers need the target's settings too (set
    /// TRADEKEEP_KEK to it before migrating); they keep reading old records meanwhile.
    public func migrate(
        to target: KEKConfiguration,
        batchSize: Int = 200,
        settle: Duration = .seconds(6),
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws -> Outcome {
        let reference = kekReference(
            target,
            keyring: (self.vault.provider("local") as? LocalKEKProvider)?.currentKeyring ?? self.prepared.secrets.keyring
        )
        guard let provider = self.vault.provider(reference.provider) else { throw VaultError.providerUnavailable(reference.provider) }
        if let kms = provider as? AWSKMSProvider { try await kms.checkKey(reference.key) }
        let versions = try await self.store.versions()
        if versions.references[versions.current] == reference {
            let moved = try await self.rewrapAll(to: versions.current, batchSize: batchSize, settle: settle, progress: progress)
            return .resumed(to: versions.current, records: moved)
        }
        let target = try await self.store.addVersion(reference)
        self.logger.notice("vault migration started", metadata: ["version": .stringConvertible(target), "kek": .string(reference.description)])
        let moved = try await self.rewrapAll(to: target, batchSize: batchSize, settle: settle, progress: progress)
        return .rotated(to: target, records: moved)
    }

    // MARK: Prune

    /// Remove versions no record uses (never the current one), retire their keys (local: from the keyring; pkcs11:
    /// destroyed in the token; aws-kms: left to the operator), and drop local keyring keys no version names.
    public func prune() async throws -> [Int] {
        let versions = try await self.store.versions()
        var removed: [Int] = []
        var retired: [KEKReference] = []
        for entry in try await self.store.counts() where entry.records == 0 && entry.version != versions.current {
            try await self.store.removeVersion(entry.version)
            removed.append(entry.version)
            if let reference = entry.reference { retired.append(reference) }
        }
        let remaining = try await self.store.versions()
        for reference in Set(retired) where !remaining.references.values.contains(reference) {
            try await self.vault.provider(reference.provider)?.retireKey(reference.key)
        }
        if let local = self.vault.provider("local") as? LocalKEKProvider {
            let named = Set(remaining.references.values.filter { $0.provider == "local" }.map(\.key))
            for entry in local.currentKeyring.entries where !named.contains(String(entry.version)) {
                try await local.retireKey(String(entry.version))
            }
        }
        _ = try await self.vault.currentVersions(refresh: true)
        return removed
    }
}
