// `tradekeep witness serve`'s application, live on a port, cosigning the real server's checkpoints: the published
// checkpoint carries its cosignature, a grown log is cosigned again (through a consistency proof), the export
// verifies with the witness's key, and a forked log is refused.

import AuditLog
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import Server

@Suite struct AuditWitnessTests {
    @Test("A witness cosigns the server's growing log; the published checkpoint and the export carry its cosignature; it refuses a fork")
    func witnessCosigns() async throws {
        let base = try AuthDriver.application([Setting.auditCheckpointInterval.name: "0"])
        let logKey = NoteVerifierKey(name: auditOrigin(base.prepared), publicKey: base.prepared.secrets.auditSigningKey.publicKey)
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (witness, state) = try WitnessServer.prepare(
            dataDirectory: folder.appending("witness"),
            name: "witness.example/w1",
            logs: ["\(logKey.name)=\(logKey.text)"]
        )
        // The key is kept: preparing again gives the same witness.
        #expect(
            try WitnessServer.prepare(dataDirectory: folder.appending("witness"), name: "witness.example/w1", logs: ["\(logKey.name)=\(logKey.text)"])
                .witness.verifierKey == witness.verifierKey
        )
        #expect(SecureFileMode.of(folder.appending("witness/witness.key")) == 0o600)
        #expect(throws: WitnessServer.Failure.self) { try WitnessServer.prepare(dataDirectory: folder.appending("w2"), name: "w", logs: ["x=y"]) }

        let witnessApp = WitnessServer.application(witness: witness, state: state, host: "127.0.0.1", port: 0, logger: Logger(label: "witness"))
        try await witnessApp.test(.live) { witnessClient in
            let port = try #require(witnessClient.port)
            var configured = base
            configured.prepared.configuration.auditWitnesses = [AuditWitness(url: URL(string: "http://127.0.0.1:\(port)")!, key: witness.verifierKey)]
            let app = configured
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                try await inside.auditLog.sequence()
                // The service signs too (a race on which one does): take the latest after forcing one.
                try await inside.auditLog.checkpointIfDue(force: true)
                let first = try await inside.auditLog.latest()
                await inside.auditLog.cosign(first)
                let published = try await driver.request(.get, "/.well-known/tradekeep/checkpoint", ip: user.ip).bodyString
                #expect(try Cosignature.verify(note: published, key: witness.verifierKey) > 0)
                #expect(try Checkpoint.open(published, logKey: logKey).size == first.size)

                // The log grows; the witness (at the first size) gets a consistency proof and cosigns again.
                #expect(try await driver.post("/api/v1/bots", BotTests.gridBody(), ip: user.ip, token: token).status == .created)
                try await inside.auditLog.sequence()
                try await inside.auditLog.checkpointIfDue(force: true)
                let second = try await inside.auditLog.latest()
                #expect(second.size > first.size)
                await inside.auditLog.cosign(second)
                #expect(state.current[logKey.name]?.size == second.size)
                let export = Data(buffer: try await driver.request(.get, "/api/v1/audit/export", ip: user.ip, token: token).body)
                let verified = try AuditExportVerifier.verify(export, witnesses: [witness.verifierKey])
                #expect(verified.witnessesVerified == [witness.verifierKey.name] && verified.checkpoint.size == second.size)

                // A forked log under the same key: a tree of the same size with another last entry is refused (422).
                var forked = InMemoryMerkleTree()
                for index in 0..<second.size { forked.append(leafHash: RFC6962.leafHash(Array("forged \(index)".utf8))) }
                let note = try SignedNote.sign(
                    Checkpoint(origin: logKey.name, size: second.size, root: try forked.root()).text,
                    name: logKey.name,
                    key: app.prepared.secrets.auditSigningKey
                )
                let refused = try await witnessClient.execute(
                    uri: "/add-checkpoint",
                    method: .post,
                    body: ByteBuffer(string: Witness.request(old: second.size, proof: [], note: note))
                )
                #expect(refused.status == .unprocessableContent)
                #expect(state.current[logKey.name]?.size == second.size && state.current[logKey.name]?.root == second.root)
            }
        }
    }

    @Test("An unreachable witness blocks nothing: the checkpoint is published without its cosignature")
    func unreachableWitness() async throws {
        var app = try AuthDriver.application([Setting.auditCheckpointInterval.name: "0"])
        let nobody = CosignerKey(name: "nobody.example", publicKey: Curve25519.Signing.PrivateKey().publicKey)
        app.prepared.configuration.auditWitnesses = [AuditWitness(url: URL(string: "http://127.0.0.1:9")!, key: nobody)]
        try await app.run { client, inside in
            try await inside.auditLog.sequence()
            try await inside.auditLog.checkpointIfDue(force: true)
            let checkpoint = try await inside.auditLog.latest()
            await inside.auditLog.cosign(checkpoint, timeout: .seconds(2))
            let published = try await client.execute(uri: "/audit/log/checkpoint", method: .get).bodyString
            #expect(published == checkpoint.note)
        }
    }
}

enum SecureFileMode {
    static func of(_ url: URL) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? nil
    }
}
