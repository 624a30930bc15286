// The one-row table that binds a database to the keyring that encrypts its secrets.

import FluentKit

struct CreateInstance: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(InstanceRecord.schema)
            .id()
            .field("keyring_id", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(InstanceRecord.schema).delete()
    }
}
