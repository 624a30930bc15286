// SPEC §8: every response — 200, 401, 404, 500 — carries the security headers; errors use one shape.

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Server

@Suite struct SecurityHeadersTests {
    struct Boom: Error, CustomStringConvertible {
        var description: String { "database exploded: row 42 detail" }
    }

    static func expectSecurityHeaders(_ response: TestResponse, hsts: Bool, api: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let headers = response.headers
        let csp = headers[.contentSecurityPolicy] ?? ""
        #expect(csp.contains("default-src 'none'"), sourceLocation: sourceLocation)
        #expect(csp.contains("frame-ancestors 'none'"), sourceLocation: sourceLocation)
        #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), sourceLocation: sourceLocation)
        #expect(headers[HTTPField.Name("X-Frame-Options")!] == "DENY", sourceLocation: sourceLocation)
        #expect(headers[.xContentTypeOptions] == "nosniff", sourceLocation: sourceLocation)
        #expect(headers[HTTPField.Name("Referrer-Policy")!] == "strict-origin-when-cross-origin", sourceLocation: sourceLocation)
        let permissions = headers[HTTPField.Name("Permissions-Policy")!] ?? ""
        for feature in ["camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"] {
            #expect(permissions.contains(feature), "Permissions-Policy lacks \(feature)", sourceLocation: sourceLocation)
        }
        if hsts {
            #expect(headers[.strictTransportSecurity] == "max-age=63072000; includeSubDomains; preload", sourceLocation: sourceLocation)
        } else {
            #expect(headers[.strictTransportSecurity] == nil, sourceLocation: sourceLocation)
        }
        if api {
            #expect(headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        }
    }

    static func expectErrorShape(_ response: TestResponse, code: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ErrorBody {
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        let body = try response.decoded(ErrorBody.self)
        #expect(body.error == code, sourceLocation: sourceLocation)
        #expect(!body.message.isEmpty, sourceLocation: sourceLocation)
        #expect(body.error_id.count == 16, sourceLocation: sourceLocation)
        return body
    }

    @Test("200, 401, 404 and 500 all carry the SPEC §8 headers; no HSTS over plain HTTP")
    func everyStatusOverPlainHTTP() async throws {
        let app = try TestApplication()
        let logs = app.logs
        let routes: (Router<AppRequestContext>) -> Void = { router in
            router.get("/boom") { _, _ -> String in throw Boom() }
            router.get("/api/v1/boom") { _, _ -> String in throw Boom() }
        }
        try await app.test(extraRoutes: routes) { client in
            let ok = try await client.execute(uri: "/healthz", method: .get)
            #expect(ok.status == .ok)
            Self.expectSecurityHeaders(ok, hsts: false, api: false)

            let unauthorized = try await client.execute(uri: "/api/v1/sessions", method: .get)
            #expect(unauthorized.status == .unauthorized)
            #expect(unauthorized.headers[.wwwAuthenticate] == "Bearer")
            Self.expectSecurityHeaders(unauthorized, hsts: false, api: true)
            _ = try Self.expectErrorShape(unauthorized, code: "unauthorized")

            let missing = try await client.execute(uri: "/no/such/page", method: .get)
            #expect(missing.status == .notFound)
            Self.expectSecurityHeaders(missing, hsts: false, api: false)
            _ = try Self.expectErrorShape(missing, code: "not_found")

            let failure = try await client.execute(uri: "/boom", method: .get)
            #expect(failure.status == .internalServerError)
            Self.expectSecurityHeaders(failure, hsts: false, api: false)
            let body = try Self.expectErrorShape(failure, code: "internal_error")
            // The client sees a generic message; the log line carries the id and the detail.
            #expect(!failure.bodyString.contains("exploded"))
            let line = try #require(logs.lines.first { $0.contains(body.error_id) })
            #expect(line.contains("database exploded: row 42 detail"))
            #expect(line.contains("error"))
        }
    }

    @Test("Behind a TLS proxy every response, errors included, carries HSTS")
    func hstsBehindProxy() async throws {
        let app = try TestApplication([Setting.behindTLSProxy.name: "true"])
        let routes: (Router<AppRequestContext>) -> Void = { router in
            router.get("/boom") { _, _ -> String in throw Boom() }
        }
        try await app.test(extraRoutes: routes) { client in
            for (uri, status) in [
                ("/healthz", HTTPResponse.Status.ok), ("/api/v1/bots", .unauthorized), ("/nope", .notFound), ("/boom", .internalServerError),
            ] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == status)
                Self.expectSecurityHeaders(response, hsts: true, api: uri.hasPrefix("/api"))
            }
        }
    }

    @Test("API responses are not cacheable; other pages keep their own caching")
    func cacheControlOnlyOnAPI() async throws {
        try await TestApplication().test { client in
            let api = try await client.execute(uri: "/api/v1/anything", method: .get)
            #expect(api.headers[.cacheControl] == "no-store")
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.headers[.cacheControl] == nil)
        }
    }

    @Test("Unknown /api paths answer 401, not 404, to anonymous callers (no route enumeration)")
    func unknownAPIPathsAreUnauthorized() async throws {
        try await TestApplication().test { client in
            for (uri, method) in [("/api", HTTPRequest.Method.get), ("/api/v1/credentials", .post), ("/api/v2/whatever", .delete)] {
                let response = try await client.execute(uri: uri, method: method)
                #expect(response.status == .unauthorized, "\(method) \(uri)")
                _ = try Self.expectErrorShape(response, code: "unauthorized")
            }
        }
    }

    @Test("An invalid bearer token is refused like a missing one")
    func bogusBearerToken() async throws {
        try await TestApplication().test { client in
            let response = try await client.execute(uri: "/api/v1/bots", method: .get, headers: [.authorization: "Bearer not-a-token"])
            #expect(response.status == .unauthorized)
            _ = try Self.expectErrorShape(response, code: "unauthorized")
        }
    }

    @Test("A body over the upload limit answers 413 in the error shape")
    func oversizedBody() async throws {
        let routes: (Router<AppRequestContext>) -> Void = { router in
            router.post("/echo") { request, context -> String in
                let text = try await request.decode(as: [String: String].self, context: context)
                return text.description
            }
        }
        try await TestApplication().test(extraRoutes: routes) { client in
            let big = ByteBuffer(string: "{\"a\":\"" + String(repeating: "x", count: 100_000) + "\"}")
            let response = try await client.execute(uri: "/echo", method: .post, headers: [.contentType: "application/json"], body: big)
            #expect(response.status == .contentTooLarge)
            Self.expectSecurityHeaders(response, hsts: false, api: false)
            _ = try Self.expectErrorShape(response, code: "payload_too_large")
        }
    }
}
