// Deny by default. Protected routes live on groups whose `AuthenticatedContext` refuses anonymous callers (401)
// before the handler runs; public routes are those registered on public groups, declared once. This gate covers
// what matches no route: an anonymous caller gets 401 for any unknown /api path, so it learns nothing about
// which routes exist.

import Hummingbird

struct APIAccessGate: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError
            where error.status == .notFound && context.identity == nil && RoutePath.isAPI(RoutePath.canonical(request.uri.path))
        {
            throw APIError.unauthorized()
        }
    }
}
