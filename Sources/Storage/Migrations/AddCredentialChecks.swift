// Stored exchange keys are re-checked with their venue (issue 14): when the venue last confirmed each key, and when
// and why a key was disabled.

import FluentKit
import SQLKit

struct AddCredentialChecks: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("exchange_credentials").field("checked_at", .datetime).update()
        try await database.schema("exchange_credentials").field("disabled_at", .datetime).update()
        try await database.schema("exchange_credentials").field("disabled_reason", .string).update()
    }

    func revert(on database: any Database) async throws {
        for column in ["disabled_reason", "disabled_at", "checked_at"] {
            try await database.schema("exchange_credentials").deleteField(.key(.string(column))).update()
        }
    }
}
