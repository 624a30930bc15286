// One audit log entry as its bytes E (RFC 8785 canonical JSON), its salted commitment L = SHA-256(S ‖ E) and the
// pseudonyms that stand for users in it. docs/AUDIT-FORMAT.md specifies every byte.

import Crypto
import Foundation

public struct AuditEntry: Sendable, Equatable {
    public var action: String
    /// A user's pseudonym, `operator:<name>`, or `anonymous` (a refused login for an unknown email).
    public var actor: String
    public var details: [String: String]
    public var ip: String
    /// The hex leaf hash of the same actor's previous entry; "" for its first.
    public var prev: String
    public var target: String
    /// RFC 3339, UTC, milliseconds: `2026-12-02T06:30:00.123Z`.
    public var time: String
    public var userAgent: String

    public init(
        action: String,
        actor: String,
        details: [String: String],
        ip: String,
        prev: String,
        target: String,
        time: String,
        userAgent: String
    ) {
        self.action = action
        self.actor = actor
        self.details = details
        self.ip = ip
        self.prev = prev
        self.target = target
        self.time = time
        self.userAgent = userAgent
    }

    /// E: the canonical JSON bytes.
    public var bytes: [UInt8] {
        CanonicalJSON.object([
            ("action", .string(self.action)), ("actor", .string(self.actor)), ("details", .object(self.details)),
            ("ip", .string(self.ip)), ("prev", .string(self.prev)), ("target", .string(self.target)),
            ("time", .string(self.time)), ("user_agent", .string(self.userAgent)),
        ])
    }

    public enum Failure: Error, Equatable {
        case notCanonical
    }

    /// Parse E; refuses anything that is not exactly the canonical form of an entry.
    public init(bytes: [UInt8]) throws(Failure) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], object.count == 8,
            let action = object["action"] as? String, let actor = object["actor"] as? String,
            let details = object["details"] as? [String: String], let ip = object["ip"] as? String,
            let prev = object["prev"] as? String, let target = object["target"] as? String,
            let time = object["time"] as? String, let userAgent = object["user_agent"] as? String
        else { throw .notCanonical }
        self.init(action: action, actor: actor, details: details, ip: ip, prev: prev, target: target, time: time, userAgent: userAgent)
        guard self.bytes == bytes else { throw .notCanonical }
    }

    /// L = SHA-256(S ‖ E).
    public static func commitment(salt: [UInt8], entry: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: entry)
        return Array(hasher.finalize())
    }

    /// The hex SHA-256 of "tradekeep-user:" + the user id in lowercase.
    public static func pseudonym(of userID: UUID) -> String {
        Hex.encode(SHA256.hash(data: Data(("tradekeep-user:" + userID.uuidString.lowercased()).utf8)))
    }

    /// RFC 3339 UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let seconds = date.timeIntervalSince1970
        let millis = Int((seconds - seconds.rounded(.down)) * 1000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.year!,
            parts.month!,
            parts.day!,
            parts.hour!,
            parts.minute!,
            parts.second!,
            min(millis, 999)
        )
    }
}

/// Base64 with one spelling per value: what decodes must encode back to the same text (Foundation's decoder
/// ignores the unused low bits of the last character, which would let a signed note be altered unnoticed).
public enum StrictBase64 {
    public static func decode(_ text: some StringProtocol) -> Data? {
        guard let data = Data(base64Encoded: String(text)), data.base64EncodedString() == text else { return nil }
        return data
    }
}

public enum Hex {
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

/// RFC 8785 canonical JSON for what audit entries hold: strings and flat objects of strings.
public enum CanonicalJSON {
    public enum Value {
        case string(String)
        case object([String: String])
    }

    public static func object(_ members: [(String, Value)]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (position, member) in members.sorted(by: { Self.precedes($0.0, $1.0) }).enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            Self.append(string: member.0, to: &out)
            out.append(UInt8(ascii: ":"))
            switch member.1 {
            case .string(let text): Self.append(string: text, to: &out)
            case .object(let object): out += Self.object(object.map { ($0.key, .string($0.value)) })
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// RFC 8785 §3.2.3: members sorted by their names' UTF-16 code units.
    static func precedes(_ left: String, _ right: String) -> Bool {
        left.utf16.lexicographicallyPrecedes(right.utf16)
    }

    /// RFC 8785 §3.2.2.2 (ECMAScript's JSON.stringify): `"` and `\` escaped, control characters as \b \t \n \f \r
    /// or \u00xx (lowercase hex), everything else as UTF-8.
    static func append(string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x00..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension AuditEntry {
    /// Who acted: `operator:<name>` for CLI actions (a `operator` detail), `operator:<admin's pseudonym>` for
    /// admin actions, the user's pseudonym, or `anonymous`.
    public static func actor(userID: UUID?, action: String, details: [String: String]) -> String {
        if let name = details["operator"] { return "operator:" + name }
        if action.hasPrefix("admin.") {
            let admin = details["admin"].flatMap(UUID.init(uuidString:)) ?? userID
            return "operator:" + (admin.map(Self.pseudonym) ?? "unknown")
        }
        return userID.map(Self.pseudonym) ?? "anonymous"
    }

    /// What the action was on: `bot:<id>`, `credential:<id>`, `session:<id>`, else the user's pseudonym or "".
    public static func target(userID: UUID?, details: [String: String]) -> String {
        for (key, kind) in [("bot_id", "bot"), ("credential_id", "credential"), ("session_id", "session")] {
            if let id = details[key] { return "\(kind):\(id)" }
        }
        return userID.map { "user:" + Self.pseudonym(of: $0) } ?? ""
    }
}
