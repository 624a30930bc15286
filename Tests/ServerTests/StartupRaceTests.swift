// Instances of one deployment starting together on a new database: each binds the database to the keyring and writes
// the first KEK version. Both are check-then-write, so every instance finds nothing and writes; none may fail for it
// (a CI run lost a server this way), and the database ends with one binding and one version 1.

import Foundation
import Logging
import SQLKit
import Storage
import Testing
import Vault

@testable import Server

@Suite struct StartupRaceTests {
    static let logger = Logger(label: "startup-race")

    /// What every starting instance does after its migrations.
    static func start(_ database: TradekeepDatabase, keyring: String) async throws -> KEKVersions {
        try await database.bind(toKeyring: keyring, logger: Self.logger)
        return try await VaultStore(database: database, logger: Self.logger).ensureInitialVersion(KEKReference(provider: "local", key: "1"))
    }

    /// Eight starts at once over `instances` (two or more handles on one database); every one must succeed.
    static func raceStarts(_ instances: [TradekeepDatabase], keyring: String) async throws {
        let versions = try await withThrowingTaskGroup(of: KEKVersions.self) { group in
            for index in 0..<8 { group.addTask { try await Self.start(instances[index % instances.count], keyring: keyring) } }
            return try await group.reduce(into: [KEKVersions]()) { $0.append($1) }
        }
        for seen in versions { #expect(seen.current == 1 && seen.references == [1: KEKReference(provider: "local", key: "1")]) }
        let sql = try instances[0].sql(logger: Self.logger)
        let bindings = try await sql.raw("SELECT keyring_id FROM tradekeep_instance").all()
        #expect(try bindings.map { try $0.decode(column: "keyring_id", as: String.self) } == [keyring])
        let written = try await sql.raw("SELECT version FROM kek_versions").all()
        #expect(try written.map { try $0.decode(column: "version", as: Int.self) } == [1])
        // The binding still refuses another deployment's keyring.
        await #expect(throws: StorageError.self) { try await instances[1].bind(toKeyring: "another-keyring", logger: Self.logger) }
    }

    /// Two deployments (two keyrings) starting together on one new database: exactly one binds it, the other is
    /// refused, and the one record names the winner.
    static func raceKeyrings(_ instances: [TradekeepDatabase]) async throws {
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
            for (index, instance) in instances.enumerated() {
                group.addTask {
                    let keyring = "deployment-\(index)"
                    do {
                        try await instance.bind(toKeyring: keyring, logger: Self.logger)
                        return (keyring, true)
                    } catch {
                        return (keyring, false)
                    }
                }
            }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        let winners = outcomes.filter(\.value).map(\.key)
        #expect(winners.count == 1, "\(outcomes)")
        let bindings = try await instances[0].sql(logger: Self.logger).raw("SELECT keyring_id FROM tradekeep_instance").all()
        #expect(try bindings.map { try $0.decode(column: "keyring_id", as: String.self) } == winners)
    }

    /// Five rounds, each on a new, migrated database file with two handles on it.
    static func onNewSQLiteFiles(_ body: (_ instances: [TradekeepDatabase], _ round: Int) async throws -> Void) async throws {
        for round in 0..<5 {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let path = directory.appending("tradekeep-\(round).sqlite").path
            let instances = try (0..<2).map { _ in try TradekeepDatabase(location: .sqliteFile(path: path)) }
            do {
                try await instances[0].migrate(logger: Self.logger)
                try await body(instances, round)
            } catch {
                for instance in instances { await instance.shutdown() }
                throw error
            }
            for instance in instances { await instance.shutdown() }
        }
    }

    @Test("SQLite: two deployments' keyrings race to bind one new database file: one binds it, the other is refused")
    func sqliteKeyrings() async throws {
        try await Self.onNewSQLiteFiles { instances, _ in try await Self.raceKeyrings(instances) }
    }

    @Test("SQLite: two handles on one new database file start together eight times over: one binding, one version 1, no failure")
    func sqliteFile() async throws {
        try await Self.onNewSQLiteFiles { instances, round in try await Self.raceStarts(instances, keyring: "keyring-\(round)") }
    }

    @Test(
        "PostgreSQL: two instances migrate and start together on a new schema: one binding, one version 1, no failure; two keyrings: one binds, the other is refused",
        .enabled(
            if: TestEnvironment.needs(AuditConcurrencyTests.postgres != nil),
            "needs PostgreSQL (TRADEKEEP_TEST_DATABASE_URL; scripts/dev-postgres)"
        )
    )
    func postgres() async throws {
        let base = try #require(AuditConcurrencyTests.postgres, "TRADEKEEP_REQUIRE_ALL=1 but no PostgreSQL URL is set")
        for round in 0..<6 {
            let schema = "t_start_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(14))"
            let url = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
            let instances = try (0..<2).map { _ in try TradekeepDatabase(location: DatabaseLocation(url: url)) }
            do {
                // Migrations race too: they run once, under the database's lock.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for instance in instances { group.addTask { try await instance.migrate(logger: Self.logger) } }
                    try await group.waitForAll()
                }
                // Even rounds: one deployment's instances; odd rounds: two deployments' keyrings.
                if round.isMultiple(of: 2) {
                    try await Self.raceStarts(instances, keyring: "keyring-\(round)")
                } else {
                    try await Self.raceKeyrings(instances)
                }
            } catch {
                for instance in instances { await instance.shutdown() }
                await AuditConcurrencyTests.drop(schema, base: base)
                throw error
            }
            for instance in instances { await instance.shutdown() }
            await AuditConcurrencyTests.drop(schema, base: base)
        }
    }
}
