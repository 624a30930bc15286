// The envelope-encryption engine: seals each secret under a fresh data key wrapped by the current KEK
// version, opens records of any version, re-wraps records for rotation, and caches unwrapped data keys.

import Crypto
import Foundation
import Metrics
import NIOConcurrencyHelpers

/// Every KEK version the vault knows (from the database) and which one new secrets use.
public struct KEKVersions: Sendable, Equatable {
    public var current: Int
    public var references: [Int: KEKReference]

    public init(current: Int, references: [Int: KEKReference]) {
        self.current = current
        self.references = references
    }
}

/// Counts for tests and operators; the same events are reported to swift-metrics.
public struct VaultStatistics: Sendable, Equatable {
    public var providerCalls = 0
    public var cacheHits = 0
    public var cacheMisses = 0
}

public final class Envelope: Sendable {
    public static let formatVersion = 1

    private let providers: [String: any KeyEncryptionKeyProvider]
    private let versionSource: @Sendable () async throws -> KEKVersions
    private let versions: NIOLockedValueBox<(value: KEKVersions, loadedAt: ContinuousClock.Instant)>
    private let refreshInterval: Duration
    private let cache: DataKeyCache
    private let counts = NIOLockedValueBox(VaultStatistics())

    /// - Parameters:
    ///   - versionSource: reads the KEK-version table; consulted every `refreshInterval` and whenever a
    ///     record names a version not yet known, so `vault rotate` in another process is seen while serving.
    public init(
        providers: [any KeyEncryptionKeyProvider],
        versions: KEKVersions,
        versionSource: @escaping @Sendable () async throws -> KEKVersions,
        refreshInterval: Duration = .seconds(5),
        cacheLifetime: Duration = .seconds(300),
        cacheCapacity: Int = 10_000
    ) {
        self.providers = Dictionary(providers.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.versionSource = versionSource
        self.versions = NIOLockedValueBox((versions, .now))
        self.refreshInterval = refreshInterval
        self.cache = DataKeyCache(lifetime: cacheLifetime, capacity: cacheCapacity)
    }

    /// A vault with one provider and one version, for tests and single-key tools.
    public convenience init(provider: any KeyEncryptionKeyProvider, key: String) {
        let versions = KEKVersions(current: 1, references: [1: KEKReference(provider: provider.kind, key: key)])
        self.init(providers: [provider], versions: versions, versionSource: { versions })
    }

    public var statistics: VaultStatistics { self.counts.withLockedValue { $0 } }

    public func provider(_ kind: String) -> (any KeyEncryptionKeyProvider)? { self.providers[kind] }

    // MARK: Sealing and opening

    public func seal(_ plaintext: SecretBytes, context: SecretContext) async throws -> SealedSecret {
        let versions = try await self.currentVersions()
        let (reference, provider) = try self.resolve(versions.current, in: versions)
        let (dataKey, wrapped) = try await self.call(provider, "generate_data_key") {
            try await provider.generateDataKey(key: reference.key, context: context)
        }
        let nonce = AES.GCM.Nonce()
        let box = try plaintext.withUnsafeBytes { bytes in
            try AES.GCM.seal(
                bytes,
                using: dataKey.symmetricKey,
                nonce: nonce,
                authenticating: context.associatedData(label: "tradekeep/secret", formatVersion: Self.formatVersion)
            )
        }
        return SealedSecret(
            ciphertext: Array(box.ciphertext) + Array(box.tag),
            nonce: Array(nonce),
            wrappedKey: wrapped,
            kekProvider: reference.provider,
            kekVersion: versions.current,
            formatVersion: Self.formatVersion
        )
    }

    /// Decrypt `sealed` for the duration of `body`; the plaintext buffer is zeroed when it is released.
    public func withSecret<R: Sendable>(_ sealed: SealedSecret, context: SecretContext, _ body: (SecretBytes) throws -> R) async throws -> R {
        guard sealed.formatVersion == Self.formatVersion else { throw VaultError.unsupportedFormat(sealed.formatVersion) }
        let dataKey = try await self.dataKey(for: sealed, context: context)
        return try body(try Self.open(sealed, dataKey: dataKey, context: context))
    }

    /// The same secret with its data key wrapped by KEK version `target` (the ciphertext does not change).
    public func rewrap(_ sealed: SealedSecret, context: SecretContext, to target: Int) async throws -> SealedSecret {
        var versions = try await self.currentVersions()
        if versions.references[target] == nil { versions = try await self.currentVersions(refresh: true) }
        let (reference, provider) = try self.resolve(target, in: versions)
        let dataKey = try await self.dataKey(for: sealed, context: context)
        // Prove the data key opens the ciphertext before trusting it with a new wrapping.
        _ = try Self.open(sealed, dataKey: dataKey, context: context)
        let wrapped = try await self.call(provider, "wrap") { try await provider.wrap(dataKey, key: reference.key, context: context) }
        var copy = sealed
        copy.wrappedKey = wrapped
        copy.kekProvider = reference.provider
        copy.kekVersion = target
        return copy
    }

    /// AES-256-GCM open of a record with its data key, the context as associated data.
    static func open(_ sealed: SealedSecret, dataKey: SecretBytes, context: SecretContext) throws -> SecretBytes {
        do {
            guard sealed.ciphertext.count >= 16 else { throw VaultError.decryptionFailed }
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed.nonce),
                ciphertext: sealed.ciphertext.dropLast(16),
                tag: sealed.ciphertext.suffix(16)
            )
            var plain = try AES.GCM.open(
                box,
                using: dataKey.symmetricKey,
                authenticating: context.associatedData(label: "tradekeep/secret", formatVersion: sealed.formatVersion)
            )
            defer { plain.resetBytes(in: 0..<plain.count) }
            return SecretBytes(copying: plain)
        } catch {
            throw VaultError.decryptionFailed
        }
    }

    // MARK: Versions

    public func currentVersions(refresh: Bool = false) async throws -> KEKVersions {
        let (cached, loadedAt) = self.versions.withLockedValue { $0 }
        // Version 0 means "not loaded yet": the server builds the vault before migrations create the table.
        guard refresh || cached.current == 0 || ContinuousClock.now - loadedAt > self.refreshInterval else { return cached }
        let fresh = try await self.versionSource()
        self.versions.withLockedValue { $0 = (fresh, .now) }
        return fresh
    }

    func resolve(_ version: Int, in versions: KEKVersions) throws -> (KEKReference, any KeyEncryptionKeyProvider) {
        guard let reference = versions.references[version] else { throw VaultError.unknownKEKVersion(version) }
        guard let provider = self.providers[reference.provider] else { throw VaultError.providerUnavailable(reference.provider) }
        return (reference, provider)
    }

    private func dataKey(for sealed: SealedSecret, context: SecretContext) async throws -> SecretBytes {
        let cacheKey = DataKeyCache.Key(version: sealed.kekVersion, wrapped: sealed.wrappedKey, context: context)
        if let cached = self.cache.lookup(cacheKey) {
            self.count(hit: true)
            return cached
        }
        self.count(hit: false)
        var versions = try await self.currentVersions()
        if versions.references[sealed.kekVersion] == nil { versions = try await self.currentVersions(refresh: true) }
        let (reference, provider) = try self.resolve(sealed.kekVersion, in: versions)
        let dataKey = try await self.call(provider, "unwrap") { try await provider.unwrap(sealed.wrappedKey, key: reference.key, context: context) }
        self.cache.store(cacheKey, dataKey)
        return dataKey
    }

    private func call<T>(_ provider: any KeyEncryptionKeyProvider, _ operation: String, _ body: () async throws -> T) async throws -> T {
        self.counts.withLockedValue { $0.providerCalls += 1 }
        Counter(label: "tradekeep_vault_kek_calls_total", dimensions: [("provider", provider.kind), ("operation", operation)]).increment()
        return try await body()
    }

    private func count(hit: Bool) {
        self.counts.withLockedValue { counts in
            if hit {
                counts.cacheHits += 1
            } else {
                counts.cacheMisses += 1
            }
        }
        Counter(label: "tradekeep_vault_data_key_cache_total", dimensions: [("result", hit ? "hit" : "miss")]).increment()
    }
}

