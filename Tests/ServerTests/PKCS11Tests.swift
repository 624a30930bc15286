// The server with TRADEKEEP_KEK=pkcs11 against SoftHSM2.

import Foundation
import InteropSupport
import Logging
import Storage
import Testing

@testable import Server
@testable import Vault

@Suite(.serialized, .enabled(if: TestEnvironment.needs(SoftHSM.available), "needs SoftHSM2 (apt-get install softhsm2)"))
struct PKCS11Tests {
    static func object() -> String { "tradekeep-kek-\(UUID().uuidString.prefix(8).lowercased())" }

    @Test("Accounts work with the KEK in an HSM token; the key is created there, non-extractable")
    func servesWithHSM() async throws {
        let object = Self.object()
        let app = try AuthDriver.application([Setting.kek.name: try SoftHSM.kekSetting(object: object)])
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            let user = try await driver.signUp()
            _ = try await driver.signIn(user)
            let counts = try await VaultStore(database: inside.database, logger: Logger(label: "t")).counts()
            #expect(counts.map(\.reference) == [KEKReference(provider: "pkcs11", key: object)])
            let provider = try #require(inside.vault.provider("pkcs11") as? PKCS11Provider)
            #expect(try provider.isNonExtractable(object))
        }
    }

    @Test("rotate creates a new key object in the token; migrate moves local records into the HSM; prune destroys the unused key")
    func rotateAndMigrate() async throws {
        let object = Self.object()
        let installation = try VaultRotationTests.Installation()
        defer { installation.directory.remove() }
        let logger = Logger(label: "pkcs11-migrate")
        let seeding = try await installation.open()
        let ids = try await VaultSeed.seed(60, database: seeding.database, vault: seeding.vault, logger: logger)
        await seeding.close()

        let setting = try SoftHSM.kekSetting(object: object)
        let migrating = try await VaultAdministration.open(
            ConfigurationSources(flags: installation.flags, environment: installation.environment),
            logger: logger,
            migrateTo: try KEKConfiguration(setting)
        )
        #expect(try await migrating.migrate(to: try KEKConfiguration(setting), batchSize: 25, settle: .zero) == .rotated(to: 2, records: 60))
        await migrating.close()

        // From now on the HSM is configured; rotation makes a second key object.
        let sources = ConfigurationSources(
            flags: installation.flags.merging([Setting.kek.name: setting]) { $1 },
            environment: installation.environment
        )
        let admin = try await VaultAdministration.open(sources, logger: logger)
        #expect(try await admin.rotate(batchSize: 25, settle: .zero) == .rotated(to: 3, records: 60))
        let counts = try await admin.status().versions
        #expect(counts.map(\.records) == [0, 0, 60])
        let newest = try #require(counts.last?.reference)
        #expect(newest.provider == "pkcs11" && newest.key.hasPrefix(object + "-"))
        #expect(try await VaultSeed.verify(ids, database: admin.database, vault: admin.vault, logger: logger) == 60)
        #expect(try await admin.prune() == [1, 2])
        let provider = try #require(admin.vault.provider("pkcs11") as? PKCS11Provider)
        #expect(try provider.findKey(object) == nil, "the unused key object was destroyed")
        #expect(try provider.findKey(newest.key) != nil)
        #expect(try await VaultSeed.verify(ids, database: admin.database, vault: admin.vault, logger: logger) == 60)
        await admin.close()
    }

    @Test("While a server serves: migrate local → pkcs11, then prune; the server keeps signing users in and seals new secrets in the HSM")
    func migrateAndPruneWhileServing() async throws {
        let object = Self.object()
        let setting = try SoftHSM.kekSetting(object: object)
        let installation = try VaultRotationTests.Installation()
        defer { installation.directory.remove() }
        let logger = Logger(label: "pkcs11-serving")
        // The installation starts on the local keyring …
        let first = try await installation.open()
        await first.close()
        // … and the server is given the target's settings before the migration, as the docs ask.
        var app = try AuthDriver.application(installation.flags.merging([Setting.kek.name: setting]) { $1 }, environment: installation.environment)
        app.prepared.configuration.database = try ServerConfiguration(
            ConfigurationSources(flags: installation.flags, environment: installation.environment)
        ).database
        let clock = app.clock
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: clock)
            let alice = try await driver.signUp()
            let sources = ConfigurationSources(flags: installation.flags, environment: installation.environment)
            let admin = try await VaultAdministration.open(sources, logger: logger, migrateTo: try KEKConfiguration(setting))
            #expect(try await admin.status().versions.map(\.reference?.provider) == ["local"])
            #expect(try await admin.migrate(to: try KEKConfiguration(setting), batchSize: 10, settle: .seconds(6)) == .rotated(to: 2, records: 1))
            #expect(try await admin.prune() == [1])
            _ = try await driver.signIn(alice)
            _ = try await driver.signUp()
            let counts = try await admin.status().versions
            #expect(counts.map(\.version) == [2])
            #expect(counts.first?.reference == KEKReference(provider: "pkcs11", key: object))
            #expect(counts.first?.records == 2)
            await admin.close()
        }
    }
}
