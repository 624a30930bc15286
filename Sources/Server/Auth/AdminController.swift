// /api/v1/admin: administrators only, and every call carries a fresh TOTP code (SPEC §2).

import Foundation
import HTTPTypes
import Hummingbird
import Storage

struct AdminController {
    let auth: AuthService

    func addRoutes(to router: Router<AppRequestContext>) {
        let admin = router.group("/api/v1/admin", context: AuthenticatedContext.self)
        admin.get("/users", use: self.users)
        admin.post("/users/:id/lock", use: self.lock)
        admin.post("/users/:id/unlock", use: self.unlock)
    }

    struct User: ResponseEncodable {
        let id: String
        let email: String
        let role: String
        let status: String
        let emailVerified: Bool
        let lockedUntil: Date?
        let createdAt: Date
    }
    struct StepUpBody: Decodable { let totpCode: String? }

    @Sendable func users(_ request: Request, context: AuthenticatedContext) async throws -> [User] {
        try await self.auth.requireAdmin(
            context.identity,
            totpCode: request.headers[.xTOTPCode],
            client: AuthController.client(request, context.clientIP)
        )
        return try await self.auth.store.users().map { user in
            User(
                id: user.id.apiString,
                email: user.email,
                role: user.role.rawValue,
                status: user.status.rawValue,
                emailVerified: user.emailVerifiedAt != nil,
                lockedUntil: user.lockedUntil,
                createdAt: user.createdAt
            )
        }
    }

    @Sendable func lock(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        try await self.setLocked(true, request, context)
    }

    @Sendable func unlock(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        try await self.setLocked(false, request, context)
    }

    func setLocked(_ locked: Bool, _ request: Request, _ context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let client = AuthController.client(request, context.clientIP)
        let body = try? await request.decodeJSON(as: StepUpBody.self, context: context)
        try await self.auth.requireAdmin(context.identity, totpCode: body?.totpCode ?? request.headers[.xTOTPCode], client: client)
        guard let id = context.parameters.get("id", as: UUID.self) else { throw APIError.notFound("No user has this id.") }
        try await self.auth.setLocked(locked, userID: id, by: context.identity, client: client)
        return .noContent
    }
}
