// Scrubs secrets from log events: sensitive metadata keys, and bearer tokens or JWTs in any value or message.

import Logging
import NIOConcurrencyHelpers

public enum LogRedaction {
    public static let replacement = "[REDACTED]"

    /// Key fragments that mark a metadata value as secret. Compared after lower-casing and removing
    /// `_`, `-`, `.` and spaces, so `api_key`, `apiKey`, `X-API-Key` and `hb.api.key` all match.
    static let sensitiveKeyFragments = ["apikey", "secret", "token", "privatekey", "password", "authorization", "passphrase", "cookie"]

    public static func isSensitiveKey(_ key: String) -> Bool {
        // The same few keys come back on every line: remember the verdicts (bounded, so odd keys cannot grow it).
        if let known = self.verdicts.withLockedValue({ $0[key] }) { return known }
        var normalized = ""
        normalized.reserveCapacity(key.utf8.count)
        for character in key.lowercased() where !"_-. ".contains(character) {
            normalized.append(character)
        }
        let sensitive = sensitiveKeyFragments.contains { normalized.contains($0) }
        self.verdicts.withLockedValue { verdicts in
            if verdicts.count < 1024 { verdicts[key] = sensitive }
        }
        return sensitive
    }

    private static let verdicts = NIOLockedValueBox([String: Bool]())

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
        // Cheap pre-check, without allocating: most log values contain neither marker.
        guard Self.mayHoldCredential(text) else { return text }
        var result = text.replacing(bearerPattern) { match in "\(match.output.1) \(replacement)" }
        result = result.replacing(jwtPattern) { _ in replacement }
        return result
    }

    /// Whether `text` contains `eyj` or `bearer` in any case: a byte scan, no lower-cased copy.
    static func mayHoldCredential(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable(Self.mayHoldCredential) ?? Array(text.utf8).withUnsafeBufferPointer(Self.mayHoldCredential)
    }

    static func mayHoldCredential(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        func matches(_ needle: StaticString, at index: Int) -> Bool {
            let count = needle.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            let pattern = needle.utf8Start
            for offset in 0..<count where lower(bytes[index + offset]) != pattern[offset] { return false }
            return true
        }
        for index in bytes.indices {
            switch lower(bytes[index]) {
            case UInt8(ascii: "e") where matches("eyj", at: index): return true
            case UInt8(ascii: "b") where matches("bearer", at: index): return true
            default: continue
            }
        }
        return false
    }
}
