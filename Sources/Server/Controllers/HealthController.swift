// Liveness and readiness probes.

import Hummingbird
import Logging
import Storage

struct HealthController {
    let database: TradekeepDatabase

    struct Status: ResponseCodable {
        let status: String
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/healthz", use: self.health)
        router.get("/readyz", use: self.ready)
    }

    /// The process answers: no dependencies are checked, so a slow database never restarts a healthy server.
    @Sendable func health(_ request: Request, context: AppRequestContext) -> Status {
        Status(status: "ok")
    }

    /// The database answers a query on Tradekeep's own schema.
    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Status {
        do {
            try await self.database.checkReady(logger: context.logger)
        } catch {
            context.logger.warning("not ready", metadata: ["error.detail": .string(String(reflecting: error))])
            throw APIError(.serviceUnavailable, code: "not_ready", message: "The database is not answering.")
        }
        return Status(status: "ready")
    }
}
