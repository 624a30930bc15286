// Alerts (issue 14): what the anomaly scanner found, per account or for the operator; the (kind, subject) pairs
// that deduplicate them; each delivery's state; and how far the scanner has read the audit log, with the lease that
// lets one scan run at a time across servers.

import FluentKit
import SQLKit

struct CreateAlerts: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("alerts")
            .id()
            .field("user_id", .uuid)
            .field("kind", .string, .required)
            .field("subject", .string, .required)
            .field("message", .string, .required)
            .field("details", .string, .required)
            .field("created_at", .datetime, .required)
            .field("acknowledged_at", .datetime)
            .create()
        try await database.schema("alert_dedup")
            .field("kind", .string, .required)
            .field("subject", .string, .required)
            .field("last_at", .datetime, .required)
            .unique(on: "kind", "subject")
            .create()
        try await database.schema("alert_deliveries")
            .id()
            .field("alert_id", .uuid, .required)
            .field("channel", .string, .required)
            .field("recipient", .string, .required)
            .field("status", .string, .required)
            .field("attempts", .int, .required)
            .field("last_error", .string)
            .field("next_attempt_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .create()
        try await database.schema("anomaly_scans")
            .field("name", .string, .required)
            .field("scanned_until", .datetime)
            .field("lease_until", .datetime)
            .field("holder", .string)
            .unique(on: "name")
            .create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX alerts_user ON alerts (user_id, created_at)").run()
            try await sql.raw("CREATE INDEX alerts_created ON alerts (created_at)").run()
            try await sql.raw("CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at)").run()
            // The scanner reads the audit log by time.
            try await sql.raw("CREATE INDEX audit_events_created ON audit_events (created_at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        if let sql = database as? any SQLDatabase { try await sql.raw("DROP INDEX audit_events_created").run() }
        for table in ["anomaly_scans", "alert_deliveries", "alert_dedup", "alerts"] { try await database.schema(table).delete() }
    }
}
