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

    /// The id of the record written on first start: a fixed one, so instances starting together write one record.
    static let firstID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1))

    init(id: UUID? = nil, keyringID: String, createdAt: Date) {
        self.id = id
        self.keyringID = keyringID
        self.createdAt = createdAt
    }
}
