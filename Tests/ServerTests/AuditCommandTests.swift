// The audit commands of the real binary: `serve` writes entries to a SQLite file, then `audit verify-db` checks the
// log, `audit export --user` writes an export that `audit verify` accepts, a flipped byte makes `audit verify` fail
// (exit 1), and a witness that did not cosign is reported.

import AuditLog
import Crypto
import Foundation
import Testing

@testable import Server

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct AuditCommandTests {
    typealias Run = ProcessTests.RunningProcess

    @Test(
        "serve, then audit verify-db, audit export --user and audit verify on the real binary; a flipped byte fails verification",
        .enabled(if: TestEnvironment.needs(ProcessTests.binaryAvailable), "needs the built tradekeep executable")
    )
    func commands() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("data").path
        let server = try Run(["serve", "--port", "0", "--data-dir", data], environment: ["TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL": "0"])
        let port = try await server.waitForPort(timeout: .seconds(120))
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/auth/register")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"email":"cli@example.com","password":"a long passphrase for the cli"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 201)
        // The entry is sequenced within moments; the checkpoint follows.
        try await Task.sleep(for: .seconds(1))
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit(timeout: .seconds(60)) == 0, "\(server.stderr)")

        let verifyDB = try Run(["audit", "verify-db", "--data-dir", data])
        #expect(try await verifyDB.waitForExit(timeout: .seconds(60)) == 0, "\(verifyDB.stderr)")
        #expect(verifyDB.stderr.contains("ok: ") && verifyDB.stderr.contains("entries and"))

        let export = try Run(["audit", "export", "--user", "cli@example.com", "--data-dir", data])
        #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.stderr)")
        let output = export.stderr
        let json = try #require(output.firstIndex(of: "{").flatMap { start in output.lastIndex(of: "}").map { String(output[start...$0]) } })
        let file = directory.appending("export.json")
        try json.write(to: file, atomically: true, encoding: .utf8)
        let decoded = try JSONDecoder().decode(AuditExport.self, from: Data(json.utf8))
        #expect(
            Set(decoded.entries.map { try! AuditEntry(bytes: Array(Data(base64Encoded: $0.entry)!)).action }) == [
                "auth.registered", "audit.exported",
            ]
        )

        let verify = try Run(["audit", "verify", file.path])
        #expect(try await verify.waitForExit(timeout: .seconds(60)) == 0, "\(verify.stderr)")
        #expect(verify.stderr.contains("ok: 2 entries verified"))

        var flipped = decoded
        var bytes = Array(Data(base64Encoded: flipped.entries[0].salt)!)
        bytes[7] ^= 0x01
        flipped.entries[0].salt = Data(bytes).base64EncodedString()
        let bad = directory.appending("flipped.json")
        try JSONEncoder().encode(flipped).write(to: bad)
        let refused = try Run(["audit", "verify", bad.path])
        #expect(try await refused.waitForExit(timeout: .seconds(60)) == 1)
        #expect(refused.stderr.contains("audit verify FAILED: entry"))

        let stranger = CosignerKey(name: "witness.example", publicKey: Curve25519.Signing.PrivateKey().publicKey)
        let unwitnessed = try Run(["audit", "verify", file.path, "--witness", stranger.text])
        #expect(try await unwitnessed.waitForExit(timeout: .seconds(60)) == 1)
        #expect(unwitnessed.stderr.contains("no valid cosignature by witness witness.example"))
    }
}
