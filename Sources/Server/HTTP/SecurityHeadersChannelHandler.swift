// The security headers on answers the HTTP layer writes itself, before any middleware runs: NIO's 400 for a
// malformed request or an oversized header. Responses from the application already carry them (and a page's own
// Content-Security-Policy); this handler only fills in a head that has none.

import HTTPTypes
import NIOCore
import NIOHTTPTypes

final class SecurityHeadersChannelHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let strictTransportSecurity: Bool

    init(strictTransportSecurity: Bool) {
        self.strictTransportSecurity = strictTransportSecurity
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = self.unwrapOutboundIn(data), head.headerFields[.xContentTypeOptions] == nil else {
            context.write(data, promise: promise)
            return
        }
        SecurityHeaders.apply(to: &head.headerFields, strictTransportSecurity: self.strictTransportSecurity, isAPI: true)
        context.write(self.wrapOutboundOut(.head(head)), promise: promise)
    }
}
