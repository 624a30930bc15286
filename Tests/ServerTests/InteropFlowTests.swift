// The running application with independent clients: pyotp computes the codes, PyJWT decodes the tokens.

import Foundation
import HTTPTypes
import HummingbirdTesting
import InteropSupport
import Testing
import Vault

@testable import Server

@Suite(
    .enabled(
        if: Python.interopAvailable || Python.requireAll,
        "needs python3 with pyotp, bcrypt, PyJWT and cryptography (pip install -r interop/requirements.txt)"
    )
)
struct InteropFlowTests {
    @Test("Enrol and sign in with codes computed by pyotp; the access token decodes with PyJWT and the server's jwt.key")
    func pyotpAndPyJWTAgainstTheServer() async throws {
        let app = try AuthDriver.application()
        let key = app.prepared.secrets.jwtKey.withUnsafeBytes { Data($0).base64EncodedString() }
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let registered = try await driver.register(email: "py@example.com", ip: "10.9.9.9").json()
            let secret = try #require(registered["totp_secret"] as? String)
            func pyotpCode() throws -> String {
                let answer = try Python.interop("totp.py", ["generate": [["secret": secret, "time": Int(app.clock.now.timeIntervalSince1970)]]])
                app.clock.advance(by: 30)
                return try #require((answer["generated"] as? [String])?.first)
            }
            let confirmed = try await driver.post(
                "/api/v1/auth/totp/confirm",
                ["enrollment_token": registered["enrollment_token"]!, "code": try pyotpCode()],
                ip: "10.9.9.9"
            )
            #expect(confirmed.status == .ok)
            let login = try await driver.post("/api/v1/auth/login", ["email": "py@example.com", "password": AuthDriver.password], ip: "10.9.9.9")
            let mfa = try #require(try login.json()["mfa_token"] as? String)
            let signedIn = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": try pyotpCode()], ip: "10.9.9.9")
            #expect(signedIn.status == .ok)
            let token = try #require(try signedIn.json()["access_token"] as? String)

            // PyJWT checks the signature and requires sub, sid, iat, exp. The test clock runs ahead of the real
            // one (which PyJWT uses) by the TOTP steps it skipped, so PyJWT gets that much leeway for `iat`.
            let ahead = Int(app.clock.now.timeIntervalSinceNow.rounded(.up)) + 5
            let answer = try Python.interop("jwt_check.py", ["key": key, "decode": [token], "leeway": ahead])
            let decoded = try #require((answer["decoded"] as? [[String: Any]])?.first)
            #expect(decoded["ok"] as? Bool == true, "\(decoded)")
            #expect((decoded["claims"] as? [String: Any])?["sub"] as? String == registered["user_id"] as? String)
        }
    }
}
