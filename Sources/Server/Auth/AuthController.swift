// The Auth table of API.md: /api/v1/auth/*.

import Foundation
import HTTPTypes
import Hummingbird
import Storage

struct AuthController {
    let auth: AuthService
    let stepUp: StepUp
    let publicOrigin: String

    static let refreshCookie = "__Secure-tradekeep_refresh"
    static let cookiePath = "/api/v1/auth"

    func addRoutes(public api: RouterGroup<AppRequestContext>, signedIn: RouterGroup<AuthenticatedContext>) {
        let open = api.group("auth")
        open.post("/register", use: self.register)
        open.post("/totp/confirm", use: self.confirmTOTP)
        open.post("/login", use: self.login)
        open.post("/login/totp", use: self.loginTOTP)
        open.post("/refresh", use: self.refresh)
        open.post("/password/forgot", use: self.forgotPassword)
        open.post("/password/reset", use: self.resetPassword)
        open.get("/verify-email", use: self.verifyEmail)

        let mine = signedIn.group("auth")
        mine.post("/logout", use: self.logout)
        mine.get("/sessions", use: self.sessions)
        mine.delete("/sessions/:id", use: self.revokeSession)
        mine.post("/password/change", use: self.changePassword)
        mine.post("/backup-codes", use: self.backupCodes)
    }

    // MARK: Bodies

    struct Credentials: Decodable {
        let email: String
        let password: String
    }
    struct Registered: ResponseEncodable {
        let userId: String
        let enrollmentToken: String
        let totpSecret: String
        let otpauthUri: String
    }
    struct Confirm: Decodable {
        let enrollmentToken: String
        let code: String
    }
    struct BackupCodes: ResponseEncodable { let backupCodes: [String] }
    struct MFAChallenge: ResponseEncodable { let mfaToken: String }
    struct EnrollmentRequired: ResponseEncodable {
        let status = "pending_totp"
        let userId: String
        let enrollmentToken: String
        let totpSecret: String
        let otpauthUri: String
    }
    struct SecondStep: Decodable {
        let mfaToken: String
        let code: String?
        let backupCode: String?
    }
    struct Tokens: Encodable {
        let accessToken: String
        let tokenType: String
        let expiresIn: Int
    }
    struct Email: Decodable { let email: String }
    struct Reset: Decodable {
        let token: String
        let newPassword: String
        let totpCode: String?
        let backupCode: String?
    }
    struct Change: Decodable {
        let currentPassword: String
        let newPassword: String
        let totpCode: String?
    }
    struct Session: ResponseEncodable {
        let id: String
        let createdAt: Date
        let lastSeenAt: Date
        let ip: String?
        let userAgent: String?
        let current: Bool
    }
    struct Status: ResponseEncodable { let status: String }

    // MARK: Anonymous

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Registered> {
        let body = try await request.decode(as: Credentials.self, context: context)
        let enrollment = try await self.auth.register(email: body.email, password: body.password, client: context.client)
        return EditedResponse(
            status: .created,
            response: Registered(
                userId: enrollment.userID.apiString,
                enrollmentToken: enrollment.enrollmentToken,
                totpSecret: enrollment.totpSecret,
                otpauthUri: enrollment.otpauthURI
            )
        )
    }

    @Sendable func confirmTOTP(_ request: Request, context: AppRequestContext) async throws -> BackupCodes {
        let body = try await request.decode(as: Confirm.self, context: context)
        let codes = try await self.auth.confirmTOTP(
            enrollmentToken: body.enrollmentToken,
            code: body.code,
            client: context.client
        )
        return BackupCodes(backupCodes: codes)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decode(as: Credentials.self, context: context)
        switch try await self.auth.login(email: body.email, password: body.password, client: context.client) {
        case .mfa(let token):
            return try MFAChallenge(mfaToken: token).response(from: request, context: context)
        case .enrollment(let enrollment):
            return try EnrollmentRequired(
                userId: enrollment.userID.apiString,
                enrollmentToken: enrollment.enrollmentToken,
                totpSecret: enrollment.totpSecret,
                otpauthUri: enrollment.otpauthURI
            ).response(from: request, context: context)
        }
    }

    @Sendable func loginTOTP(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decode(as: SecondStep.self, context: context)
        let tokens = try await self.auth.completeLogin(
            mfaToken: body.mfaToken,
            code: body.code,
            backupCode: body.backupCode,
            client: context.client
        )
        return try self.tokenResponse(tokens)
    }

