// One spelling of every request before anything looks at it. The router ignores empty path segments and a trailing
// slash, so `//api/v1/auth/login`, `/api/v1//auth/login` and `/api/v1/auth/login/` reach the login handler; a
// middleware comparing the raw path would not recognise them (the rate limits once did not). This responder
// rewrites the path to the router's own reading first, so the router, every middleware and the request log see
// the same path. It also answers HEAD on every GET route (RFC 9110 §9.3.2): the GET response without its body.

import HTTPTypes
import Hummingbird
import NIOCore

/// The path as the router matches it: split on "/", empty segments dropped, nothing decoded.
enum RoutePath {
    static func canonical(_ raw: String) -> String {
        var result = ""
        result.reserveCapacity(raw.utf8.count)
        for segment in raw.split(separator: "/", omittingEmptySubsequences: true) {
            result += "/"
            result += segment
        }
        return result.isEmpty ? "/" : result
    }

    /// Whether `raw` is already in canonical form (the common case costs no allocation).
    static func isCanonical(_ raw: String) -> Bool {
        let bytes = raw.utf8
        guard bytes.first == UInt8(ascii: "/") else { return false }
        if bytes.count == 1 { return true }
        var previousSlash = false
        for byte in bytes {
            let slash = byte == UInt8(ascii: "/")
            if slash && previousSlash { return false }
            previousSlash = slash
        }
        return !previousSlash
    }

    /// Whether the canonical path is /api or under it.
    static func isAPI(_ canonical: String) -> Bool {
        canonical == "/api" || canonical.hasPrefix("/api/")
    }
}

struct CanonicalResponder<Base: HTTPResponder>: HTTPResponder {
    typealias Context = Base.Context
    let base: Base

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        let isHead = request.method == .head
        guard isHead || !RoutePath.isCanonical(path) else { return try await self.base.respond(to: request, context: context) }
        var head = request.head
        if !RoutePath.isCanonical(path) {
            let query = request.uri.query.map { "?\($0)" } ?? ""
            head.path = RoutePath.canonical(path) + query
        }
        if isHead { head.method = .get }
        var response = try await self.base.respond(to: Request(head: head, body: request.body), context: context)
        if isHead {
            // The headers of the GET answer (its Content-Length included), without the body.
            response.body = ResponseBody()
        }
        return response
    }
}
