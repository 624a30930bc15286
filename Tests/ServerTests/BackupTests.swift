// Encrypted backups: round trip while serving, refusal of damaged ones, and Python's Fernet as a reader.

import Foundation
import InteropSupport
import Logging
import Storage
import Testing
import Vault

@testable import Server

@Suite(.serialized) struct BackupTests {
    static let logger = Logger(label: "backup-test")

    /// An installation with seeded secrets, and a backup of it taken while a server was running on it.
    struct Source {
        let installation: VaultRotationTests.Installation
        let ids: [UUID: Int]
        let backup: URL
        let keyFile: URL
        let user: TestUser

        static func make(records: Int = 400) async throws -> Source {
            let installation = try VaultRotationTests.Installation()
            let seeding = try await installation.open()
            let ids = try await VaultSeed.seed(records, database: seeding.database, vault: seeding.vault, logger: BackupTests.logger)
            await seeding.close()
            var app = try AuthDriver.application(installation.flags)
            app.prepared.configuration.database = try ServerConfiguration(
                ConfigurationSources(flags: installation.flags, environment: installation.environment)
            ).database
            let backup = installation.directory.appending("tradekeep.backup")
            let sources = ConfigurationSources(flags: installation.flags, environment: installation.environment)
            let clock = app.clock
            let user = try await app.test { client in
                let user = try await AuthDriver(client: client, clock: clock).signUp()
                _ = try await Backups.create(sources: sources, out: backup, logger: BackupTests.logger)
                return user
            }
            return Source(
                installation: installation,
                ids: ids,
                backup: backup,
                keyFile: installation.directory.appending("data/backup.key"),
                user: user
            )
        }
    }

    /// A fresh target: an absent data folder and (on PostgreSQL) an empty schema.
    static func target() throws -> VaultRotationTests.Installation { try VaultRotationTests.Installation() }

    static func sources(_ installation: VaultRotationTests.Installation) -> ConfigurationSources {
        ConfigurationSources(flags: installation.flags, environment: installation.environment)
    }

    @Test("Backup taken while serving → restore into an empty folder: every secret decrypts and the user signs in")
    func roundTrip() async throws {
        let source = try await Source.make()
        defer { source.installation.directory.remove() }
        let lines = try String(contentsOf: source.backup, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3)
        #expect(SecureFile.mode(of: source.backup) == 0o600)

        let target = try Self.target()
        defer { target.directory.remove() }
        let summary = try await Backups.restore(file: source.backup, sources: Self.sources(target), keyFile: source.keyFile, logger: Self.logger)
        #expect(Set(summary.files).isSuperset(of: ["jwt.key", "audit-signing.key", "kek-keyring.json"]))
        for name in ["jwt.key", "audit-signing.key", "kek-keyring.json", "backup.key"] {
            let restored = target.directory.appending("data/\(name)")
            #expect(try SecureFile.read(restored) == SecureFile.read(source.installation.directory.appending("data/\(name)")), "\(name)")
            #expect(SecureFile.mode(of: restored) == 0o600)
        }
        let opened = try await target.open()
        #expect(try await VaultSeed.verify(source.ids, database: opened.database, vault: opened.vault, logger: Self.logger) == source.ids.count)
        await opened.close()

        var app = try AuthDriver.application(target.flags)
        app.prepared = try StartupPolicy.prepare(
            ConfigurationSources.load(
                flags: target.flags.merging([Setting.behindTLSProxy.name: "true"]) { $1 },
                environment: target.environment
            )
        )
        app.prepared.configuration.bcryptCost = 4
        // The source's test clock ran ahead by the TOTP steps it used; the last used step came along in the
        // restored database, so this clock must be past it (replay protection).
        app.clock.advance(by: 600)
        let clock = app.clock
        let user = source.user
        try await app.test { client in
            _ = try await AuthDriver(client: client, clock: clock).signIn(user)
        }
    }

