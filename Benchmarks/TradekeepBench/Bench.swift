// Release-mode micro-benchmarks: scripts/bench-vault runs the vault ones beside Python's cryptography Fernet,
// scripts/bench-venues (`tradekeep-bench venues [N]`) the order signing beside ccxt; scripts/bench-bots runs
// `tradekeep-bench engine N ticks sqlite|memory|postgres://…` (the real engine) beside `tradekeep-bench bots N ticks`
// (the strategy and the paper venue alone, as measured before the engine existed).
// Prints one JSON object per line: {"operation", "payload", "ops_per_second"}.

import Foundation
import Vault

func measure(_ name: String, payload: Int, seconds: Double = 1.5, _ body: @Sendable () async throws -> Void) async rethrows {
    for _ in 0..<200 { try await body() }  // warm up
    var count = 0
    let start = ContinuousClock.now
    let limit = Duration.milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now - start < limit {
        for _ in 0..<100 { try await body() }
        count += 100
    }
    let elapsed = ContinuousClock.now - start
    let perSecond = Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    print(#"{"implementation":"tradekeep","operation":"\#(name)","payload":\#(payload),"ops_per_second":\#(Int(perSecond))}"#)
}

@main
enum TradekeepBench {
    static func main() async throws {
        if CommandLine.arguments.dropFirst().first == "engine" {
            let arguments = Array(CommandLine.arguments.dropFirst(2))
            try await engineBench(
                bots: arguments.first.flatMap(Int.init) ?? 1_000,
                ticks: arguments.dropFirst().first.flatMap(Int.init) ?? 20,
                database: arguments.dropFirst(2).first ?? "sqlite"
            )
            return
        }
        if CommandLine.arguments.dropFirst().first == "audit" {
            let arguments = Array(CommandLine.arguments.dropFirst(2))
            try await auditBench(
                entries: arguments.first.flatMap(Int.init) ?? 20_000,
                database: arguments.dropFirst().first ?? "sqlite",
                proofLeaves: arguments.dropFirst(2).first.flatMap(Int.init) ?? 1_000_000
            )
            return
        }
        if CommandLine.arguments.dropFirst().first == "anomaly" {
            let arguments = Array(CommandLine.arguments.dropFirst(2))
            try await anomalyBench(
                entries: arguments.first.flatMap(Int.init) ?? 1_000_000,
                users: arguments.dropFirst().first.flatMap(Int.init) ?? 10_000,
                database: arguments.dropFirst(2).first ?? "sqlite"
            )
            return
        }
        if CommandLine.arguments.dropFirst().first == "bots" {
            let count = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 1_000
            try await botsBench(bots: count, ticks: CommandLine.arguments.dropFirst(3).first.flatMap(Int.init) ?? 20)
            return
        }
        if CommandLine.arguments.dropFirst().first == "venues" {
            let iterations = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 20_000
            try await venueSigningBench(iterations: iterations)
            return
        }
        let context = SecretContext(purpose: "api_secret", ownerID: UUID().uuidString, recordID: UUID().uuidString)
        for size in [64, 1024] {
            let plaintext = SecretBytes.random(count: size)
            let bytes = plaintext.withUnsafeBytes(Array.init)

            let cached = Envelope(
                providers: [LocalKEKProvider(keyring: .generate())],
                versions: KEKVersions(current: 1, references: [1: KEKReference(provider: "local", key: "1")]),
                versionSource: { KEKVersions(current: 1, references: [1: KEKReference(provider: "local", key: "1")]) },
                refreshInterval: .seconds(3600)
            )
            let uncached = Envelope(
                providers: [LocalKEKProvider(keyring: .generate())],
                versions: KEKVersions(current: 1, references: [1: KEKReference(provider: "local", key: "1")]),
                versionSource: { KEKVersions(current: 1, references: [1: KEKReference(provider: "local", key: "1")]) },
                refreshInterval: .seconds(3600),
                cacheLifetime: .zero
            )
            try await measure("envelope_encrypt", payload: size) { _ = try await cached.seal(plaintext, context: context) }
            let sealedCached = try await cached.seal(plaintext, context: context)
            let sealedUncached = try await uncached.seal(plaintext, context: context)
            try await measure("envelope_decrypt_cached_data_key", payload: size) {
                _ = try await cached.withSecret(sealedCached, context: context) { $0.count }
            }
            try await measure("envelope_decrypt_unwrap_each_time", payload: size) {
                _ = try await uncached.withSecret(sealedUncached, context: context) { $0.count }
            }

            let fernet = Fernet(key: .generate())
            try await measure("fernet_encrypt", payload: size) { _ = try fernet.encrypt(bytes) }
            let token = try fernet.encrypt(bytes)
            try await measure("fernet_decrypt", payload: size) { _ = try fernet.decrypt(token) }
        }
    }
}
