// Exchange keys, the audit log and account security.

import AuditLog
import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Venues

extension DashboardController {
    func addAccountRoutes(to router: Router<AppRequestContext>) {
        router.get("/keys", use: self.keysPage)
        router.post("/keys", use: self.addKey)
        router.post("/keys/:id/delete", use: self.deleteKey)
        router.post("/keys/:id/rotate", use: self.rotateKey)
        router.get("/audit", use: self.auditPage)
        router.get("/audit/export", use: self.auditExport)
        router.get("/security", use: self.securityPage)
        router.post("/security/sessions/:id/revoke", use: self.revokeSession)
        router.post("/security/password", use: self.changePassword)
        router.post("/security/backup-codes", use: self.regenerateCodes)
    }

    // MARK: Keys

    /// Each venue's own steps to a trade-only key locked to our addresses.
    static func steps(_ venue: VenueID) -> [String] {
        switch venue {
        case .binance, .binanceUSDM:
            [
                "Binance → Profile → API Management → Create API → System generated.",
                "Edit restrictions: tick Enable Spot & Margin Trading (Futures for USDⓈ-M); leave Enable Withdrawals unticked.",
                "Restrict access to trusted IPs only, and enter this server's addresses.",
            ]
        case .bybit:
            [
                "Bybit → Account → API → Create New Key → System-generated API Keys.",
                "Permissions: Read-Write; Unified Trading → Orders and Positions; leave Assets → Withdrawal unticked.",
                "Only IPs with permissions granted: enter this server's addresses.",
            ]
        case .okx:
            [
                "OKX → Profile → API → Create V5 API key; choose a passphrase (you will enter it here).",
                "Permissions: Read and Trade only (not Withdraw).",
                "IP address: enter this server's addresses.",
            ]
        case .kraken:
            [
                "Kraken → Settings → API → Create API key.",
                "Allow Query Funds, Query Open Orders & Trades, Create & Modify Orders, Cancel/Close Orders; leave Withdraw Funds off.",
                "Under IP allowlisting enter this server's addresses.",
            ]
        case .coinbase:
            [
                "Coinbase Developer Platform → API keys → Create API key (Advanced Trade).",
                "Permissions: View and Trade; leave Transfer off.",
                "Add this server's addresses to the key's IP allowlist if your account offers it.",
            ]
        case .hyperliquid:
            [
                "Hyperliquid → More → API → Generate an API wallet (an agent: it can trade, it cannot withdraw).",
                "Authorise it from your main wallet, then paste the agent's private key as the secret and your main wallet's address as the key.",
                "Never paste your main wallet's private key: it can withdraw everything.",
            ]
        case .paper: []
        }
    }

