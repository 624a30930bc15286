// The audit log end to end on the real application: a user's actions become signed, chained entries of one
// Merkle tree; the export verifies offline; the public tiles alone rebuild the checkpoint's root; checkpoints are
// consistent; the database refuses to change integrated entries.

import AuditLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import SQLKit
import Storage
import Testing

@testable import Server

@Suite struct AuditTrailTests {
    static let settings = [Setting.auditCheckpointInterval.name: "0"]

    /// Integrate what is pending and sign a checkpoint now (the service does the same every few milliseconds).
    static func publish(_ inside: Inside) async throws {
        try await inside.auditLog.sequence()
        try await inside.auditLog.checkpointIfDue(force: true)
    }

    @Test("A user's actions: listed newest first; the JSON export verifies; the CSV has a row per entry; proofs answer")
    func exportVerifies() async throws {
        try await BotTests.withSession(Self.settings) { session, inside in
            let created = try await session.post("/api/v1/bots", BotTests.gridBody())
            #expect(created.status == .created)
            let botID = try #require(try created.json()["id"] as? String)
            #expect(try await session.post("/api/v1/bots/\(botID)/start").status == .ok)
            #expect(try await session.post("/api/v1/bots/\(botID)/stop").status == .ok)
            try await Self.publish(inside)

            let listed = try await session.array("/api/v1/audit")
            let actions = listed.compactMap { $0["action"] as? String }
            #expect(Array(actions.prefix(3)) == ["bot.stopped", "bot.started", "bot.deployed"])
            #expect(actions.contains("auth.registered") && actions.contains("auth.login"))
            let indexes = listed.compactMap { ($0["index"] as? NSNumber)?.uint64Value }
            #expect(indexes == indexes.sorted(by: >))
            let filtered = try await session.array("/api/v1/audit?action=bot.started")
            #expect(filtered.count == 1 && filtered.first?["target"] as? String == "bot:\(botID)")

            let export = try await session.get("/api/v1/audit/export?format=json")
            #expect(export.status == .ok)
            let verified = try AuditExportVerifier.verify(Data(buffer: export.body))
            #expect(verified.entries.count == listed.count)
            #expect(Set(verified.entries.map(\.entry.action)) == Set(actions))
            // Every entry of the user carries the user's pseudonym and chains to the previous one.
            let me = AuditEntry.pseudonym(of: try #require(UUID(uuidString: session.user.userID)))
            #expect(verified.entries.allSatisfy { $0.entry.actor == me })

            let csv = try await session.get("/api/v1/audit/export?format=csv")
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.bodyString.split(separator: "\n")
            #expect(lines.count == listed.count + 1 && lines[0].hasPrefix("index,leaf_hash,time,action"))

            let first = try #require(indexes.last)
            let size = verified.checkpoint.size
            let inclusion = try await session.get("/api/v1/audit/proof/inclusion?index=\(first)&size=\(size)")
            #expect(inclusion.status == .ok)
            let proof = try #require(try inclusion.json()["proof"] as? [String]).map { Array(Data(base64Encoded: $0)!) }
            try MerkleVerifier.verifyInclusion(
                index: first,
                size: size,
                leafHash: try #require(verified.entries.first { $0.index == first }).leafHash,
                proof: proof,
                root: verified.checkpoint.root
            )
            for bad in ["index=\(size)&size=\(size)", "index=x&size=1", "size=1", "index=0&size=99999999", "index=-1&size=2"] {
                #expect(try await session.get("/api/v1/audit/proof/inclusion?\(bad)").status == .badRequest, "\(bad)")
            }
            for bad in ["from=2&to=1", "from=1", "from=0&to=1", "from=1&to=99999999", "limit=0"] {
                let path = bad.hasPrefix("limit") ? "/api/v1/audit?\(bad)" : "/api/v1/audit/proof/consistency?\(bad)"
                #expect(try await session.get(path).status == .badRequest, "\(bad)")
            }
            #expect(try await session.get("/api/v1/audit/export?format=xml").status == .badRequest)
        }
    }

    @Test("Another user's entry has no inclusion proof for you (404), and your export holds none of theirs")
    func ownEntriesOnly() async throws {
        try await BotTests.withSession(Self.settings) { session, inside in
            let other = try await session.driver.signUp()
            try await Self.publish(inside)
            let theirs = try await inside.auditLog.store.page(
                userID: try #require(UUID(uuidString: other.userID)),
                before: nil,
                limit: 10,
                action: nil
            )
            let index = try #require(theirs.first?.index)
            let size = try await inside.auditLog.store.size()
            #expect(try await session.get("/api/v1/audit/proof/inclusion?index=\(index)&size=\(size)").status == .notFound)
            let export = try AuditExportVerifier.verify(Data(buffer: try await session.get("/api/v1/audit/export").body))
            #expect(!export.entries.contains { $0.index == index })
        }
    }

    @Test("The public tiles alone rebuild the checkpoint's root; two checkpoints are consistent by the API's proof")
    func tilesAndConsistency() async throws {
        try await BotTests.withSession(Self.settings) { session, inside in
            try await Self.publish(inside)
            let key = try #require(
                NoteVerifierKey(try await session.get("/.well-known/tradekeep/audit-key").bodyString.trimmingCharacters(in: .newlines))
            )
            let older = try Checkpoint.open(try await session.get("/audit/log/checkpoint").bodyString, logKey: key)
            // Enough entries to fill a whole tile at level 0 and start the next, written as changes write them.
            let user = try #require(UUID(uuidString: session.user.userID))
            try await inside.database.transaction(logger: inside.logger) { transaction in
                try await transaction.record((0..<300).map { AuditEvent(.botStarted, user: user, client: .engine, ["bot_id": "b\($0)"]) })
            }
            try await Self.publish(inside)
            let note = try await session.get("/.well-known/tradekeep/checkpoint").bodyString
            let checkpoint = try Checkpoint.open(note, logKey: key)
            #expect(checkpoint.size > older.size)

            var tiles: [TileID: Data] = [:]
            for level in 0..<3 {
                var index: UInt64 = 0
                while let id = TileID.existing(level: level, index: index, size: checkpoint.size) {
                    let response = try await session.driver.request(.get, "/audit/log/\(id.path)", ip: "10.9.9.9")
                    #expect(response.status == .ok, "\(id.path)")
                    tiles[id] = Data(buffer: response.body)
                    index += 1
                }
            }
            let reader = try TileNodeReader(size: checkpoint.size, tiles: tiles)
            #expect(try MerkleProofs.root(size: checkpoint.size, node: reader.node) == checkpoint.root)
            // The entry bundles hash to the level-0 tile.
            let bundle = try await session.driver.request(.get, "/audit/log/tile/entries/000", ip: "10.9.9.9")
            if checkpoint.size >= 256 {
                let leaves = try #require(TileContent.entries(ofBundle: Data(buffer: bundle.body)))
                #expect(TileContent.hashes(leaves.map { RFC6962.leafHash($0) }) == tiles[TileID(level: 0, index: 0)])
            }
            #expect(try await session.driver.request(.get, "/audit/log/tile/0/x000/000", ip: "10.9.9.9").status == .notFound)
            // An earlier checkpoint's partial tile is the first hashes of today's.
            let earlier = try await session.driver.request(.get, "/audit/log/tile/0/001.p/3", ip: "10.9.9.9")
            #expect(
                earlier.status == .ok
                    && Data(buffer: earlier.body) == tiles[TileID(level: 0, index: 1, width: Int(checkpoint.size % 256))]?.prefix(96)
            )
            #expect(try await session.driver.request(.get, "/audit/log/tile/0/999", ip: "10.9.9.9").status == .notFound)

            let response = try await session.get("/api/v1/audit/proof/consistency?from=\(older.size)&to=\(checkpoint.size)")
            let proof = try #require(try response.json()["proof"] as? [String]).map { Array(Data(base64Encoded: $0)!) }
            try MerkleVerifier.verifyConsistency(size1: older.size, size2: checkpoint.size, root1: older.root, root2: checkpoint.root, proof: proof)
            // The offline verifier does the same with the older checkpoint.
            let export = Data(buffer: try await session.get("/api/v1/audit/export").body)
            let olderNote = try #require(try await inside.auditLog.store.checkpoint(size: older.size)).note
            #expect(try AuditExportVerifier.verify(export, older: .init(note: olderNote, proof: proof)).consistentWithOlder)
        }
    }

    @Test("The database refuses UPDATE and DELETE of integrated entries, nodes and checkpoints; pending rows are still sequenced")
    func appendOnly() async throws {
        try await BotTests.withSession(Self.settings) { session, inside in
            try await Self.publish(inside)
            let sql = try inside.database.sql(logger: inside.logger)
            let statements = [
                "UPDATE audit_events SET action = 'auth.nothing' WHERE leaf_index = 0",
                "DELETE FROM audit_events WHERE leaf_index = 0",
                "UPDATE audit_events SET ip = NULL WHERE state = 'integrated'",
                "UPDATE audit_nodes SET hash = hash WHERE level = 0",
                "DELETE FROM audit_nodes",
                "UPDATE audit_checkpoints SET note = ''",
                "DELETE FROM audit_checkpoints",
            ]
            for statement in statements {
                await #expect(throws: (any Error).self, "\(statement)") { try await sql.raw(SQLQueryString(statement)).run() }
            }
            if sql.dialect.name == "postgresql" {
                await #expect(throws: (any Error).self) { try await sql.raw("TRUNCATE audit_events").run() }
                await #expect(throws: (any Error).self) { try await sql.raw("TRUNCATE audit_nodes").run() }
            }
            let size = try await inside.auditLog.store.size()
            #expect(size > 0)
            #expect(try await session.post("/api/v1/bots", BotTests.gridBody()).status == .created)
            try await Self.publish(inside)
            #expect(try await inside.auditLog.store.size() > size)
            let export = try AuditExportVerifier.verify(Data(buffer: try await session.get("/api/v1/audit/export").body))
            #expect(export.entries.contains { $0.entry.action == "bot.deployed" })
        }
    }

    @Test("verify-db passes on an intact log and names the entry edited, or the node replaced, once the triggers are dropped")
    func verifyDatabaseFindsEdits() async throws {
        try await BotTests.withSession(Self.settings) { session, inside in
            for _ in 0..<3 { _ = try await session.driver.signUp() }
            try await Self.publish(inside)
            let administration = AuditAdministration(database: inside.database, publisher: inside.auditLog, logger: inside.logger)
            let intact = try await administration.verifyDatabase(batch: 4)
            #expect(intact.entries == (try await inside.auditLog.size()) && intact.checkpoints >= 1)

            let sql = try inside.database.sql(logger: inside.logger)
            let postgres = sql.dialect.name == "postgresql"
            try await sql.raw(postgres ? "DROP TRIGGER audit_events_append_only ON audit_events" : "DROP TRIGGER audit_events_no_update").run()
            // An operator with the owner's rights rewrites entry 2's ip (the bytes E): the commitment no longer matches.
            let row = try #require(try await sql.select().column("entry").from("audit_events").where("leaf_index", .equal, 2).first())
            let edited = String(decoding: try row.decode(column: "entry", as: Data.self), as: UTF8.self)
                .replacingOccurrences(of: "\"ip\":\"", with: "\"ip\":\"6")
            try await sql.update("audit_events").set("entry", to: Data(edited.utf8)).where("leaf_index", .equal, 2).run()
            await #expect(throws: AuditAdministration.Mismatch.self) { try await administration.verifyDatabase(batch: 4) }
            do {
                _ = try await administration.verifyDatabase(batch: 4)
            } catch let mismatch as AuditAdministration.Mismatch {
                #expect(mismatch.description.hasPrefix("entry 2:"), "\(mismatch)")
            }
            // Consistent forgery (new salt, commitment and signature would need the key): re-signing is impossible,
            // so rewriting the commitment too is caught by the signature.
            try await sql.update("audit_events").set(
                "leaf",
                to: Data(AuditEntry.commitment(salt: Array(repeating: 0, count: 32), entry: Array(edited.utf8)))
            )
            .set("salt", to: Data(repeating: 0, count: 32)).where("leaf_index", .equal, 2).run()
            do {
                _ = try await administration.verifyDatabase(batch: 4)
                Issue.record("verify-db passed a rewritten entry")
            } catch let mismatch as AuditAdministration.Mismatch {
                #expect(mismatch.description.hasPrefix("entry 2: the signature"), "\(mismatch)")
            }
        }
    }

    @Test("High-impact actions are mailed with their entry's index: a sign-in from a new address (not the first sign-in), the kill switch")
    func highImpactMail() async throws {
        let app = try AuthDriver.application(Self.settings)
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            _ = try await driver.signIn(user)
            try await Self.publish(inside)
            let data = app.directory.appending("data")
            #expect(!AuthDriver.allMail(to: user.email, in: data).contains { $0.contains("A new sign-in") })
            // The same account from another address.
            let elsewhere = TestUser(
                email: user.email,
                password: user.password,
                userID: user.userID,
                secret: user.secret,
                backupCodes: user.backupCodes,
                ip: "10.77.0.1"
            )
            let token = try await driver.signIn(elsewhere).accessToken
            try await Self.publish(inside)
            // The service may have sequenced the entry (and be writing its mail) while this test's own pass found nothing.
            let signInMail = try #require(try await AuthDriver.awaitMail(to: user.email, containing: "A new sign-in", in: data))
            #expect(signInMail.contains("10.77.0.1"))
            let owner = try #require(UUID(uuidString: user.userID))
            let logins = try await inside.auditLog.page(owner: owner, before: nil, limit: 10, action: "auth.login")
            let newest = try #require(logins.first)
            #expect(signInMail.contains("Audit log entry: #\(newest.index)"))

            #expect(try await driver.post("/api/v1/kill-switch", [:], ip: elsewhere.ip, token: token).status == .ok)
            try await Self.publish(inside)
            let killMail = try #require(try await AuthDriver.awaitMail(to: user.email, containing: "kill switch of your Tradekeep account", in: data))
            let kill = try #require(try await inside.auditLog.page(owner: owner, before: nil, limit: 1, action: "account.kill_switch").first)
            #expect(killMail.contains("Audit log entry: #\(kill.index)"))
        }
    }

    @Test("The public log has a rate-limit bucket per address of its own: 30 parallel reads pass at most the limit, and the API is unaffected")
    func publicLogRateLimited() async throws {
        let settings = Self.settings.merging([Setting.rateLimitGeneral.name: "10"]) { _, new in new }
        try await BotTests.withSession(settings) { session, inside in
            try await Self.publish(inside)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<30 {
                    let path = index % 2 == 0 ? "/audit/log/checkpoint" : "//audit/log//tile/0/000.p/1"
                    group.addTask { try await session.driver.request(.get, path, ip: session.user.ip).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count <= 10)
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .tooManyRequests }, "\(statuses)")
            #expect(statuses.contains(.tooManyRequests))
            // The signed-in user's API allowance is its own.
            #expect(try await session.get("/api/v1/bots").status == .ok)
        }
    }
}
