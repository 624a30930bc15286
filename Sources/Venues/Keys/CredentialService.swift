// Exchange keys end to end (SPEC §4): one introspection call, the KeyPolicy, the vault, the audit log. HTTP-free:
// the API and the dashboard call it; step-up is the caller's, between `draft` and `create`.

import AuditLog
import Foundation
import Logging
import Vault

/// Why a credential operation was refused, with a machine code and a message a person can act on.
public enum CredentialError: Error, Sendable, Equatable {
    case invalidLabel(maximum: Int)
    case unknownVenue(String)
    case invalidKeyMaterial
    case notFound
    /// The policy refused the key (or the venue refused our signed check).
    case rejected(KeyRejection)
    /// The venue could not be asked; nothing was stored.
    case venueUnreachable(String)
    /// This server cannot talk to the venue at all (a missing native library).
    case venueUnavailable(String)
    /// Bots trade with this key: deleting it would strand their orders.
    case inUse(bots: Int)
    /// The key was disabled after a re-check (the reason says what changed and how to fix it).
    case disabled(String)

    public var code: String {
        switch self {
        case .invalidLabel: "invalid_label"
        case .unknownVenue: "unknown_venue"
        case .invalidKeyMaterial: "invalid_key_material"
        case .notFound: "not_found"
        case .rejected(let rejection): rejection.code.rawValue
        case .venueUnreachable: "venue_unreachable"
        case .venueUnavailable: "venue_unavailable"
        case .inUse: "credential_in_use"
        case .disabled: "credential_disabled"
        }
    }

    public var message: String {
        switch self {
        case .invalidLabel(let maximum): "`label` must be 1–\(maximum) characters on one line."
        case .unknownVenue(let message): message
        case .invalidKeyMaterial: "`api_key` (≤ 512 characters) and `api_secret` (≤ 8 KiB) are required; `passphrase` is at most 256 bytes."
        case .notFound: "You have no exchange key with this id."
        case .rejected(let rejection): rejection.message
        case .venueUnreachable(let message): message
        case .venueUnavailable(let message): message
        case .inUse(let bots): "\(bots) of your bots trade with this key. Kill and delete them first, so none is left with orders it cannot cancel."
        case .disabled(let reason):
            "This exchange key was disabled: \(reason) Fix the key on the exchange (or make a new one) and replace it here (rotate)."
        }
    }
}

public struct CredentialService: Sendable {
    let repository: any CredentialRepository
    let directory: VenueDirectory
    let policy: KeyPolicy
    /// Refused keys change nothing but are audited (their reason only).
    let audit: any AuditSink
    /// Told when a key's material changes or goes away, so nothing keeps using the old one.
    let keysChanged: @Sendable (UUID) -> Void
    /// How many of the owner's bots trade with a key (credential id, owner).
    let usage: @Sendable (UUID, UUID) async throws -> Int
    /// Told when a re-check disabled a key (its bots are stopped, its owner alerted), with the reason.
    let disabled: @Sendable (CredentialRecord, String) async -> Void
    let logger: Logger
    let now: @Sendable () -> Date

    public init(
        repository: any CredentialRepository,
        directory: VenueDirectory,
        policy: KeyPolicy,
        audit: any AuditSink,
        keysChanged: @escaping @Sendable (UUID) -> Void = { _ in },
        usage: @escaping @Sendable (UUID, UUID) async throws -> Int = { _, _ in 0 },
        disabled: @escaping @Sendable (CredentialRecord, String) async -> Void = { _, _ in },
        logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.repository = repository
        self.directory = directory
        self.policy = policy
        self.audit = audit
        self.keysChanged = keysChanged
        self.usage = usage
        self.disabled = disabled
        self.logger = logger
        self.now = now
    }

    public static let maximumLabel = 100

    /// A checked submission: the venue exists and the key material is well formed. Nothing was sent anywhere.
    public struct Draft: Sendable {
        public let venue: VenueID
        public let label: String
        public let keys: VenueCredentials
    }

    // MARK: Reading

    public func list(owner: UUID) async throws -> [CredentialRecord] {
        try await self.repository.list(userID: owner)
    }

    public func credential(id: UUID, owner: UUID) async throws -> CredentialRecord {
        guard let record = try await self.repository.credential(id: id, userID: owner) else { throw CredentialError.notFound }
        return record
    }

    /// What GET /venues says: what each venue requires of a key, and the addresses keys must be locked to.
    public func venues() -> (venues: [VenueDescription], egressIPs: [String]) {
        (VenueID.allCases.map(VenueDirectory.describe), self.policy.egressIPs)
    }

