// Exchange keys (SPEC §4): what was verified about each key, and a reference to its sealed material in vault_secrets.

import FluentKit

struct CreateExchangeCredentials: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("exchange_credentials")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id"))
            .field("venue", .string, .required)
            .field("label", .string, .required)
            .field("key_hint", .string, .required)
            .field("permissions", .string, .required)
            .field("ip_restricted", .bool)
            .field("warnings", .string, .required)
            .field("secret_id", .uuid, .required, .references("vault_secrets", "id"))
            .field("created_at", .datetime, .required)
            .field("rotated_at", .datetime)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("exchange_credentials").delete()
    }
}
