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

/// URL-safe base64 exactly as Fernet writes it: padded, `-` and `_`, nothing else accepted. Table-driven on
/// bytes (Foundation's string replacement would dominate the cost of a token).
enum FernetBase64 {
    static let alphabet: [UInt8] =
        Array(UInt8(ascii: "A")...UInt8(ascii: "Z")) + Array(UInt8(ascii: "a")...UInt8(ascii: "z"))
        + Array(UInt8(ascii: "0")...UInt8(ascii: "9")) + [UInt8(ascii: "-"), UInt8(ascii: "_")]
    static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(alphabet[Int(value >> 6 & 63)])
            output.append(alphabet[Int(value & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(rest == 2 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            output.append(UInt8(ascii: "="))
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard !input.isEmpty, input.count % 4 == 0 else { return nil }
        let padding = input.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard padding <= 2 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            var value: UInt32 = 0
            for offset in 0..<4 {
                let character = input[index + offset]
                let isPadding = character == UInt8(ascii: "=") && index + offset >= input.count - padding
                let digit = isPadding ? 0 : reverse[Int(character)]
                guard digit != 0xFF else { return nil }
                value = value << 6 | UInt32(digit)
            }
            output.append(UInt8(value >> 16 & 0xFF))
            output.append(UInt8(value >> 8 & 0xFF))
            output.append(UInt8(value & 0xFF))
            index += 4
        }
        output.removeLast(padding)
        return output
    }
}
