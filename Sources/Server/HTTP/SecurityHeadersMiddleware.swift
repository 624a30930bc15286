// Adds the SPEC §8 security headers to every response, errors and 404s included.

import HTTPTypes
import Hummingbird

struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Only sent when clients reach us over HTTPS: HSTS over plain HTTP is ignored by browsers and misleading.
    let strictTransportSecurity: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Inner middleware converts errors; this is the last line of defence so no response leaves bare.
            response = ErrorMiddleware<Context>.response(for: error, request: request, logger: context.logger)
        }
        // The path is canonical here (`CanonicalResponder`), as the router read it.
        SecurityHeaders.apply(
            to: &response.headers,
            strictTransportSecurity: self.strictTransportSecurity,
            isAPI: RoutePath.isAPI(request.uri.path)
        )
        return response
    }
}

/// The SPEC §8 headers, applied by the middleware and by `SecurityHeadersChannelHandler`.
enum SecurityHeaders {
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    static let permissionsPolicy = [
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture", "publickey-credentials-get",
        "screen-wake-lock", "sync-xhr", "usb", "xr-spatial-tracking",
    ].map { "\($0)=()" }.joined(separator: ", ")

    static func apply(to headers: inout HTTPFields, strictTransportSecurity: Bool, isAPI: Bool) {
        if strictTransportSecurity {
            headers[.strictTransportSecurity] = "max-age=63072000; includeSubDomains; preload"
        }
        // A page may narrow its own policy; nothing may leave without one.
        if headers[.contentSecurityPolicy] == nil {
            headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        }
        headers[.xFrameOptions] = "DENY"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "strict-origin-when-cross-origin"
        headers[.permissionsPolicy] = Self.permissionsPolicy
        headers[.crossOriginOpenerPolicy] = "same-origin"
        headers[.crossOriginResourcePolicy] = "same-origin"
        if isAPI {
            headers[.cacheControl] = "no-store"
        }
    }
}

extension HTTPField.Name {
    static var permissionsPolicy: Self { Self("Permissions-Policy")! }
    static var xFrameOptions: Self { Self("X-Frame-Options")! }
    static var crossOriginOpenerPolicy: Self { Self("Cross-Origin-Opener-Policy")! }
    static var referrerPolicy: Self { Self("Referrer-Policy")! }
}
