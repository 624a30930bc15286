// Per-IP limits on registration and login, per bot on the signal webhook, per user (per IP when anonymous) on the
// rest of the API; every limit is a setting (SPEC §2 gives the defaults). Answers 429 with Retry-After; every
// limited response carries RateLimit-* headers. The path is the router's own reading (`CanonicalResponder`), so no
// spelling of a route escapes its bucket.

import Accounts
import Foundation
import HTTPTypes
import Hummingbird

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let store: any RateLimitStore
    let limits: RateLimits
    let now: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard
            let (key, limit) = Self.bucket(
                method: request.method,
                path: request.uri.path,
                ip: context.clientIP,
                userID: context.identity?.userID,
                limits: self.limits
            )
        else {
            return try await next(request, context)
        }
        let decision = try await self.store.acquire(key: key, limit: limit, now: self.now())
        let headers = Self.headers(decision)
        guard decision.allowed else {
            var fields = headers
            fields[.retryAfter] = String(Int(decision.retryAfter.rounded(.up)))
            throw APIError(
                .tooManyRequests,
                code: "rate_limited",
                message: "Too many requests. Try again in \(Int(decision.retryAfter.rounded(.up))) seconds.",
                headers: fields
            )
        }
        var response = try await next(request, context)
        for field in headers { response.headers.append(field) }
        return response
    }

    /// The bucket a request counts against. `path` is canonicalised again here, so the decision cannot depend on
    /// whoever called first having done it.
    static func bucket(method: HTTPRequest.Method, path rawPath: String, ip: String?, userID: UUID?, limits: RateLimits) -> (String, RateLimit)? {
        let path = RoutePath.isCanonical(rawPath) ? rawPath : RoutePath.canonical(rawPath)
        let ip = ip ?? "unknown"
        // The public audit log reads the database: a bucket per address of its own, so mirroring it never spends a
        // user's API allowance, and a flood of tile requests cannot starve the bots.
        if path.hasPrefix("/audit/log/") || path.hasPrefix("/.well-known/tradekeep/") { return ("log:\(ip)", limits.general) }
        guard RoutePath.isAPI(path) else {
            // Dashboard pages: the API's buckets for the same actions (sign-in and registration per address, the kill
            // switches their own), everything else the general allowance per user or address. Static files are free.
            if DashboardController.isPage(path) {
                if method == .post {
                    if path == "/login" || path == "/login/code" { return ("login:\(ip)", limits.login) }
                    if path == "/register" || path == "/register/confirm" { return ("register:\(ip)", limits.register) }
                    if path == "/kill-switch" || (path.hasPrefix("/bots/") && path.hasSuffix("/kill")) {
                        return ("kill:\(userID.map { "\($0)" } ?? ip)", limits.general)
                    }
                }
                if let userID { return ("user:\(userID)", limits.general) }
                return ("ip:\(ip)", limits.general)
            }
            return nil
        }
        if method == .post {
            if path == "/api/v1/auth/register" { return ("register:\(ip)", limits.register) }
            if path == "/api/v1/auth/login" { return ("login:\(ip)", limits.login) }
            // One bucket per bot, however its id is spelled (case, braces): the id as the handler parses it.
            if path.hasPrefix("/api/v1/signals/"), let bot = UUID(uuidString: String(path.dropFirst("/api/v1/signals/".count))) {
                return ("webhook:\(bot)", limits.webhook)
            }
        }
        // The kill switches have a bucket of their own: a user (or a script of theirs) that spent the general allowance
        // on reads can still stop everything.
        if method == .post, path == "/api/v1/kill-switch" || (path.hasPrefix("/api/v1/bots/") && path.hasSuffix("/kill")) {
            return ("kill:\(userID.map { "\($0)" } ?? ip)", limits.general)
        }
        if let userID { return ("user:\(userID)", limits.general) }
        return ("ip:\(ip)", limits.general)
    }

    static func headers(_ decision: RateLimitDecision) -> HTTPFields {
        [
            HTTPField.Name("RateLimit-Limit")!: String(decision.limit),
            HTTPField.Name("RateLimit-Remaining")!: String(decision.remaining),
            HTTPField.Name("RateLimit-Reset")!: String(Int(decision.resetAfter.rounded(.up))),
        ]
    }
}