    // MARK: Changes

    public func draft(venue: String, label: String, apiKey: String, apiSecret: String, passphrase: String?) throws(CredentialError) -> Draft {
        let label = label.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= Self.maximumLabel, !label.contains(where: \.isNewline) else {
            throw .invalidLabel(maximum: Self.maximumLabel)
        }
        let (venueID, keys) = try self.validated(venue: venue, apiKey: apiKey, apiSecret: apiSecret, passphrase: passphrase)
        return Draft(venue: venueID, label: label, keys: keys)
    }

    /// Ask the venue once, apply the policy, then seal and store the key with its audit entry.
    public func create(_ draft: Draft, owner: UUID, client: ClientInfo) async throws -> CredentialRecord {
        let (inspection, warnings) = try await self.inspect(draft.venue, draft.keys, owner: owner, client: client)
        let record = CredentialRecord(
            id: UUID(),
            userID: owner,
            venue: draft.venue,
            label: draft.label,
            keyHint: draft.keys.keyHint,
            permissions: inspection.permissions,
            ipRestricted: inspection.ipRestriction.isRestricted,
            warnings: warnings.map(\.message),
            createdAt: self.now(),
            rotatedAt: nil
        )
        let details = [
            "credential_id": record.id.uuidString.lowercased(),
            "venue": draft.venue.rawValue,
            "permissions": inspection.permissions.joined(separator: ","),
            "verified": String(inspection.role != .notInspected),
        ]
        try await self.repository.create(
            record,
            keys: draft.keys,
            audit: AuditEvent(.credentialAdded, user: owner, client: client, details, at: self.now())
        )
        return record
    }

    /// The credential to rotate and its new, checked key material (same venue). Nothing was sent anywhere.
    public func rotationDraft(id: UUID, owner: UUID, apiKey: String, apiSecret: String, passphrase: String?) async throws -> (CredentialRecord, Draft)
    {
        let existing = try await self.credential(id: id, owner: owner)
        let (venue, keys) = try self.validated(venue: existing.venue.rawValue, apiKey: apiKey, apiSecret: apiSecret, passphrase: passphrase)
        return (existing, Draft(venue: venue, label: existing.label, keys: keys))
    }

    /// The same checks as `create`, then the new material replaces the old in one transaction.
    public func rotate(_ existing: CredentialRecord, to draft: Draft, client: ClientInfo) async throws -> CredentialRecord {
        let (inspection, warnings) = try await self.inspect(draft.venue, draft.keys, owner: existing.userID, client: client)
        let findings = KeyFindings(
            keyHint: draft.keys.keyHint,
            permissions: inspection.permissions,
            ipRestricted: inspection.ipRestriction.isRestricted,
            warnings: warnings.map(\.message)
        )
        let event = AuditEvent(
            .credentialRotated,
            user: existing.userID,
            client: client,
            ["credential_id": existing.id.uuidString.lowercased(), "venue": existing.venue.rawValue],
            at: self.now()
        )
        guard
            let record = try await self.repository.rotate(
                id: existing.id,
                userID: existing.userID,
                findings: findings,
                keys: draft.keys,
                at: self.now(),
                audit: event
            )
        else { throw CredentialError.notFound }
        self.keysChanged(existing.id)
        return record
    }

    /// The credential to delete, if no bot trades with it. Nothing changed yet.
    public func deletable(id: UUID, owner: UUID) async throws -> CredentialRecord {
        let existing = try await self.credential(id: id, owner: owner)
        let bots = try await self.usage(id, owner)
        guard bots == 0 else { throw CredentialError.inUse(bots: bots) }
        return existing
    }

    public func delete(_ existing: CredentialRecord, client: ClientInfo) async throws {
        let event = AuditEvent(
            .credentialDeleted,
            user: existing.userID,
            client: client,
            ["credential_id": existing.id.uuidString.lowercased(), "venue": existing.venue.rawValue],
            at: self.now()
        )
        guard try await self.repository.delete(id: existing.id, userID: existing.userID, audit: event) else { throw CredentialError.notFound }
        self.keysChanged(existing.id)
    }

    // MARK: Re-checks

    public enum RecheckResult: Sendable, Equatable {
        /// The venue confirmed the key passes the policy (its findings are updated).
        case confirmed
        /// The key failed (now or before) and is disabled; why, and how to fix it.
        case disabled(String)
        /// The venue could not be asked; nothing changed.
        case unreachable
    }

