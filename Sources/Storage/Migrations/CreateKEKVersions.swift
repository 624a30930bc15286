// The table of KEK versions: what each `kek_version` number on a sealed secret refers to.

import FluentKit

struct CreateKEKVersions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("kek_versions")
            .field("version", .int, .identifier(auto: false))
            .field("provider", .string, .required)
            .field("key_ref", .string, .required)
            .field("created_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("kek_versions").delete()
    }
}
