// The request context every route receives: the peer address and, once authenticated, the caller's identity.

import Foundation
import Hummingbird
import NIOCore

/// Who is calling: set by authentication, read by the access gate and protected routes.
public struct Identity: Sendable, Equatable {
    public let userID: UUID
    public let sessionID: UUID

    public init(userID: UUID, sessionID: UUID) {
        self.userID = userID
        self.sessionID = sessionID
    }
}

public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.identity = nil
    }

    /// Bodies above 64 KiB are refused with 413; no Tradekeep request needs more.
    public var maxUploadSize: Int { 64 * 1024 }
}
