// Coinbase Developer Platform request JWTs: ES256 for P-256 PEM keys, EdDSA for Ed25519 keys, one per request.

import Crypto
import Foundation
import JWTKit
import Vault

public enum CoinbaseAuth {
    struct Claims: JWTPayload {
        var sub: String
        var iss: String
        var nbf: Int64
        var exp: Int64
        var uri: String

        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    /// Which kind of key `secret` is, read from its text: a PEM EC private key, or base64 Ed25519 (32 or 64 bytes).
    enum KeyKind {
        case es256(ES256PrivateKey)
        case ed25519(EdDSA.PrivateKey)
    }

    static func key(from secret: SecretBytes) throws -> KeyKind {
        try secret.withUnsafeBytes { raw in
            let text = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "\\n", with: "\n")
            if text.contains("-----BEGIN") {
                return .es256(try ES256PrivateKey(pem: text))
            }
            guard var bytes = Data(base64Encoded: text), bytes.count == 32 || bytes.count == 64 else {
                throw CoinbaseAuthError.unreadableKey
            }
            defer { bytes.resetBytes(in: 0..<bytes.count) }
            return .ed25519(EdDSA.PrivateKey(backing: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes.prefix(32))))
        }
    }

    /// The `Authorization: Bearer` token for one request: kid = key name, a fresh nonce, valid for 120 s from `now`.
    public static func token(keyName: String, secret: SecretBytes, method: String, host: String, path: String, now: Date) async throws -> String {
        let keys = JWTKeyCollection()
        switch try self.key(from: secret) {
        case .es256(let key): await keys.add(ecdsa: key, kid: JWKIdentifier(string: keyName))
        case .ed25519(let key): await keys.add(eddsa: key, kid: JWKIdentifier(string: keyName))
        }
        let seconds = Int64(now.timeIntervalSince1970)
        let claims = Claims(sub: keyName, iss: "cdp", nbf: seconds, exp: seconds + 120, uri: "\(method.uppercased()) \(host)\(path)")
        let header: JWTHeader = ["typ": .string("JWT"), "nonce": .string(self.nonce())]
        return try await keys.sign(claims, kid: JWKIdentifier(string: keyName), header: header)
    }

    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        // 32 random bytes as 64 hex digits, as coinbase-advanced-py (secrets.token_hex()) sends.
        return hexString((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

public enum CoinbaseAuthError: Error, CustomStringConvertible {
    case unreadableKey
    public var description: String {
        "The API secret is neither a PEM EC private key nor a base64 Ed25519 key, as the Coinbase Developer Platform issues them."
    }
}
