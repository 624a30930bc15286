// Tables for accounts (SPEC §2): users, sealed secrets, sessions, refresh tokens, backup codes, one-time
// tokens, and the (for now plain) audit events.

import FluentKit
import SQLKit

struct CreateAccounts: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("vault_secrets")
            .id()
            .field("owner_id", .uuid, .required)
            .field("purpose", .string, .required)
            .field("ciphertext", .data, .required)
            .field("nonce", .data, .required)
            .field("wrapped_key", .data, .required)
            .field("kek_provider", .string, .required)
            .field("kek_version", .int, .required)
            .field("format_version", .int, .required)
            .field("created_at", .datetime, .required)
            .create()

        try await database.schema("users")
            .id()
            .field("email", .string, .required)
            .field("email_verified_at", .datetime)
            .field("password_hash", .string, .required)
            .field("status", .string, .required)
            .field("role", .string, .required)
            .field("totp_secret_id", .uuid, .references("vault_secrets", "id"))
            .field("totp_last_step", .int64)
            .field("failed_logins", .int, .required)
            .field("locked_until", .datetime)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "email")
            .create()

        try await database.schema("sessions")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id"))
            .field("created_at", .datetime, .required)
            .field("last_seen_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("ip", .string)
            .field("user_agent", .string)
            .field("revoked_at", .datetime)
            .field("revoked_reason", .string)
            .create()

        try await database.schema("refresh_tokens")
            .id()
            .field("session_id", .uuid, .required, .references("sessions", "id"))
            .field("token_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .unique(on: "token_hash")
            .create()

        try await database.schema("backup_codes")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id"))
            .field("lookup_id", .string, .required)
            .field("code_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("used_at", .datetime)
            .unique(on: "user_id", "lookup_id")
            .create()

        try await database.schema("one_time_tokens")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id"))
            .field("purpose", .string, .required)
            .field("token_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .field("attempts", .int, .required)
            .unique(on: "token_hash")
            .create()

        try await database.schema("audit_events")
            .id()
            .field("user_id", .uuid)
            .field("action", .string, .required)
            .field("ip", .string)
            .field("user_agent", .string)
            .field("details", .string, .required)
            .field("created_at", .datetime, .required)
            .create()

        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX sessions_user ON sessions (user_id)").run()
            try await sql.raw("CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)").run()
            try await sql.raw("CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose)").run()
            try await sql.raw("CREATE INDEX audit_events_user ON audit_events (user_id, created_at)").run()
            try await sql.raw("CREATE INDEX vault_secrets_owner ON vault_secrets (owner_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["audit_events", "one_time_tokens", "backup_codes", "refresh_tokens", "sessions", "users", "vault_secrets"] {
            try await database.schema(table).delete()
        }
    }
}
