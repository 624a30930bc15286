// Turns `Authorization: Bearer <access token>` into an identity. An invalid token leaves the request
// anonymous; protected routes (AuthenticatedContext) then refuse it.

import Foundation
import Hummingbird

struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let auth: AuthService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        else { return try await next(request, context) }
        var context = context
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        context.identity = await self.auth.authenticate(bearer: token, client: context.client)
        return try await next(request, context)
    }
}
