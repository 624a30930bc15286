// Exchange keys end to end (SPEC §4): step-up, one introspection call, the KeyPolicy, the vault, the audit log.

import AuditLog
import Foundation
import Hummingbird
import Logging
import Storage
import Vault
import Venues

struct CredentialService: Sendable {
    let auth: AuthService
    let store: CredentialStore
    let directory: VenueDirectory
    let policy: KeyPolicy
    let logger: Logger

    /// What a user submits: the key's identifier, its secret and (OKX) passphrase.
    struct Submission: Sendable {
        var venue: String
        var apiKey: String
        var apiSecret: String
        var passphrase: String?
    }

    static let maximumLabel = 100

    func create(_ identity: Identity, label: String, submission: Submission, totpCode: String?, client: ClientInfo) async throws -> CredentialRecord {
        let label = label.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= Self.maximumLabel, !label.contains(where: \.isNewline) else {
            throw APIError(.unprocessableContent, code: "invalid_label", message: "`label` must be 1–\(Self.maximumLabel) characters on one line.")
        }
        let (venueID, venue, credentials) = try self.validated(submission)
        try await self.auth.stepUp(identity, code: totpCode, client: client)
        let (inspection, warnings) = try await self.inspect(venue, credentials, identity: identity, client: client)
        let record = try await self.store.create(
            userID: identity.userID,
            venue: venueID.rawValue,
            label: label,
            keyHint: credentials.keyHint,
            permissions: inspection.permissions,
            ipRestricted: inspection.ipRestriction.isRestricted,
            warnings: warnings.map(\.message),
            material: CredentialMaterial(apiKey: credentials.apiKey, secret: credentials.secret, passphrase: credentials.passphrase),
            envelope: self.auth.envelope
        )
        try await self.auth.record(
            .credentialAdded,
            identity.userID,
            client,
            [
                "credential_id": record.id.apiString, "venue": venueID.rawValue, "permissions": inspection.permissions.joined(separator: ","),
                "verified": String(self.directory.hasKeyIntrospection(venueID)),
            ]
        )
        return record
    }

    func rotate(_ identity: Identity, id: UUID, submission: Submission, totpCode: String?, client: ClientInfo) async throws -> CredentialRecord {
        guard let existing = try await self.store.credential(id: id, userID: identity.userID) else { throw Self.notFound }
        var submission = submission
        submission.venue = existing.venue
        let (venueID, venue, credentials) = try self.validated(submission)
        try await self.auth.stepUp(identity, code: totpCode, client: client)
        let (inspection, warnings) = try await self.inspect(venue, credentials, identity: identity, client: client)
        let record = try await self.store.rotate(
            id: id,
            userID: identity.userID,
            keyHint: credentials.keyHint,
            permissions: inspection.permissions,
            ipRestricted: inspection.ipRestriction.isRestricted,
            warnings: warnings.map(\.message),
            material: CredentialMaterial(apiKey: credentials.apiKey, secret: credentials.secret, passphrase: credentials.passphrase),
            envelope: self.auth.envelope
        )
        try await self.auth.record(.credentialRotated, identity.userID, client, ["credential_id": id.apiString, "venue": venueID.rawValue])
        return record
    }

    func delete(_ identity: Identity, id: UUID, totpCode: String?, client: ClientInfo) async throws {
        guard let existing = try await self.store.credential(id: id, userID: identity.userID) else { throw Self.notFound }
        try await self.auth.stepUp(identity, code: totpCode, client: client)
        guard try await self.store.delete(id: id, userID: identity.userID) else { throw Self.notFound }
        try await self.auth.record(.credentialDeleted, identity.userID, client, ["credential_id": id.apiString, "venue": existing.venue])
    }

    static let notFound = APIError.notFound("You have no exchange key with this id.")

