// POST /register, POST /totp/confirm, GET /verify-email — success and every failure answer.

import Accounts
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import SQLKit
import Storage
import Testing
import Vault

@testable import Server

@Suite struct RegistrationTests {
    @Test("register answers 201 with user id, enrolment token, a 160-bit TOTP secret and its otpauth URI")
    func registerSucceeds() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let response = try await driver.register(email: "Alice@Example.com", ip: "10.0.0.1")
            #expect(response.status == .created)
            let body = try response.json()
            let secretText = try #require(body["totp_secret"] as? String)
            let secret = try #require(Base32.decode(secretText))
            #expect(secret.count == 20)
            let uri = try #require(body["otpauth_uri"] as? String)
            #expect(uri.hasPrefix("otpauth://totp/Tradekeep:alice%40example.com?secret=\(body["totp_secret"]!)&issuer=Tradekeep"))
            #expect(uri.hasSuffix("&algorithm=SHA1&digits=6&period=30"))
            #expect((body["enrollment_token"] as? String)?.count == 43)
            let userIDText = try #require(body["user_id"] as? String)
            let userID = try #require(UUID(uuidString: userIDText))
            let user = try #require(try await inside.auth.store.user(id: userID))
            #expect(user.email == "alice@example.com")
            #expect(user.status == .pendingTOTP)
            #expect(user.passwordHash.hasPrefix("$2b$04$"))
            // The TOTP secret is sealed in the vault, bound to this user and record.
            let secretID = try #require(user.totpSecretID)
            let opened = try await inside.auth.store.secrets.withSecret(id: secretID, ownerID: userID) {
                $0.withUnsafeBytes(Array.init)
            }
            #expect(opened == secret)
            await #expect(throws: SecretStoreError.notFound) {
                try await inside.auth.store.secrets.withSecret(id: secretID, ownerID: UUID()) { _ in 0 }
            }
            // A verification mail is in the outbox.
            let mail = try #require(
                AuthDriver.latestMail(to: "alice@example.com", containing: "verify-email?token=", in: app.prepared.configuration.dataDirectory)
            )
            #expect(mail.contains("/api/v1/auth/verify-email?token="))
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(userID: userID)
            #expect(events.map(\.action) == ["auth.registered"])
            #expect(events.first?.ip == "10.0.0.1")
        }
    }

    @Test(
        "register refuses weak, common and breached-list passwords with 422 and stores nothing",
        arguments: [
            ("short", "weak_password"), ("eleven char", "weak_password"), (String(repeating: "x", count: 257), "weak_password"),
            ("password1234", "breached_password"), ("LeaveMeAlone", "breached_password"), ("line\nbreak password", "weak_password"),
        ]
    )
    func weakPasswords(password: String, code: String) async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let response = try await AuthDriver(client: client, clock: app.clock).register(
                email: "weak@example.com",
                password: password,
                ip: "10.0.0.2"
            )
            #expect(response.status == .unprocessableContent)
            #expect(response.errorCode == code)
            #expect(try await inside.auth.store.user(email: "weak@example.com") == nil)
        }
    }

    @Test("register refuses a taken email (case-insensitively) with 409 and an invalid one with 422")
    func takenAndInvalidEmail() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            #expect(try await driver.register(email: "bob@example.com", ip: "10.0.0.3").status == .created)
            let again = try await driver.register(email: " BOB@example.com ", ip: "10.0.0.4")
            #expect(again.status == .conflict)
            #expect(again.errorCode == "email_taken")
            for email in ["not-an-email", "a@b", "two@@example.com x", "<script>@example.com"] {
                let invalid = try await driver.register(email: email, ip: "10.0.1.\(email.count)")
                #expect(invalid.status == .unprocessableContent, "\(email)")
                #expect(invalid.errorCode == "invalid_email")
            }
        }
    }

    @Test("A malformed body answers 400 naming the missing field in snake_case")
    func malformedBody() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let missing = try await driver.post("/api/v1/auth/totp/confirm", ["code": "123456"], ip: "10.0.0.5")
            #expect(missing.status == .badRequest)
            #expect(try missing.decoded(ErrorBody.self).message == "Missing field `enrollment_token`.")
            let garbage = try await client.execute(
                uri: "/api/v1/auth/login",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: "{nope")
            )
            #expect(garbage.status == .badRequest)
            #expect(garbage.errorCode == "bad_request")
        }
    }

    @Test("totp/confirm activates the account and returns ten distinct backup codes of at least 50 bits")
    func confirmSucceeds() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            #expect(user.backupCodes.count == 10)
            #expect(Set(user.backupCodes).count == 10)
            #expect(user.backupCodes.allSatisfy { BackupCode.parse($0) != nil })
            #expect(BackupCode.secretBits >= 50)
            let record = try #require(try await inside.auth.store.user(id: UUID(uuidString: user.userID)!))
            #expect(record.status == .active)
            #expect(try await inside.auth.store.unusedBackupCodeCount(userID: record.id) == 10)
            let events = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(userID: record.id)
            #expect(events.map(\.action).contains("auth.totp_enrolled"))
        }
    }

    @Test("totp/confirm refuses a wrong code (401 invalid_totp), an unknown or spent token (401 invalid_token)")
    func confirmFailures() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let registered = try await driver.register(email: "carol@example.com", ip: "10.0.0.6").json()
            let token = registered["enrollment_token"] as! String
            let secret = SecretBytes(copying: Base32.decode(registered["totp_secret"] as! String)!)
            let right = TOTP.standard.code(secret: secret, at: app.clock.now)
            let wrong = String(format: "%06d", (Int(right)! + 1) % 1_000_000)
            let refused = try await driver.post("/api/v1/auth/totp/confirm", ["enrollment_token": token, "code": wrong], ip: "10.0.0.6")
            #expect(refused.status == .unauthorized)
            #expect(refused.errorCode == "invalid_totp")
            let unknown = try await driver.post("/api/v1/auth/totp/confirm", ["enrollment_token": "nope", "code": right], ip: "10.0.0.6")
            #expect(unknown.errorCode == "invalid_token")
            let accepted = try await driver.post("/api/v1/auth/totp/confirm", ["enrollment_token": token, "code": right], ip: "10.0.0.6")
            #expect(accepted.status == .ok)
            app.clock.advance(by: 30)
            let spent = try await driver.post(
                "/api/v1/auth/totp/confirm",
                ["enrollment_token": token, "code": TOTP.standard.code(secret: secret, at: app.clock.now)],
                ip: "10.0.0.6"
            )
            #expect(spent.status == .unauthorized)
            #expect(spent.errorCode == "invalid_token")
        }
    }

    @Test("A pending account can only enrol: login returns a new enrolment, never an mfa token or a session")
    func pendingAccountCanOnlyEnrol() async throws {
        let app = try AuthDriver.application()
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let registered = try await driver.register(email: "dave@example.com", ip: "10.0.0.7").json()
            let login = try await driver.post("/api/v1/auth/login", ["email": "dave@example.com", "password": AuthDriver.password], ip: "10.0.0.7")
            #expect(login.status == .ok)
            let body = try login.json()
            #expect(body["mfa_token"] == nil)
            #expect(body["status"] as? String == "pending_totp")
            #expect(body["totp_secret"] as? String == registered["totp_secret"] as? String)
            let token = try #require(body["enrollment_token"] as? String)
            #expect(token != registered["enrollment_token"] as? String)
            // The old enrolment token was replaced by the new one.
            let secret = SecretBytes(copying: Base32.decode(body["totp_secret"] as! String)!)
            let old = try await driver.post(
                "/api/v1/auth/totp/confirm",
                ["enrollment_token": registered["enrollment_token"]!, "code": TOTP.standard.code(secret: secret, at: app.clock.now)],
                ip: "10.0.0.7"
            )
            #expect(old.errorCode == "invalid_token")
            let confirmed = try await driver.post(
                "/api/v1/auth/totp/confirm",
                ["enrollment_token": token, "code": TOTP.standard.code(secret: secret, at: app.clock.now)],
                ip: "10.0.0.7"
            )
            #expect(confirmed.status == .ok)
        }
    }

    @Test("verify-email accepts the mailed token once (200) and refuses unknown or spent tokens (401)")
    func verifyEmail() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp(email: "erin@example.com")
            let mail = try #require(
                AuthDriver.latestMail(to: "erin@example.com", containing: "verify-email?token=", in: app.prepared.configuration.dataDirectory)
            )
            let token = try #require(AuthDriver.token(in: mail, after: "verify-email?token="))
            let verified = try await driver.request(.get, "/api/v1/auth/verify-email?token=\(token)", ip: user.ip)
            #expect(verified.status == .ok)
            #expect(try verified.json()["status"] as? String == "verified")
            #expect(try await inside.auth.store.user(email: "erin@example.com")?.emailVerifiedAt != nil)
            let again = try await driver.request(.get, "/api/v1/auth/verify-email?token=\(token)", ip: user.ip)
            #expect(again.status == .unauthorized)
            #expect(again.errorCode == "invalid_token")
            let missing = try await driver.request(.get, "/api/v1/auth/verify-email", ip: user.ip)
            #expect(missing.errorCode == "invalid_token")
        }
    }

    @Test("The outbox log line names the file and nothing secret")
    func outboxLogLine() async throws {
        let app = try AuthDriver.application()
        let logs = app.logs
        try await app.test { client in
            _ = try await AuthDriver(client: client, clock: app.clock).register(email: "fay@example.com", ip: "10.0.0.8")
        }
        let line = try #require(logs.lines.first { $0.contains("mail written to outbox") })
        #expect(line.contains("/outbox/") && line.contains(".eml"))
        #expect(!line.contains("token="))
    }
}

