// Turns `Authorization: Bearer <access token>` into an identity. An invalid token leaves the request
// anonymous; protected routes (AuthenticatedContext) then refuse it. A database that cannot check the session
// answers 503 or 500 (ErrorMiddleware), never a misleading 401.

import Foundation
import Hummingbird

struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let auth: AuthService
    /// The dashboard's session cookie, accepted on its pages and on POST /api/v1/ws/tickets from our own origin
    /// only: the rest of the API takes bearer tokens, so a cookie can never make a cross-site API call.
    var web: WebCookieAuthentication? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        else {
            guard let web = self.web, let sessionID = web.sessionID(request) else { return try await next(request, context) }
            var context = context
            context.identity = try await self.auth.authenticate(sessionID: sessionID, client: context.client)
            return try await next(request, context)
        }
        var context = context
        // Trimmed by hand: Foundation's `trimmingCharacters(in:)` bridges through NSString, a measurable share of
        // an authenticated request.
        var bytes = header.utf8.dropFirst(7)
        while let first = bytes.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes = bytes.dropLast() }
        let token = String(Substring(bytes))
        context.identity = try await self.auth.authenticate(bearer: token, client: context.client)
        return try await next(request, context)
    }
}

/// Which requests may be authenticated by the dashboard's cookie, and the session it names.
struct WebCookieAuthentication: Sendable {
    let keys: WebSessionKeys
    let publicOrigin: String
    let servesHTTPS: Bool

    func sessionID(_ request: Request) -> UUID? {
        guard let cookie = WebSessionKeys.cookie(WebSessionKeys.sessionCookie, in: request.headers) else { return nil }
        let path = RoutePath.canonical(request.uri.path)
        let allowed =
            DashboardController.isPage(path)
            || (request.method == .post && path == "/api/v1/ws/tickets"
                && WebSessionKeys.isSameOrigin(
                    request.headers,
                    publicOrigin: self.publicOrigin,
                    servesHTTPS: self.servesHTTPS,
                    host: request.head.authority
                ))
        return allowed ? self.keys.sessionID(cookie: cookie) : nil
    }
}
