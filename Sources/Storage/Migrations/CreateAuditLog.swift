// The signed audit log: each entry's sequenced form on its `audit_events` row (leaf index, actor, bytes E, salt S,
// commitment L, signature), every perfect Merkle node, and the signed checkpoints. Triggers make integrated
// entries, nodes and checkpoints append-only at the database (docs/AUDIT-FORMAT.md, "Append-only").

import FluentKit
import SQLKit

struct CreateAuditLog: AsyncMigration {
    static let appendOnlyMessage = "the audit log is append-only"

    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        let postgres = sql.dialect.name == "postgresql"
        let bigint = postgres ? "BIGINT" : "INTEGER"
        let bytes = postgres ? "BYTEA" : "BLOB"
        for (column, type) in [("leaf_index", bigint), ("actor", "TEXT"), ("entry", bytes), ("salt", bytes), ("leaf", bytes), ("signature", bytes)] {
            try await sql.raw("ALTER TABLE audit_events ADD COLUMN \(unsafeRaw: column) \(unsafeRaw: type)").run()
        }
        // Pending entries are sequenced in the order they were written: SQLite's rowid, a sequence on PostgreSQL.
        if postgres { try await sql.raw("ALTER TABLE audit_events ADD COLUMN seq BIGSERIAL").run() }
        try await sql.raw("CREATE UNIQUE INDEX audit_events_leaf ON audit_events (leaf_index)").run()
        try await sql.raw("CREATE INDEX audit_events_actor ON audit_events (actor, leaf_index)").run()
        try await sql.raw("CREATE INDEX audit_events_user_leaf ON audit_events (user_id, leaf_index)").run()
        try await sql.raw(
            "CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx \(unsafeRaw: bigint) NOT NULL, hash \(unsafeRaw: bytes) NOT NULL, PRIMARY KEY (level, idx))"
        ).run()
        try await sql.raw(
            """
            CREATE TABLE audit_checkpoints (size \(unsafeRaw: bigint) PRIMARY KEY, root \(unsafeRaw: bytes) NOT NULL, note TEXT NOT NULL, \
            created_at \(unsafeRaw: postgres ? "TIMESTAMPTZ" : "DATETIME") NOT NULL)
            """
        ).run()
        try await sql.raw(
            "CREATE TABLE audit_cosignatures (size \(unsafeRaw: bigint) NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL, PRIMARY KEY (size, witness))"
        ).run()
        if postgres {
            try await sql.raw(
                """
                CREATE OR REPLACE FUNCTION tradekeep_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '\(unsafeRaw: Self.appendOnlyMessage)'; END $$
                """
            ).run()
            try await sql.raw(
                """
                CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW \
                WHEN (OLD.state = 'integrated') EXECUTE FUNCTION tradekeep_audit_append_only()
                """
            ).run()
            for table in ["audit_nodes", "audit_checkpoints", "audit_cosignatures"] {
                try await sql.raw(
                    """
                    CREATE TRIGGER \(unsafeRaw: table)_append_only BEFORE UPDATE OR DELETE ON \(unsafeRaw: table) FOR EACH ROW \
                    EXECUTE FUNCTION tradekeep_audit_append_only()
                    """
                ).run()
            }
            for table in ["audit_events", "audit_nodes", "audit_checkpoints", "audit_cosignatures"] {
                try await sql.raw(
                    """
                    CREATE TRIGGER \(unsafeRaw: table)_no_truncate BEFORE TRUNCATE ON \(unsafeRaw: table) FOR EACH STATEMENT \
                    EXECUTE FUNCTION tradekeep_audit_append_only()
                    """
                ).run()
            }
        } else {
            for (table, condition) in [
                ("audit_events", "WHEN OLD.state = 'integrated' "), ("audit_nodes", ""), ("audit_checkpoints", ""), ("audit_cosignatures", ""),
            ] {
                for operation in ["UPDATE", "DELETE"] {
                    try await sql.raw(
                        """
                        CREATE TRIGGER \(unsafeRaw: table)_no_\(unsafeRaw: operation.lowercased()) BEFORE \(unsafeRaw: operation) ON \(unsafeRaw: table) \
                        \(unsafeRaw: condition)BEGIN SELECT RAISE(ABORT, '\(unsafeRaw: Self.appendOnlyMessage)'); END
                        """
                    ).run()
                }
            }
        }
    }

    func revert(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        let postgres = sql.dialect.name == "postgresql"
        if postgres {
            try await sql.raw("DROP TRIGGER audit_events_append_only ON audit_events").run()
            try await sql.raw("DROP TRIGGER audit_events_no_truncate ON audit_events").run()
        } else {
            try await sql.raw("DROP TRIGGER audit_events_no_update").run()
            try await sql.raw("DROP TRIGGER audit_events_no_delete").run()
        }
        try await sql.raw("DROP TABLE audit_cosignatures").run()
        try await sql.raw("DROP TABLE audit_checkpoints").run()
        try await sql.raw("DROP TABLE audit_nodes").run()
        if postgres { try await sql.raw("DROP FUNCTION tradekeep_audit_append_only()").run() }
        for index in ["audit_events_leaf", "audit_events_actor", "audit_events_user_leaf"] {
            try await sql.raw("DROP INDEX \(unsafeRaw: index)").run()
        }
        if postgres { try await database.schema("audit_events").deleteField(.string("seq")).update() }
        for column in ["leaf_index", "actor", "entry", "salt", "leaf", "signature"] {
            try await database.schema("audit_events").deleteField(.string(column)).update()
        }
    }
}
