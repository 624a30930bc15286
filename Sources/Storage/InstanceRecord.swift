// The database's record of which keyring it belongs to.

import FluentKit
import Foundation

// Fluent models are classes with property wrappers that cannot be checked for Sendable; instances are
// never shared across tasks after a query returns them.
final class InstanceRecord: Model, @unchecked Sendable {
    static let schema = "tradekeep_instance"

    @ID(key: .id) var id: UUID?
    @Field(key: "keyring_id") var keyringID: String
    @Field(key: "created_at") var createdAt: Date

    init() {}

    /// One fixed id: instances starting together on a new database write the same record, and only one write wins.
    /// (Databases bound before this carry a random id; nothing looks a record up by its id.)
    static let onlyID = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!

    init(keyringID: String, createdAt: Date) {
        self.id = Self.onlyID
        self.keyringID = keyringID
        self.createdAt = createdAt
    }
}
