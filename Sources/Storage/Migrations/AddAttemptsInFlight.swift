// Sign-in attempts being evaluated are counted apart from the failures they turn out to be: a lock must stand for
// `maximum` wrong answers, never for wrong answers plus attempts that were still being checked (and were then
// refused by a full hashing queue, or turned out right).

import FluentKit
import SQLKit

struct AddAttemptsInFlight: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        try await sql.raw("ALTER TABLE users ADD COLUMN attempts_in_flight INTEGER NOT NULL DEFAULT 0").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("users").deleteField("attempts_in_flight").update()
    }
}