    /// Needs the refresh cookie and a sign that the request is not a cross-site form post: an Origin equal to
    /// ours, or an X-Requested-With header (which a cross-site form cannot set).
    @Sendable func refresh(_ request: Request, context: AppRequestContext) async throws -> Response {
        // A foreign Origin is refused even with X-Requested-With: it is a cross-site request by definition.
        let origin = request.headers[.origin]
        guard origin == self.publicOrigin || (origin == nil && request.headers[.xRequestedWith] != nil) else {
            throw APIError.csrfCheckFailed
        }
        guard let cookie = request.cookies[Self.refreshCookie]?.value, !cookie.isEmpty else { throw APIError.invalidToken }
        do {
            return try self.tokenResponse(try await self.auth.refresh(token: cookie, client: context.client))
        } catch let error as APIError where error.code == APIError.refreshReused.code {
            var cleared = error
            cleared.headers[values: .setCookie].append(Self.clearedCookie.description)
            throw cleared
        }
    }

    @Sendable func forgotPassword(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Status> {
        let body = try await request.decode(as: Email.self, context: context)
        self.auth.requestPasswordReset(email: body.email, client: context.client)
        return EditedResponse(status: .accepted, response: Status(status: "accepted"))
    }

    @Sendable func resetPassword(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let body = try await request.decode(as: Reset.self, context: context)
        try await self.auth.resetPassword(
            token: body.token,
            newPassword: body.newPassword,
            totpCode: body.totpCode,
            backupCode: body.backupCode,
            client: context.client
        )
        return .noContent
    }

    @Sendable func verifyEmail(_ request: Request, context: AppRequestContext) async throws -> Status {
        guard let token = request.uri.queryParameters.get("token"), !token.isEmpty else { throw APIError.invalidToken }
        try await self.auth.verifyEmail(token: token, client: context.client)
        return Status(status: "verified")
    }

    // MARK: Signed in

    @Sendable func logout(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await self.auth.logout(context.identity, client: context.client)
        var response = Response(status: .noContent)
        response.setCookie(Self.clearedCookie)
        return response
    }

    @Sendable func sessions(_ request: Request, context: AuthenticatedContext) async throws -> [Session] {
        try await self.auth.listSessions(context.identity).map { session in
            Session(
                id: session.id.apiString,
                createdAt: session.createdAt,
                lastSeenAt: session.lastSeenAt,
                ip: session.ip,
                userAgent: session.userAgent,
                current: session.id == context.identity.sessionID
            )
        }
    }

    @Sendable func revokeSession(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw APIError.notFound("You have no active session with this id.") }
        try await self.auth.revokeSession(context.identity, sessionID: id, client: context.client)
        return .noContent
    }

    @Sendable func changePassword(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let body = try await request.decode(as: Change.self, context: context)
        try await self.auth.changePassword(
            context.identity,
            current: body.currentPassword,
            new: body.newPassword,
            totpCode: body.totpCode ?? request.headers[.xTOTPCode],
            client: context.client
        )
        return .noContent
    }

    @Sendable func backupCodes(_ request: Request, context: AuthenticatedContext) async throws -> BackupCodes {
        try await self.stepUp.verify(request, context)
        return BackupCodes(backupCodes: try await self.auth.regenerateBackupCodes(context.identity, client: context.client))
    }

    // MARK: Helpers

    func tokenResponse(_ tokens: AuthService.IssuedTokens) throws -> Response {
        let body = try JSONCoding.encoder.encode(Tokens(accessToken: tokens.accessToken, tokenType: "Bearer", expiresIn: tokens.expiresIn))
        var response = Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
        response.setCookie(Self.cookie(value: tokens.refreshToken, maxAge: Int(AuthService.refreshLifetime)))
        return response
    }

    /// `__Secure-` prefix, HttpOnly, Secure, SameSite=Strict, scoped to the auth routes.
    static func cookie(value: String, maxAge: Int) -> Cookie {
        Cookie(name: refreshCookie, value: value, maxAge: maxAge, path: cookiePath, secure: true, httpOnly: true, sameSite: .strict)
    }

    static var clearedCookie: Cookie { cookie(value: "", maxAge: 0) }
}