    static let recheckClient = ClientInfo(ip: nil, userAgent: "key-recheck")

    /// Ask the venue about a stored key again, with the same policy as when it was added: a key that gained a
    /// withdrawal or transfer permission, lost its IP lock or was revoked is disabled at once (with its audit entry;
    /// `disabled` then stops its bots and alerts its owner), and never used again. Keys of venues without
    /// introspection cannot be re-checked and are left as they are.
    public func recheck(_ record: CredentialRecord) async throws -> RecheckResult {
        if let reason = record.disabledReason, record.disabledAt != nil { return .disabled(reason) }
        guard let venue = self.directory.venue(record.venue), self.directory.hasKeyIntrospection(record.venue) else {
            // Nothing to ask (a testnet without introspection): it is due again in a day, not at every poll.
            let unchanged = KeyFindings(
                keyHint: record.keyHint,
                permissions: record.permissions,
                ipRestricted: record.ipRestricted,
                warnings: record.warnings
            )
            try await self.repository.markChecked(id: record.id, userID: record.userID, findings: unchanged, at: self.now())
            return .confirmed
        }
        let keys: VenueCredentials
        do {
            keys = try await self.repository.keys(id: record.id, userID: record.userID)
        } catch CredentialError.disabled(let reason) {
            return .disabled(reason)
        }
        let reason: String
        let code: String
        do {
            let inspection = try await venue.inspectKey(keys)
            switch self.policy.evaluate(inspection) {
            case .accepted(let warnings):
                let findings = KeyFindings(
                    keyHint: record.keyHint,
                    permissions: inspection.permissions,
                    ipRestricted: inspection.ipRestriction.isRestricted,
                    warnings: warnings.map(\.message)
                )
                try await self.repository.markChecked(id: record.id, userID: record.userID, findings: findings, at: self.now())
                return .confirmed
            case .rejected(let rejection):
                (reason, code) = (rejection.message, rejection.code.rawValue)
            }
        } catch let rejection as KeyRejection {
            (reason, code) = (rejection.message, rejection.code.rawValue)
        } catch let error as VenueError {
            guard case .rejected(_, let venueCode, let message) = error else {
                self.logger.warning(
                    "venue unreachable during key re-check",
                    metadata: ["venue": .string(record.venue.rawValue), "error": .string(error.description)]
                )
                return .unreachable
            }
            var text = message.replacingOccurrences(of: keys.apiKey, with: "…")
            if let quoted = text.range(of: "origin_string[") { text = String(text[..<quoted.lowerBound]) }
            reason =
                "\(record.venue.displayName) no longer accepts this key (\(venueCode): \(text.prefix(120))): it was revoked or changed at the exchange."
            code = "key_revoked"
        }
        let event = AuditEvent(
            .credentialDisabled,
            user: record.userID,
            client: Self.recheckClient,
            ["credential_id": record.id.uuidString.lowercased(), "venue": record.venue.rawValue, "reason": code],
            at: self.now()
        )
        // Its bots stop first, their orders cancelled while the key still works (a key with a new withdrawal right
        // still cancels; a revoked one cannot, and says so); then the key is disabled and forgotten.
        await self.disabled(record, reason)
        if try await self.repository.disable(id: record.id, userID: record.userID, reason: reason, at: self.now(), audit: event) {
            self.logger.notice("exchange key disabled by its re-check", metadata: ["venue": .string(record.venue.rawValue), "reason": .string(code)])
        }
        self.keysChanged(record.id)
        return .disabled(reason)
    }

    /// Before a bot trades with a key: re-checked now; a disabled key, or one the venue cannot confirm, is refused.
    public func checkBeforeUse(id: UUID, owner: UUID) async throws {
        let record = try await self.credential(id: id, owner: owner)
        switch try await self.recheck(record) {
        case .confirmed: return
        case .disabled(let reason): throw CredentialError.disabled(reason)
        case .unreachable:
            throw CredentialError.venueUnreachable(
                "\(record.venue.displayName) could not be reached to re-check this key before the bot starts. Nothing changed; try again later."
            )
        }
    }

