// The request context every route receives: where the client is, and once authenticated, who it is.

import AuditLog
import Foundation
import Hummingbird
import NIOCore
import Storage
import Venues

/// Who is calling: set by authentication, read by the rate limiter and protected routes.
public struct Identity: Sendable, Equatable {
    public let userID: UUID
    public let sessionID: UUID
    public let role: AccountRole

    public init(userID: UUID, sessionID: UUID, role: AccountRole) {
        self.userID = userID
        self.sessionID = sessionID
        self.role = role
    }
}

public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var identity: Identity?
    /// The client's IP (the peer address, or behind a trusted TLS proxy the address that proxy appended to
    /// X-Forwarded-For) and user agent. Set by `ClientAddressMiddleware`.
    public var client: ClientInfo

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.identity = nil
        self.client = ClientInfo(ip: nil, userAgent: nil)
    }

    public var clientIP: String? { self.client.ip }

    /// Bodies above 64 KiB are refused with 413; no Tradekeep request needs more.
    public var maxUploadSize: Int { 64 * 1024 }

    public var requestDecoder: APIRequestDecoder { APIRequestDecoder() }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }

    /// The authenticated caller; routes behind authentication can rely on it.
    public func requireIdentity() throws -> Identity {
        guard let identity = self.identity else { throw APIError.unauthorized() }
        return identity
    }
}

/// The context of routes behind authentication: the identity is not optional here. A route on a group with this
/// context answers 401 to anonymous callers before its handler runs.
public struct AuthenticatedContext: ChildRequestContext {
    public typealias ParentContext = AppRequestContext
    public var coreContext: CoreRequestContextStorage
    public let identity: Identity
    public let client: ClientInfo

    public init(context: AppRequestContext) throws {
        self.coreContext = context.coreContext
        self.identity = try context.requireIdentity()
        self.client = context.client
    }

    public var maxUploadSize: Int { 64 * 1024 }
    public var requestDecoder: APIRequestDecoder { APIRequestDecoder() }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
}

/// JSON bodies use snake_case (API.md) and ISO 8601 dates.
enum JSONCoding {
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Decodes JSON bodies for `request.decode(as:context:)`: a malformed or incomplete body answers 400 naming the
/// field in the API's snake_case spelling.
public struct APIRequestDecoder: RequestDecoder {
    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        return try Self.decodeStrictly(T.self, from: Data(buffer.readableBytesView))
    }

    /// Decode a body, refusing (400, naming it) a field the body type does not have: a misspelt option is an error,
    /// never silently ignored (`{"close_position": true}` must not kill without closing). Types that must accept
    /// extra fields (TradingView alerts carry whatever their author wrote) conform to `AcceptsExtraFields`.
    static func decodeStrictly<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let value: T
        do {
            value = try JSONCoding.decoder.decode(T.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.debugDescription == JSON.outOfRange {
            let field = context.codingPath.map { $0.intValue.map(String.init) ?? snakeCase($0.stringValue) }.joined(separator: ".")
            throw APIError(.unprocessableContent, code: "out_of_range", message: "Field `\(field)` is out of range.")
        } catch let error as DecodingError {
            throw APIError.badRequest(Self.describe(error))
        }
        if !(value is any AcceptsExtraFields), let unknown = Self.unknownFields(in: data, of: value).first {
            throw APIError.badRequest("Unknown field `\(unknown)`.")
        }
        return value
    }

    /// Top-level keys of a JSON object that name no stored property of `value` (in the API's snake_case).
    static func unknownFields(in data: Data, of value: Any) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        let known = Set(Mirror(reflecting: value).children.compactMap { $0.label.map(snakeCase) })
        return object.keys.filter { !known.contains($0) }.sorted()
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { key in key.intValue.map(String.init) ?? snakeCase(key.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "Missing field `\(path(context.codingPath + [key]))`."
        case .valueNotFound(_, let context): return "Field `\(path(context.codingPath))` must not be null."
        case .typeMismatch(_, let context) where context.codingPath.isEmpty: return "The body must be a JSON object."
        case .typeMismatch(_, let context): return "Field `\(path(context.codingPath))` has the wrong type."
        case .dataCorrupted(let context) where !context.codingPath.isEmpty: return "Field `\(path(context.codingPath))` is not valid."
        default: return "The body is not valid JSON."
        }
    }

    static func snakeCase(_ name: String) -> String {
        var result = ""
        for (index, character) in name.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = name[name.index(name.startIndex, offsetBy: index - 1)]
                if !previous.isUppercase { result.append("_") }
            }
            result.append(character.lowercased())
        }
        return result
    }
}

extension Request {
    /// A body that may be absent: nil when there is none, decoded (or 400) when there is one. A present but invalid
    /// body never becomes a silent default.
    func decodeIfPresent<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T? {
        let buffer = try await self.body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytesView.contains(where: { !Character(UnicodeScalar($0)).isWhitespace }) else { return nil }
        return try APIRequestDecoder.decodeStrictly(T.self, from: Data(buffer.readableBytesView))
    }
}

/// A request body that may carry fields it does not read (the signal webhook: alert text written by users).
protocol AcceptsExtraFields {}

/// The body of routes that need a fresh TOTP code (step-up) and nothing else; the code may also come in the
/// X-TOTP-Code header.
struct StepUpBody: Decodable {
    let totpCode: String?

    /// The code from the body (when there is one) or the header.
    static func code(_ request: Request, context: some RequestContext) async throws -> String? {
        let body = try await request.decodeIfPresent(as: StepUpBody.self, context: context)
        return body?.totpCode ?? request.headers[.xTOTPCode]
    }
}
