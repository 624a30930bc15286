// Random bearer secrets (refresh, MFA, enrolment, reset, verification tokens) and the hashes stored for them.

import Crypto
import Foundation
import Vault

public enum OpaqueToken {
    /// 256 bits from the CSPRNG, URL-safe base64 without padding (43 characters).
    public static func generate() -> String {
        SecretBytes.random(count: 32).withUnsafeBytes { Base64.urlSafeEncode($0) }.replacingOccurrences(of: "=", with: "")
    }

    /// What the database keeps: hex SHA-256. A token is found by its hash, so a stolen table reveals no token.
    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
