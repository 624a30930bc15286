// SPEC §1: in production the server refuses to start, naming the setting, when a secret is missing, short or
// a placeholder, when key files are readable by others, or when it would serve plain HTTP.

import Foundation
import Testing
import Vault

@testable import Server

@Suite struct ProductionRefusalTests {
    /// A data folder with generated secrets and settings that pass every production rule.
    struct Fixture {
        let directory: TemporaryDirectory
        var flags: [String: String]
        var environment: [String: String] = [:]

        var dataDirectory: URL { self.directory.appending("data") }

        init() throws {
            self.directory = try TemporaryDirectory()
            self.flags = [
                Setting.environment.name: "production",
                Setting.dataDirectory.name: self.directory.appending("data").path,
                Setting.behindTLSProxy.name: "true",
            ]
            let sources = ConfigurationSources(flags: self.flags)
            let loaded = try initializeDataFolder(try ServerConfiguration(sources), sources: sources)
            precondition(loaded.problems.isEmpty && loaded.generatedFiles.count == SecretKind.allCases.count)
        }

        func prepare() throws -> PreparedServer {
            try StartupPolicy.prepare(ConfigurationSources.load(flags: self.flags, environment: self.environment))
        }

        /// The refusals, or an empty list when start-up would proceed.
        func refusals() -> [Refusal] {
            do {
                _ = try self.prepare()
                return []
            } catch let error as StartupRefused {
                return error.refusals
            } catch {
                Issue.record("unexpected error \(error)")
                return []
            }
        }

        func file(_ kind: SecretKind) -> URL { self.dataDirectory.appendingPathComponent(kind.fileName) }
    }

