// docs/AUDIT-FORMAT.md's own Python verifier (cryptography only, no project code) against a real export and the
// live tiles: it accepts them, and refuses an export with any single byte of an entry, salt, signature, proof or
// the checkpoint flipped.

import AuditLog
import Foundation
import HummingbirdTesting
import InteropSupport
import Testing

@testable import Server

@Suite struct AuditFormatTests {
    /// The ```python block of docs/AUDIT-FORMAT.md, written to a file.
    static func verifierScript(in directory: TemporaryDirectory) throws -> URL {
        let doc = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("docs/AUDIT-FORMAT.md"), encoding: .utf8)
        let start = try #require(doc.range(of: "```python\n"))
        let end = try #require(doc.range(of: "\n```", range: start.upperBound..<doc.endIndex))
        let file = directory.appending("verify.py")
        try String(doc[start.upperBound..<end.lowerBound]).write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Runs the verifier on each export in one Python process; its exit status for each.
    static let harness = """
        import io, json, sys
        code = open(sys.argv[1]).read()
        results = []
        for export in json.load(sys.stdin):
            sys.stdin, sys.stdout = io.StringIO(json.dumps(export)), io.StringIO()
            try:
                exec(compile(code, "verify.py", "exec"), {"__name__": "__main__"})
                results.append(0)
            except SystemExit as done:
                results.append(done.code if isinstance(done.code, int) else 1)
            except Exception:
                results.append(2)
            sys.stdout = sys.__stdout__
        print(json.dumps(results))
        """

    static func flips(of export: AuditExport) -> [AuditExport] {
        func flipped(_ base64: String, at position: Int) -> String {
            var bytes = Array(Data(base64Encoded: base64)!)
            bytes[position] ^= 0x01
            return Data(bytes).base64EncodedString()
        }
        var result: [AuditExport] = []
        for (row, item) in export.entries.enumerated() {
            for path in [\AuditExport.Entry.entry, \.salt, \.signature] {
                for position in 0..<Data(base64Encoded: item[keyPath: path])!.count {
                    var copy = export
                    copy.entries[row][keyPath: path] = flipped(item[keyPath: path], at: position)
                    result.append(copy)
                }
            }
            for (hash, value) in item.inclusionProof.enumerated() {
                for position in 0..<32 {
                    var copy = export
                    copy.entries[row].inclusionProof[hash] = flipped(value, at: position)
                    result.append(copy)
                }
            }
        }
        let note = Array(export.checkpoint.utf8)
        for position in note.indices {
            var bytes = note
            bytes[position] ^= 0x01
            var copy = export
            copy.checkpoint = String(decoding: bytes, as: UTF8.self)
            result.append(copy)
        }
        return result
    }

    @Test(
        "The documented Python verifier and tradekeep's accept a real export (and the live tiles), and refuse every single-byte flip of it",
        .enabled(if: Python.has("cryptography") || Python.requireAll, "python3 with cryptography is needed (pip install cryptography)")
    )
    func pythonVerifier() async throws {
        let app = try AuthDriver.application([Setting.auditCheckpointInterval.name: "0"])
        let scripts = try TemporaryDirectory()
        defer { scripts.remove() }
        let verifier = try Self.verifierScript(in: scripts)
        try await app.run(.live) { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            try await AuditTrailTests.publish(inside)
            let olderNote = try await driver.request(.get, "/audit/log/checkpoint", ip: user.ip).bodyString
            #expect(try await driver.post("/api/v1/bots", BotTests.gridBody(), ip: user.ip, token: token).status == .created)
            try await AuditTrailTests.publish(inside)
            let body = Data(buffer: try await driver.request(.get, "/api/v1/audit/export", ip: user.ip, token: token).body)
            let export = try JSONDecoder().decode(AuditExport.self, from: body)
            #expect(export.entries.count >= 4)

            let accepted = try Python.run([verifier.path], input: body)
            #expect(accepted.status == 0, "\(String(decoding: accepted.output, as: UTF8.self)) \(accepted.error)")

            let flips = Self.flips(of: export)
            let harness = scripts.appending("harness.py")
            try Self.harness.write(to: harness, atomically: true, encoding: .utf8)
            let run = try Python.run([harness.path, verifier.path], input: try JSONEncoder().encode([export] + flips))
            #expect(run.status == 0, "\(run.error)")
            let statuses = try JSONDecoder().decode([Int].self, from: run.output)
            #expect(statuses.count == flips.count + 1)
            #expect(statuses.first == 0)
            let passed = statuses.dropFirst().enumerated().filter { $0.element == 0 }.map(\.offset)
            #expect(passed.isEmpty, "flips the Python verifier accepted: \(passed.prefix(10))")
            #expect(flips.count > 1000)
            // `tradekeep audit verify`'s verifier refuses every one of them too.
            let acceptedBySwift = flips.indices.filter { (try? AuditExportVerifier.verify(flips[$0])) != nil }
            #expect(acceptedBySwift.isEmpty, "flips the Swift verifier accepted: \(acceptedBySwift.prefix(10))")
            #expect(try AuditExportVerifier.verify(export).entries.count == export.entries.count)

            // The tree rebuilt from the public tiles alone has the checkpoint's root, and the earlier checkpoint is its prefix.
            let port = try #require(client.port)
            let older = scripts.appending("older.txt")
            try olderNote.write(to: older, atomically: true, encoding: .utf8)
            let tiles = try Python.run([verifier.path, "--log", "http://127.0.0.1:\(port)", older.path], input: Data())
            let said = String(decoding: tiles.output, as: UTF8.self)
            #expect(tiles.status == 0 && said.contains("give the checkpoint's root") && said.contains("is a prefix"), "\(said) \(tiles.error)")
        }
    }
}
