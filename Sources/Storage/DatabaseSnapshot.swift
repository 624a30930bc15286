// Consistent copies of the database for backups, taken while servers keep writing, and their restoration.
// SQLite: `VACUUM INTO` a file. PostgreSQL: every Tradekeep table as JSON lines, read in one
// REPEATABLE READ transaction, and inserted back with json_populate_record.

import FluentKit
import Foundation
import Logging
import SQLKit
import Vault

public enum SnapshotError: Error, CustomStringConvertible {
    case notEmpty(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .notEmpty(let what): "the target is not empty (\(what)); restore only into an empty data folder and database"
        case .malformed(let why): "the backup's table export is malformed: \(why)"
        }
    }
}

extension TradekeepDatabase {
    /// Tradekeep's tables in an order that satisfies foreign keys on insert.
    static let tablesInDependencyOrder = [
        "tradekeep_instance", "kek_versions", "vault_secrets", "users", "sessions",
        "refresh_tokens", "backup_codes", "one_time_tokens", "audit_events", "exchange_credentials", "paper_markets", "paper_meta", "paper_accounts",
        "paper_orders", "bots", "bot_orders",
        "bot_signals", "trading_halt", "audit_nodes", "audit_checkpoints", "audit_cosignatures",
        "alerts", "alert_dedup", "alert_deliveries", "anomaly_scans", "telegram_links", "telegram_link_codes",
    ]

    /// The names of the migrations this binary applies, recorded in backups.
    public static var migrationNames: [String] { migrations.map(\.name) }

    /// SQLite: a consistent copy of the database file at `file` (which must not exist).
    public func vacuumInto(_ file: URL, logger: Logger) async throws {
        let sql = try self.sql(logger: logger)
        try await sql.raw("VACUUM INTO \(literal: file.path)").run()
    }

    /// PostgreSQL: every Tradekeep table as `{"table": …, "row": {…}}` lines, from one snapshot.
    public func exportTables(logger: Logger) async throws -> [UInt8] {
        let database = try self.database(logger: logger)
        return try await database.withConnection { connection in
            let sql = connection as! any SQLDatabase
            try await sql.raw("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").run()
            do {
                var lines: [UInt8] = []
                for table in Self.tablesInDependencyOrder {
                    let rows = try await sql.raw("SELECT row_to_json(t)::text AS line FROM \(ident: table) t").all()
                    for row in rows {
                        let json: String = try row.decode(column: "line", as: String.self)
                        let line: String = Self.exportPrefix(table) + json + "}\n"
                        lines.append(contentsOf: line.utf8)
                    }
                }
                try await sql.raw("COMMIT").run()
                return lines
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    static func exportPrefix(_ table: String) -> String {
        "{\"table\":\"" + table + "\",\"row\":"
    }

    /// PostgreSQL: insert exported rows into freshly migrated, empty tables, in one transaction.
    public func importTables(_ export: [UInt8], logger: Logger) async throws {
        try await self.migrate(logger: logger)
        for table in Self.tablesInDependencyOrder {
            let sql = try self.sql(logger: logger)
            let count = try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()?.decode(column: "n", as: Int.self) ?? 0
            guard count == 0 else { throw SnapshotError.notEmpty("table \(table) has \(count) rows") }
        }
        let database = try self.database(logger: logger)
        try await database.transaction { transaction in
            let sql = transaction as! any SQLDatabase
            for raw in export.split(separator: UInt8(ascii: "\n")) where !raw.isEmpty {
                let (table, row) = try Self.parseExportLine(String(decoding: raw, as: UTF8.self))
                try await sql.raw("INSERT INTO \(ident: table) SELECT * FROM json_populate_record(NULL::\(ident: table), \(bind: row)::json)").run()
            }
        }
    }

    /// Lines are exactly `{"table":"<name>","row":<row_to_json output>}`: the row text goes back unchanged.
    static func parseExportLine(_ text: String) throws -> (table: String, row: String) {
        for table in self.tablesInDependencyOrder {
            let prefix = self.exportPrefix(table)
            if text.hasPrefix(prefix), text.hasSuffix("}") {
                return (table, String(text.dropFirst(prefix.count).dropLast()))
            }
        }
        throw SnapshotError.malformed("a line is not {\"table\": <a Tradekeep table>, \"row\": …}")
    }
}
