// POST /password/forgot, /password/reset, /password/change and /backup-codes.

import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Storage
import Testing

@testable import Server

@Suite struct PasswordTests {
    @Test("forgot answers 202 with the same body for known and unknown emails; only the known one gets mail; a malformed body is 400")
    func forgotNoEnumeration() async throws {
        let app = try AuthDriver.application()
        let directory = app.prepared.configuration.dataDirectory
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let known = try await driver.post("/api/v1/auth/password/forgot", ["email": user.email], ip: "10.1.0.1")
            let unknown = try await driver.post("/api/v1/auth/password/forgot", ["email": "ghost@example.com"], ip: "10.1.0.2")
            #expect(known.status == .accepted && unknown.status == .accepted)
            #expect(known.bodyString == unknown.bodyString)
            #expect(try await AuthDriver.awaitMail(to: user.email, containing: "Reset token", in: directory) != nil)
            #expect(AuthDriver.allMail(to: "ghost@example.com", in: directory).isEmpty)
            let malformed = try await driver.post("/api/v1/auth/password/forgot", ["mail": user.email], ip: "10.1.0.3")
            #expect(malformed.status == .badRequest)
            #expect(try malformed.decoded(ErrorBody.self).message == "Missing field `email`.")
        }
    }

    @Test("reset with the mailed token and a TOTP code sets the password, revokes every session, and works once")
    func resetFlow() async throws {
        let app = try AuthDriver.application()
        let directory = app.prepared.configuration.dataDirectory
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            var user = try await driver.signUp()
            let session = try await driver.signIn(user)
            _ = try await driver.post("/api/v1/auth/password/forgot", ["email": user.email], ip: user.ip)
            let mail = try #require(try await AuthDriver.awaitMail(to: user.email, containing: "Reset token", in: directory))
            let token = try #require(AuthDriver.token(in: mail, after: "Reset token (valid once, for 30 minutes): "))

            let weak = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": token, "new_password": "short", "totp_code": driver.code(user)],
                ip: user.ip
            )
            #expect(weak.status == .unprocessableContent)
            let wrongCode = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": token, "new_password": "a brand new passphrase", "totp_code": "000000"],
                ip: user.ip
            )
            #expect(wrongCode.status == .unauthorized)
            #expect(wrongCode.errorCode == "invalid_totp")
            let noCode = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": token, "new_password": "a brand new passphrase"],
                ip: user.ip
            )
            #expect(noCode.errorCode == "step_up_required")
            let badToken = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": "nope", "new_password": "a brand new passphrase", "totp_code": driver.code(user)],
                ip: user.ip
            )
            #expect(badToken.status == .unauthorized)
            #expect(badToken.errorCode == "invalid_token")

            let reset = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": token, "new_password": "a brand new passphrase", "totp_code": driver.code(user)],
                ip: user.ip
            )
            #expect(reset.status == .noContent)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: session.accessToken).status == .unauthorized)
            let old = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: user.ip)
            #expect(old.status == .unauthorized)
            user.password = "a brand new passphrase"
            _ = try await driver.signIn(user)
            let again = try await driver.post(
                "/api/v1/auth/password/reset",
                ["token": token, "new_password": "yet another passphrase", "totp_code": driver.code(user)],
                ip: user.ip
            )
            #expect(again.errorCode == "invalid_token")
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            #expect(events.contains { $0.action == "auth.password_reset" && $0.details["sessions_revoked"] == "1" })
        }
    }

    @Test("change needs the current password and a TOTP code; it keeps this session and ends the others")
    func changePassword() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            var user = try await driver.signUp()
            let here = try await driver.signIn(user)
            let there = try await driver.signIn(user)
            func change(_ body: [String: Any]) async throws -> TestResponse {
                try await driver.post("/api/v1/auth/password/change", body, ip: user.ip, token: here.accessToken)
            }
            let wrongCurrent = try await change([
                "current_password": "not it at all", "new_password": "a different passphrase", "totp_code": driver.code(user),
            ])
            #expect(wrongCurrent.status == .forbidden)
            #expect(wrongCurrent.errorCode == "invalid_password")
            let noCode = try await change(["current_password": user.password, "new_password": "a different passphrase"])
            #expect(noCode.status == .forbidden)
            #expect(noCode.errorCode == "step_up_required")
            let badCode = try await change(["current_password": user.password, "new_password": "a different passphrase", "totp_code": "123456"])
            #expect(badCode.errorCode == "invalid_totp")
            let common = try await change(["current_password": user.password, "new_password": "password1234", "totp_code": driver.code(user)])
            #expect(common.errorCode == "breached_password")
            let ok = try await change(["current_password": user.password, "new_password": "a different passphrase", "totp_code": driver.code(user)])
            #expect(ok.status == .noContent)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: here.accessToken).status == .ok)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: there.accessToken).status == .unauthorized)
            user.password = "a different passphrase"
            _ = try await driver.signIn(user)
            #expect(
                try await driver.post("/api/v1/auth/password/change", ["current_password": "x", "new_password": "y", "totp_code": "1"], ip: user.ip)
                    .status == .unauthorized
            )
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            #expect(events.contains { $0.action == "auth.password_changed" })
        }
    }

    @Test("backup-codes needs a TOTP code (body or X-TOTP-Code) and voids the old codes")
    func regenerateBackupCodes() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            let missing = try await driver.request(.post, "/api/v1/auth/backup-codes", ip: user.ip, token: signedIn.accessToken)
            #expect(missing.status == .forbidden)
            #expect(missing.errorCode == "step_up_required")
            let viaHeader = try await driver.request(
                .post,
                "/api/v1/auth/backup-codes",
                ip: user.ip,
                token: signedIn.accessToken,
                headers: [.xTOTPCode: driver.code(user)]
            )
            #expect(viaHeader.status == .ok)
            let viaBody = try await driver.post(
                "/api/v1/auth/backup-codes",
                ["totp_code": driver.code(user)],
                ip: user.ip,
                token: signedIn.accessToken
            )
            let codes = try #require(try viaBody.json()["backup_codes"] as? [String])
            #expect(codes.count == 10)
            let old = try await driver.post(
                "/api/v1/auth/login/totp",
                ["mfa_token": try await driver.mfaToken(user), "backup_code": user.backupCodes[0]],
                ip: user.ip
            )
            #expect(old.errorCode == "invalid_totp")
            let new = try await driver.post(
                "/api/v1/auth/login/totp",
                ["mfa_token": try await driver.mfaToken(user), "backup_code": codes[0]],
                ip: user.ip
            )
            #expect(new.status == .ok)
        }
    }

    @Test("Five wrong step-up codes lock the account and end its sessions")
    func stepUpBruteForce() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            for attempt in 0..<5 {
                _ = try await driver.post(
                    "/api/v1/auth/backup-codes",
                    ["totp_code": String(format: "%06d", attempt)],
                    ip: user.ip,
                    token: signedIn.accessToken
                )
            }
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: signedIn.accessToken).status == .unauthorized)
            let login = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: user.ip)
            #expect(login.status.code == 423)
        }
    }
}
