// The request context every route receives: the client's address and, once authenticated, its identity.

import Foundation
import Hummingbird
import NIOCore
import Storage

/// Who is calling: set by authentication, read by the access gate and protected routes.
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
    /// The client's IP: the peer address, or behind a trusted TLS proxy the address that proxy appended
    /// to X-Forwarded-For. Set by `ClientAddressMiddleware`.
    public var clientIP: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.identity = nil
        self.clientIP = nil
    }

    /// Bodies above 64 KiB are refused with 413; no Tradekeep request needs more.
    public var maxUploadSize: Int { 64 * 1024 }

    public var requestDecoder: JSONDecoder { JSONCoding.decoder }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }

    /// The authenticated caller; routes behind the access gate can rely on it.
    public func requireIdentity() throws -> Identity {
        guard let identity = self.identity else { throw APIError.unauthorized() }
        return identity
    }
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

/// The context of routes behind authentication: the identity is not optional here.
public struct AuthenticatedContext: ChildRequestContext {
    public typealias ParentContext = AppRequestContext
    public var coreContext: CoreRequestContextStorage
    public let identity: Identity
    public let clientIP: String?

    public init(context: AppRequestContext) throws {
        self.coreContext = context.coreContext
        self.identity = try context.requireIdentity()
        self.clientIP = context.clientIP
    }

    public var maxUploadSize: Int { 64 * 1024 }
    public var requestDecoder: JSONDecoder { JSONCoding.decoder }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
}

extension Request {
    /// Decode a JSON body; a malformed or incomplete body answers 400 naming the field in the API's spelling.
    func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await self.body.collect(upTo: context.maxUploadSize)
        do {
            return try JSONCoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.badRequest(Self.describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { key in key.intValue.map(String.init) ?? snakeCase(key.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "Missing field `\(path(context.codingPath + [key]))`."
        case .valueNotFound(_, let context): return "Field `\(path(context.codingPath))` must not be null."
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
