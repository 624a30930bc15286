// Access tokens (refusals), refresh rotation and reuse detection, logout, sessions list and revocation.

import Accounts
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Storage
import Testing
import Vault

@testable import Server

@Suite struct TokenTests {
    /// A JWT signed with `key` (HMAC with `algorithm`) over arbitrary header and claims.
    static func forge(header: [String: Any], claims: [String: Any], key: SecretBytes?, algorithm: String = "HS256") throws -> String {
        func segment(_ object: [String: Any]) throws -> String {
            Base64.urlSafeEncode(try JSONSerialization.data(withJSONObject: object, options: .sortedKeys)).replacingOccurrences(of: "=", with: "")
        }
        let input = "\(try segment(header)).\(try segment(claims))"
        guard let key else { return input + "." }
        let mac: [UInt8] =
            switch algorithm {
            case "HS512": Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: key.symmetricKey))
            case "HS384": Array(HMAC<SHA384>.authenticationCode(for: Array(input.utf8), using: key.symmetricKey))
            default: Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key.symmetricKey))
            }
        return input + "." + Base64.urlSafeEncode(mac).replacingOccurrences(of: "=", with: "")
    }

    @Test("A valid access token reaches a protected route; forged variants are refused with 401")
    func accessTokenRefusals() async throws {
        let app = try AuthDriver.application()
        let key = app.prepared.secrets.jwtKey
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            let ok = try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: signedIn.accessToken)
            #expect(ok.status == .ok)

            let sessionID = try #require((try JSONSerialization.jsonObject(with: Data(buffer: ok.body)) as? [[String: Any]])?.first?["id"] as? String)
            let now = Int(app.clock.now.timeIntervalSince1970)
            let good: [String: Any] = ["sub": user.userID, "sid": sessionID, "iat": now, "exp": now + 600]
            // The forging works: the same claims, correctly signed, are accepted.
            let control = try Self.forge(header: ["alg": "HS256", "typ": "JWT"], claims: good, key: key)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: control).status == .ok)

            var noIAT = good
            noIAT["iat"] = nil
            var expired = good
            expired["iat"] = now - 3600
            expired["exp"] = now - 60
            var future = good
            future["iat"] = now + 3600
            var noSID = good
            noSID["sid"] = nil
            var otherSession = good
            otherSession["sid"] = UUID().uuidString.lowercased()
            let refused: [(String, String)] = [
                ("no iat", try Self.forge(header: ["alg": "HS256"], claims: noIAT, key: key)),
                ("alg none", try Self.forge(header: ["alg": "none"], claims: good, key: nil)),
                ("alg NONE with signature", try Self.forge(header: ["alg": "NONE"], claims: good, key: key)),
                ("HS512", try Self.forge(header: ["alg": "HS512"], claims: good, key: key, algorithm: "HS512")),
                ("HS384", try Self.forge(header: ["alg": "HS384"], claims: good, key: key, algorithm: "HS384")),
                ("RS256 header", try Self.forge(header: ["alg": "RS256"], claims: good, key: key)),
                ("expired", try Self.forge(header: ["alg": "HS256"], claims: expired, key: key)),
                ("issued in the future", try Self.forge(header: ["alg": "HS256"], claims: future, key: key)),
                ("no sid", try Self.forge(header: ["alg": "HS256"], claims: noSID, key: key)),
                ("unknown session", try Self.forge(header: ["alg": "HS256"], claims: otherSession, key: key)),
                ("other key", try Self.forge(header: ["alg": "HS256"], claims: good, key: .random(count: 64))),
                ("garbage", "not.a.jwt"),
            ]
            for (name, token) in refused {
                let response = try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: token)
                #expect(response.status == .unauthorized, "\(name) was accepted")
                #expect(response.errorCode == "unauthorized")
            }
        }
    }

    @Test("A token of a revoked session is refused at once (logout, then the same token)")
    func revokedSessionToken() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: signedIn.accessToken).status == .ok)
            let logout = try await driver.request(.post, "/api/v1/auth/logout", ip: user.ip, token: signedIn.accessToken)
            #expect(logout.status == .noContent)
            let cleared = try #require(logout.headers[.setCookie])
            #expect(cleared.hasPrefix("__Secure-tradekeep_refresh=;") && cleared.contains("Max-Age=0"))
            let after = try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: signedIn.accessToken)
            #expect(after.status == .unauthorized)
            // Logging out needs a token.
            #expect(try await driver.request(.post, "/api/v1/auth/logout", ip: user.ip).status == .unauthorized)
        }
    }

    @Test("refresh rotates the token; presenting a spent one answers refresh_reused and ends the session family")
    func refreshRotationAndReuse() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            func refresh(_ cookie: String, headers: HTTPFields = [.origin: "https://127.0.0.1:8080"]) async throws -> TestResponse {
                var fields = headers
                fields[.cookie] = "\(AuthController.refreshCookie)=\(cookie)"
                return try await driver.request(.post, "/api/v1/auth/refresh", ip: user.ip, headers: fields)
            }
            let first = try await refresh(signedIn.refreshToken)
            #expect(first.status == .ok)
            let rotated = try #require(first.headers[.setCookie].flatMap(AuthDriver.cookieValue))
            #expect(rotated != signedIn.refreshToken)
            let newAccess = try #require(try first.json()["access_token"] as? String)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: newAccess).status == .ok)

            let second = try await refresh(rotated, headers: [.xRequestedWith: "fetch"])
            #expect(second.status == .ok)

            // The first token again: reuse. The whole session ends: its newest tokens stop working too.
            let reused = try await refresh(signedIn.refreshToken)
            #expect(reused.status == .unauthorized)
            #expect(reused.errorCode == "refresh_reused")
            #expect(reused.headers[.setCookie]?.contains("Max-Age=0") == true)
            let newest = try #require(second.headers[.setCookie].flatMap(AuthDriver.cookieValue))
            #expect(try await refresh(newest).status == .unauthorized)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: newAccess).status == .unauthorized)
        }
    }

    @Test("refresh needs a same-origin Origin or X-Requested-With (403 otherwise), and a cookie (401 otherwise)")
    func refreshCSRFAndCookie() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            let cookie = "\(AuthController.refreshCookie)=\(signedIn.refreshToken)"
            let bare = try await driver.request(.post, "/api/v1/auth/refresh", ip: user.ip, headers: [.cookie: cookie])
            #expect(bare.status == .forbidden)
            #expect(bare.errorCode == "csrf_check_failed")
            let foreign = try await driver.request(
                .post,
                "/api/v1/auth/refresh",
                ip: user.ip,
                headers: [.cookie: cookie, .origin: "https://evil.example", .xRequestedWith: "x"]
            )
            #expect(foreign.status == .forbidden)
            let noCookie = try await driver.request(.post, "/api/v1/auth/refresh", ip: user.ip, headers: [.xRequestedWith: "fetch"])
            #expect(noCookie.status == .unauthorized)
            #expect(noCookie.errorCode == "invalid_token")
            // The refused attempts did not spend the token.
            let ok = try await driver.request(.post, "/api/v1/auth/refresh", ip: user.ip, headers: [.cookie: cookie, .xRequestedWith: "fetch"])
            #expect(ok.status == .ok)
        }
    }

    @Test("GET /sessions lists the caller's sessions with the current one marked; DELETE revokes one at once")
    func sessionsListAndRevoke() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let laptop = try await driver.signIn(user)
            let phone = try await driver.signIn(user)
            let list = try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: laptop.accessToken)
            let sessions = try #require(try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [[String: Any]])
            #expect(sessions.count == 2)
            #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
            #expect(sessions.allSatisfy { $0["ip"] as? String == user.ip && $0["user_agent"] as? String == "tradekeep-tests" })
            #expect(sessions.allSatisfy { $0["created_at"] is String && $0["last_seen_at"] is String })
            let other = try #require(sessions.first { $0["current"] as? Bool == false }?["id"] as? String)

            let revoked = try await driver.request(.delete, "/api/v1/auth/sessions/\(other)", ip: user.ip, token: laptop.accessToken)
            #expect(revoked.status == .noContent)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: phone.accessToken).status == .unauthorized)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: laptop.accessToken).status == .ok)
            let again = try await driver.request(.delete, "/api/v1/auth/sessions/\(other)", ip: user.ip, token: laptop.accessToken)
            #expect(again.status == .notFound)
            #expect(try await driver.request(.delete, "/api/v1/auth/sessions/not-a-uuid", ip: user.ip, token: laptop.accessToken).status == .notFound)
        }
    }

    @Test("One user cannot list or revoke another user's sessions")
    func sessionIsolation() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let alice = try await driver.signUp()
            let bob = try await driver.signUp()
            let aliceIn = try await driver.signIn(alice)
            let bobIn = try await driver.signIn(bob)
            let bobSessions = try await driver.request(.get, "/api/v1/auth/sessions", ip: bob.ip, token: bobIn.accessToken)
            let bobSession = try #require(
                (try JSONSerialization.jsonObject(with: Data(buffer: bobSessions.body)) as? [[String: Any]])?.first?["id"] as? String
            )
            let aliceList = try await driver.request(.get, "/api/v1/auth/sessions", ip: alice.ip, token: aliceIn.accessToken)
            #expect(!aliceList.bodyString.contains(bobSession))
            let attempt = try await driver.request(.delete, "/api/v1/auth/sessions/\(bobSession)", ip: alice.ip, token: aliceIn.accessToken)
            #expect(attempt.status == .notFound)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: bob.ip, token: bobIn.accessToken).status == .ok)
        }
    }
}
