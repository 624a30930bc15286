// Admin routes need the admin role and a fresh TOTP code; admins are created only from the CLI.

import Accounts
import AuditLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import Storage
import Testing
import Vault

@testable import Server

@Suite struct AdminTests {
    /// Create an admin the way `tradekeep admin create` does, then enrol it through the API.
    static func admin(_ driver: AuthDriver, inside: Inside) async throws -> TestUser {
        let email = "admin-\(UUID().uuidString.prefix(6).lowercased())@example.com"
        let enrollment = try await inside.auth.register(
            email: email,
            password: AuthDriver.password,
            role: .admin,
            client: ClientInfo(ip: nil, userAgent: nil)
        )
        let secret = SecretBytes(copying: Base32.decode(enrollment.totpSecret)!)
        var user = TestUser(
            email: email,
            password: AuthDriver.password,
            userID: enrollment.userID.uuidString.lowercased(),
            secret: secret,
            backupCodes: [],
            ip: AuthDriver.randomIP()
        )
        let confirmed = try await driver.post(
            "/api/v1/auth/totp/confirm",
            ["enrollment_token": enrollment.enrollmentToken, "code": driver.code(user)],
            ip: user.ip
        )
        try #require(confirmed.status == .ok)
        user.backupCodes = try confirmed.json()["backup_codes"] as! [String]
        return user
    }

    @Test("A user without the admin role is refused (403) even with a valid TOTP code")
    func notAdmin() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            let response = try await driver.request(
                .get,
                "/api/v1/admin/users",
                ip: user.ip,
                token: signedIn.accessToken,
                headers: [.xTOTPCode: driver.code(user)]
            )
            #expect(response.status == .forbidden)
            #expect(response.errorCode == "forbidden")
            #expect(try await driver.request(.get, "/api/v1/admin/users", ip: user.ip).status == .unauthorized)
        }
    }

    @Test("An admin needs a TOTP code on every admin call; with it, lists users and locks and unlocks them")
    func adminActions() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let admin = try await Self.admin(driver, inside: inside)
            let adminIn = try await driver.signIn(admin)
            let user = try await driver.signUp()
            let userIn = try await driver.signIn(user)

            let noCode = try await driver.request(.get, "/api/v1/admin/users", ip: admin.ip, token: adminIn.accessToken)
            #expect(noCode.status == .forbidden)
            #expect(noCode.errorCode == "step_up_required")
            let list = try await driver.request(
                .get,
                "/api/v1/admin/users",
                ip: admin.ip,
                token: adminIn.accessToken,
                headers: [.xTOTPCode: driver.code(admin)]
            )
            #expect(list.status == .ok)
            let users = try #require(try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [[String: Any]])
            #expect(users.contains { $0["email"] as? String == user.email && $0["role"] as? String == "user" && $0["status"] as? String == "active" })
            #expect(users.contains { $0["email"] as? String == admin.email && $0["role"] as? String == "admin" })
            #expect(!list.bodyString.contains("password") && !list.bodyString.contains("$2b$"))

            let lock = try await driver.post(
                "/api/v1/admin/users/\(user.userID)/lock",
                ["totp_code": driver.code(admin)],
                ip: admin.ip,
                token: adminIn.accessToken
            )
            #expect(lock.status == .noContent)
            #expect(try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: userIn.accessToken).status == .unauthorized)
            let refused = try await driver.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: user.ip)
            #expect(refused.errorCode == "account_disabled")

            let unlock = try await driver.post(
                "/api/v1/admin/users/\(user.userID)/unlock",
                ["totp_code": driver.code(admin)],
                ip: admin.ip,
                token: adminIn.accessToken
            )
            #expect(unlock.status == .noContent)
            _ = try await driver.signIn(user)

            let missing = try await driver.post(
                "/api/v1/admin/users/\(UUID().uuidString)/lock",
                ["totp_code": driver.code(admin)],
                ip: admin.ip,
                token: adminIn.accessToken
            )
            #expect(missing.status == .notFound)
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(
                userID: UUID(uuidString: user.userID)!
            )
            #expect(events.contains { $0.action == "admin.user_locked" } && events.contains { $0.action == "admin.user_unlocked" })
        }
    }
}
