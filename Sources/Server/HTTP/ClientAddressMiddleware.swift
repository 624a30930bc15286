// Resolves the client's IP once per request. X-Forwarded-For is trusted only behind a TLS proxy, and only its
// last entry: the address the proxy itself appended (earlier entries are whatever the client claimed).

import AuditLog
import Foundation
import HTTPTypes
import Hummingbird

struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trustForwardedFor: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let ip = Self.clientIP(request: request, peer: context.remoteAddress?.ipAddress, trustForwardedFor: self.trustForwardedFor)
        context.client = ClientInfo(ip: ip, userAgent: request.headers[.userAgent])
        return try await next(request, context)
    }

    static func clientIP(request: Request, peer: String?, trustForwardedFor: Bool) -> String? {
        if trustForwardedFor, let forwarded = request.headers[values: .xForwardedFor].last {
            let last = forwarded.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if !last.isEmpty, last.count <= 45, last.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) {
                return last
            }
        }
        return peer
    }
}

extension HTTPField.Name {
    static var xForwardedFor: Self { Self("X-Forwarded-For")! }
    static var xRequestedWith: Self { Self("X-Requested-With")! }
    static var xTOTPCode: Self { Self("X-TOTP-Code")! }
}
