// POST /api/v1/ws/tickets and the router's side of GET /api/v1/ws (API.md, Alerts and live events).

import Foundation
import HTTPTypes
import Hummingbird

struct LiveController {
    let live: LiveUpdates

    func addRoutes(public api: RouterGroup<AppRequestContext>, signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.post("/ws/tickets", use: self.issue)
        // A request that reaches the router was not upgraded: no upgrade asked for, or a server without the upgrade
        // channel (TLS with HTTP/2), where a ticket cannot be used.
        api.get("/ws", use: self.refuse)
    }

    struct Ticket: ResponseEncodable {
        let ticket: String
        let expiresIn: Int
    }

    @Sendable func issue(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Ticket> {
        let ticket = try await self.live.tickets.issue(for: context.identity, now: self.live.now())
        return EditedResponse(status: .created, response: Ticket(ticket: ticket, expiresIn: Int(Tickets.lifetime)))
    }

    @Sendable func refuse(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw APIError.badRequest(
                "This address upgrades to a WebSocket: connect with `Upgrade: websocket` and a ticket from POST /api/v1/ws/tickets."
            )
        }
        throw APIError(
            .unauthorized,
            code: "invalid_ticket",
            message: "The ticket is unknown, already used or older than 30 seconds: ask POST /api/v1/ws/tickets for a new one."
        )
    }
}
