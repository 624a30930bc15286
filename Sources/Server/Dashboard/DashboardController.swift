// The web dashboard (server-rendered pages): the same services as the API, called directly — never the HTTP API,
// never a copy of its rules. Every form post is checked twice before anything runs: the Origin must be ours, and
// the synchronizer token must match the session (or, before sign-in, the form cookie). A refused post changes
// nothing. Errors the services raise for bad input come back on the page in words, with the API's status code.

import Accounts
import AuditLog
import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Venues

struct DashboardController: Sendable {
    let auth: AuthService
    let bots: BotService
    let credentials: CredentialService
    let venues: TradingVenues
    let auditLog: AuditLogPublisher
    let live: LiveUpdates
    let alerts: AlertService
    let telegram: TelegramBot?
    let keys: WebSessionKeys
    let views: Views
    let publicURL: URL
    let servesHTTPS: Bool

    var publicOrigin: String { origin(of: self.publicURL) }

    /// The first path segments the dashboard owns (for the rate limiter and the cookie authenticator).
    static let sections: Set<String> = [
        "login", "logout", "register", "password", "bots", "keys", "audit", "security", "kill-switch", "live", "alerts",
    ]

    /// Whether a canonical path is a dashboard page (not /audit/log/…, the public transparency log).
    static func isPage(_ path: String) -> Bool {
        if path == "/" { return true }
        if path.hasPrefix("/audit/log/") || path == "/audit/log" { return false }
        let first = path.split(separator: "/").first.map(String.init) ?? ""
        return Self.sections.contains(first)
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/", use: self.home)
        router.get("/static/:file", use: self.asset)
        router.get("/login", use: self.loginForm)
        router.post("/login", use: self.login)
        router.post("/login/code", use: self.loginCode)
        router.post("/logout", use: self.logout)
        router.get("/register", use: self.registerForm)
        router.post("/register", use: self.register)
        router.post("/register/confirm", use: self.confirm)
        router.get("/password/forgot", use: self.forgotForm)
        router.post("/password/forgot", use: self.forgot)
        router.get("/password/reset", use: self.resetForm)
        router.post("/password/reset", use: self.reset)
        router.get("/live", use: self.liveSnapshot)
        self.addTradingRoutes(to: router)
        self.addAccountRoutes(to: router)
        self.addAlertRoutes(to: router)
    }

    // MARK: Plumbing

    /// The values every page has: title, whether signed in, its CSRF token, and an optional error or notice.
    func base(_ title: String, identity: Identity?, csrf: String, error: String? = nil, notice: String? = nil) -> [String: Any] {
        var values: [String: Any] = ["title": title, "signedIn": identity != nil, "csrf": csrf]
        if let error { values["error"] = error }
        if let notice { values["notice"] = notice }
        return values
    }

    /// The CSRF token for an anonymous page, and the form cookie to set when the browser has none yet.
    func anonymousToken(_ request: Request) -> (token: String, setCookie: HTTPFields) {
        if let cookie = WebSessionKeys.cookie(WebSessionKeys.formCookie, in: request.headers), cookie.count >= 32, cookie.count <= 64 {
            return (self.keys.csrfToken(formCookie: cookie), [:])
        }
        let cookie = OpaqueToken.generate()
        return (
            self.keys.csrfToken(formCookie: cookie),
            [.setCookie: WebSessionKeys.setCookie(WebSessionKeys.formCookie, cookie, maxAge: 24 * 3600)]
        )
    }

    /// The form of a post, after the Origin and CSRF checks; a refused post throws before anything is read.
    func checkedForm(_ request: Request, context: AppRequestContext) async throws -> FormBody {
        guard
            WebSessionKeys.isSameOrigin(request.headers, publicOrigin: self.publicOrigin, servesHTTPS: self.servesHTTPS, host: request.head.authority)
        else {
            throw APIError(.forbidden, code: "csrf_failed", message: "This form was sent from another site, so it was ignored.")
        }
        let form = try await FormBody(request, context: context)
        let expected: String
        if let identity = context.identity {
            expected = self.keys.csrfToken(sessionID: identity.sessionID)
        } else if let cookie = WebSessionKeys.cookie(WebSessionKeys.formCookie, in: request.headers) {
            expected = self.keys.csrfToken(formCookie: cookie)
        } else {
            throw APIError(.forbidden, code: "csrf_failed", message: "This form has expired. Load the page again and resend it.")
        }
        guard WebSessionKeys.matches(form.fields["csrf_token"], expected) else {
            throw APIError(.forbidden, code: "csrf_failed", message: "This form has expired. Load the page again and resend it.")
        }
        return form
    }