@Suite struct SecretsAtRestTests {
    @Test("No TOTP secret reaches the database file, its WAL, or the log in plaintext (raw or base32)")
    func totpSecretEncryptedAtRest() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = directory.appending("data/tradekeep.sqlite")
        // The test logger records every level, trace included (LogCapture).
        let app = try AuthDriver.application([
            Setting.dataDirectory.name: directory.appending("data").path, Setting.databaseURL.name: "sqlite:\(database.path)",
        ])
        let secrets = try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            var found: [[UInt8]] = []
            for index in 0..<3 {
                let user = try await driver.signUp(email: "rest\(index)@example.com")
                found.append(user.secret.withUnsafeBytes(Array.init))
            }
            return found
        }
        var files = Data()
        for suffix in ["", "-wal", "-shm"] {
            files.append((try? Data(contentsOf: URL(fileURLWithPath: database.path + suffix))) ?? Data())
        }
        #expect(files.count > 10_000)
        let log = Data(app.logs.text.utf8)
        #expect(log.count > 1000)
        for secret in secrets {
            #expect(files.range(of: Data(secret)) == nil, "raw TOTP secret in the database files")
            #expect(files.range(of: Data(Base32.encode(secret).utf8)) == nil, "base32 TOTP secret in the database files")
            #expect(log.range(of: Data(Base32.encode(secret).utf8)) == nil, "base32 TOTP secret in the log")
        }
    }

    @Test("A sealed secret copied onto another user's record does not decrypt there; one flipped bit does not either")
    func copiedCiphertextFails() async throws {
        let app = try AuthDriver.application()
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            let alice = try await driver.signUp()
            let bob = try await driver.signUp()
            let store = inside.auth.store
            let aliceRecord = try #require(try await store.user(id: UUID(uuidString: alice.userID)!))
            let bobRecord = try #require(try await store.user(id: UUID(uuidString: bob.userID)!))
            let sql = try inside.database.database(logger: Logger(label: "t")) as! any SQLDatabase
            struct Sealed: Codable {
                var ciphertext: Data
                var nonce: Data
                var wrappedKey: Data
            }
            let aliceSealed = try #require(
                try await sql.select().columns("ciphertext", "nonce", "wrapped_key").from("vault_secrets")
                    .where("id", .equal, aliceRecord.totpSecretID!).first(decoding: Sealed.self, keyDecodingStrategy: .convertFromSnakeCase)
            )
            try await sql.update("vault_secrets")
                .set("ciphertext", to: aliceSealed.ciphertext).set("nonce", to: aliceSealed.nonce).set("wrapped_key", to: aliceSealed.wrappedKey)
                .where("id", .equal, bobRecord.totpSecretID!).run()
            await #expect(throws: VaultError.decryptionFailed) {
                _ = try await store.secrets.withSecret(id: bobRecord.totpSecretID!, ownerID: bobRecord.id) { $0.count }
            }
            // Bob cannot sign in with Alice's codes (nor his own): his secret no longer opens.
            let mfa = try await driver.mfaToken(bob)
            let refused = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": driver.code(alice)], ip: bob.ip)
            #expect(refused.status == .internalServerError)

            var flipped = aliceSealed.ciphertext
            flipped[0] ^= 0x01
            try await sql.update("vault_secrets").set("ciphertext", to: flipped).where("id", .equal, aliceRecord.totpSecretID!).run()
            await #expect(throws: VaultError.decryptionFailed) {
                _ = try await store.secrets.withSecret(id: aliceRecord.totpSecretID!, ownerID: aliceRecord.id) { $0.count }
            }
        }
    }
}
