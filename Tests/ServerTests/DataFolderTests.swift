// SPEC §1: the data folder is 0700, every file in it 0600, secrets are generated with the CSPRNG on first
// start and kept; none is hard-coded.

import AuditLog
import Foundation
import HummingbirdTesting
import Storage
import Testing
import Vault

@testable import Server

@Suite struct DataFolderTests {
    static func secretFiles(_ directory: URL) throws -> [SecretKind: [UInt8]] {
        var result: [SecretKind: [UInt8]] = [:]
        for kind in SecretKind.allCases {
            result[kind] = try SecureFile.read(directory.appendingPathComponent(kind.fileName))
        }
        return result
    }

    @Test("First start creates a 0700 folder whose files (secrets and SQLite database) are all 0600")
    func permissionsAfterFirstStart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("nested/data")
        // A permissive umask must not matter.
        let previous = umask(0o022)
        defer { umask(previous) }
        let app = try TestApplication([Setting.dataDirectory.name: data.path, Setting.databaseURL.name: "sqlite:\(data.path)/tradekeep.sqlite"])
        #expect(Set(app.prepared.generatedFiles) == Set(SecretKind.allCases.map(\.fileName)))
        try await app.test { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(SecureFile.mode(of: data) == 0o700)
            let names = try FileManager.default.contentsOfDirectory(atPath: data.path)
            for name in SecretKind.allCases.map(\.fileName) + ["tradekeep.sqlite", "tradekeep.sqlite-wal"] {
                #expect(names.contains(name), "\(name) missing from \(names)")
            }
            for name in names {
                #expect(SecureFile.mode(of: data.appendingPathComponent(name)) == 0o600, "\(name) is not 0600")
            }
        }
    }

    @Test("Generated secrets have the right sizes, differ between installations and survive restarts")
    func generatedSecrets() throws {
        let first = try TemporaryDirectory()
        let second = try TemporaryDirectory()
        defer {
            first.remove()
            second.remove()
        }
        let a = try StartupPolicy.prepare(ConfigurationSources(flags: [Setting.dataDirectory.name: first.url.path]))
        let b = try StartupPolicy.prepare(ConfigurationSources(flags: [Setting.dataDirectory.name: second.url.path]))
        #expect(a.secrets.jwtKey.count == 64)
        #expect(a.secrets.backupKey.count == 32)
        #expect(a.secrets.keyring.current.key.count == 32)
        #expect(!a.secrets.jwtKey.constantTimeEquals(b.secrets.jwtKey))
        #expect(!a.secrets.backupKey.constantTimeEquals(b.secrets.backupKey))
        #expect(!a.secrets.keyring.current.key.constantTimeEquals(b.secrets.keyring.current.key))
        #expect(a.secrets.keyring.id != b.secrets.keyring.id)
        #expect(a.secrets.auditSigningKey.publicKey.rawRepresentation != b.secrets.auditSigningKey.publicKey.rawRepresentation)

        let filesBefore = try Self.secretFiles(first.url)
        let again = try StartupPolicy.prepare(ConfigurationSources(flags: [Setting.dataDirectory.name: first.url.path]))
        #expect(again.generatedFiles.isEmpty)
        #expect(again.secrets.jwtKey.constantTimeEquals(a.secrets.jwtKey))
        #expect(again.secrets.keyring.id == a.secrets.keyring.id)
        #expect(try Self.secretFiles(first.url) == filesBefore, "a restart must not rewrite secrets")
    }

    @Test("The backup key file is a standard Fernet key: 32 bytes in URL-safe base64")
    func backupKeyIsFernet() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try StartupPolicy.prepare(ConfigurationSources(flags: [Setting.dataDirectory.name: directory.url.path]))
        let text = String(decoding: try SecureFile.read(directory.appending(SecretKind.backup.fileName)), as: UTF8.self)
            .trimmingCharacters(in: .newlines)
        #expect(text.count == 44)
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "=" })
        #expect(Base64.decode(text)?.count == 32)
    }

    @Test("A secret given as a variable is used and no file is generated for it")
    func secretFromEnvironment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let jwt = SecretBytesTestHelper.randomBytes(48)
        let prepared = try StartupPolicy.prepare(
            ConfigurationSources(
                flags: [Setting.dataDirectory.name: directory.url.path],
                environment: [Setting.jwtSecret.name: Data(jwt).base64EncodedString()]
            )
        )
        #expect(prepared.secrets.jwtKey.constantTimeEquals(SecretBytes(copying: jwt)))
        #expect(!SecureFile.exists(directory.appending(SecretKind.jwt.fileName)))
    }

    @Test("No secret in the source tree: the sources contain no base64 key literal of 32 bytes or more")
    func noHardCodedSecrets() throws {
        let sources = TestEnvironment.repositoryRoot.appendingPathComponent("Sources")
        let enumerator = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        let pattern = #/"[A-Za-z0-9+/_-]{43,}={0,2}"/#
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            // snake_case names (C symbols such as libsecp256k1's) are not keys: random base64 of this length has capitals.
            let match = text.matches(of: pattern).map { String($0.output) }.first { $0.contains(where: \.isUppercase) }
            #expect(match == nil, "\(url.lastPathComponent) holds a key-shaped literal: \(match ?? "")")
        }
    }

    @Test("A database stays bound to the keyring it was first used with")
    func keyringBinding() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = "sqlite:\(directory.appending("shared.sqlite").path)"
        let first = try TestApplication([Setting.dataDirectory.name: directory.appending("a").path, Setting.databaseURL.name: database])
        try await first.test { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .ok)
        }
        let other = try TestApplication([Setting.dataDirectory.name: directory.appending("b").path, Setting.databaseURL.name: database])
        await #expect {
            try await other.test { _ in }
        } throws: { error in
            "\(error)".contains("was initialised with keyring \(first.prepared.secrets.keyring.id)")
        }
        // The right data folder still works.
        let again = try TestApplication([Setting.dataDirectory.name: directory.appending("a").path, Setting.databaseURL.name: database])
        try await again.test { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .ok)
        }
    }
}
