// /api/v1/admin: administrators only, and every call carries a fresh TOTP code (SPEC §2).

import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Storage

struct AdminController {
    let auth: AuthService
    let bots: BotService
    let stepUp: StepUp

    func addRoutes(to signedIn: RouterGroup<AuthenticatedContext>) {
        let admin = signedIn.group("admin")
        admin.get("/users", use: self.users)
        admin.post("/users/:id/lock", use: self.lock)
        admin.post("/users/:id/unlock", use: self.unlock)
        admin.post("/halt", use: self.halt)
        admin.post("/resume", use: self.resume)
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

    struct Halt: ResponseEncodable {
        let halted: Bool
        let stoppedBots: Int
        let cancelledOrders: Int
        let failedCancels: [String]
    }

    @Sendable func users(_ request: Request, context: AuthenticatedContext) async throws -> [User] {
        try await self.stepUp.requireAdmin(context.identity, code: request.headers[.xTOTPCode], client: context.client)
        return try await self.auth.users().map { user in
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
        try await self.stepUp.requireAdmin(request, context)
        guard let id = context.parameters.get("id", as: UUID.self) else { throw APIError.notFound("No user has this id.") }
        try await self.auth.setLocked(locked, userID: id, by: context.identity, client: context.client)
        return .noContent
    }

    /// Stop all trading on the server: no order goes out from now on; running bots stop and their orders are cancelled.
    @Sendable func halt(_ request: Request, context: AuthenticatedContext) async throws -> Halt {
        try await self.stepUp.requireAdmin(request, context)
        let summary = try await self.bots.halt(by: context.identity.userID, client: context.client)
        return Halt(halted: true, stoppedBots: summary.stopped, cancelledOrders: summary.cancelled, failedCancels: summary.failed)
    }

    @Sendable func resume(_ request: Request, context: AuthenticatedContext) async throws -> Halt {
        try await self.stepUp.requireAdmin(request, context)
        try await self.bots.resume(by: context.identity.userID, client: context.client)
        return Halt(halted: false, stoppedBots: 0, cancelledOrders: 0, failedCancels: [])
    }
}