    /// Re-check every key last confirmed before `checkedBefore`, one at a time with `spacing` between venue calls
    /// (within every venue's rate limits); returns what each check found.
    public func recheckDue(checkedBefore: Date, limit: Int = 100, spacing: Duration = .milliseconds(500)) async throws -> [RecheckResult] {
        var results: [RecheckResult] = []
        for record in try await self.repository.dueForCheck(checkedBefore: checkedBefore, limit: limit) {
            if !results.isEmpty { try await Task.sleep(for: spacing) }
            do {
                results.append(try await self.recheck(record))
            } catch {
                self.logger.error(
                    "key re-check failed",
                    metadata: ["venue": .string(record.venue.rawValue), "error": .string(String(describing: error))]
                )
            }
        }
        return results
    }

    // MARK: Checks

    /// The venue and well-formed key material.
    func validated(venue: String, apiKey: String, apiSecret: String, passphrase: String?) throws(CredentialError) -> (VenueID, VenueCredentials) {
        guard let venueID = VenueID(rawValue: venue) else {
            let ids = VenueID.allCases.filter { $0 != .paper }.map(\.rawValue).joined(separator: ", ")
            throw .unknownVenue("`venue` must be one of \(ids).")
        }
        guard self.directory.venue(venueID) != nil else { throw .unknownVenue("The paper venue needs no exchange key.") }
        let apiKey = apiKey.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !apiKey.isEmpty, apiKey.count <= 512, !apiSecret.isEmpty, apiSecret.utf8.count <= 8192, (passphrase?.utf8.count ?? 0) <= 256 else {
            throw .invalidKeyMaterial
        }
        let secret = SecretBytes(copying: Array(apiSecret.utf8))
        let passphrase = passphrase.flatMap { $0.isEmpty ? nil : SecretBytes(copying: Array($0.utf8)) }
        return (venueID, VenueCredentials(apiKey: apiKey, secret: secret, passphrase: passphrase))
    }

    /// Ask the venue once (never retried) and apply the policy. A refusal is audited with its reason only.
    func inspect(_ venueID: VenueID, _ keys: VenueCredentials, owner: UUID, client: ClientInfo) async throws -> (KeyInspection, [KeyRejection]) {
        guard let venue = self.directory.venue(venueID) else { throw CredentialError.unknownVenue("The paper venue needs no exchange key.") }
        let rejection: KeyRejection
        do {
            let inspection =
                self.directory.hasKeyIntrospection(venueID)
                ? try await venue.inspectKey(keys)
                : KeyInspection(venue: venueID, role: .notInspected, permissions: [], canTrade: true, ipRestriction: .unknown)
            switch self.policy.evaluate(inspection) {
            case .accepted(let warnings): return (inspection, warnings)
            case .rejected(let refused): rejection = refused
            }
        } catch let refused as KeyRejection {
            rejection = refused
        } catch let error as VenueError {
            switch error {
            case .rejected(_, let code, let message):
                rejection = KeyRejection(.unverifiableKey, self.refusalMessage(venueID, code: code, message: message, apiKey: keys.apiKey))
            case .unavailable(_, let detail):
                throw CredentialError.venueUnavailable(detail)
            default:
                self.logger.warning(
                    "venue unreachable during key check",
                    metadata: ["venue": .string(venueID.rawValue), "error": .string(error.description)]
                )
                throw CredentialError.venueUnreachable(
                    "\(venueID.displayName) could not be reached or answered unexpectedly. Nothing was stored; try again later."
                )
            }
        }
        let event = AuditEvent(
            .credentialRejected,
            user: owner,
            client: client,
            ["venue": venueID.rawValue, "reason": rejection.code.rawValue],
            at: self.now()
        )
        try await self.audit.record(event)
        throw CredentialError.rejected(rejection)
    }

    /// The venue refused our signed introspection call. Its text may quote what we signed (Bybit's "origin_string"),
    /// which contains the key, so only the code and a cleaned, short message are passed on.
    func refusalMessage(_ venue: VenueID, code: String, message: String, apiKey: String) -> String {
        var text = message.replacingOccurrences(of: apiKey, with: "…")
        if let quoted = text.range(of: "origin_string[") { text = String(text[..<quoted.lowerBound]) }
        text = String(text.prefix(160)).trimmingCharacters(in: .whitespacesAndNewlines)
        let egress = self.policy.egressIPs.isEmpty ? "" : " (\(self.policy.egressIPs.joined(separator: ", ")))"
        let quoted = text.isEmpty ? "" : ": \(text)"
        return "\(venue.displayName) refused this key (\(code)\(quoted)). Check that api_key, api_secret and any passphrase are right and, "
            + "if the key is locked to IP addresses, that it allows this server's egress IPs\(egress). Nothing was stored."
    }
}