/// Unwrapped data keys for a few minutes, so a bot placing orders does not call the KMS for every one.
/// Bounded in size; an evicted key's storage is zeroed when its last reference goes (swift-crypto's
/// `SymmetricKey` zeroes its bytes on release).
final class DataKeyCache: Sendable {
    struct Key: Hashable, Sendable {
        let digest: [UInt8]

        init(version: Int, wrapped: [UInt8], context: SecretContext) {
            var hasher = SHA256()
            hasher.update(data: context.associatedData(label: "tradekeep/cache", formatVersion: version))
            hasher.update(data: wrapped)
            self.digest = Array(hasher.finalize())
        }
    }

    private struct Entry: Sendable {
        let dataKey: SecretBytes
        let expires: ContinuousClock.Instant
    }

    private let lifetime: Duration
    private let capacity: Int
    private let entries = NIOLockedValueBox([Key: Entry]())

    init(lifetime: Duration, capacity: Int) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func lookup(_ key: Key) -> SecretBytes? {
        guard self.lifetime > .zero else { return nil }
        return self.entries.withLockedValue { table in
            guard let entry = table[key] else { return nil }
            guard entry.expires > .now else {
                table[key] = nil
                return nil
            }
            return entry.dataKey
        }
    }

    func store(_ key: Key, _ dataKey: SecretBytes) {
        guard self.lifetime > .zero, self.capacity > 0 else { return }
        self.entries.withLockedValue { table in
            if table.count >= self.capacity {
                let now = ContinuousClock.now
                table = table.filter { $0.value.expires > now }
                // Still full: drop the entries closest to expiry.
                if table.count >= self.capacity {
                    for (key, _) in table.sorted(by: { $0.value.expires < $1.value.expires }).prefix(table.count - self.capacity + 1) {
                        table[key] = nil
                    }
                }
            }
            table[key] = Entry(dataKey: dataKey, expires: .now + self.lifetime)
        }
    }
}