    @Test(
        "Damaged backups are refused with a clear reason and nothing is written",
        arguments: [
            "wrong key", "truncated (no trailer)", "truncated (chunk and trailer gone)", "reordered", "line from another backup",
            "trailing line", "a flipped character", "empty file",
        ]
    )
    func damaged(damage: String) async throws {
        let source = try await Source.make(records: 400)
        defer { source.installation.directory.remove() }
        var lines = try String(contentsOf: source.backup, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count >= 4, "the payload must span at least two chunks")
        var keyFile = source.keyFile
        switch damage {
        case "wrong key":
            keyFile = source.installation.directory.appending("other.key")
            try SecureFile.write(Array(FernetKey.generate().base64URL.utf8), to: keyFile)
        case "truncated (no trailer)": lines.removeLast()
        case "truncated (chunk and trailer gone)": lines.removeLast(2)
        case "reordered": lines.swapAt(1, 2)
        case "line from another backup":
            let other = source.installation.directory.appending("other.backup")
            _ = try await Backups.create(sources: Self.sources(source.installation), out: other, logger: Self.logger)
            lines[1] = try String(contentsOf: other, encoding: .utf8).split(separator: "\n").map(String.init)[1]
        case "trailing line": lines.append(lines[lines.count - 1])
        case "a flipped character":
            var characters = Array(lines[2])
            characters[40] = characters[40] == "A" ? "B" : "A"
            lines[2] = String(characters)
        default: lines = []
        }
        let damagedFile = source.installation.directory.appending("damaged.backup")
        try SecureFile.write(Array(lines.joined(separator: "\n").utf8), to: damagedFile)
        let target = try Self.target()
        defer { target.directory.remove() }
        await #expect(throws: (any Error).self) {
            try await Backups.restore(file: damagedFile, sources: Self.sources(target), keyFile: keyFile, logger: Self.logger)
        }
        let written = (try? FileManager.default.contentsOfDirectory(atPath: target.directory.appending("data").path)) ?? []
        #expect(written.isEmpty, "\(damage): restore wrote \(written)")
    }

    @Test("Each refusal names its cause")
    func reasons() async throws {
        let source = try await Source.make(records: 400)
        defer { source.installation.directory.remove() }
        let lines = try String(contentsOf: source.backup, encoding: .utf8).split(separator: "\n").map(String.init)
        let key = try FernetKey(base64URL: String(decoding: try SecureFile.read(source.keyFile), as: UTF8.self))
        #expect(throws: BackupFormat.Failure.truncated) { try BackupFormat.decrypt(lines: Array(lines.dropLast()), key: key) }
        var swapped = lines
        swapped.swapAt(1, 2)
        #expect(throws: BackupFormat.Failure.reordered(line: 2)) { try BackupFormat.decrypt(lines: swapped, key: key) }
        #expect(throws: BackupFormat.Failure.wrongKeyOrDamaged(line: 1)) { try BackupFormat.decrypt(lines: lines, key: FernetKey.generate()) }
        #expect(throws: BackupFormat.Failure.trailingData) { try BackupFormat.decrypt(lines: lines + [lines.last!], key: key) }
        #expect(throws: BackupFormat.Failure.notABackup) { try BackupFormat.decrypt(lines: [], key: key) }
    }

    @Test("Restore refuses a non-empty data folder and a missing key; backup never overwrites")
    func guards() async throws {
        let source = try await Source.make(records: 10)
        defer { source.installation.directory.remove() }
        // The source folder itself is not empty.
        await #expect(throws: Backups.Failure.self) {
            try await Backups.restore(file: source.backup, sources: Self.sources(source.installation), keyFile: source.keyFile, logger: Self.logger)
        }
        let target = try Self.target()
        defer { target.directory.remove() }
        await #expect(throws: Backups.Failure.self) {
            try await Backups.restore(file: source.backup, sources: Self.sources(target), keyFile: nil, logger: Self.logger)
        }
        await #expect(throws: Backups.Failure.self) {
            try await Backups.create(sources: Self.sources(source.installation), out: source.backup, logger: Self.logger)
        }
    }

    @Test(
        "scripts/decrypt-backup.py restores the same files with nothing but Python's cryptography Fernet",
        .enabled(if: Python.interopAvailable || Python.requireAll, "needs python3 with cryptography (pip install -r interop/requirements.txt)")
    )
    func pythonDecrypts() async throws {
        let source = try await Source.make(records: 50)
        defer { source.installation.directory.remove() }
        let out = source.installation.directory.appending("python-out")
        let script = Python.interopDirectory.deletingLastPathComponent().appendingPathComponent("scripts/decrypt-backup.py").path
        let result = try Python.run([script, source.keyFile.path, source.backup.path, out.path], input: Data())
        #expect(result.status == 0, "\(result.error)")
        for name in ["jwt.key", "audit-signing.key", "kek-keyring.json"] {
            #expect(try SecureFile.read(out.appendingPathComponent(name)) == SecureFile.read(source.installation.directory.appending("data/\(name)")))
        }
        let database = TestEnvironment.postgresURL == nil ? "database.sqlite" : "tables.jsonl"
        let content = try SecureFile.read(out.appendingPathComponent(database))
        if database == "database.sqlite" {
            #expect(content.starts(with: Array("SQLite format 3\u{0}".utf8)))
            let count = try Python.run(
                [
                    "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from vault_secrets').fetchone()[0])",
                    out.appendingPathComponent(database).path,
                ],
                input: Data()
            )
            #expect(String(decoding: count.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "51")
        } else {
            #expect(String(decoding: content, as: UTF8.self).contains("{\"table\":\"vault_secrets\",\"row\":"))
        }
        // A damaged file makes the script fail without writing.
        let broken = source.installation.directory.appending("broken.backup")
        let lines = try String(contentsOf: source.backup, encoding: .utf8).split(separator: "\n").map(String.init)
        try SecureFile.write(Array(lines.dropLast().joined(separator: "\n").utf8), to: broken)
        let refused = try Python.run(
            [script, source.keyFile.path, broken.path, source.installation.directory.appending("nothing").path],
            input: Data()
        )
        #expect(refused.status != 0 && refused.error.contains("truncated"))
        #expect(!SecureFile.exists(source.installation.directory.appending("nothing")))
    }
}
