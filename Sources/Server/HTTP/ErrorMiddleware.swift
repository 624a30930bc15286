// Turns every thrown error into the API's error shape. Unexpected errors answer a generic 500; the detail
// goes to the log under the same error id the client sees.

import AuditLog
import Hummingbird
import Logging

struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, request: request, logger: context.logger)
        }
    }

    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        let errorID = ErrorID.make()
        switch error {
        case let error as APIError:
            logger.debug("request refused", metadata: ["error_id": .string(errorID), "error.code": .string(error.code)])
            return error.response(errorID: errorID)
        case let error as any APIErrorConvertible:
            let apiError = error.apiError
            logger.debug("request refused", metadata: ["error_id": .string(errorID), "error.code": .string(apiError.code)])
            return apiError.response(errorID: errorID)
        case let error as any HTTPResponseError where error.status.code < 500:
            // Hummingbird's own client errors: 404 from the router, 400 from decoding, 413 from body limits.
            let code = Self.code(for: error.status)
            logger.debug("request refused", metadata: ["error_id": .string(errorID), "error.code": .string(code)])
            let httpError = error as? HTTPError
            let message = httpError?.body ?? Self.defaultMessage(for: error.status)
            return .error(error.status, code: code, message: message, errorID: errorID, headers: httpError?.headers ?? [:])
        default:
            logger.error(
                "unexpected error",
                metadata: [
                    "error_id": .string(errorID),
                    "error.type": .string(String(reflecting: type(of: error))),
                    "error.detail": .string(String(reflecting: error)),
                    "http.method": .string(request.method.rawValue),
                    "http.path": .string(request.uri.path),
                ]
            )
            return .error(
                .internalServerError,
                code: "internal_error",
                message: "Something went wrong on our side. Quote the error id if you report it.",
                errorID: errorID
            )
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .badRequest: "bad_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .tooManyRequests: "rate_limited"
        default: "http_\(status.code)"
        }
    }

    static func defaultMessage(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "There is nothing at this address."
        case .contentTooLarge: "The request body is too large."
        default: status.reasonPhrase
        }
    }
}
