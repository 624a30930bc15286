// HTTP/1.1 with the dashboard's WebSocket upgrade (hummingbird-websocket's channel), plus what that channel leaves
// out: an answer to a request the HTTP decoder cannot read (an oversized header, say). Without it such a request
// got no answer at all and its connection stayed open; with it, the client gets the same 400, security headers
// included, that the plain HTTP/1.1 channel writes, and the connection is closed.

import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

struct WebSocketServerChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let strictTransportSecurity: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        self.inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(
                MalformedRequestAnswer(strictTransportSecurity: self.strictTransportSecurity),
                position: .after(decoder)
            )
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.inner.handle(value: value, logger: logger)
    }
}

/// Sits right after the HTTP decoder: a parse error is answered with 400 (through the response encoder, which is
/// nearer the socket) and the connection closed. Anything else passes through untouched.
final class MalformedRequestAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    let strictTransportSecurity: Bool
    private var answered = false

    init(strictTransportSecurity: Bool) {
        self.strictTransportSecurity = strictTransportSecurity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !self.answered else {
            context.fireErrorCaught(error)
            return
        }
        self.answered = true
        var fields = HTTPFields()
        SecurityHeaders.apply(to: &fields, strictTransportSecurity: self.strictTransportSecurity, isAPI: true)
        var headers = HTTPHeaders(fields.map { ($0.name.rawName, $0.value) })
        headers.replaceOrAdd(name: "Content-Length", value: "0")
        headers.replaceOrAdd(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
