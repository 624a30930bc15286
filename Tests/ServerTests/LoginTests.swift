// POST /login and /login/totp, lockout, replay protection and account enumeration.

import Accounts
import AuditLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import Storage
import Testing

@testable import Server

@Suite struct LoginTests {
    @Test("login with the right password answers 200 with a single-use mfa token; login/totp issues the tokens")
    func twoStepLogin() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let mfa = try await driver.mfaToken(user)
            #expect(mfa.count == 43)
            let response = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": driver.code(user)], ip: user.ip)
            #expect(response.status == .ok)
            let body = try response.json()
            #expect(body["token_type"] as? String == "Bearer")
            #expect(body["expires_in"] as? Int == 900)
            let access = try #require(body["access_token"] as? String)
            let claims = try await inside.auth.accessTokens.verify(access)
            #expect(claims.sub.value == user.userID)
            // The mfa token was spent.
            let again = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": driver.code(user)], ip: user.ip)
            #expect(again.status == .unauthorized)
            #expect(again.errorCode == "invalid_token")
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            let login = try #require(events.last { $0.action == "auth.login" })
            #expect(login.ip == user.ip)
            #expect(login.userAgent == "tradekeep-tests")
            #expect(login.details["method"] == "totp")
        }
    }

    @Test("The refresh cookie is __Secure-, HttpOnly, Secure, SameSite=Strict, Path=/api/v1/auth, 7 days")
    func cookieAttributes() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let signedIn = try await driver.signIn(try await driver.signUp())
            let attributes = Set(signedIn.setCookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(signedIn.setCookie.hasPrefix("__Secure-tradekeep_refresh="))
            #expect(attributes.isSuperset(of: ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age=604800"]))
            #expect(signedIn.refreshToken.count == 43)
        }
    }

    @Test("Wrong password and unknown email get the same 401 invalid_credentials answer")
    func invalidCredentials() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let wrong = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": "not the password at all"], ip: "10.9.0.1")
            let unknown = try await driver.post(
                "/api/v1/auth/login",
                ["email": "nobody@example.com", "password": "not the password at all"],
                ip: "10.9.0.2"
            )
            for response in [wrong, unknown] {
                #expect(response.status == .unauthorized)
                let body = try response.decoded(ErrorBody.self)
                #expect(body.error == "invalid_credentials")
                #expect(body.message == "The email or password is wrong.")
            }
        }
    }

    @Test(
        "Five failures from five different IPs lock the account: 423 with Retry-After, even with the right password; the owner is emailed; it unlocks after 15 minutes"
    )
    func lockoutAcrossIPs() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            for attempt in 1...5 {
                let response = try await driver.post(
                    "/api/v1/auth/login",
                    ["email": user.email, "password": "wrong password \(attempt)"],
                    ip: "192.0.2.\(attempt)"
                )
                #expect(response.status == .unauthorized)
            }
            let locked = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: "198.51.100.7")
            #expect(locked.status.code == 423)
            #expect(locked.errorCode == "account_locked")
            let retryAfter = try #require(locked.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter > 800 && retryAfter <= 900)
            #expect(
                AuthDriver.latestMail(
                    to: user.email,
                    containing: "Subject: Your Tradekeep account was locked",
                    in: app.prepared.configuration.dataDirectory
                ) != nil
            )
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            #expect(events.filter { $0.action == "auth.login_failed" }.count >= 5)
            #expect(events.contains { $0.action == "auth.locked" })

            app.clock.advance(by: 15 * 60 + 1)
            let after = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: "198.51.100.8")
            #expect(after.status == .ok)
        }
    }

    @Test("A success resets the failure count: failures must be consecutive to lock")
    func failuresMustBeConsecutive() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            for round in 0..<2 {
                for attempt in 1...4 {
                    _ = try await driver.post(
                        "/api/v1/auth/login",
                        ["email": user.email, "password": "wrong \(attempt)"],
                        ip: "192.0.2.\(round * 10 + attempt)"
                    )
                }
                _ = try await driver.signIn(user)
            }
            let fine = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: "192.0.2.99")
            #expect(fine.status == .ok)
        }
    }

    @Test("login/totp: a wrong code is 401 invalid_totp; a replayed code is refused and recorded as auth.totp_replay")
    func wrongAndReplayedCodes() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let mfa = try await driver.mfaToken(user)
            let right = TOTP.standard.code(secret: user.secret, at: app.clock.now)
            let wrong = try await driver.post(
                "/api/v1/auth/login/totp",
                ["mfa_token": mfa, "code": String(format: "%06d", (Int(right)! + 1) % 1_000_000)],
                ip: user.ip
            )
            #expect(wrong.status == .unauthorized)
            #expect(wrong.errorCode == "invalid_totp")
            let first = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": right], ip: user.ip)
            #expect(first.status == .ok)
            // The same code again, within its 30 seconds, with a new mfa token.
            let mfa2 = try await driver.mfaToken(user)
            let replay = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa2, "code": right], ip: user.ip)
            #expect(replay.status == .unauthorized)
            #expect(replay.errorCode == "invalid_totp")
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            #expect(events.contains { $0.action == "auth.totp_replay" })
        }
    }

    @Test("A backup code signs in once; the second use is refused")
    func backupCodeIsSingleUse() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let code = user.backupCodes[3].uppercased().replacingOccurrences(of: "-", with: " ")
            let first = try await driver.post(
                "/api/v1/auth/login/totp",
                ["mfa_token": try await driver.mfaToken(user), "backup_code": code],
                ip: user.ip
            )
            #expect(first.status == .ok)
            let second = try await driver.post(
                "/api/v1/auth/login/totp",
                ["mfa_token": try await driver.mfaToken(user), "backup_code": code],
                ip: user.ip
            )
            #expect(second.status == .unauthorized)
            #expect(second.errorCode == "invalid_totp")
            let neither = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": try await driver.mfaToken(user)], ip: user.ip)
            #expect(neither.status == .badRequest)
        }
    }

    @Test("Five wrong codes on one mfa token spend it; TOTP failures count towards the lockout")
    func mfaTokenAttempts() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let mfa = try await driver.mfaToken(user)
            var last: TestResponse?
            for attempt in 0..<5 {
                last = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": String(format: "%06d", attempt)], ip: user.ip)
            }
            // The fifth consecutive failure locked the account.
            #expect(last?.status.code == 423)
            app.clock.advance(by: 15 * 60 + 1)
            let spent = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": driver.code(user)], ip: user.ip)
            #expect(spent.errorCode == "invalid_token")
        }
    }

    @Test("Unknown emails take as long as wrong passwords (bcrypt cost 12 on both paths)")
    func noEnumerationByTiming() async throws {
        var app = try AuthDriver.application()
        app.prepared.configuration.bcryptCost = 12
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            // Create the account directly (a cost-12 registration through HTTP would only slow the test).
            let account = try await inside.auth.register(
                email: "timing@example.com",
                password: AuthDriver.password,
                client: ClientInfo(ip: nil, userAgent: nil)
            )
            // Alternate the two kinds of request, so whatever else the machine does slows both alike.
            var known: [Duration] = []
            var unknown: [Duration] = []
            for index in 0..<7 {
                for email in ["timing@example.com", "nobody-here@example.com"] {
                    let start = ContinuousClock.now
                    let response = try await driver.post(
                        "/api/v1/auth/login",
                        ["email": email, "password": "wrong password here"],
                        ip: "203.0.113.\(index * 2 + (email.hasPrefix("timing") ? 0 : 1))"
                    )
                    #expect(response.status == .unauthorized)
                    if email.hasPrefix("timing") {
                        known.append(ContinuousClock.now - start)
                        // Seven wrong passwords would lock the account (and a locked account answers 423).
                        try await inside.auth.store.clearFailedLogins(userID: account.userID)
                    } else {
                        unknown.append(ContinuousClock.now - start)
                    }
                }
            }
            let knownMedian = known.sorted()[3]
            let unknownMedian = unknown.sorted()[3]
            #expect(knownMedian > .milliseconds(50), "cost-12 bcrypt should take tens of milliseconds, took \(knownMedian)")
            // Without the dummy verification an unknown email would answer in about a millisecond.
            #expect(unknownMedian > knownMedian / 3 && unknownMedian < knownMedian * 3, "known \(knownMedian), unknown \(unknownMedian)")
        }
    }
}
