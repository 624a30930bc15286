// One contract for every KEK provider: local (always), aws-kms (a KMS-compatible endpoint: moto_server in CI),
// pkcs11 (SoftHSM2 in CI). A provider that is not available here is skipped, printing why.

import Foundation
import InteropSupport
import Testing

@testable import Vault

enum KEKTestProviders {
    static let requireAll = ProcessInfo.processInfo.environment["TRADEKEEP_REQUIRE_ALL"] == "1"
    static let kmsEndpoint = ProcessInfo.processInfo.environment["TRADEKEEP_TEST_KMS_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) }

    /// moto accepts any credentials; they are still signed and sent.
    static let kmsCredentials = AWSCredentials(accessKeyID: "AKIDTRADEKEEPTEST", secretAccessKey: "test-secret-key-for-moto")

    static var available: [String] {
        var kinds = ["local"]
        if kmsEndpoint != nil || requireAll { kinds.append("aws-kms") }
        if SoftHSM.available || requireAll { kinds.append("pkcs11") }
        return kinds
    }

    /// The provider of `kind` and the name of a key it holds.
    static func make(_ kind: String) async throws -> (provider: any KeyEncryptionKeyProvider, key: String) {
        switch kind {
        case "aws-kms":
            let endpoint = try #require(kmsEndpoint, "TRADEKEEP_TEST_KMS_ENDPOINT is not set (run scripts/dev-kms)")
            let provider = AWSKMSProvider(region: "us-east-1", endpoint: endpoint, credentials: kmsCredentials)
            return (provider, try await provider.createKey())
        case "pkcs11":
            try #require(SoftHSM.available, "SoftHSM2 is not installed (apt-get install softhsm2)")
            let location = try PKCS11Location(uri: try SoftHSM.kekSetting(object: "kek-\(UUID().uuidString.prefix(8))"))
            let provider = try PKCS11Provider(location: location)
            return (provider, location.object)
        default:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kek-\(UUID().uuidString)")
            try SecureFile.ensureDirectory(directory)
            let keyring = LocalKeyring.generate()
            let file = directory.appendingPathComponent("kek-keyring.json")
            try SecureFile.write(keyring.serialized(), to: file)
            return (LocalKEKProvider(keyring: keyring, file: file), "1")
        }
    }
}

@Suite struct KEKProviderContractTests {
    static let context = SecretContext(purpose: "totp", ownerID: "owner-1", recordID: "record-1")

    @Test("Generated data keys unwrap to themselves; wrap/unwrap round-trips", arguments: KEKTestProviders.available)
    func roundTrip(kind: String) async throws {
        let (provider, key) = try await KEKTestProviders.make(kind)
        let (dataKey, wrapped) = try await provider.generateDataKey(key: key, context: Self.context)
        #expect(dataKey.count == 32)
        #expect(try await provider.unwrap(wrapped, key: key, context: Self.context).constantTimeEquals(dataKey))
        let mine = SecretBytes.random(count: 32)
        let wrappedMine = try await provider.wrap(mine, key: key, context: Self.context)
        #expect(!wrappedMine.isEmpty && !Data(wrappedMine).contains(mine.withUnsafeBytes { Data($0) }))
        #expect(try await provider.unwrap(wrappedMine, key: key, context: Self.context).constantTimeEquals(mine))
    }

    @Test("A wrapped key does not open under another context (owner, record or purpose)", arguments: KEKTestProviders.available)
    func contextBinding(kind: String) async throws {
        let (provider, key) = try await KEKTestProviders.make(kind)
        let (_, wrapped) = try await provider.generateDataKey(key: key, context: Self.context)
        for other in [
            SecretContext(purpose: "totp", ownerID: "owner-2", recordID: "record-1"),
            SecretContext(purpose: "totp", ownerID: "owner-1", recordID: "record-2"),
            SecretContext(purpose: "api_key", ownerID: "owner-1", recordID: "record-1"),
        ] {
            await #expect(throws: (any Error).self, "\(kind) opened under \(other)") {
                _ = try await provider.unwrap(wrapped, key: key, context: other)
            }
        }
    }

