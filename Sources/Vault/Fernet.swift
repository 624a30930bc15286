// Fernet (https://github.com/fernet/spec): AES-128-CBC + HMAC-SHA256 tokens, and MultiFernet for key rotation.

import Crypto
import CryptoExtras
import Foundation

/// A Fernet key: 16 bytes of HMAC-SHA256 signing key, then 16 bytes of AES-128 encryption key, written as
/// URL-safe base64 (44 characters) — the format of Python's `cryptography.fernet.Fernet.generate_key()`.
public struct FernetKey: Sendable {
    let signing: SymmetricKey
    let encryption: SymmetricKey

    public init(bytes: SecretBytes) throws {
        guard bytes.count == 32 else { throw FernetError.invalidKey }
        (self.signing, self.encryption) = bytes.withUnsafeBytes { raw in
            (SymmetricKey(data: raw[0..<16]), SymmetricKey(data: raw[16..<32]))
        }
    }

    /// Parse the URL-safe base64 text form.
    public init(base64URL text: String) throws {
        guard var raw = FernetBase64.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw FernetError.invalidKey
        }
        defer { raw.resetBytes() }
        try self.init(bytes: SecretBytes(copying: raw))
    }

    public static func generate() -> FernetKey { try! FernetKey(bytes: .random(count: 32)) }

    /// The text form. It is a secret: write it only to a 0600 file.
    public var base64URL: String {
        self.signing.withUnsafeBytes { s in self.encryption.withUnsafeBytes { e in FernetBase64.encode(Array(s) + Array(e)) } }
    }
}

/// Every failure is the same error to the caller, as in the reference implementation: which check failed is
/// not revealed (the reason is kept for tests and logs).
public struct FernetError: Error, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case invalidKey, malformed, badSignature, expired, fromTheFuture, badPadding
    }

    public let reason: Reason
    static let invalidKey = FernetError(reason: .invalidKey)

    public var description: String {
        self.reason == .invalidKey ? "not a Fernet key (32 bytes, URL-safe base64)" : "invalid Fernet token"
    }
}

public struct Fernet: Sendable {
    static let version: UInt8 = 0x80
    /// Tokens stamped more than this far in the future are refused (the reference implementation's rule).
    public static let maximumClockSkew: TimeInterval = 60

    public let key: FernetKey

    public init(key: FernetKey) {
        self.key = key
    }

    /// Encrypt and sign. `iv` is for test vectors only; by default a fresh random IV is used.
    public func encrypt(_ plaintext: some DataProtocol, now: Date = Date(), iv: [UInt8]? = nil) throws -> String {
        FernetBase64.encode(try self.encryptBytes(plaintext, now: now, iv: iv))
    }

    func encryptBytes(_ plaintext: some DataProtocol, now: Date, iv: [UInt8]?) throws -> [UInt8] {
        let ivBytes = iv ?? SecretBytes.random(count: 16).withUnsafeBytes(Array.init)
        let ciphertext = try AES._CBC.encrypt(plaintext, using: self.key.encryption, iv: try AES._CBC.IV(ivBytes: ivBytes))
        var token: [UInt8] = [Self.version]
        withUnsafeBytes(of: UInt64(max(0, now.timeIntervalSince1970.rounded(.down))).bigEndian) { token.append(contentsOf: $0) }
        token.append(contentsOf: ivBytes)
        token.append(contentsOf: ciphertext)
        token.append(contentsOf: HMAC<SHA256>.authenticationCode(for: token, using: self.key.signing))
        return token
    }

    /// Verify and decrypt. With `ttl`, tokens older than `ttl` seconds are refused; tokens from more than a
    /// minute in the future always are. The HMAC is checked before anything is decrypted.
    public func decrypt(_ token: String, ttl: TimeInterval? = nil, now: Date = Date()) throws -> [UInt8] {
        guard let bytes = FernetBase64.decode(token) else { throw FernetError(reason: .malformed) }
        return try self.decryptBytes(bytes, ttl: ttl, now: now)
    }

    func decryptBytes(_ bytes: [UInt8], ttl: TimeInterval?, now: Date) throws -> [UInt8] {
        // version (1) + timestamp (8) + IV (16) + at least one block (16) + HMAC (32)
        guard bytes.count >= 73, bytes[0] == Self.version, (bytes.count - 57) % 16 == 0 else {
            throw FernetError(reason: .malformed)
        }
        let signed = bytes[0..<(bytes.count - 32)]
        let mac = bytes[(bytes.count - 32)...]
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: self.key.signing) else {
            throw FernetError(reason: .badSignature)
        }
        let timestamp = TimeInterval(bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        if let ttl, timestamp + ttl < now.timeIntervalSince1970 { throw FernetError(reason: .expired) }
        if now.timeIntervalSince1970 + Self.maximumClockSkew < timestamp { throw FernetError(reason: .fromTheFuture) }
        do {
            let iv = try AES._CBC.IV(ivBytes: bytes[9..<25])
            return Array(try AES._CBC.decrypt(bytes[25..<(bytes.count - 32)], using: self.key.encryption, iv: iv))
        } catch {
            throw FernetError(reason: .badPadding)
        }
    }

    /// The timestamp inside a token whose signature is valid.
    public func timestamp(of token: String) throws -> Date {
        guard let bytes = FernetBase64.decode(token), bytes.count >= 73, bytes[0] == Self.version else { throw FernetError(reason: .malformed) }
        guard HMAC<SHA256>.isValidAuthenticationCode(bytes.suffix(32), authenticating: bytes.dropLast(32), using: self.key.signing) else {
            throw FernetError(reason: .badSignature)
        }
        return Date(timeIntervalSince1970: TimeInterval(bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
    }
}

/// Several keys: encrypts with the first, decrypts with whichever verifies — how Fernet keys are rotated.
public struct MultiFernet: Sendable {
    public let fernets: [Fernet]

    public init(keys: [FernetKey]) throws {
        guard !keys.isEmpty else { throw FernetError.invalidKey }
        self.fernets = keys.map(Fernet.init)
    }

    public func encrypt(_ plaintext: some DataProtocol, now: Date = Date()) throws -> String {
        try self.fernets[0].encrypt(plaintext, now: now)
    }

    public func decrypt(_ token: String, ttl: TimeInterval? = nil, now: Date = Date()) throws -> [UInt8] {
        for fernet in self.fernets {
            if let plaintext = try? fernet.decrypt(token, ttl: ttl, now: now) { return plaintext }
        }
        throw FernetError(reason: .badSignature)
    }

    /// Re-encrypt under the first key, keeping the token's original timestamp (as `MultiFernet.rotate` does).
    public func rotate(_ token: String) throws -> String {
        for fernet in self.fernets {
            guard let timestamp = try? fernet.timestamp(of: token) else { continue }
            var plaintext = try fernet.decrypt(token, now: timestamp)
            defer { plaintext.resetBytes() }
            return try self.fernets[0].encrypt(plaintext, now: timestamp)
        }
        throw FernetError(reason: .badSignature)
    }
}

/// URL-safe base64 exactly as Fernet writes it: padded, `-` and `_`, nothing else accepted.
enum FernetBase64 {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func decode(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.count % 4 == 0,
              text.utf8.allSatisfy({ $0.isURLSafeBase64 || $0 == UInt8(ascii: "=") })
        else { return nil }
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: standard).map(Array.init)
    }
}

extension UInt8 {
    fileprivate var isURLSafeBase64: Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: "-") || self == UInt8(ascii: "_")
    }
}
