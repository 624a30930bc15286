// Scrubs secrets from log events: sensitive metadata keys, and bearer tokens or JWTs in any value or message.

import Logging

public enum LogRedaction {
    public static let replacement = "[REDACTED]"

    /// Key fragments that mark a metadata value as secret. Compared after lower-casing and removing
    /// `_`, `-`, `.` and spaces, so `api_key`, `apiKey`, `X-API-Key` and `hb.api.key` all match.
    static let sensitiveKeyFragments = ["apikey", "secret", "token", "privatekey", "password", "authorization", "passphrase", "cookie"]

    public static func isSensitiveKey(_ key: String) -> Bool {
        var normalized = ""
        normalized.reserveCapacity(key.utf8.count)
        for character in key.lowercased() where !"_-. ".contains(character) {
            normalized.append(character)
        }
        return sensitiveKeyFragments.contains { normalized.contains($0) }
    }

    public static func redact(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var result = Logger.Metadata()
        for (key, value) in metadata {
            result[key] = isSensitiveKey(key) ? .string(replacement) : redact(value)
        }
        return result
    }

    public static func redact(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text):
            return .string(scrub(text))
        case .stringConvertible(let convertible):
            let text = convertible.description
            let scrubbed = scrub(text)
            return scrubbed == text ? value : .string(scrubbed)
        case .dictionary(let dictionary):
            return .dictionary(redact(dictionary))
        case .array(let values):
            return .array(values.map(redact))
        }
    }

    // `Bearer <token>` anywhere in a value (case-insensitive), and anything shaped like a JWS (three
    // base64url segments, the first a JSON header: `eyJ`), including unsigned `alg: none` tokens.
    static var bearerPattern: Regex<(Substring, Substring)> { #/(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+/# }
    static var jwtPattern: Regex<Substring> { #/eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/# }

    /// Replace credentials inside free text.
    public static func scrub(_ text: String) -> String {
        // Cheap pre-check: most log values contain neither marker.
        let lowered = text.lowercased()
        guard lowered.contains("eyj") || lowered.contains("bearer") else { return text }
        var result = text.replacing(bearerPattern) { match in "\(match.output.1) \(replacement)" }
        result = result.replacing(jwtPattern) { _ in replacement }
        return result
    }
}
