// GET /api/v1/ws?ticket=…: the HTTP/1.1 upgrade. The ticket is spent while the upgrade is decided, before any
// answer: a second presentation is refused (hummingbird-websocket answers a refused upgrade 400 and closes the
// connection). A request without `Upgrade: websocket` reaches the router (LiveController).

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOWebSocket

extension LiveUpdates {
    static let path = "/api/v1/ws"

    /// The upgrade decision for a request head: an upgrade with the stream of the ticket's owner, or none.
    func shouldUpgrade(
        _ head: HTTPRequest,
        isLive: @escaping @Sendable (Identity) async -> Bool
    ) async -> ShouldUpgradeResult<
        WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
    > {
        let uri = URI(head.path ?? "")
        guard head.method == .get, RoutePath.canonical(uri.path) == Self.path, let ticket = uri.queryParameters.get("ticket"),
            let identity = try? await self.tickets.consume(ticket, now: self.now()), await isLive(identity)
        else { return .dontUpgrade }
        return .upgrade([.cacheControl: "no-store"]) { inbound, outbound, _ in
            try await self.serve(identity, inbound: inbound, outbound: outbound, isLive: isLive)
        }
    }

    /// One socket: the user's lines until the client closes, the session ends (checked every few seconds), or the
    /// server stops. Messages from the client are read and ignored.
    func serve(
        _ identity: Identity,
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        isLive: @escaping @Sendable (Identity) async -> Bool
    ) async throws {
        let subscription: (lines: AsyncStream<String>, cancel: @Sendable () -> Void)
        do {
            subscription = try self.subscribe(identity.userID)
        } catch {
            try await outbound.close(.policyViolation, reason: "too many open sockets")
            return
        }
        defer { subscription.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in inbound.messages(maxSize: 4096) {}
            }
            group.addTask {
                for await line in subscription.lines { try await outbound.write(.text(line)) }
            }
            group.addTask {
                while await isLive(identity) { try await Task.sleep(for: .seconds(5)) }
                try await outbound.close(.normalClosure, reason: "session ended")
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
