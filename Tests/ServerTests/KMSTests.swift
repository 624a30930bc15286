// The server with TRADEKEEP_KEK=aws-kms against a KMS-compatible endpoint (moto_server in CI).

import Foundation
import HummingbirdTesting
import Logging
import SQLKit
import Storage
import Testing

@testable import Server
@testable import Vault

@Suite(.serialized, .enabled(if: TestEnvironment.needs(TestEnvironment.kmsEndpoint != nil), "needs TRADEKEEP_TEST_KMS_ENDPOINT (scripts/dev-kms)"))
struct KMSTests {
    static let endpoint = TestEnvironment.kmsEndpoint
    static let credentials = ["AWS_ACCESS_KEY_ID": "AKIDTRADEKEEPTEST", "AWS_SECRET_ACCESS_KEY": "test-secret-key-for-moto"]

    static func provider() throws -> AWSKMSProvider {
        let endpoint = try #require(Self.endpoint.flatMap(URL.init(string:)), "TRADEKEEP_TEST_KMS_ENDPOINT is not set")
        return AWSKMSProvider(
            region: "us-east-1",
            endpoint: endpoint,
            credentials: AWSCredentials(accessKeyID: credentials["AWS_ACCESS_KEY_ID"]!, secretAccessKey: credentials["AWS_SECRET_ACCESS_KEY"]!)
        )
    }

    static func kekSetting(_ key: String) throws -> String {
        "aws-kms:\(key)?region=us-east-1&endpoint=\(try #require(Self.endpoint))"
    }

    /// An application whose KEK is the KMS key `key`.
    static func application(key: String) throws -> TestApplication {
        try AuthDriver.application([Setting.kek.name: try Self.kekSetting(key)], environment: Self.credentials)
    }

    @Test("Accounts work with the KEK in KMS: TOTP secrets are sealed under aws-kms, with one GenerateDataKey each")
    func servesWithKMS() async throws {
        let key = try await Self.provider().createKey()
        let app = try Self.application(key: key)
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            let user = try await driver.signUp()
            _ = try await driver.signIn(user)
            let status = try await VaultStore(database: inside.database, logger: Logger(label: "t")).counts()
            #expect(status.count == 1)
            #expect(status.first?.reference == KEKReference(provider: "aws-kms", key: key))
            #expect(status.first?.records == 1)
            #expect(inside.vault.statistics.providerCalls >= 2)
        }
    }

    @Test("A KMS key that does not exist stops start-up with a clear error, before anything is stored")
    func missingKeyAtStart() async throws {
        let app = try Self.application(key: "alias/tradekeep-missing-\(UUID().uuidString.prefix(8))")
        await #expect {
            try await app.test { _ in }
        } throws: { error in
            "\(error)".contains("does not exist")
        }
    }

    @Test("A KMS key that disappears while serving: registration fails and stores nothing (no user without a sealed secret)")
    func vanishedKeyStoresNothing() async throws {
        let key = try await Self.provider().createKey()
        let app = try Self.application(key: key)
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            // The current version now names a key KMS does not have (as if it were deleted).
            let sql = try inside.database.database(logger: Logger(label: "t")) as! any SQLDatabase
            try await sql.update("kek_versions").set("key_ref", to: "alias/tradekeep-deleted").run()
            _ = try await inside.vault.currentVersions(refresh: true)
            let response = try await driver.register(email: "kms-gone@example.com", ip: "10.11.0.1")
            #expect(response.status == .internalServerError)
            #expect(try await inside.auth.store.user(email: "kms-gone@example.com") == nil)
            #expect(try await VaultStore(database: inside.database, logger: Logger(label: "t")).recordCount() == 0)
        }
    }

    @Test("vault migrate --to aws-kms moves every local record to KMS; all still decrypt")
    func migrateLocalToKMS() async throws {
        let key = try await Self.provider().createKey()
        let installation = try VaultRotationTests.Installation()
        defer { installation.directory.remove() }
        let logger = Logger(label: "kms-migrate")
        let seeding = try await installation.open()
        let ids = try await VaultSeed.seed(120, database: seeding.database, vault: seeding.vault, logger: logger)
        await seeding.close()

        let sources = ConfigurationSources(flags: installation.flags, environment: installation.environment.merging(Self.credentials) { $1 })
        let target = try KEKConfiguration(try Self.kekSetting(key))
        let admin = try await VaultAdministration.open(sources, logger: logger, migrateTo: target)
        let outcome = try await admin.migrate(to: target, batchSize: 50, settle: .zero)
        #expect(outcome == .rotated(to: 2, records: 120))
        let counts = try await admin.status().versions
        #expect(counts.map(\.records) == [0, 120])
        #expect(counts.last?.reference == KEKReference(provider: "aws-kms", key: key))
        #expect(try await VaultSeed.verify(ids, database: admin.database, vault: admin.vault, logger: logger) == 120)
        await admin.close()
    }
}
