// A signal bot's webhook secret: 256 random bits shown once; only its SHA-256 is stored, compared in constant time.

import Crypto
import Foundation
import Vault

public enum WebhookSecret {
    public static func generate() -> String {
        SecretBytes.random(count: 32).withUnsafeBytes { Base64.urlSafeEncode($0) }.replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ secret: String) -> Data { Data(SHA256.hash(data: Array(secret.utf8))) }

    /// Compared against when the bot does not exist, so an unknown bot costs the same as a wrong secret.
    static let decoy = Self.hash(Self.generate())

    /// Whether `secret` is the one whose hash is `stored` (or, for an unknown bot, the decoy's, which nobody knows).
    public static func matches(_ secret: String, _ stored: Data?) -> Bool {
        let matches = ConstantTime.equals(Self.hash(secret), stored ?? Self.decoy)
        return matches && stored != nil
    }
}
