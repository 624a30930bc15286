// Per-IP limits (register 3/min, login 5/min), 200/min per user or IP elsewhere; 429 with Retry-After.

import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Server

@Suite struct RateLimitTests {
    static func expect429(_ response: TestResponse, limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .tooManyRequests, sourceLocation: sourceLocation)
        #expect(response.errorCode == "rate_limited", sourceLocation: sourceLocation)
        let retryAfter = response.headers[.retryAfter].flatMap { Int($0) } ?? -1
        #expect(retryAfter >= 1 && retryAfter <= 60, "Retry-After \(retryAfter)", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("RateLimit-Limit")!] == String(limit), sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("RateLimit-Remaining")!] == "0", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("RateLimit-Reset")!] != nil, sourceLocation: sourceLocation)
    }

    @Test("register: 3 per minute per IP, then 429; another IP is not affected")
    func registerLimit() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            for index in 0..<3 {
                let response = try await driver.register(email: "r\(index)@example.com", ip: "10.2.0.1")
                #expect(response.status == .created)
                #expect(response.headers[HTTPField.Name("RateLimit-Remaining")!] == String(2 - index))
            }
            Self.expect429(try await driver.register(email: "r3@example.com", ip: "10.2.0.1"), limit: 3)
            #expect(try await driver.register(email: "r4@example.com", ip: "10.2.0.2").status == .created)
        }
    }

    @Test("login: 5 per minute per IP, then 429 — even with the right password")
    func loginLimit() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            for index in 0..<5 {
                _ = try await driver.post(
                    "/api/v1/auth/login",
                    ["email": "nobody\(index)@example.com", "password": "whatever it is"],
                    ip: "10.2.1.1"
                )
            }
            Self.expect429(try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: "10.2.1.1"), limit: 5)
            #expect(try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: "10.2.1.2").status == .ok)
        }
    }

    @Test("Everything else: 200 per minute per user (whatever the IP), and per IP when anonymous")
    func generalLimit() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            // GCRA refills one request every 0.3 s, so count how many pass before the first 429: at least the
            // 200 of the burst, plus what the elapsed time refilled.
            func hammer(_ send: (Int) async throws -> TestResponse) async throws -> (allowed: Int, refused: TestResponse?) {
                let start = ContinuousClock.now
                for index in 0..<400 {
                    let response = try await send(index)
                    if response.status == .tooManyRequests {
                        let elapsed = ContinuousClock.now - start
                        #expect(index >= 200 && Double(index) <= 200 + elapsed / .milliseconds(300) + 1, "refused after \(index) in \(elapsed)")
                        return (index, response)
                    }
                }
                return (400, nil)
            }
            let perUser = try await hammer { index in
                try await driver.request(.get, "/api/v1/auth/sessions", ip: "10.3.\(index / 250).\(index % 250)", token: signedIn.accessToken)
            }
            Self.expect429(try #require(perUser.refused), limit: 200)
            let anonymous = try await hammer { _ in try await driver.request(.get, "/api/v1/nothing-here", ip: "10.5.0.1") }
            Self.expect429(try #require(anonymous.refused), limit: 200)
            #expect(try await driver.request(.get, "/api/v1/nothing-here", ip: "10.5.0.2").status == .unauthorized)
        }
    }

    @Test("Without --behind-tls-proxy, X-Forwarded-For is ignored: a client cannot pick its own IP")
    func forwardedForNotTrustedByDefault() async throws {
        let app = try TestApplication()
        try await app.test(.live) { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            for index in 0..<3 {
                #expect(try await driver.register(email: "x\(index)@example.com", ip: "10.6.0.\(index)").status == .created)
            }
            Self.expect429(try await driver.register(email: "x3@example.com", ip: "10.6.0.99"), limit: 3)
        }
    }

    @Test("Behind the proxy only the last X-Forwarded-For entry (the one the proxy appended) counts")
    func lastForwardedEntry() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            for index in 0..<3 {
                let response = try await driver.register(email: "y\(index)@example.com", ip: "1.2.3.\(index), 10.7.0.1")
                #expect(response.status == .created)
            }
            Self.expect429(try await driver.register(email: "y3@example.com", ip: "9.9.9.9, 10.7.0.1"), limit: 3)
        }
    }
}
