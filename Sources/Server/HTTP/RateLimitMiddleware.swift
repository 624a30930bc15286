// Per-IP limits on registration (3/min) and login (5/min); 200/min per user (per IP when anonymous) on the
// rest of the API. Answers 429 with Retry-After; every limited response carries RateLimit-* headers.

import Accounts
import Foundation
import HTTPTypes
import Hummingbird

struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let store: any RateLimitStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let (key, limit) = Self.bucket(request: request, context: context) else { return try await next(request, context) }
        let decision = try await self.store.acquire(key: key, limit: limit, now: Date())
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

    static func bucket(request: Request, context: Context) -> (String, RateLimit)? {
        let path = request.uri.path
        guard path == "/api" || path.hasPrefix("/api/") else { return nil }
        let ip = context.clientIP ?? "unknown"
        if request.method == .post && path == "/api/v1/auth/register" { return ("register:\(ip)", .register) }
        if request.method == .post && path == "/api/v1/auth/login" { return ("login:\(ip)", .login) }
        if let identity = context.identity { return ("user:\(identity.userID)", .general) }
        return ("ip:\(ip)", .general)
    }

    static func headers(_ decision: RateLimitDecision) -> HTTPFields {
        [
            HTTPField.Name("RateLimit-Limit")!: String(decision.limit),
            HTTPField.Name("RateLimit-Remaining")!: String(decision.remaining),
            HTTPField.Name("RateLimit-Reset")!: String(Int(decision.resetAfter.rounded(.up))),
        ]
    }
}