    @Test("A key that does not exist is a clear error", arguments: KEKTestProviders.available)
    func unknownKey(kind: String) async throws {
        let (provider, _) = try await KEKTestProviders.make(kind)
        let missing = kind == "aws-kms" ? "alias/tradekeep-does-not-exist" : kind == "pkcs11" ? "no-such-object" : "99"
        if kind == "pkcs11" {
            // The configured object is created on first use; any other label must already exist.
            await #expect(throws: VaultError.unknownKEK(KEKReference(provider: "pkcs11", key: missing))) {
                _ = try await provider.unwrap(Array(repeating: 1, count: 56), key: missing, context: Self.context)
            }
            return
        }
        await #expect {
            _ = try await provider.generateDataKey(key: missing, context: Self.context)
        } throws: { error in
            let text = "\(error)"
            return text.contains("does not exist") || text.contains("not available")
        }
    }

    @Test("createKey makes a new key; records under the old key still open", arguments: KEKTestProviders.available)
    func newKey(kind: String) async throws {
        let (provider, first) = try await KEKTestProviders.make(kind)
        let (oldKey, oldWrapped) = try await provider.generateDataKey(key: first, context: Self.context)
        let second = try await provider.createKey()
        #expect(second != first)
        let (newKey, newWrapped) = try await provider.generateDataKey(key: second, context: Self.context)
        #expect(try await provider.unwrap(oldWrapped, key: first, context: Self.context).constantTimeEquals(oldKey))
        #expect(try await provider.unwrap(newWrapped, key: second, context: Self.context).constantTimeEquals(newKey))
        await #expect(throws: (any Error).self) { _ = try await provider.unwrap(oldWrapped, key: second, context: Self.context) }
    }

    @Test("Sealed through the envelope: opens, refuses tampering, and the cache spares provider calls", arguments: KEKTestProviders.available)
    func throughEnvelope(kind: String) async throws {
        let (provider, key) = try await KEKTestProviders.make(kind)
        let envelope = Envelope(provider: provider, key: key)
        let sealed = try await envelope.seal(SecretBytes(copying: Array("exchange secret".utf8)), context: Self.context)
        #expect(sealed.kekProvider == kind)
        for _ in 0..<3 {
            #expect(try await envelope.withSecret(sealed, context: Self.context) { $0.withUnsafeBytes(Array.init) } == Array("exchange secret".utf8))
        }
        #expect(envelope.statistics.providerCalls == 2)
        var tampered = sealed
        tampered.wrappedKey[tampered.wrappedKey.count / 2] ^= 1
        await #expect(throws: (any Error).self) { _ = try await envelope.withSecret(tampered, context: Self.context) { $0.count } }
    }
}

@Suite(.enabled(if: SoftHSM.available || KEKTestProviders.requireAll, "needs SoftHSM2 (apt-get install softhsm2)"))
struct PKCS11SpecificTests {
    @Test("The KEK is created in the token on first use, non-extractable and sensitive")
    func nonExtractable() async throws {
        let location = try PKCS11Location(uri: try SoftHSM.kekSetting(object: "kek-\(UUID().uuidString.prefix(8))"))
        let provider = try PKCS11Provider(location: location)
        #expect(try provider.isNonExtractable(location.object) == false, "no key before first use")
        _ = try await provider.generateDataKey(key: location.object, context: KEKProviderContractTests.context)
        #expect(try provider.isNonExtractable(location.object))
    }

    @Test("A wrong PIN and a missing module are clear errors")
    func clearErrors() throws {
        var wrongPIN = try PKCS11Location(uri: try SoftHSM.kekSetting(object: "x"))
        wrongPIN.token = SoftHSM.untouchedToken
        wrongPIN.pin = "0000"
        #expect {
            try PKCS11Provider(location: wrongPIN).openSession()
        } throws: { "\($0)".contains("the PIN is wrong") }
        #expect {
            _ = try PKCS11Provider(location: PKCS11Location(token: "t", object: "o", modulePath: "/nonexistent/libpkcs11.so", pin: "1"))
        } throws: { "\($0)".contains("cannot be loaded") }
    }

    @Test("pkcs11 URIs parse per RFC 7512, with pin-value or pin-source")
    func uriParsing() throws {
        let location = try PKCS11Location(
            uri: "pkcs11:token=My%20Token;object=tradekeep-kek;type=secret-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
        )
        #expect(location == PKCS11Location(token: "My Token", object: "tradekeep-kek", modulePath: "/usr/lib/softhsm/libsofthsm2.so", pin: "1234"))
        let pinFile = FileManager.default.temporaryDirectory.appendingPathComponent("pin-\(UUID().uuidString)")
        try "9876\n".write(to: pinFile, atomically: true, encoding: .utf8)
        #expect(try PKCS11Location(uri: "pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:\(pinFile.path)").pin == "9876")
        #expect(throws: KEKConfiguration.ParseError.self) { try PKCS11Location(uri: "pkcs11:token=t?module-path=/m.so&pin-value=1") }
        #expect("\(try KEKConfiguration("pkcs11:token=t;object=o?module-path=/m.so&pin-value=secretpin"))".contains("secretpin") == false)
    }
}
