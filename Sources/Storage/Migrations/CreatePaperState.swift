// The paper venue's state: one JSON snapshot of its prices, accounts and orders (SPEC §5: a restart continues).

import FluentKit

struct CreatePaperState: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("paper_state")
            .field("id", .int, .identifier(auto: false))
            .field("snapshot", .string, .required)
            .field("updated_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("paper_state").delete()
    }
}
