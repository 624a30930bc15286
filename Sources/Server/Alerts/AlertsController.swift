// /api/v1/alerts (the caller's alerts, paged; acknowledge one) and the admin feed and scan trigger under
// /api/v1/admin (role admin and a fresh TOTP code).

import AuditLog
import Foundation
import Guard
import HTTPTypes
import Hummingbird
import Storage

struct AlertsController {
    let alerts: AlertService
    let scanner: AnomalyScanner
    let stepUp: StepUp

    func addRoutes(to signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.get("/alerts", use: self.list)
        signedIn.post("/alerts/:id/acknowledge", use: self.acknowledge)
        signedIn.get("/admin/alerts", use: self.adminList)
        signedIn.post("/admin/anomaly/scan", use: self.scan)
    }

    struct Alert: ResponseEncodable {
        let id: String
        let userId: String?
        let kind: String
        let message: String
        let details: [String: String]
        let createdAt: Date
        let acknowledgedAt: Date?

        init(_ record: AlertRecord) {
            self.id = record.id.apiString
            self.userId = record.userID?.apiString
            self.kind = record.kind
            self.message = record.message
            self.details = record.details
            self.createdAt = record.createdAt
            self.acknowledgedAt = record.acknowledgedAt
        }
    }

    struct Page: ResponseEncodable {
        let alerts: [Alert]
        /// The `before` value of the next page; nil on the last.
        let next: String?
    }

    struct ScanRequested: ResponseEncodable {
        let scan: String
    }

    static func page(_ request: Request, owner: UUID?, alerts: AlertService) async throws -> Page {
        let limit = try AuditController.number(request, "limit", in: 1...200) ?? 50
        var before: UUID?
        if let text = request.uri.queryParameters.get("before") {
            guard let id = UUID(uuidString: String(text)) else { throw APIError.badRequest("before must be an alert id (the previous page's next).") }
            before = id
        }
        guard let records = try await alerts.alerts(of: owner, before: before, limit: Int(limit)) else {
            throw APIError.notFound("No alert has this id.")
        }
        return Page(alerts: records.map(Alert.init), next: records.count == Int(limit) ? records.last?.id.apiString : nil)
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> Page {
        try await Self.page(request, owner: context.identity.userID, alerts: self.alerts)
    }

    @Sendable func acknowledge(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        guard let id = context.parameters.get("id", as: UUID.self),
            try await self.alerts.acknowledge(id, owner: context.identity.userID, client: context.client)
        else { throw APIError.notFound("No alert has this id.") }
        return .noContent
    }

    @Sendable func adminList(_ request: Request, context: AuthenticatedContext) async throws -> Page {
        try await self.stepUp.requireAdmin(context.identity, code: request.headers[.xTOTPCode], client: context.client)
        return try await Self.page(request, owner: nil, alerts: self.alerts)
    }

    @Sendable func scan(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<ScanRequested> {
        try await self.stepUp.requireAdmin(request, context)
        try await self.alerts.scanRequested(by: context.identity.userID, client: context.client)
        self.scanner.requestScan()
        return EditedResponse(status: .accepted, response: ScanRequested(scan: "requested"))
    }
}
