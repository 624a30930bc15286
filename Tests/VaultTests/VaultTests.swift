// Secret buffers, secure files and the local keyring file.

import Foundation
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
        let a = SecretBytes.random(count: 32), b = SecretBytes.random(count: 32)
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

    @Test("Malformed keyrings are refused with a reason", arguments: [
        ("not json", "not valid"),
        (#"{"format":"other","id":"x","current":1,"keys":[]}"#, "unknown format"),
        (#"{"format":"tradekeep-keyring-v1","id":"x","current":1,"keys":[{"version":1,"created_at":"2026-01-01T00:00:00Z","key":"AAAA"}]}"#, "32 random bytes"),
        (#"{"format":"tradekeep-keyring-v1","id":"x","current":2,"keys":[]}"#, "current version 2"),
    ])
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
    static let envelope = Envelope(provider: LocalKEKProvider(keyring: keyring))
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

    @Test("Another owner, record or purpose cannot open it", arguments: [
        SecretContext(purpose: "totp", ownerID: "user-2", recordID: "secret-1"),
        SecretContext(purpose: "totp", ownerID: "user-1", recordID: "secret-2"),
        SecretContext(purpose: "exchange_key", ownerID: "user-1", recordID: "secret-1"),
    ])
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
        let stranger = Envelope(provider: LocalKEKProvider(keyring: .generate()))
        await #expect(throws: VaultError.decryptionFailed) { try await stranger.withSecret(sealed, context: Self.context) { _ in 0 } }
    }
}
