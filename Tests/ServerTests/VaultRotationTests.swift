// Rotation, status and prune; the SIGKILL crash test of SPEC §3.

import Foundation
import Logging
import Storage
import Testing
import Vault

@testable import Server

@Suite(.serialized) struct VaultRotationTests {
    static let logger = Logger(label: "vault-test")

    /// A data folder and database (SQLite file, or a fresh PostgreSQL schema) as the CLI would see them.
    struct Installation {
        let directory: TemporaryDirectory
        let flags: [String: String]
        let environment: [String: String]

        init() throws {
            self.directory = try TemporaryDirectory()
            var flags = [Setting.dataDirectory.name: self.directory.appending("data").path]
            var environment: [String: String] = [:]
            if let base = TestEnvironment.postgresURL {
                let url = base + (base.contains("?") ? "&" : "?") + "schema=v_\(UUID().uuidString.prefix(8).lowercased())"
                environment[Setting.databaseURL.name] = url
            } else {
                flags[Setting.databaseURL.name] = "sqlite:\(self.directory.appending("data/tradekeep.sqlite").path)"
            }
            self.flags = flags
            self.environment = environment
        }

        func open() async throws -> VaultAdministration {
            try await VaultAdministration.open(
                ConfigurationSources(flags: self.flags, environment: self.environment),
                logger: VaultRotationTests.logger
            )
        }

        var commandArguments: [String] { ["--data-dir", self.flags[Setting.dataDirectory.name]!] }
        var commandEnvironment: [String: String] {
            var env = self.environment
            if let url = self.flags[Setting.databaseURL.name] { env[Setting.databaseURL.name] = url }
            return env
        }
    }

    @Test("rotate makes a new version current, re-wraps every record (ciphertexts unchanged), prune removes the old key")
    func rotateAndPrune() async throws {
        let installation = try Installation()
        defer { installation.directory.remove() }
        // Every path closes what it opened: a PostgreSQL pool dropped without shutting down traps the whole test
        // process (a failure here once took the PostgreSQL suite down with it).
        let admin = try await installation.open()
        let ids: [UUID: Int]
        do {
            ids = try await Self.rotateAndPruneSteps(admin)
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()

        // A fresh process sees only keyring key 2, and every record still opens.
        let reopened = try await installation.open()
        do {
            #expect((reopened.vault.provider("local") as? LocalKEKProvider)?.currentKeyring.entries.map(\.version) == [2])
            #expect(try await VaultSeed.verify(ids, database: reopened.database, vault: reopened.vault, logger: Self.logger) == 300)
        } catch {
            await reopened.close()
            throw error
        }
        await reopened.close()
    }

    static func rotateAndPruneSteps(_ admin: VaultAdministration) async throws -> [UUID: Int] {
        let ids = try await VaultSeed.seed(300, database: admin.database, vault: admin.vault, logger: Self.logger)
        let before = try await admin.status()
        #expect(before.current == 1 && before.versions.map(\.records) == [300])

        let progress = LogCapture()
        let outcome = try await admin.rotate(batchSize: 64, settle: .zero) { progress.logger().info("\($0.line)") }
        #expect(outcome == .rotated(to: 2, records: 300))
        #expect(progress.lines.last?.contains("re-wrapped 300/300 (100%)") == true)
        let after = try await admin.status()
        #expect(after.versions.map(\.records) == [0, 300])
        #expect(after.versions.last?.reference == KEKReference(provider: "local", key: "2"))
        #expect(try await VaultSeed.verify(ids, database: admin.database, vault: admin.vault, logger: Self.logger) == 300)

        #expect(try await admin.prune() == [1])
        #expect(try await admin.status().versions.map(\.version) == [2])
        return ids
    }

    @Test("A server keeps serving through a rotation run by another process, and seals new secrets under the new version")
    func rotationWhileServing() async throws {
        let installation = try Installation()
        defer { installation.directory.remove() }
        var app = try AuthDriver.application(installation.flags)
        app.prepared.configuration.database = try ServerConfiguration(
            ConfigurationSources(flags: installation.flags, environment: installation.environment)
        ).database
        let clock = app.clock
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: clock)
            let alice = try await driver.signUp()
            let admin = try await installation.open()
            let outcome = try await admin.rotate(batchSize: 10, settle: .seconds(6))
            #expect(outcome == .rotated(to: 2, records: 1))
            // Alice's TOTP secret is now under version 2, which this server learns from the table.
            _ = try await driver.signIn(alice)
            // A secret sealed now (a new registration) lands under the current version.
            _ = try await driver.signUp()
            let counts = try await admin.status().versions
            #expect(counts.first { $0.version == 2 }?.records == 2)
            #expect(counts.first { $0.version == 1 }?.records == 0)
            await admin.close()
        }
    }
}

@Suite(.serialized) struct VaultCrashTests {
    @Test(
        "5,000 records: `vault rotate` killed with SIGKILL at 20 random points; resuming completes and every record decrypts",
        .enabled(if: TestEnvironment.needs(ProcessTests.binaryAvailable), "needs the built tradekeep executable")
    )
    func killRotationAnywhere() async throws {
        let installation = try VaultRotationTests.Installation()
        defer { installation.directory.remove() }
        let logger = VaultRotationTests.logger
        let seeding = try await installation.open()
        let ids = try await VaultSeed.seed(5000, database: seeding.database, vault: seeding.vault, logger: logger)
        await seeding.close()

        let rotate = ["vault", "rotate", "--settle", "0", "--batch-size", "100"] + installation.commandArguments
        // One uninterrupted rotation tells how long a run takes, so kill points fall inside one.
        let started = ContinuousClock.now
        let first = try ProcessTests.RunningProcess(rotate, environment: installation.commandEnvironment)
        #expect(try await first.waitForExit(timeout: .seconds(300)) == 0, "\(first.stderr)")
        let runTime = ContinuousClock.now - started

        let seed = UInt64(Date().timeIntervalSince1970 * 1000)
        var generator = SeededGenerator(state: seed)
        var resumed = 0
        for round in 1...20 {
            let victim = try ProcessTests.RunningProcess(rotate, environment: installation.commandEnvironment)
            let delay = Duration.milliseconds(Int64.random(in: 0...max(1, Int64(runTime / .milliseconds(1))), using: &generator))
            try await Task.sleep(for: delay)
            kill(victim.process.processIdentifier, SIGKILL)
            _ = try await victim.waitForExit()

            let resume = try ProcessTests.RunningProcess(rotate, environment: installation.commandEnvironment)
            #expect(try await resume.waitForExit(timeout: .seconds(300)) == 0, "round \(round), seed \(seed): \(resume.stderr)")
            if resume.stderr.contains("resumed") || resume.stderr.contains("resumed:") { resumed += 1 }

            let check = try await installation.open()
            let versions = try await check.store.versions()
            #expect(try await check.store.pendingCount(notUnder: versions.current) == 0, "round \(round), seed \(seed)")
            let matched = try await VaultSeed.verify(ids, database: check.database, vault: check.vault, logger: logger)
            #expect(matched == 5000, "round \(round), seed \(seed), killed after \(delay): \(matched) of 5000 records decrypt")
            await check.close()
        }
        // How many kills landed mid-rotation depends on timing (under load a victim may die before it starts
        // rewrapping): reported, not asserted. The invariants above hold for every round either way.
        print("vault rotate: \(resumed) of 20 kills landed mid-rotation and were resumed (run time \(runTime)); seed \(seed)")
    }
}
