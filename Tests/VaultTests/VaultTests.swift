// Secret buffers, secure files and the local keyring file.

import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import Vault

@Suite struct SecretBytesTests {
    @Test("A secret never prints its bytes")
    func redactedDescriptions() {
        let secret = SecretBytes(copying: Array("correct horse battery staple".utf8))
        for text in ["\(secret)", String(describing: secret), String(reflecting: secret), "\(Mirror(reflecting: secret).children.count)"] {
            #expect(!text.contains("horse"), "\(text)")
        }
        #expect("\(secret)" == "SecretBytes(28 bytes, redacted)")
        #expect(Mirror(reflecting: secret).children.isEmpty)
    }

    @Test("Random secrets differ and have the requested size")
    func randomness() {
        let a = SecretBytes.random(count: 32)
        let b = SecretBytes.random(count: 32)
        #expect(a.count == 32)
        #expect(!a.constantTimeEquals(b))
        #expect(a.constantTimeEquals(SecretBytes(copying: a.withUnsafeBytes { Array($0) })))
    }

    @Test("Constant-time comparison is correct on equal, different and different-length inputs")
    func constantTime() {
        #expect(ConstantTime.equals("abc", "abc"))
        #expect(!ConstantTime.equals("abc", "abd"))
        #expect(!ConstantTime.equals("abc", "abcd"))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }

    @Test("resetBytes zeroes a temporary copy")
    func reset() {
        var bytes: [UInt8] = [1, 2, 3, 4]
        bytes.resetBytes()
        #expect(bytes == [0, 0, 0, 0])
    }
}

@Suite struct SecureFileTests {
    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vault-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("Files are created 0600 and directories 0700 whatever the umask")
    func modes() throws {
        let base = try temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let previous = umask(0)
        defer { umask(previous) }
        let directory = base.appendingPathComponent("a/b")
        #expect(try SecureFile.ensureDirectory(directory).created)
        #expect(SecureFile.mode(of: directory) == 0o700)
        let file = directory.appendingPathComponent("key")
        try SecureFile.write([1, 2, 3], to: file)
        #expect(SecureFile.mode(of: file) == 0o600)
        #expect(try SecureFile.read(file) == [1, 2, 3])
        try SecureFile.touch(directory.appendingPathComponent("db"))
        #expect(SecureFile.mode(of: directory.appendingPathComponent("db")) == 0o600)
    }

    @Test("write never replaces an existing secret unless asked, and leaves no temporary file")
    func noOverwrite() throws {
        let base = try temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let file = base.appendingPathComponent("key")
        try SecureFile.write([1], to: file)
        #expect(throws: SecureFileError.io(path: file.path, operation: "create", errno: EEXIST)) {
            try SecureFile.write([2], to: file)
        }
        #expect(try SecureFile.read(file) == [1])
        try SecureFile.write([3], to: file, overwrite: true)
        #expect(try SecureFile.read(file) == [3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.path) == ["key"])
    }

    @Test("Reading a secret through a symbolic link is refused")
    func symlinkRefused() throws {
        let base = try temporary()
        defer { try? FileManager.default.removeItem(at: base) }
        let target = base.appendingPathComponent("real")
        try SecureFile.write([9], to: target)
        let link = base.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        #expect(throws: SecureFileError.symbolicLink(path: link.path)) { try SecureFile.read(link) }
    }
}

@Suite struct LocalKeyringTests {
    @Test("A keyring round-trips through its file format")
    func roundTrip() throws {
        let keyring = LocalKeyring.generate()
        let parsed = try LocalKeyring.parse(keyring.serialized())
        #expect(parsed.id == keyring.id)
        #expect(parsed.currentVersion == 1)
        #expect(parsed.current.key.constantTimeEquals(keyring.current.key))
        #expect(parsed.key(version: 2) == nil)
    }

