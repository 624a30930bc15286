// Two server instances on one PostgreSQL, appending and sequencing at the same time, build one tree: the
// sequencer's advisory lock keeps it from forking, and every entry's proof verifies.

import AuditLog
import Foundation
import HummingbirdTesting
import InteropSupport
import Logging
import SQLKit
import Storage
import Testing

@testable import Server

@Suite struct AuditConcurrencyTests {
    /// The PostgreSQL this test runs on: the suite's, or the TLS one (set in CI's SQLite pass too).
    static var postgres: String? { TestEnvironment.postgresURL ?? TestEnvironment.postgresTLSURL }

    @Test(
        "Two instances on one PostgreSQL append and sequence concurrently: one tree, every proof verifies, verify-db passes",
        .enabled(if: TestEnvironment.needs(postgres != nil), "needs PostgreSQL (TRADEKEEP_TEST_DATABASE_URL; scripts/dev-postgres)")
    )
    func twoInstancesOneTree() async throws {
        let base = try #require(Self.postgres, "TRADEKEEP_REQUIRE_ALL=1 but no PostgreSQL URL is set")
        let schema = "t_two_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        let url = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
        let first = try AuthDriver.application([Setting.databaseURL.name: url, Setting.auditCheckpointInterval.name: "0"])
        // The second instance shares the first one's data folder (one deployment, one keyring) and database.
        let second = try TestApplication([
            Setting.dataDirectory.name: first.directory.appending("data").path,
            Setting.databaseURL.name: url,
            Setting.auditCheckpointInterval.name: "0",
        ])
        defer { second.directory.remove() }
        do {
            try await first.run { _, inside in
                let other = try await second.build()
                do {
                    try await Self.appendConcurrently(inside: inside, other: other)
                } catch {
                    await other.database.shutdown()
                    throw error
                }
                await other.database.shutdown()
            }
        } catch {
            await Self.drop(schema, base: base)
            throw error
        }
        await Self.drop(schema, base: base)
    }

    static func drop(_ schema: String, base: String) async {
        guard let database = try? TradekeepDatabase(location: DatabaseLocation(url: base)) else { return }
        if let sql = try? database.sql(logger: Logger(label: "test-cleanup")) {
            try? await sql.raw("DROP SCHEMA IF EXISTS \(ident: schema) CASCADE").run()
        }
        await database.shutdown()
    }

    static func appendConcurrently(inside: Inside, other: ApplicationParts) async throws {
        do {
            let logger = Logger(label: "audit-concurrency")
            let sinks = [DatabaseAuditSink(database: inside.database, logger: logger), DatabaseAuditSink(database: other.database, logger: logger)]
            let sequencers = [inside.auditLog, other.auditLog]
            let user = UUID()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for instance in 0..<2 {
                    group.addTask {
                        for index in 0..<60 {
                            try await sinks[instance].record(
                                AuditEvent(.login, user: user, client: ClientInfo(ip: "10.0.\(instance).\(index)", userAgent: "i\(instance)"))
                            )
                        }
                    }
                    group.addTask {
                        for _ in 0..<30 {
                            try await sequencers[instance].sequence()
                            try await sequencers[instance].checkpointIfDue(force: true)
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await inside.auditLog.sequence()
            try await other.auditLog.checkpointIfDue(force: true)
            let size = try await inside.auditLog.size()
            #expect(size >= 120)
            let verified = try await AuditAdministration(database: inside.database, publisher: inside.auditLog, logger: logger).verifyDatabase()
            #expect(verified.entries == size && verified.pending == 0)
            // One chain for the one actor across both instances, and every entry provable against the latest checkpoint.
            let checkpoint = try await other.auditLog.published()
            let export = try AuditExportVerifier.verify(try await other.auditLog.exportJSON(owner: user, checkpoint: checkpoint))
            #expect(export.entries.count == 120)
        }
    }
}
