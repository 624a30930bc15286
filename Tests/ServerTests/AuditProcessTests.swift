// The audit log's promises on real processes: two `tradekeep serve` on one PostgreSQL, registering users at the
// same time, build one tree whose every proof verifies (verify-db, and exports checked against an earlier
// checkpoint of the other server through its public tiles); `tradekeep witness serve` cosigns a growing log,
// refuses a forked one, and the server publishes its cosignature.

import AsyncHTTPClient
import AuditLog
import Crypto
import Foundation
import NIOCore
import Testing

@testable import Server

@Suite(.serialized) struct AuditProcessTests {
    typealias Run = ProcessTests.RunningProcess

    @Test(
        "Two `tradekeep serve` processes on one PostgreSQL register users concurrently: one tree, every proof verifies",
        .enabled(
            if: TestEnvironment.needs(ProcessTests.binaryAvailable && AuditConcurrencyTests.postgres != nil),
            "needs the built tradekeep executable and PostgreSQL (TRADEKEEP_TEST_DATABASE_URL; scripts/dev-postgres)"
        )
    )
    func twoServersOneTree() async throws {
        let base = try #require(AuditConcurrencyTests.postgres, "TRADEKEEP_REQUIRE_ALL=1 but no PostgreSQL URL is set")
        let schema = "t_procs_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(14))"
        let url = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // One deployment: one set of secrets, copied to each server's data folder.
        let first = directory.appending("first").path
        let second = directory.appending("second").path
        let initialize = try Run(["init", "--data-dir", first])
        #expect(try await initialize.waitForExit(timeout: .seconds(60)) == 0, "\(initialize.stderr)")
        let copy = try Run.copy(first, to: second)
        #expect(copy == 0)
        let environment = [
            "TRADEKEEP_DATABASE_URL": url,
            "TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL": "1",
            "TRADEKEEP_RATE_LIMIT_REGISTER": "1000",
        ]
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        // Both start at once: migrations run once, under the database's lock.
        let servers = [
            try Run(["serve", "--port", "0", "--data-dir", first], environment: environment),
            try Run(["serve", "--port", "0", "--data-dir", second], environment: environment),
        ]
        do {
            let ports = [try await servers[0].waitForPort(timeout: .seconds(120)), try await servers[1].waitForPort(timeout: .seconds(120))]
            let logKey = try #require(
                NoteVerifierKey(try await Self.get(http, port: ports[0], "/.well-known/tradekeep/audit-key").body.trimmingCharacters(in: .newlines))
            )
            #expect(try await Self.get(http, port: ports[1], "/.well-known/tradekeep/audit-key").body.hasPrefix(logKey.text))

            // Four streams, two per server, five sign-ups each.
            func register(stream: Int) async throws -> [String] {
                var registered: [String] = []
                for index in 0..<5 {
                    let email = "s\(stream)-\(index)@example.com"
                    let status = try await Self.post(
                        http,
                        port: ports[stream % 2],
                        "/api/v1/auth/register",
                        #"{"email":"\#(email)","password":"a long passphrase for process tests"}"#
                    ).status
                    #expect([201, 503].contains(status), "register \(email): \(status)")
                    if status == 201 { registered.append(email) }
                }
                return registered
            }
            let early = try await withThrowingTaskGroup(of: [String].self) { group in
                for stream in 0..<4 { group.addTask { try await register(stream: stream) } }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            // A checkpoint of the first server, kept: later exports must be consistent with it.
            let older = try await Self.checkpoint(http, port: ports[0], logKey: logKey, atLeast: UInt64(early.count))
            let later = try await withThrowingTaskGroup(of: [String].self) { group in
                for stream in 4..<8 { group.addTask { try await register(stream: stream) } }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            let emails = early + later
            #expect(emails.count >= 8, "most sign-ups succeed: \(emails)")
            // Both servers publish checkpoints of the one tree: the same root wherever the size is the same.
            let latest = try await Self.checkpoint(http, port: ports[1], logKey: logKey, atLeast: UInt64(emails.count))
            let fromFirst = try await Self.checkpoint(http, port: ports[0], logKey: logKey, atLeast: latest.checkpoint.size)
            if fromFirst.checkpoint.size == latest.checkpoint.size { #expect(fromFirst.checkpoint.root == latest.checkpoint.root) }

            // A user of each server: their export verifies, and its checkpoint is consistent with the first server's
            // earlier one, the proof computed from the second server's public tiles.
            let olderFile = directory.appending("older-checkpoint")
            try older.note.write(to: olderFile, atomically: true, encoding: .utf8)
            for email in [emails.first { $0.hasPrefix("s0-") }, emails.first { $0.hasPrefix("s1-") }].compactMap({ $0 }) {
                let export = try Run(["audit", "export", "--user", email, "--data-dir", first], environment: ["TRADEKEEP_DATABASE_URL": url])
                #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.stderr)")
                let file = directory.appending("\(email).json")
                try Self.json(in: export.stderr).write(to: file, atomically: true, encoding: .utf8)
                let verify = try Run([
                    "audit", "verify", file.path, "--checkpoint", olderFile.path, "--log-url", "http://127.0.0.1:\(ports[1])",
                ])
                #expect(try await verify.waitForExit(timeout: .seconds(60)) == 0, "\(verify.stderr)")
                #expect(verify.stderr.contains("ok: consistent with the older checkpoint"), "\(verify.stderr)")
            }
            for server in servers { kill(server.process.processIdentifier, SIGTERM) }
            for server in servers { #expect(try await server.waitForExit(timeout: .seconds(60)) == 0, "\(server.stderr)") }
            for server in servers { #expect(!server.stderr.contains(" error "), "\(server.stderr)") }

            // The whole tree, recomputed from the database: every entry, node and checkpoint.
            let verifyDB = try Run(["audit", "verify-db", "--data-dir", second], environment: ["TRADEKEEP_DATABASE_URL": url])
            #expect(try await verifyDB.waitForExit(timeout: .seconds(60)) == 0, "\(verifyDB.stderr)")
            let counted = try #require(verifyDB.stderr.firstMatch(of: #/ok: (\d+) entries and (\d+) checkpoints/#), "\(verifyDB.stderr)")
            #expect(Int(counted.output.1)! >= emails.count && Int(counted.output.2)! >= 2)
        } catch {
            for server in servers { server.process.terminate() }
            try? await http.shutdown()
            await AuditConcurrencyTests.drop(schema, base: base)
            throw error
        }
        try await http.shutdown()
        await AuditConcurrencyTests.drop(schema, base: base)
    }

    @Test(
        "`tradekeep witness serve` cosigns the server's growing log, the published checkpoint carries its cosignature, and it refuses a fork",
        .enabled(if: TestEnvironment.needs(ProcessTests.binaryAvailable), "needs the built tradekeep executable")
    )
    func witnessProcess() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("data").path
        // The log's key is provided, so the witness can be told which log to follow before the server starts.
        let logSigningKey = Curve25519.Signing.PrivateKey()
        let origin = "tradekeep.test/witnessed"
        let logKey = NoteVerifierKey(name: origin, publicKey: logSigningKey.publicKey)
        let secrets = [
            "TRADEKEEP_AUDIT_SIGNING_KEY": logSigningKey.rawRepresentation.base64EncodedString(),
            "TRADEKEEP_AUDIT_ORIGIN": origin,
        ]
        let witnessFolder = directory.appending("witness")
        let witnessArguments = ["--data-dir", witnessFolder.path, "--name", "witness.test/w1", "--log", "\(origin)=\(logKey.text)"]
        // Preparing the folder here gives the key the process will load (it keeps the key it finds).
        let witnessKey = try WitnessServer.prepare(dataDirectory: witnessFolder, name: "witness.test/w1", logs: ["\(origin)=\(logKey.text)"])
            .witness.verifierKey
        let witness = try Run(["witness", "serve", "--port", "0"] + witnessArguments)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        var server: Run?
        do {
            let witnessPort = try await witness.waitForPort(timeout: .seconds(60))
            let environment = secrets.merging([
                "TRADEKEEP_AUDIT_WITNESSES": "http://127.0.0.1:\(witnessPort) \(witnessKey.text)",
                "TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL": "1",
                "TRADEKEEP_RATE_LIMIT_REGISTER": "1000",
            ]) { _, new in new }
            let running = try Run(["serve", "--port", "0", "--data-dir", data], environment: environment)
            server = running
            let port = try await running.waitForPort(timeout: .seconds(120))
            #expect(try await Self.get(http, port: port, "/.well-known/tradekeep/audit-key").body.hasPrefix(logKey.text))

            func signUp(_ email: String) async throws {
                let status = try await Self.post(
                    http,
                    port: port,
                    "/api/v1/auth/register",
                    #"{"email":"\#(email)","password":"a long passphrase for the witness test"}"#
                ).status
                #expect(status == 201, "register \(email): \(status)")
            }
            try await signUp("first@example.com")
            let first = try await Self.checkpoint(http, port: port, logKey: logKey, atLeast: 1, cosignedBy: witnessKey)
            // The log grows: the witness, at the first size, gets a consistency proof and cosigns again.
            try await signUp("second@example.com")
            let second = try await Self.checkpoint(http, port: port, logKey: logKey, atLeast: first.checkpoint.size + 1, cosignedBy: witnessKey)

            // A fork under the log's key: the same size with another root, and a larger tree that does not extend
            // the cosigned one. The witness's size is what it last cosigned (it says so in a 409 if it moved on).
            var size = second.checkpoint.size
            for forkedSize in [UInt64(0), 7] {
                var answer: (status: Int, body: String) = (0, "")
                for _ in 0..<3 {
                    var forked = InMemoryMerkleTree()
                    for index in 0..<(size + forkedSize) { forked.append(leafHash: RFC6962.leafHash(Array("forged \(index)".utf8))) }
                    let note = try SignedNote.sign(
                        Checkpoint(origin: origin, size: size + forkedSize, root: try forked.root()).text,
                        name: origin,
                        key: try AuditSigningKey(seed: logSigningKey.rawRepresentation)
                    )
                    let proof = forkedSize == 0 ? [] : [MerkleHash](repeating: Array(repeating: 7, count: 32), count: 3)
                    answer = try await Self.post(http, port: witnessPort, "/add-checkpoint", Witness.request(old: size, proof: proof, note: note))
                    guard answer.status == 409, let current = UInt64(answer.body.trimmingCharacters(in: .whitespacesAndNewlines)) else { break }
                    size = current
                }
                #expect(answer.status == 422, "forked by \(forkedSize): \(answer)")
            }

            // The witness still follows the real log.
            try await signUp("third@example.com")
            let third = try await Self.checkpoint(http, port: port, logKey: logKey, atLeast: size + 1, cosignedBy: witnessKey)
            #expect(third.checkpoint.size > second.checkpoint.size)
            kill(running.process.processIdentifier, SIGTERM)
            #expect(try await running.waitForExit(timeout: .seconds(60)) == 0, "\(running.stderr)")

            // The command line's export makes a new checkpoint (with its own `audit.exported` entry); the configured
            // witness cosigns it as it does the server's.
            let export = try Run(
                ["audit", "export", "--user", "first@example.com", "--data-dir", data],
                environment: secrets.merging(["TRADEKEEP_AUDIT_WITNESSES": environment["TRADEKEEP_AUDIT_WITNESSES"]!]) { _, new in new }
            )
            #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.stderr)")
            let file = directory.appending("export.json")
            try Self.json(in: export.stderr).write(to: file, atomically: true, encoding: .utf8)
            let verify = try Run(["audit", "verify", file.path, "--witness", witnessKey.text])
            #expect(try await verify.waitForExit(timeout: .seconds(60)) == 0, "\(verify.stderr)")
            #expect(verify.stderr.contains("ok: cosigned by witness.test/w1"), "\(verify.stderr)")
        } catch {
            server?.process.terminate()
            witness.process.terminate()
            try? await http.shutdown()
            throw error
        }
        kill(witness.process.processIdentifier, SIGTERM)
        #expect(try await witness.waitForExit(timeout: .seconds(30)) == 0, "\(witness.stderr)")
        try await http.shutdown()
    }

    @Test(
        "`tradekeep anomaly scan-now` scans the server's database once and reports it",
        .enabled(if: TestEnvironment.needs(ProcessTests.binaryAvailable), "needs the built tradekeep executable")
    )
    func scanNow() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("data").path
        let server = try Run(["serve", "--port", "0", "--data-dir", data], environment: ["TRADEKEEP_RATE_LIMIT_REGISTER": "1000"])
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let port = try await server.waitForPort(timeout: .seconds(120))
            for index in 0..<2 {
                let status = try await Self.post(
                    http,
                    port: port,
                    "/api/v1/auth/register",
                    #"{"email":"scan\#(index)@example.com","password":"a long passphrase for the scan test"}"#
                ).status
                #expect(status == 201)
            }
        } catch {
            server.process.terminate()
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit(timeout: .seconds(60)) == 0, "\(server.stderr)")
        // Entries are read once they are 2 s old.
        try await Task.sleep(for: .seconds(3))
        let scan = try Run(["anomaly", "scan-now", "--data-dir", data])
        #expect(try await scan.waitForExit(timeout: .seconds(60)) == 0, "\(scan.stderr)")
        let match = try #require(scan.stderr.firstMatch(of: #/scanned (\d+) entries: (\d+) anomalies/#), "\(scan.stderr)")
        #expect(Int(match.output.1)! >= 2 && Int(match.output.2)! == 0)
        // A second scan right after reads only what is new: nothing.
        let again = try Run(["anomaly", "scan-now", "--data-dir", data])
        #expect(try await again.waitForExit(timeout: .seconds(60)) == 0)
        #expect(again.stderr.contains("scanned 0 entries"), "\(again.stderr)")
    }

    // MARK: Helpers

    /// The server's published checkpoint once it covers `atLeast` entries (and, if asked, carries a witness's
    /// valid cosignature); fails after a minute.
    static func checkpoint(
        _ http: HTTPClient,
        port: Int,
        logKey: NoteVerifierKey,
        atLeast size: UInt64,
        cosignedBy witness: CosignerKey? = nil
    ) async throws -> (note: String, checkpoint: Checkpoint) {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = ""
        while ContinuousClock.now < deadline {
            let answer = try await Self.get(http, port: port, "/.well-known/tradekeep/checkpoint")
            last = answer.body
            if answer.status == 200, let checkpoint = try? Checkpoint.open(answer.body, logKey: logKey), checkpoint.size >= size,
                witness.map({ (try? Cosignature.verify(note: answer.body, key: $0)) != nil }) ?? true
            {
                return (answer.body, checkpoint)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ProcessTests.ProcessFailure(
            message: "no checkpoint of \(size) entries\(witness == nil ? "" : " cosigned") on port \(port); last:\n\(last)"
        )
    }

    static func get(_ http: HTTPClient, port: Int, _ path: String) async throws -> (status: Int, body: String) {
        let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func post(_ http: HTTPClient, port: Int, _ path: String, _ body: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: path.hasPrefix("/api/") ? "application/json" : "text/plain")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await http.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// The JSON document in a command's output (the export goes to standard output, which the test reads with
    /// standard error).
    static func json(in output: String) throws -> String {
        try #require(output.firstIndex(of: "{").flatMap { start in output.lastIndex(of: "}").map { String(output[start...$0]) } })
    }
}

extension ProcessTests.RunningProcess {
    /// `cp -a`: a data folder copied with its modes (secrets stay 0600).
    static func copy(_ source: String, to destination: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/cp")
        process.arguments = ["-a", source, destination]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
