// The `local` key-encryption keyring: versioned 256-bit keys in one 0600 file of the data folder.

import Foundation

/// A versioned set of key-encryption keys kept in a file.
///
/// The embedded default. Honest limitation: whoever can read the data folder can read these keys, so the
/// database alone is useless but the database plus the data folder is not. Use a KMS or an HSM to separate them.
public struct LocalKeyring: Sendable {
    public static let format = "tradekeep-keyring-v1"
    public static let keyByteCount = 32

    public struct Entry: Sendable {
        public let version: Int
        public let createdAt: Date
        public let key: SecretBytes

        public init(version: Int, createdAt: Date, key: SecretBytes) {
            self.version = version
            self.createdAt = createdAt
            self.key = key
        }
    }

    /// Random identifier of this keyring, recorded in the database on first start so that a database is
    /// never silently paired with a different keyring (which would make every stored secret unreadable).
    public let id: String
    public let currentVersion: Int
    public let entries: [Entry]

    public var current: Entry { self.entries.first { $0.version == self.currentVersion }! }

    public func key(version: Int) -> SecretBytes? { self.entries.first { $0.version == version }?.key }

    /// A new keyring with one fresh key.
    public static func generate(now: Date = Date()) -> LocalKeyring {
        LocalKeyring(
            id: UUID().uuidString.lowercased(),
            currentVersion: 1,
            entries: [Entry(version: 1, createdAt: now, key: .random(count: keyByteCount))]
        )
    }

    public init(id: String, currentVersion: Int, entries: [Entry]) {
        precondition(entries.contains { $0.version == currentVersion }, "current version must exist")
        self.id = id
        self.currentVersion = currentVersion
        self.entries = entries
    }

    /// This keyring with one more key, which becomes current.
    public func adding(_ key: SecretBytes, now: Date = Date()) -> LocalKeyring {
        let version = (self.entries.map(\.version).max() ?? 0) + 1
        return LocalKeyring(id: self.id, currentVersion: version, entries: self.entries + [Entry(version: version, createdAt: now, key: key)])
    }

    /// This keyring without a retired version; nil if it is the current one (which is never removed).
    public func removing(version: Int) -> LocalKeyring? {
        guard version != self.currentVersion, self.entries.contains(where: { $0.version == version }) else { return nil }
        return LocalKeyring(id: self.id, currentVersion: self.currentVersion, entries: self.entries.filter { $0.version != version })
    }

    // MARK: File format

    private struct File: Codable {
        var format: String
        var id: String
        var current: Int
        var keys: [Key]
        struct Key: Codable {
            var version: Int
            var created_at: Date
            var key: String
        }
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case shortKey(version: Int, bytes: Int)
        case missingCurrent(Int)

        public var description: String {
            switch self {
            case .malformed(let why): "the keyring file is not valid: \(why)"
            case .shortKey(let version, let bytes): "key version \(version) has \(bytes) bytes; 32 random bytes are required"
            case .missingCurrent(let version): "the current version \(version) has no key"
            }
        }
    }

    public static func parse(_ bytes: [UInt8]) throws -> LocalKeyring {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let file: File
        do {
            file = try decoder.decode(File.self, from: Data(bytes))
        } catch {
            throw ParseError.malformed("expected the JSON written by `tradekeep init`")
        }
        guard file.format == format else { throw ParseError.malformed("unknown format \(file.format)") }
        var entries: [Entry] = []
        for key in file.keys {
            guard var raw = Base64.decode(key.key) else { throw ParseError.malformed("key version \(key.version) is not base64") }
            defer { raw.resetBytes() }
            guard raw.count >= keyByteCount else { throw ParseError.shortKey(version: key.version, bytes: raw.count) }
            entries.append(Entry(version: key.version, createdAt: key.created_at, key: SecretBytes(copying: raw)))
        }
        guard entries.contains(where: { $0.version == file.current }) else { throw ParseError.missingCurrent(file.current) }
        return LocalKeyring(id: file.id, currentVersion: file.current, entries: entries)
    }

    /// The file's bytes. The caller writes them with `SecureFile.write` and zeroes them.
    public func serialized() -> [UInt8] {
        let file = File(
            format: Self.format,
            id: self.id,
            current: self.currentVersion,
            keys: self.entries.map { entry in
                File.Key(version: entry.version, created_at: entry.createdAt, key: entry.key.withUnsafeBytes { Data($0).base64EncodedString() })
            }
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try! encoder.encode(file)) + [0x0A]
    }
}

/// Base64 in either alphabet, padding optional: the forms operators paste into files and variables.
public enum Base64 {
    public static func decode(_ text: String) -> [UInt8]? {
        var normalized = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        guard !normalized.isEmpty else { return nil }
        while normalized.count % 4 != 0 { normalized.append("=") }
        return Data(base64Encoded: normalized).map(Array.init)
    }

    /// URL-safe, padded (the Fernet key form).
    public static func urlSafeEncode<D: ContiguousBytes>(_ bytes: D) -> String {
        bytes.withUnsafeBytes { FernetBase64.encode(Array($0)) }
    }
}
