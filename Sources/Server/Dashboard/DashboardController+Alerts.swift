// The dashboard's alerts page: the user's alerts (acknowledge each), the channels they go to (email always; the
// Telegram chat, linked from here with a single-use code), and the same services as the API.

import Foundation
import HTTPTypes
import Hummingbird
import Storage

extension DashboardController {
    func addAlertRoutes(to router: Router<AppRequestContext>) {
        router.get("/alerts", use: self.alertsPage)
        router.post("/alerts/:id/acknowledge", use: self.acknowledgeAlert)
        router.post("/alerts/telegram", use: self.linkTelegram)
    }

    @Sendable func alertsPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        return try await self.renderAlerts(identity, error: nil, status: .ok)
    }

    func renderAlerts(
        _ identity: Identity,
        error: String?,
        status: HTTPResponse.Status,
        notice: String? = nil,
        linkCode: String? = nil
    ) async throws -> Response {
        let alerts = try await self.alerts.alerts(of: identity.userID, before: nil, limit: 100) ?? []
        let formatter = ISO8601DateFormatter()
        var values = self.base("Alerts", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID), error: error, notice: notice)
        values["alerts"] = alerts.map { alert -> [String: Any] in
            [
                "id": alert.id.apiString, "kind": alert.kind.replacingOccurrences(of: "_", with: " "), "message": alert.message,
                "time": formatter.string(from: alert.createdAt), "acknowledged": alert.acknowledgedAt != nil,
            ]
        }
        values["hasAlerts"] = !alerts.isEmpty
        values["telegramConfigured"] = self.telegram != nil
        values["telegramLinked"] = try await self.telegram?.isLinked(identity.userID) ?? false
        if let linkCode {
            values["linkCode"] = linkCode
            values["linkMinutes"] = Int(TelegramBot.linkLifetime / 60)
        }
        return self.views.page("alerts", values, status: status)
    }

    @Sendable func acknowledgeAlert(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        do { _ = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        guard let id = context.parameters.get("id", as: UUID.self),
            try await self.alerts.acknowledge(id, owner: identity.userID, client: context.client)
        else { return try await self.renderAlerts(identity, error: "You have no alert with this id.", status: .notFound) }
        return try await self.renderAlerts(identity, error: nil, status: .ok, notice: "Acknowledged.")
    }

    @Sendable func linkTelegram(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        do { _ = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        guard let telegram = self.telegram else {
            return try await self.renderAlerts(identity, error: "This server has no Telegram bot.", status: .conflict)
        }
        let code = try await telegram.linkCode(for: identity.userID)
        return try await self.renderAlerts(identity, error: nil, status: .ok, linkCode: code)
    }
}