    /// The error a page shows for a refused action: the API's status and message. Nil for an unexpected error,
    /// which the error middleware answers (generic message, detail in the log).
    static func refusal(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: error
        case let error as any APIErrorConvertible: error.apiError
        default: nil
        }
    }

    /// A page for a refused post: `render` builds it with the message; unexpected errors are rethrown.
    func refused(_ error: any Error, _ render: (APIError) -> Response) throws -> Response {
        guard let refusal = Self.refusal(error) else { throw error }
        var response = render(refusal)
        response.status = refusal.status
        for field in refusal.headers where field.name == .retryAfter { response.headers.append(field) }
        return response
    }

    static var toLogin: Response { Views.redirect("/login") }

    // MARK: Static files

    @Sendable func asset(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let response = self.views.asset(RoutePath.canonical(request.uri.path)) else { throw APIError.notFound() }
        return response
    }

    // MARK: Sign in

    @Sendable func loginForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        if context.identity != nil { return Views.redirect("/") }
        let (token, cookie) = self.anonymousToken(request)
        return self.views.page("login", self.base("Sign in", identity: nil, csrf: token), headers: cookie)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "login") }
        let (token, _) = self.anonymousToken(request)
        do {
            let email = try form.required("email")
            let password = form.fields["password"] ?? ""
            switch try await self.auth.login(email: email, password: password, client: context.client) {
            case .mfa(let mfa):
                var values = self.base("Two-factor code", identity: nil, csrf: token)
                values["mfaToken"] = mfa
                return self.views.page("login-code", values)
            case .enrollment(let enrollment):
                return try self.enrolmentPage(enrollment, email: email, csrf: token)
            }
        } catch {
            return try self.refused(error) { refusal in
                var values = self.base("Sign in", identity: nil, csrf: token, error: refusal.message)
                values["email"] = form["email"] ?? ""
                return self.views.page("login", values)
            }
        }
    }

    @Sendable func loginCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "login") }
        let (token, _) = self.anonymousToken(request)
        do {
            let tokens = try await self.auth.completeLogin(
                mfaToken: try form.required("mfa_token"),
                code: form["code"],
                backupCode: form["backup_code"],
                client: context.client
            )
            return self.startSession(tokens.sessionID, location: "/")
        } catch {
            return try self.refused(error) { refusal in
                // The mfa token allows five answers: the same form again while it lasts, else back to the start.
                if refusal.code == APIError.invalidTOTP.code, let mfa = form["mfa_token"] {
                    var values = self.base("Two-factor code", identity: nil, csrf: token, error: refusal.message)
                    values["mfaToken"] = mfa
                    return self.views.page("login-code", values)
                }
                return self.views.page("login", self.base("Sign in", identity: nil, csrf: token, error: refusal.message))
            }
        }
    }

    /// The session cookie, and a redirect.
    func startSession(_ sessionID: UUID, location: String) -> Response {
        Views.redirect(
            location,
            headers: [
                .setCookie: WebSessionKeys.setCookie(
                    WebSessionKeys.sessionCookie,
                    self.keys.cookieValue(sessionID: sessionID),
                    maxAge: Int(WebSessionKeys.sessionLifetime)
                )
            ]
        )
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { return Self.toLogin }
        do { _ = try await self.checkedForm(request, context: context) } catch { return try self.refusedSignedIn(error, identity) }
        try await self.auth.logout(identity, client: context.client)
        return Views.redirect("/login", headers: [.setCookie: WebSessionKeys.clearCookie(WebSessionKeys.sessionCookie)])
    }

    /// A refused anonymous post: the form again with the reason (a CSRF refusal changes nothing).
    func refusedAnonymous(_ error: any Error, _ request: Request, _ template: String) throws -> Response {
        let (token, cookie) = self.anonymousToken(request)
        return try self.refused(error) { refusal in
            let title = template == "register" ? "Create an account" : "Sign in"
            return self.views.page(template, self.base(title, identity: nil, csrf: token, error: refusal.message), headers: cookie)
        }
    }

    /// A refused signed-in post: the message on a page of its own.
    func refusedSignedIn(_ error: any Error, _ identity: Identity) throws -> Response {
        try self.refused(error) { refusal in
            var values = self.base("Not done", identity: identity, csrf: self.keys.csrfToken(sessionID: identity.sessionID), error: refusal.message)
            values["paragraphs"] = ["Nothing was changed."]
            values["link"] = ["href": "/", "text": "Back to your bots"]
            return self.views.page("message", values)
        }
    }

    // MARK: Register and enrol

    @Sendable func registerForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        if context.identity != nil { return Views.redirect("/") }
        let (token, cookie) = self.anonymousToken(request)
        return self.views.page("register", self.base("Create an account", identity: nil, csrf: token), headers: cookie)
    }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "register") }
        let (token, _) = self.anonymousToken(request)
        do {
            let email = try form.required("email")
            let enrollment = try await self.auth.register(email: email, password: form.fields["password"] ?? "", client: context.client)
            return try self.enrolmentPage(enrollment, email: email, csrf: token)
        } catch {
            return try self.refused(error) { refusal in
                var values = self.base("Create an account", identity: nil, csrf: token, error: refusal.message)
                values["email"] = form["email"] ?? ""
                return self.views.page("register", values)
            }
        }
    }

    func enrolmentPage(_ enrollment: AuthService.Enrollment, email: String, csrf: String, error: String? = nil) throws -> Response {
        var values = self.base("Set up two-factor authentication", identity: nil, csrf: csrf, error: error)
        values["qr"] = try QRCode(text: enrollment.otpauthURI).svg(label: "QR code for your authenticator app: Tradekeep, \(email)")
        values["secret"] = enrollment.totpSecret
        values["otpauthURI"] = enrollment.otpauthURI
        values["enrollmentToken"] = enrollment.enrollmentToken
        return self.views.page("enrol", values)
    }

    @Sendable func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "register") }
        let (token, _) = self.anonymousToken(request)
        do {
            let (codes, sessionID) = try await self.auth.confirmTOTP(
                enrollmentToken: try form.required("enrollment_token"),
                code: try form.required("code"),
                startSession: true,
                client: context.client
            )
            guard let sessionID else { throw APIError.invalidToken }
            var response = self.backupCodesPage(
                codes,
                identity: Identity(userID: UUID(), sessionID: sessionID, role: .user),
                csrf: self.keys.csrfToken(sessionID: sessionID)
            )
            response.headers[.setCookie] = WebSessionKeys.setCookie(
                WebSessionKeys.sessionCookie,
                self.keys.cookieValue(sessionID: sessionID),
                maxAge: Int(WebSessionKeys.sessionLifetime)
            )
            return response
        } catch {
            return try self.refused(error) { refusal in
                var values = self.base("Set up two-factor authentication", identity: nil, csrf: token, error: refusal.message)
                values["paragraphs"] = [
                    "The code was not accepted. Check that your phone's clock is right, then sign in again to get back to this step."
                ]
                values["link"] = ["href": "/login", "text": "Sign in"]
                return self.views.page("message", values)
            }
        }
    }

    /// The ten codes, shown once, with a download of the same text.
    func backupCodesPage(_ codes: [String], identity: Identity?, csrf: String) -> Response {
        var values = self.base("Your backup codes", identity: identity, csrf: csrf)
        values["codes"] = codes
        let text = "Tradekeep backup codes (each works once)\n\n" + codes.joined(separator: "\n") + "\n"
        values["downloadHref"] = "data:text/plain;charset=utf-8," + (text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        values["next"] = "/"
        return self.views.page("backup-codes", values)
    }

    // MARK: Password reset

    @Sendable func forgotForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (token, cookie) = self.anonymousToken(request)
        return self.views.page("forgot", self.base("Reset your password", identity: nil, csrf: token), headers: cookie)
    }

    @Sendable func forgot(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "forgot") }
        let (token, _) = self.anonymousToken(request)
        if let email = form["email"] { self.auth.requestPasswordReset(email: email, client: context.client) }
        var values = self.base("Check your mail", identity: nil, csrf: token)
        // The same answer whether or not the account exists.
        values["paragraphs"] = ["If an account uses this address, a reset token is on its way. It works once, for 30 minutes."]
        values["link"] = ["href": "/password/reset", "text": "Enter the token"]
        return self.views.page("message", values)
    }

    @Sendable func resetForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (token, cookie) = self.anonymousToken(request)
        return self.views.page("reset", self.base("Set a new password", identity: nil, csrf: token), headers: cookie)
    }

    @Sendable func reset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: FormBody
        do { form = try await self.checkedForm(request, context: context) } catch { return try self.refusedAnonymous(error, request, "reset") }
        let (token, _) = self.anonymousToken(request)
        do {
            try await self.auth.resetPassword(
                token: try form.required("token"),
                newPassword: form.fields["new_password"] ?? "",
                totpCode: form["totp_code"],
                backupCode: form["backup_code"],
                client: context.client
            )
            var values = self.base("Password changed", identity: nil, csrf: token)
            values["paragraphs"] = ["Every session was signed out. Sign in with the new password."]
            values["link"] = ["href": "/login", "text": "Sign in"]
            return self.views.page("message", values)
        } catch {
            return try self.refused(error) { refusal in
                self.views.page("reset", self.base("Set a new password", identity: nil, csrf: token, error: refusal.message))
            }
        }
    }

    // MARK: Live fallback

    /// The live stream's current state as a JSON array (for browsers without a WebSocket path, e.g. HTTP/2).
    @Sendable func liveSnapshot(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let identity = context.identity else { throw APIError.unauthorized("Sign in first.") }
        let lines = try await self.live.snapshot(identity.userID).changes(from: LiveSnapshot())
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: "[" + lines.joined(separator: ",") + "]"))
        )
    }
}
