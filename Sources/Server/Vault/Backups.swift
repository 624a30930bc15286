// `tradekeep backup` and `tradekeep restore`: a consistent snapshot of the database and the data folder's
// secrets, encrypted with the backup key in the chunked Fernet format of docs/BACKUP-FORMAT.md.

import Foundation
import Logging
import Storage
import Vault

public enum Backups {
    /// Data-folder files carried in a backup, so a restore is a working installation. The backup key itself
    /// is not in it: without that key the backup is unreadable, with it the backup is everything.
    static let carriedSecrets: [SecretKind] = [.jwt, .auditSigning, .localKEK]
    static let databaseEntry = "database.sqlite"
    static let tablesEntry = "tables.jsonl"

    public struct Summary: Sendable {
        public let backupID: String
        public let database: String
        public let bytes: Int
        public let files: [String]
    }

    public enum Failure: Error, CustomStringConvertible {
        case outputExists(String)
        case noBackupKey
        case targetNotEmpty(String)
        case kindMismatch(backup: String, target: String)
        case schemaMismatch

        public var description: String {
            switch self {
            case .outputExists(let path): "\(path) exists; choose a new file name (a backup never overwrites)"
            case .noBackupKey: "no backup key: give --key-file with the backup.key kept off the machine, or set TRADEKEEP_BACKUP_KEY"
            case .targetNotEmpty(let what): "\(what) is not empty; restore only into an empty data folder and an empty database"
            case .kindMismatch(let backup, let target): "the backup holds a \(backup) database but TRADEKEEP_DATABASE_URL is \(target)"
            case .schemaMismatch: "the backup was made by a Tradekeep with other database migrations; restore it with the same version"
            }
        }
    }

    // MARK: Backup

    public static func create(sources: ConfigurationSources, out: URL, logger: Logger) async throws -> Summary {
        let configuration = try ServerConfiguration(sources)
        guard !SecureFile.exists(out) else { throw Failure.outputExists(out.path) }
        let loaded = ServerSecrets.load(
            dataDirectory: configuration.dataDirectory,
            sources: sources,
            generateMissing: false,
            tightenPermissions: false
        )
        guard let secrets = loaded.secrets else {
            throw StartupRefused(refusals: loaded.problems.map { Refusal(setting: $0.secret.setting.name, message: $0.description) })
        }
        let key = try FernetKey(bytes: secrets.backupKey)
        let database = try TradekeepDatabase(location: configuration.database)
        do {
            try await database.migrate(logger: logger)
            var entries: [(name: String, content: [UInt8])] = []
            if configuration.database.isPostgres {
                entries.append((Self.tablesEntry, try await database.exportTables(logger: logger)))
            } else {
                let snapshot = configuration.dataDirectory.appendingPathComponent(".backup-\(UUID().uuidString.lowercased()).sqlite")
                try SecureFile.touch(snapshot)
                defer { try? FileManager.default.removeItem(at: snapshot) }
                try await database.vacuumInto(snapshot, logger: logger)
                entries.append((Self.databaseEntry, try SecureFile.read(snapshot)))
            }
            for kind in Self.carriedSecrets {
                let file = configuration.dataDirectory.appendingPathComponent(kind.fileName)
                if SecureFile.exists(file) { entries.append((kind.fileName, try SecureFile.read(file))) }
            }
            var payload = BackupFormat.bundle(entries)
            defer { payload.resetBytes() }
            let header = BackupFormat.Header(
                backupID: UUID(),
                createdAt: Date(),
                tradekeepVersion: TradekeepVersion.current,
                database: configuration.database.kindName,
                migrations: TradekeepDatabase.migrationNames
            )
            let lines = try BackupFormat.encrypt(payload: payload, header: header, key: key)
            try SecureFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: out)
            await database.shutdown()
            return Summary(backupID: header.backup_id, database: header.database, bytes: payload.count, files: entries.map(\.name))
        } catch {
            await database.shutdown()
            throw error
        }
    }

    // MARK: Restore

    /// Check the whole backup before writing anything; then fill the empty data folder and database.
    public static func restore(file: URL, sources: ConfigurationSources, keyFile: URL?, logger: Logger) async throws -> Summary {
        let configuration = try ServerConfiguration(sources)
        let keyText: String
        if let keyFile {
            keyText = String(decoding: try SecureFile.read(keyFile), as: UTF8.self)
        } else if let value = sources.value(.backupKey) {
            keyText = value
        } else {
            throw Failure.noBackupKey
        }
        let key = try FernetKey(base64URL: keyText)
        let text = String(decoding: try SecureFile.read(file), as: UTF8.self)
        let (header, payload) = try BackupFormat.decrypt(lines: text.components(separatedBy: "\n"), key: key)
        guard header.migrations == TradekeepDatabase.migrationNames else { throw Failure.schemaMismatch }
        guard header.database == configuration.database.kindName else {
            throw Failure.kindMismatch(backup: header.database, target: configuration.database.description)
        }
        let entries = try BackupFormat.unbundle(payload)

        let directory = configuration.dataDirectory
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory.path), !existing.isEmpty {
            throw Failure.targetNotEmpty(directory.path)
        }
        if case .sqliteFile(let path) = configuration.database, SecureFile.exists(URL(fileURLWithPath: path)) {
            throw Failure.targetNotEmpty(path)
        }
        try SecureFile.ensureDirectory(directory)
        var written: [URL] = []
        do {
            if configuration.database.isPostgres {
                guard let tables = entries.first(where: { $0.name == Self.tablesEntry }) else { throw BackupFormat.Failure.malformedBundle }
                let database = try TradekeepDatabase(location: configuration.database)
                do {
                    try await database.importTables(tables.content, logger: logger)
                } catch {
                    await database.shutdown()
                    throw error
                }
                await database.shutdown()
            } else if case .sqliteFile(let path) = configuration.database {
                guard let snapshot = entries.first(where: { $0.name == Self.databaseEntry }) else { throw BackupFormat.Failure.malformedBundle }
                let target = URL(fileURLWithPath: path)
                try SecureFile.write(snapshot.content, to: target)
                written.append(target)
            }
            for entry in entries where Self.carriedSecrets.contains(where: { $0.fileName == entry.name }) {
                let target = directory.appendingPathComponent(entry.name)
                try SecureFile.write(entry.content, to: target)
                written.append(target)
            }
            // The restored folder is complete: it also holds the key that opens its future backups.
            let keyTarget = directory.appendingPathComponent(SecretKind.backup.fileName)
            try SecureFile.write(Array((key.base64URL + "\n").utf8), to: keyTarget)
            written.append(keyTarget)
        } catch {
            for url in written { try? FileManager.default.removeItem(at: url) }
            throw error
        }
        return Summary(backupID: header.backup_id, database: header.database, bytes: payload.count, files: entries.map(\.name))
    }
}
