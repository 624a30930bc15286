// Deny by default: every /api route needs an authenticated caller unless it is on the public list,
// including paths that match no route (an anonymous caller learns nothing about which routes exist).

import Hummingbird

struct APIAccessGate: RouterMiddleware {
    typealias Context = AppRequestContext

    /// Routes under /api that answer anonymous callers, as `METHOD /path` with `:name` for a parameter segment.
    let publicRoutes: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == "/api" || path.hasPrefix("/api/") else { return try await next(request, context) }
        if context.identity == nil, !self.isPublic(method: request.method, path: path) {
            throw APIError.unauthorized()
        }
        return try await next(request, context)
    }

    func isPublic(method: HTTPRequest.Method, path: String) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return self.publicRoutes.contains { route in
            let parts = route.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0] == method.rawValue else { return false }
            let pattern = parts[1].split(separator: "/", omittingEmptySubsequences: true)
            guard pattern.count == segments.count else { return false }
            return zip(pattern, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }
    }
}
