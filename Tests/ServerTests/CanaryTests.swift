// The canary test (SPEC §8): an end-to-end session at trace log level with distinctive secrets of every kind, right
// and wrong, through every route that takes one. Every log line and every error body is captured: none may contain
// any of them.

import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import VenueFakes

@testable import Server

@Suite struct CanaryTests {
    @Test("No password, TOTP secret, backup code, token, exchange secret, passphrase or webhook secret reaches a log line or an error body")
    func canariesNeverLeak() async throws {
        let fake = FakeOKX()
        let key = OKXKey(
            apiKey: UUID().uuidString.lowercased(),
            secret: "CANARYokxsecret\(VenueHarness.randomText(12))",
            passphrase: "CANARYpassphrase\(VenueHarness.randomText(6))",
            perm: "read_only,trade",
            ip: "198.51.100.7"
        )
        fake.addKey(key)
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(VenueHarness.settings(.okx, url))
            let clock = app.clock
            let canaries = try await app.run { client, _ -> [String] in
                let driver = AuthDriver(client: client, clock: clock)
                var canaries = [key.secret, key.passphrase]
                var errors: [String] = []
                func note(_ response: TestResponse) -> TestResponse {
                    if response.status.code >= 400 { errors.append(response.bodyString) }
                    return response
                }
                let password = "CANARYpassword-\(VenueHarness.randomText(10))"
                let newPassword = "CANARYnewpassword-\(VenueHarness.randomText(10))"
                let wrongPassword = "CANARYwrongpassword-\(VenueHarness.randomText(10))"
                canaries += [password, newPassword, wrongPassword]
                var user = try await driver.signUp(password: password)
                canaries += user.backupCodes
                canaries.append(user.secret.withUnsafeBytes { Base32.encode($0) })
                // Wrong, then right: both paths log.
                _ = note(try await driver.post("/api/v1/auth/login", ["email": user.email, "password": wrongPassword], ip: user.ip))
                _ = note(try await driver.post("/api/v1/auth/login", ["email": "nobody@example.com", "password": wrongPassword], ip: user.ip))
                let mfa = try await driver.mfaToken(user)
                canaries.append(mfa)
                _ = note(try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": "000000"], ip: user.ip))
                let signedIn = try await driver.signIn(user)
                canaries += [signedIn.accessToken, signedIn.refreshToken]
                let token = signedIn.accessToken
                _ = note(
                    try await driver.request(
                        .post,
                        "/api/v1/auth/refresh",
                        ip: user.ip,
                        headers: [.cookie: "\(AuthController.refreshCookie)=\(signedIn.refreshToken)", .xRequestedWith: "XMLHttpRequest"]
                    )
                )
                // A body that misspells a field carrying a secret: the error names the field, never the value.
                _ = note(try await driver.post("/api/v1/auth/login", ["email": user.email, "pasword": wrongPassword], ip: user.ip))
                var body: [String: Any] = [
                    "venue": "okx", "label": "main", "api_key": key.apiKey, "api_secret": key.secret, "passphrase": key.passphrase,
                ]
                _ = note(try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token))
                body["totp_code"] = driver.code(user)
                let created = note(try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token))
                #expect(created.status == .created)
                let signal = note(
                    try await driver.post(
                        "/api/v1/bots",
                        ["name": "s", "strategy": "signal", "venue": "paper", "symbol": "BTCUSDT", "params": ["quantity": 0.001]],
                        ip: user.ip,
                        token: token
                    )
                )
                let botID = try #require(try signal.json()["id"] as? String)
                let webhookSecret = try #require(try signal.json()["webhook_secret"] as? String)
                let wrongSecret = "CANARYwebhook-\(VenueHarness.randomText(16))"
                canaries += [webhookSecret, wrongSecret]
                _ = try await driver.post("/api/v1/bots/\(botID)/start", [:], ip: user.ip, token: token)
                _ = note(try await driver.post("/api/v1/signals/\(botID)", ["action": "buy", "secret": wrongSecret, "id": "c1"], ip: "10.70.0.1"))
                _ = note(try await driver.post("/api/v1/signals/\(botID)", ["action": "buy", "secret": webhookSecret, "id": "c2"], ip: "10.70.0.1"))
                let changed = note(
                    try await driver.post(
                        "/api/v1/auth/password/change",
                        ["current_password": password, "new_password": newPassword, "totp_code": driver.code(user)],
                        ip: user.ip,
                        token: token
                    )
                )
                #expect(changed.status == .noContent)
                user.password = newPassword
                _ = note(try await driver.post("/api/v1/auth/backup-codes", ["totp_code": "123456"], ip: user.ip, token: token))
                #expect(!errors.isEmpty)
                for error in errors {
                    for canary in canaries { #expect(!error.contains(canary), "an error body carries a secret: \(error)") }
                }
                return canaries
            }
            let lines = app.logs.lines
            #expect(lines.count > 20, "the session logged at trace level")
            for line in lines {
                for canary in canaries where line.contains(canary) {
                    Issue.record("a log line carries a secret (\(canary.prefix(8))…): \(line)")
                }
            }
        }
    }
}