    /// The venue and well-formed key material, or a 4xx naming what is wrong. Nothing is sent anywhere yet.
    func validated(_ submission: Submission) throws -> (VenueID, any Venue, VenueCredentials) {
        guard let venueID = VenueID(rawValue: submission.venue) else {
            let ids = VenueID.allCases.filter { $0 != .paper }.map(\.rawValue).joined(separator: ", ")
            throw APIError(.unprocessableContent, code: "unknown_venue", message: "`venue` must be one of \(ids).")
        }
        guard let venue = self.directory.venue(venueID) else {
            throw APIError(.unprocessableContent, code: "unknown_venue", message: "The paper venue needs no exchange key.")
        }
        let apiKey = submission.apiKey.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !apiKey.isEmpty, apiKey.count <= 512, !submission.apiSecret.isEmpty, submission.apiSecret.utf8.count <= 8192,
            (submission.passphrase?.utf8.count ?? 0) <= 256
        else {
            throw APIError(
                .unprocessableContent,
                code: "invalid_key_material",
                message: "`api_key` (≤ 512 characters) and `api_secret` (≤ 8 KiB) are required; `passphrase` is at most 256 bytes."
            )
        }
        let passphrase = submission.passphrase.flatMap { $0.isEmpty ? nil : SecretBytes(copying: Array($0.utf8)) }
        return (
            venueID, venue, VenueCredentials(apiKey: apiKey, secret: SecretBytes(copying: Array(submission.apiSecret.utf8)), passphrase: passphrase)
        )
    }

    /// Ask the venue once and apply the policy. A refusal is audited with its reason only and answered 422.
    func inspect(
        _ venue: any Venue,
        _ credentials: VenueCredentials,
        identity: Identity,
        client: ClientInfo
    ) async throws -> (KeyInspection, [KeyRejection]) {
        let rejection: KeyRejection
        do {
            if !self.directory.hasKeyIntrospection(venue.id) { return try self.unverifiedTestnetKey(venue.id) }
            let inspection = try await venue.inspectKey(credentials)
            switch self.policy.evaluate(inspection) {
            case .accepted(let warnings): return (inspection, warnings)
            case .rejected(let refused): rejection = refused
            }
        } catch let refused as KeyRejection {
            rejection = refused
        } catch let error as VenueError {
            switch error {
            case .rejected(_, let code, let message):
                rejection = KeyRejection(.unverifiableKey, self.refusalMessage(venue.id, code: code, message: message, apiKey: credentials.apiKey))
            case .unavailable(_, let detail):
                throw APIError(.serviceUnavailable, code: "venue_unavailable", message: detail)
            default:
                self.logger.warning(
                    "venue unreachable during key check",
                    metadata: ["venue": .string(venue.id.rawValue), "error": .string(error.description)]
                )
                throw APIError(.badGateway, code: "venue_unreachable", message: "\(error.description) Nothing was stored.")
            }
        }
        try await self.auth.record(.credentialRejected, identity.userID, client, ["venue": venue.id.rawValue, "reason": rejection.code.rawValue])
        throw APIError(.unprocessableContent, code: rejection.code.rawValue, message: rejection.message)
    }

    /// A testnet without key introspection: refused, unless the operator allowed unverified keys there.
    func unverifiedTestnetKey(_ venue: VenueID) throws -> (KeyInspection, [KeyRejection]) {
        guard self.directory.unverified.contains(venue) else {
            throw KeyRejection(
                .unverifiableKey,
                "\(venue.displayName)'s testnet cannot tell what a key can do, so Tradekeep cannot check this key. The operator can allow unverified testnet keys with TRADEKEEP_UNVERIFIED_VENUES=\(venue.rawValue)."
            )
        }
        let warning = KeyRejection(
            .unverifiableKey,
            "Not verified: \(venue.displayName)'s testnet cannot tell what a key can do, and this server stores testnet keys unchecked (TRADEKEEP_UNVERIFIED_VENUES)."
        )
        return (KeyInspection(venue: venue, permissions: [], canTrade: true, ipRestriction: .unknown), [warning])
    }

    /// The venue refused our signed introspection call. Its text may quote what we signed (Bybit's "origin_string"),
    /// which contains the key, so only the code and a cleaned, short message are passed on.
    func refusalMessage(_ venue: VenueID, code: String, message: String, apiKey: String) -> String {
        var text = message.replacingOccurrences(of: apiKey, with: "…")
        if let quoted = text.range(of: "origin_string[") { text = String(text[..<quoted.lowerBound]) }
        text = String(text.prefix(160)).trimmingCharacters(in: .whitespacesAndNewlines)
        let egress = self.policy.egressIPs.isEmpty ? "" : " (\(self.policy.egressIPs.joined(separator: ", ")))"
        return
            "\(venue.displayName) refused this key (\(code)\(text.isEmpty ? "" : ": \(text)")). Check that api_key, api_secret and any passphrase are right and, if the key is locked to IP addresses, that it allows this server's egress IPs\(egress). Nothing was stored."
    }
}