    @Sendable func keysPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        return try await self.renderKeys(identity, error: nil, status: .ok)
    }

    func renderKeys(_ identity: Identity, error: String?, status: HTTPResponse.Status, notice: String? = nil) async throws -> Response {
        let records = try await self.credentials.list(owner: identity.userID)
        let listing = self.credentials.venues()
        var values = self.base(
            "Exchange keys",
            identity: identity,
            csrf: self.keys.csrfToken(sessionID: identity.sessionID),
            error: error,
            notice: notice
        )
        values["keys"] = records.map { record -> [String: Any] in
            [
                "id": record.id.apiString, "label": record.label, "venue": record.venue.displayName, "keyHint": record.keyHint,
                "permissions": record.permissions.joined(separator: ", "), "warnings": record.warnings.joined(separator: " "),
            ]
        }
        values["hasKeys"] = !records.isEmpty
        values["egress"] =
            listing.egressIPs.isEmpty ? "this server's public addresses (set TRADEKEEP_EGRESS_IPS)" : listing.egressIPs.joined(separator: ", ")
        values["venues"] = listing.venues.filter { $0.id != .paper }.map { venue -> [String: Any] in
            [
                "id": venue.id.rawValue, "name": venue.name, "steps": Self.steps(venue.id),
                "required": venue.requiredScopes.joined(separator: ", "), "forbidden": venue.forbiddenScopes.joined(separator: ", "),
            ]
        }
        return self.views.page("keys", values, status: status)
    }

    @Sendable func addKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            // Checked first (nothing sent anywhere), then step-up, then the venue is asked once: as the API does.
            let draft = try self.credentials.draft(
                venue: try form.required("venue"),
                label: try form.required("label"),
                apiKey: try form.required("api_key"),
                apiSecret: try form.required("api_secret"),
                passphrase: form["passphrase"]
            )
            try await self.auth.stepUp.verify(identity, code: form["totp_code"], client: context.client)
            let record = try await self.credentials.create(draft, owner: identity.userID, client: context.client)
            let warnings = record.warnings.isEmpty ? "" : " " + record.warnings.joined(separator: " ")
            return try await self.renderKeys(
                identity,
                error: nil,
                status: .created,
                notice: "The key \(record.label) was checked and saved.\(warnings)"
            )
        } catch {
            guard let refusal = Self.refusal(error) else { throw error }
            return try await self.renderKeys(identity, error: refusal.message, status: refusal.status)
        }
    }

    @Sendable func deleteKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            guard let id = context.parameters.get("id", as: UUID.self) else { throw CredentialError.notFound }
            let existing = try await self.credentials.deletable(id: id, owner: identity.userID)
            try await self.auth.stepUp.verify(identity, code: form["totp_code"], client: context.client)
            try await self.credentials.delete(existing, client: context.client)
            return try await self.renderKeys(identity, error: nil, status: .ok, notice: "The key \(existing.label) was deleted.")
        } catch {
            guard let refusal = Self.refusal(error) else { throw error }
            return try await self.renderKeys(identity, error: refusal.message, status: refusal.status)
        }
    }

    /// As the API: the new key is checked first (nothing sent anywhere), then step-up, then the venue is asked.
    @Sendable func rotateKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            guard let id = context.parameters.get("id", as: UUID.self) else { throw CredentialError.notFound }
            // Ownership first: someone else's key is 404 whatever the form holds.
            _ = try await self.credentials.credential(id: id, owner: identity.userID)
            let (existing, draft) = try await self.credentials.rotationDraft(
                id: id,
                owner: identity.userID,
                apiKey: try form.required("api_key"),
                apiSecret: try form.required("api_secret"),
                passphrase: form["passphrase"]
            )
            try await self.auth.stepUp.verify(identity, code: form["totp_code"], client: context.client)
            let record = try await self.credentials.rotate(existing, to: draft, client: context.client)
            return try await self.renderKeys(identity, error: nil, status: .ok, notice: "The key \(record.label) was checked and replaced.")
        } catch {
            guard let refusal = Self.refusal(error) else { throw error }
            return try await self.renderKeys(identity, error: refusal.message, status: refusal.status)
        }
    }

    // MARK: Audit

    @Sendable func auditPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let action = request.uri.queryParameters.get("action").flatMap { $0.isEmpty || $0.count > 100 ? nil : AuditAction(rawValue: $0) }
        let entries = try await self.auditLog.page(owner: identity.userID, before: nil, limit: 200, action: action?.rawValue)
        var values = self.base("Audit log", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
        values["entries"] = try entries.map { stored -> [String: Any] in
            let entry = try AuditController.Entry(stored)
            return [
                "index": "\(entry.index)", "time": entry.time, "action": entry.action, "ip": entry.ip,
                "details": entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "),
            ]
        }
        values["hasEntries"] = !entries.isEmpty
        values["filter"] = action != nil
        // The actions this user's log has (the latest 500 entries), to filter by.
        let recent = action == nil ? entries : try await self.auditLog.page(owner: identity.userID, before: nil, limit: 500, action: nil)
        let names = Set(recent.compactMap { try? AuditEntry(bytes: $0.entry).action } + (action.map { [$0.rawValue] } ?? [])).sorted()
        values["actions"] = names.map { ["name": $0, "selected": $0 == action?.rawValue] }
        let checkpoint = try? await self.auditLog.published()
        values["checkpoint"] = checkpoint?.note ?? "No checkpoint yet."
        let witnesses =
            checkpoint.map { note in
                note.note.split(separator: "\n").filter { $0.hasPrefix("— ") }.compactMap {
                    $0.split(separator: " ").dropFirst().first.map(String.init)
                }
            } ?? []
        let others = Array(Set(witnesses.filter { $0 != self.auditLog.origin })).sorted()
        values["witnesses"] = others.joined(separator: ", ")
        values["hasWitnesses"] = !others.isEmpty
        return self.views.page("audit", values)
    }

    @Sendable func auditExport(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        return try await AuditController.export(request, owner: identity.userID, publisher: self.auditLog)
    }

    // MARK: Security

    @Sendable func securityPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        return try await self.renderSecurity(identity, error: nil, status: .ok)
    }

    func renderSecurity(_ identity: Identity, error: String?, status: HTTPResponse.Status, notice: String? = nil) async throws -> Response {
        let sessions = try await self.auth.listSessions(identity)
        let formatter = ISO8601DateFormatter()
        var values = self.base("Security", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID), error: error, notice: notice)
        values["sessions"] = sessions.map { session -> [String: Any] in
            [
                "id": session.id.apiString, "device": session.userAgent.map { String($0.prefix(80)) } ?? "unknown device", "ip": session.ip ?? "",
                "lastSeen": formatter.string(from: session.lastSeenAt), "current": session.id == identity.sessionID,
            ]
        }
        return self.views.page("security", values, status: status)
    }

    func securityAction(
        _ request: Request,
        _ context: AppRequestContext,
        _ action: @Sendable (Identity, FormBody) async throws -> Response?
    ) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        do {
            if let response = try await action(identity, form) { return response }
            return try await self.renderSecurity(identity, error: nil, status: .ok, notice: "Done.")
        } catch {
            guard let refusal = Self.refusal(error) else { throw error }
            return try await self.renderSecurity(identity, error: refusal.message, status: refusal.status)
        }
    }

    @Sendable func revokeSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.securityAction(request, context) { identity, _ in
            guard let id = context.parameters.get("id", as: UUID.self) else { throw APIError.notFound("You have no active session with this id.") }
            try await self.auth.revokeSession(identity, sessionID: id, client: context.client)
            return try await self.renderSecurity(identity, error: nil, status: .ok, notice: "That session was signed out.")
        }
    }

    @Sendable func changePassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.securityAction(request, context) { identity, form in
            try await self.auth.changePassword(
                identity,
                current: form.fields["current_password"] ?? "",
                new: form.fields["new_password"] ?? "",
                totpCode: form["totp_code"],
                client: context.client
            )
            return try await self.renderSecurity(identity, error: nil, status: .ok, notice: "Password changed. Your other sessions were signed out.")
        }
    }

    @Sendable func regenerateCodes(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await self.securityAction(request, context) { identity, form in
            try await self.auth.stepUp.verify(identity, code: form["totp_code"], client: context.client)
            let codes = try await self.auth.regenerateBackupCodes(identity, client: context.client)
            return self.backupCodesPage(codes, identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID))
        }
    }
}
