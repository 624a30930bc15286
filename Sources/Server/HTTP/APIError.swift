// The one error shape of the API: {"error": code, "message": text, "error_id": id}.

import AuditLog
import Foundation
import Hummingbird

/// An error answered to the client as is: a status, a machine code and a message a person can act on.
public struct APIError: HTTPResponseError, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(self.status.code) \(self.code): \(self.message)" }

    /// The error shape, with a fresh error id (the error middleware logs it under the same id).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        self.response(errorID: ErrorID.make())
    }

    func response(errorID: String) -> Response {
        .error(self.status, code: self.code, message: self.message, errorID: errorID, headers: self.headers)
    }

    public static func unauthorized(_ message: String = "Sign in first: this route needs an access token (Authorization: Bearer …).") -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    public static func notFound(_ message: String = "There is nothing at this address.") -> APIError {
        APIError(.notFound, code: "not_found", message: message)
    }

    public static func badRequest(_ message: String) -> APIError {
        APIError(.badRequest, code: "bad_request", message: message)
    }
}

/// A domain error that knows the API error it becomes; the error middleware renders it.
protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

/// The JSON body of every error response.
struct ErrorBody: Codable, Equatable {
    let error: String
    let message: String
    let error_id: String
}

extension Response {
    /// A response in the error shape.
    static func error(_ status: HTTPResponse.Status, code: String, message: String, errorID: String, headers: HTTPFields = [:]) -> Response {
        let body = ErrorBody(error: code, message: message, error_id: errorID)
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension UUID {
    /// Ids in the API are lower-case UUID strings.
    var apiString: String { self.uuidString.lowercased() }
}
