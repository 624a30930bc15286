// The encrypted backup format (docs/BACKUP-FORMAT.md): a bundle of named files, cut into chunks, each line of
// the backup file one standard Fernet token. Framing inside the tokens makes truncation, reordering and
// splicing between backups detectable.

import Crypto
import Foundation

public enum BackupFormat {
    public static let name = "tradekeep-backup"
    public static let version = 1
    public static let chunkSize = 64 * 1024

    /// The first token's plaintext.
    public struct Header: Codable, Sendable, Equatable {
        public var format = BackupFormat.name
        public var version = BackupFormat.version
        public var backup_id: String
        public var created_at: String
        public var tradekeep_version: String
        /// `sqlite` (the bundle holds `database.sqlite`) or `postgres` (it holds `tables.jsonl`).
        public var database: String
        public var migrations: [String]
        public var chunk_size: Int

        public init(backupID: UUID, createdAt: Date, tradekeepVersion: String, database: String, migrations: [String]) {
            self.backup_id = backupID.uuidString.lowercased()
            self.created_at = createdAt.formatted(.iso8601)
            self.tradekeep_version = tradekeepVersion
            self.database = database
            self.migrations = migrations
            self.chunk_size = BackupFormat.chunkSize
        }
    }

    /// The last token's plaintext: how many chunks and bytes came before, and their SHA-256.
    public struct Trailer: Codable, Sendable, Equatable {
        public var backup_id: String
        public var chunks: Int
        public var bytes: Int
        public var sha256: String
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case wrongKeyOrDamaged(line: Int)
        case notABackup
        case unsupportedVersion(Int)
        case reordered(line: Int)
        case mixed(line: Int)
        case truncated
        case trailingData
        case checksumMismatch
        case malformedBundle

        public var description: String {
            switch self {
            case .wrongKeyOrDamaged(let line): "line \(line) does not decrypt: wrong backup key, or the file is damaged"
            case .notABackup: "this is not a Tradekeep backup (no header)"
            case .unsupportedVersion(let version): "backup format version \(version) is not supported by this Tradekeep"
            case .reordered(let line): "line \(line) is out of order: the file was reordered or has lines missing"
            case .mixed(let line): "line \(line) belongs to another backup"
            case .truncated: "the backup is truncated (its final line is missing)"
            case .trailingData: "the backup has lines after its final line"
            case .checksumMismatch: "the backup's content does not match its checksum"
            case .malformedBundle: "the backup's content is malformed"
            }
        }
    }

    // MARK: Bundle: named files in one byte stream

    /// `[name length: UInt32 BE][name UTF-8][content length: UInt64 BE][content]`, repeated.
    public static func bundle(_ files: [(name: String, content: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        for file in files {
            let name = Array(file.name.utf8)
            withUnsafeBytes(of: UInt32(name.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: name)
            withUnsafeBytes(of: UInt64(file.content.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: file.content)
        }
        return bytes
    }

    public static func unbundle(_ bytes: [UInt8]) throws -> [(name: String, content: [UInt8])] {
        var files: [(String, [UInt8])] = []
        var index = 0
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, index + count <= bytes.count else { throw Failure.malformedBundle }
            defer { index += count }
            return bytes[index..<(index + count)]
        }
        while index < bytes.count {
            let nameLength = Int(try take(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard nameLength <= 1024, let name = String(bytes: try take(nameLength), encoding: .utf8),
                !name.isEmpty, !name.contains("/"), name != ".", name != ".."
            else { throw Failure.malformedBundle }
            let length = try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length <= UInt64(Int.max) else { throw Failure.malformedBundle }
            files.append((name, Array(try take(Int(length)))))
        }
        return files
    }

    // MARK: Writing and reading

    /// Encrypt `payload` into backup lines (each a Fernet token, without the newline).
    public static func encrypt(payload: [UInt8], header: Header, key: FernetKey) throws -> [String] {
        let fernet = Fernet(key: key)
        let id = UUID(uuidString: header.backup_id)!
        var lines = [try fernet.encrypt(try JSONEncoder.sortedKeys.encode(header))]
        var chunks = 0
        var offset = 0
        while offset < payload.count {
            let end = min(offset + header.chunk_size, payload.count)
            lines.append(try fernet.encrypt(self.chunkPrefix(id: id, index: chunks) + payload[offset..<end]))
            chunks += 1
            offset = end
        }
        let trailer = Trailer(
            backup_id: header.backup_id,
            chunks: chunks,
            bytes: payload.count,
            sha256: SHA256.hash(data: payload).map { String(format: "%02x", $0) }.joined()
        )
        lines.append(try fernet.encrypt(try JSONEncoder.sortedKeys.encode(trailer)))
        return lines
    }

    /// Decrypt and check every line. Nothing is returned unless the whole backup is intact.
    public static func decrypt(lines rawLines: [String], key: FernetKey) throws -> (header: Header, payload: [UInt8]) {
        let lines = rawLines.filter { !$0.isEmpty }
        let fernet = Fernet(key: key)
        func open(_ index: Int) throws -> [UInt8] {
            do {
                return try fernet.decrypt(lines[index])
            } catch {
                throw Failure.wrongKeyOrDamaged(line: index + 1)
            }
        }
        guard !lines.isEmpty else { throw Failure.notABackup }
        let first = try open(0)
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(first)), header.format == self.name else {
            throw Failure.notABackup
        }
        guard header.version == self.version else { throw Failure.unsupportedVersion(header.version) }
        guard let id = UUID(uuidString: header.backup_id) else { throw Failure.notABackup }
        var payload: [UInt8] = []
        var index = 1
        while index < lines.count {
            let plain = try open(index)
            if let trailer = try? JSONDecoder().decode(Trailer.self, from: Data(plain)) {
                guard trailer.backup_id == header.backup_id else { throw Failure.mixed(line: index + 1) }
                guard trailer.chunks == index - 1, trailer.bytes == payload.count else { throw Failure.reordered(line: index + 1) }
                guard index == lines.count - 1 else { throw Failure.trailingData }
                guard SHA256.hash(data: payload).map({ String(format: "%02x", $0) }).joined() == trailer.sha256 else {
                    throw Failure.checksumMismatch
                }
                return (header, payload)
            }
            guard plain.count >= 24 else { throw Failure.wrongKeyOrDamaged(line: index + 1) }
            guard Array(plain[0..<16]) == self.uuidBytes(id) else { throw Failure.mixed(line: index + 1) }
            let chunkIndex = plain[16..<24].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard chunkIndex == UInt64(index - 1) else { throw Failure.reordered(line: index + 1) }
            payload.append(contentsOf: plain[24...])
            index += 1
        }
        throw Failure.truncated
    }

    static func chunkPrefix(id: UUID, index: Int) -> [UInt8] {
        self.uuidBytes(id) + withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) }
    }

    static func uuidBytes(_ id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }
}

extension JSONEncoder {
    static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
