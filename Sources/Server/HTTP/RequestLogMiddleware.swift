// One log line per request: method, path without its query (queries can carry tokens), status, duration.

import Foundation
import Hummingbird
import Logging
import NIOCore

struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        var metadata: Logger.Metadata = [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(request.uri.path),
            "http.status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.1f", milliseconds)),
        ]
        if let address = context.remoteAddress?.ipAddress { metadata["client.ip"] = .string(address) }
        context.logger.info("request", metadata: metadata)
        return response
    }
}