    static func expectRefusal(_ refusals: [Refusal], setting: String, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            refusals.contains { $0.setting == setting && $0.message.contains(text) },
            "expected a refusal of \(setting) mentioning “\(text)”, got \(refusals)",
            sourceLocation: sourceLocation
        )
    }

    @Test("A correctly provisioned production deployment starts")
    func baselineStarts() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let prepared = try fixture.prepare()
        #expect(prepared.configuration.environment == .production)
        #expect(prepared.generatedFiles.isEmpty)
        #expect(prepared.warnings.isEmpty)
    }

    @Test("Production never generates secrets: each missing one is refused by name", arguments: SecretKind.allCases)
    func missingSecret(kind: SecretKind) throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        try FileManager.default.removeItem(at: fixture.file(kind))
        Self.expectRefusal(fixture.refusals(), setting: kind.setting.name, containing: "missing")
        #expect(!SecureFile.exists(fixture.file(kind)), "production must not generate \(kind.fileName)")
    }

    @Test("A short secret is refused", arguments: [SecretKind.jwt, .backup, .auditSigning])
    func shortSecret(kind: SecretKind) throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.environment[kind.setting.name] = Data((0..<20).map { UInt8($0 * 7 + 3) }).base64EncodedString()
        Self.expectRefusal(fixture.refusals(), setting: kind.setting.name, containing: "has 20 bytes")
    }

    @Test(
        "A placeholder secret is refused",
        arguments: [
            "changeme", "your-256-bit-secret-your-256-bit-secret-0000", "ChangeMe-ChangeMe-ChangeMe-ChangeMe-ChangeMe",
            "REPLACE_WITH_A_RANDOM_VALUE_OF_AT_LEAST_32_BYTES_PLEASE",
        ]
    )
    func placeholderSecret(value: String) throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.environment[Setting.jwtSecret.name] = value
        Self.expectRefusal(fixture.refusals(), setting: Setting.jwtSecret.name, containing: "placeholder")
    }

    @Test("A patterned (non-random) key of the right length is refused as a placeholder")
    func patternedSecret() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.environment[Setting.backupKey.name] = Data(repeating: 0x41, count: 32).base64EncodedString()
        Self.expectRefusal(fixture.refusals(), setting: Setting.backupKey.name, containing: "placeholder")
    }

    @Test("A placeholder written into a secret file is refused too")
    func placeholderInFile() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        try SecureFile.write(Array("changeme\n".utf8), to: fixture.file(.jwt), overwrite: true)
        Self.expectRefusal(fixture.refusals(), setting: Setting.jwtSecret.name, containing: "placeholder")
    }

    @Test("A secret file readable by others is refused", arguments: SecretKind.allCases)
    func secretFileReadableByOthers(kind: SecretKind) throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        try SecureFile.setMode(0o644, of: fixture.file(kind))
        Self.expectRefusal(fixture.refusals(), setting: kind.setting.name, containing: "readable by other users")
        #expect(SecureFile.mode(of: fixture.file(kind)) == 0o644, "production reports, it does not silently fix")
    }

    @Test("A TLS private key readable by others is refused")
    func tlsKeyReadableByOthers() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        let (certificate, key) = try TestCertificate.write(to: fixture.directory)
        try SecureFile.setMode(0o640, of: key)
        fixture.flags[Setting.behindTLSProxy.name] = nil
        fixture.flags[Setting.tlsCertificate.name] = certificate.path
        fixture.flags[Setting.tlsKey.name] = key.path
        Self.expectRefusal(fixture.refusals(), setting: Setting.tlsKey.name, containing: "readable by other users")
        try SecureFile.setMode(0o600, of: key)
        #expect(fixture.refusals().isEmpty)
    }

    @Test("A config file holding a secret must not be readable by others")
    func configFileWithSecret() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        let file = fixture.directory.appending("tradekeep.conf")
        try "TRADEKEEP_JWT_SECRET=\(Data(SecretBytesTestHelper.randomBytes(48)).base64EncodedString())\n".write(
            to: file,
            atomically: true,
            encoding: .utf8
        )
        try SecureFile.setMode(0o644, of: file)
        fixture.flags[Setting.configFile.name] = file.path
        Self.expectRefusal(fixture.refusals(), setting: Setting.configFile.name, containing: "holds secrets")
    }

    @Test("Plain HTTP without TLS and without --behind-tls-proxy is refused")
    func plainHTTP() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.flags[Setting.behindTLSProxy.name] = nil
        Self.expectRefusal(fixture.refusals(), setting: Setting.tlsCertificate.name, containing: "plain HTTP")
    }

    @Test("A data folder or a file in it open to others is refused")
    func looseDataFolder() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        try SecureFile.setMode(0o755, of: fixture.dataDirectory)
        let stray = fixture.dataDirectory.appendingPathComponent("tradekeep.sqlite")
        FileManager.default.createFile(atPath: stray.path, contents: Data(), attributes: [.posixPermissions: 0o644])
        let refusals = fixture.refusals()
        Self.expectRefusal(refusals, setting: Setting.dataDirectory.name, containing: "must be 0700")
        Self.expectRefusal(refusals, setting: Setting.dataDirectory.name, containing: "must be 0600")
    }

    @Test("A remote PostgreSQL server without sslmode=verify-full is refused; in-memory SQLite too")
    func databaseTransport() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.environment[Setting.databaseURL.name] = "postgres://tk:pw@db.internal:5432/tk?sslmode=require"
        Self.expectRefusal(fixture.refusals(), setting: Setting.databaseURL.name, containing: "verify-full")
        fixture.environment[Setting.databaseURL.name] = "postgres://tk:pw@db.internal:5432/tk?sslmode=verify-full"
        #expect(fixture.refusals().isEmpty)
        fixture.environment[Setting.databaseURL.name] = "sqlite::memory:"
        Self.expectRefusal(fixture.refusals(), setting: Setting.databaseURL.name, containing: "loses every record")
    }

    @Test("Every refusal is reported at once, not one per attempt")
    func allRefusalsTogether() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.flags[Setting.behindTLSProxy.name] = nil
        try FileManager.default.removeItem(at: fixture.file(.jwt))
        try SecureFile.setMode(0o604, of: fixture.file(.backup))
        let settings = Set(fixture.refusals().map(\.setting))
        #expect(settings == [Setting.tlsCertificate.name, Setting.jwtSecret.name, Setting.backupKey.name])
    }

    @Test("Development generates missing secrets, and warns about (and tightens) loose permissions")
    func developmentIsForgiving() throws {
        var fixture = try Fixture()
        defer { fixture.directory.remove() }
        fixture.flags[Setting.environment.name] = "development"
        fixture.flags[Setting.behindTLSProxy.name] = nil
        try FileManager.default.removeItem(at: fixture.file(.jwt))
        try SecureFile.setMode(0o644, of: fixture.file(.backup))
        let prepared = try fixture.prepare()
        #expect(prepared.generatedFiles == [SecretKind.jwt.fileName])
        #expect(prepared.warnings.contains { $0.contains("readable by other users") })
        #expect(prepared.warnings.contains { $0.contains("plain HTTP") })
        #expect(SecureFile.mode(of: fixture.file(.backup)) == 0o600)
    }
}

enum SecretBytesTestHelper {
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in generator.next() }
    }
}