    @Test(
        "Malformed keyrings are refused with a reason",
        arguments: [
            ("not json", "not valid"),
            (#"{"format":"other","id":"x","current":1,"keys":[]}"#, "unknown format"),
            (
                #"{"format":"tradekeep-keyring-v1","id":"x","current":1,"keys":[{"version":1,"created_at":"2026-01-01T00:00:00Z","key":"AAAA"}]}"#,
                "32 random bytes"
            ),
            (#"{"format":"tradekeep-keyring-v1","id":"x","current":2,"keys":[]}"#, "current version 2"),
        ]
    )
    func malformed(text: String, reason: String) {
        #expect {
            try LocalKeyring.parse(Array(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("Base64 accepts both alphabets, with or without padding")
    func base64() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x01]
        #expect(Base64.decode("+/+/AQ==") == bytes)
        #expect(Base64.decode("-_-_AQ") == bytes)
        #expect(Base64.urlSafeEncode(bytes) == "-_-_AQ==")
        #expect(Base64.decode("not base64!") == nil)
        #expect(Base64.decode("") == nil)
    }
}

@Suite struct EnvelopeTests {
    static let keyring = LocalKeyring.generate()
    static let envelope = Envelope(provider: LocalKEKProvider(keyring: keyring), key: "1")
    static let context = SecretContext(purpose: "totp", ownerID: "user-1", recordID: "secret-1")

    @Test("A sealed secret opens with its own context and never contains the plaintext")
    func roundTrip() async throws {
        let plaintext = SecretBytes(copying: Array("JBSWY3DPEHPK3PXP-the-secret".utf8))
        let sealed = try await Self.envelope.seal(plaintext, context: Self.context)
        #expect(sealed.kekProvider == "local" && sealed.kekVersion == 1 && sealed.nonce.count == 12)
        #expect(!Data(sealed.ciphertext + sealed.wrappedKey).contains(Data("the-secret".utf8)))
        let opened = try await Self.envelope.withSecret(sealed, context: Self.context) { $0.withUnsafeBytes(Array.init) }
        #expect(opened == Array("JBSWY3DPEHPK3PXP-the-secret".utf8))
        // Each seal uses a fresh data key and nonce.
        let again = try await Self.envelope.seal(plaintext, context: Self.context)
        #expect(again.ciphertext != sealed.ciphertext && again.wrappedKey != sealed.wrappedKey)
    }

    @Test(
        "Another owner, record or purpose cannot open it",
        arguments: [
            SecretContext(purpose: "totp", ownerID: "user-2", recordID: "secret-1"),
            SecretContext(purpose: "totp", ownerID: "user-1", recordID: "secret-2"),
            SecretContext(purpose: "exchange_key", ownerID: "user-1", recordID: "secret-1"),
        ]
    )
    func wrongContext(context: SecretContext) async throws {
        let sealed = try await Self.envelope.seal(.random(count: 20), context: Self.context)
        await #expect(throws: VaultError.decryptionFailed) {
            try await Self.envelope.withSecret(sealed, context: context) { _ in 0 }
        }
    }

    @Test("One flipped bit anywhere is detected; another keyring cannot open it")
    func tampering() async throws {
        let sealed = try await Self.envelope.seal(.random(count: 20), context: Self.context)
        for field in 0..<3 {
            var copy = sealed
            switch field {
            case 0: copy.ciphertext[0] ^= 1
            case 1: copy.wrappedKey[copy.wrappedKey.count - 1] ^= 0x80
            default: copy.nonce[5] ^= 4
            }
            await #expect(throws: VaultError.decryptionFailed) { try await Self.envelope.withSecret(copy, context: Self.context) { _ in 0 } }
        }
        let stranger = Envelope(provider: LocalKEKProvider(keyring: .generate()), key: "1")
        await #expect(throws: VaultError.decryptionFailed) { try await stranger.withSecret(sealed, context: Self.context) { _ in 0 } }
    }
}

@Suite struct VaultVersionTests {
    static let context = SecretContext(purpose: "test", ownerID: "o", recordID: "r")

    /// A vault over a keyring file, with a version table the test controls.
    final class Fixture: Sendable {
        let directory: URL
        let provider: LocalKEKProvider
        let table: NIOLockedValueBoxWrapper

        init() throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("vault-\(UUID().uuidString)")
            try SecureFile.ensureDirectory(self.directory)
            let file = self.directory.appendingPathComponent("kek-keyring.json")
            let keyring = LocalKeyring.generate()
            try SecureFile.write(keyring.serialized(), to: file)
            self.provider = LocalKEKProvider(keyring: keyring, file: file)
            self.table = NIOLockedValueBoxWrapper(KEKVersions(current: 1, references: [1: KEKReference(provider: "local", key: "1")]))
        }

        func vault(cacheLifetime: Duration = .seconds(300), capacity: Int = 10_000) -> Envelope {
            let table = self.table
            return Envelope(
                providers: [self.provider],
                versions: table.value,
                versionSource: { table.value },
                refreshInterval: .seconds(3600),
                cacheLifetime: cacheLifetime,
                cacheCapacity: capacity
            )
        }
    }

    @Test("Rewrap moves a record to a new version without touching its ciphertext; the old key can then go")
    func rewrapAcrossVersions() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let vault = fixture.vault()
        let sealed = try await vault.seal(SecretBytes(copying: [1, 2, 3]), context: Self.context)
        let key = try await fixture.provider.createKey()
        #expect(key == "2")
        fixture.table.value = KEKVersions(current: 2, references: [1: .init(provider: "local", key: "1"), 2: .init(provider: "local", key: "2")])
        let moved = try await vault.rewrap(sealed, context: Self.context, to: 2)
        #expect(moved.kekVersion == 2 && moved.ciphertext == sealed.ciphertext && moved.wrappedKey != sealed.wrappedKey)
        try await fixture.provider.retireKey("1")
        let fresh = fixture.vault()
        #expect(try await fresh.withSecret(moved, context: Self.context) { $0.withUnsafeBytes(Array.init) } == [1, 2, 3])
        await #expect(throws: VaultError.unknownKEK(KEKReference(provider: "local", key: "1"))) {
            try await fresh.withSecret(sealed, context: Self.context) { _ in 0 }
        }
        // The keyring file on disk agrees.
        let onDisk = try LocalKeyring.parse(SecureFile.read(fixture.directory.appendingPathComponent("kek-keyring.json")))
        #expect(onDisk.entries.map(\.version) == [2] && onDisk.currentVersion == 2)
    }

    @Test("A key added by another process is found by re-reading the keyring file")
    func reloadsKeyring() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let other = LocalKEKProvider(keyring: fixture.provider.currentKeyring, file: fixture.directory.appendingPathComponent("kek-keyring.json"))
        let key = try await other.createKey()
        let wrapped = try await other.wrap(.random(count: 32), key: key, context: Self.context)
        #expect(try await fixture.provider.unwrap(wrapped, key: key, context: Self.context).count == 32)
    }

    @Test("Unwrapped data keys are cached: the provider is called once per record until the entry expires")
    func dataKeyCache() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let vault = fixture.vault()
        let sealed = try await vault.seal(.random(count: 8), context: Self.context)
        #expect(vault.statistics.providerCalls == 1)
        for _ in 0..<5 { _ = try await vault.withSecret(sealed, context: Self.context) { $0.count } }
        #expect(vault.statistics == VaultStatistics(providerCalls: 2, cacheHits: 4, cacheMisses: 1))
        // The cache is keyed by context too: the wrong context misses and fails.
        await #expect(throws: VaultError.decryptionFailed) {
            try await vault.withSecret(sealed, context: SecretContext(purpose: "test", ownerID: "x", recordID: "r")) { _ in 0 }
        }

        let uncached = fixture.vault(cacheLifetime: .zero)
        for _ in 0..<3 { _ = try await uncached.withSecret(sealed, context: Self.context) { $0.count } }
        #expect(uncached.statistics.providerCalls == 3 && uncached.statistics.cacheHits == 0)

        let short = fixture.vault(cacheLifetime: .milliseconds(50))
        _ = try await short.withSecret(sealed, context: Self.context) { $0.count }
        try await Task.sleep(for: .milliseconds(80))
        _ = try await short.withSecret(sealed, context: Self.context) { $0.count }
        #expect(short.statistics.providerCalls == 2)
    }

    @Test("The cache is bounded: beyond its capacity the oldest entries are dropped")
    func cacheCapacity() async throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let vault = fixture.vault(capacity: 4)
        var sealed: [SealedSecret] = []
        for index in 0..<10 {
            let context = SecretContext(purpose: "test", ownerID: "o", recordID: "r\(index)")
            let record = try await vault.seal(.random(count: 8), context: context)
            sealed.append(record)
            _ = try await vault.withSecret(record, context: context) { $0.count }
        }
        let first = SecretContext(purpose: "test", ownerID: "o", recordID: "r0")
        let calls = vault.statistics.providerCalls
        _ = try await vault.withSecret(sealed[0], context: first) { $0.count }
        #expect(vault.statistics.providerCalls == calls + 1, "the first record was evicted")
    }
}

/// A value tests change while a vault reads it.
final class NIOLockedValueBoxWrapper: Sendable {
    private let box: NIOLockedValueBox<KEKVersions>
    init(_ value: KEKVersions) { self.box = NIOLockedValueBox(value) }
    var value: KEKVersions {
        get { self.box.withLockedValue { $0 } }
        set { self.box.withLockedValue { $0 = newValue } }
    }
}
