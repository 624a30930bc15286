// Where verified exchange keys live: metadata the API shows, and the key material sealed in the vault.
// Storage implements it; the credential service and the bot engine use it.

import AuditLog
import Foundation

/// A stored exchange key as the API shows it: never any secret.
public struct CredentialRecord: Sendable, Equatable {
    public var id: UUID
    public var userID: UUID
    public var venue: VenueID
    public var label: String
    public var keyHint: String
    public var permissions: [String]
    public var ipRestricted: Bool?
    public var warnings: [String]
    public var createdAt: Date
    public var rotatedAt: Date?
    /// When the key was disabled (it gained a forbidden permission, lost its IP lock or was revoked), and why.
    public var disabledAt: Date?
    public var disabledReason: String?
    /// When the venue last confirmed the key (nil: only when it was added).
    public var checkedAt: Date?

    public init(
        id: UUID,
        userID: UUID,
        venue: VenueID,
        label: String,
        keyHint: String,
        permissions: [String],
        ipRestricted: Bool?,
        warnings: [String],
        createdAt: Date,
        rotatedAt: Date?,
        disabledAt: Date? = nil,
        disabledReason: String? = nil,
        checkedAt: Date? = nil
    ) {
        self.id = id
        self.userID = userID
        self.venue = venue
        self.label = label
        self.keyHint = keyHint
        self.permissions = permissions
        self.ipRestricted = ipRestricted
        self.warnings = warnings
        self.createdAt = createdAt
        self.rotatedAt = rotatedAt
        self.disabledAt = disabledAt
        self.disabledReason = disabledReason
        self.checkedAt = checkedAt
    }
}

/// What the venue's check found, kept beside a key.
public struct KeyFindings: Sendable, Equatable {
    public var keyHint: String
    public var permissions: [String]
    public var ipRestricted: Bool?
    public var warnings: [String]

    public init(keyHint: String, permissions: [String], ipRestricted: Bool?, warnings: [String]) {
        self.keyHint = keyHint
        self.permissions = permissions
        self.ipRestricted = ipRestricted
        self.warnings = warnings
    }
}

/// Every query is scoped to the owner: another user's credential id is simply not found. Each change writes its
/// audit entry in the same transaction.
public protocol CredentialRepository: Sendable {
    func list(userID: UUID) async throws -> [CredentialRecord]
    func credential(id: UUID, userID: UUID) async throws -> CredentialRecord?
    /// Seal `keys` in the vault and store them with the record, and `audit`, in one transaction.
    func create(_ record: CredentialRecord, keys: VenueCredentials, audit: AuditEvent) async throws
    /// Replace the key material and findings; nil when the owner has no such credential (any more).
    func rotate(id: UUID, userID: UUID, findings: KeyFindings, keys: VenueCredentials, at: Date, audit: AuditEvent) async throws -> CredentialRecord?
    /// Delete the record and its sealed material; false when the owner has no such credential.
    func delete(id: UUID, userID: UUID, audit: AuditEvent) async throws -> Bool
    /// The key material, opened from the vault. Throws `CredentialError.notFound` when it is gone and
    /// `CredentialError.disabled` when it was disabled: a disabled key is never used again.
    func keys(id: UUID, userID: UUID) async throws -> VenueCredentials
    /// Disable the key with its audit entry; false when it is gone or already disabled.
    func disable(id: UUID, userID: UUID, reason: String, at: Date, audit: AuditEvent) async throws -> Bool
    /// The venue confirmed the key: its findings as they are now, and when.
    func markChecked(id: UUID, userID: UUID, findings: KeyFindings, at: Date) async throws
    /// Enabled keys last confirmed (or added) before `checkedBefore`, the longest-unchecked first.
    func dueForCheck(checkedBefore: Date, limit: Int) async throws -> [CredentialRecord]
}
