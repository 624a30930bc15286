// SPEC §6's coverage: every audited action is listed here with where it is shown to be recorded after the call that
// makes it. Most are driven in one scenario below through the HTTP API, each checked to appear in the signed log
// after its call; the rest need a fake exchange, an administrator or an engine scenario and are asserted by the tests
// named. A new action that is not listed fails `everyActionListed`.

import AuditLog
import Foundation
import HummingbirdTesting
import Testing

@testable import Server

@Suite struct AuditCoverageTests {
    /// Action → where it is shown: "scenario" (below), or the test that asserts its entry.
    static let coverage: [String: String] = [
        "auth.registered": "scenario", "auth.totp_enrolled": "scenario", "auth.login": "scenario", "auth.login_failed": "scenario",
        "auth.email_verified": "scenario", "auth.backup_codes": "scenario", "auth.session_revoked": "scenario",
        "auth.password_changed": "scenario", "auth.logout": "scenario",
        "bot.deployed": "scenario", "bot.params_changed": "scenario", "bot.started": "scenario", "bot.stopped": "scenario",
        "bot.killed": "scenario", "bot.deleted": "scenario", "bot.webhook_secret_regenerated": "scenario",
        "signal.received": "scenario", "order.placed": "scenario", "order.cancelled": "scenario", "account.kill_switch": "scenario",
        "auth.locked": "ServerTests/LoginTests/lockoutAcrossIPs", "auth.totp_replay": "ServerTests/LoginTests/wrongAndReplayedCodes",
        "auth.password_reset": "ServerTests/PasswordTests/resetFlow",
        "admin.user_locked": "ServerTests/AdminTests/adminActions", "admin.user_unlocked": "ServerTests/AdminTests/adminActions",
        "admin.trading_halted": "ServerTests/BotTests/adminHalt", "admin.trading_resumed": "ServerTests/BotTests/adminHalt",
        "credential.added": "ServerTests/CredentialLifecycleTests/lifecycle", "credential.rejected": "ServerTests/CredentialLifecycleTests/lifecycle",
        "credential.rotated": "ServerTests/CredentialLifecycleTests/lifecycle",
        "credential.deleted": "ServerTests/CredentialLifecycleTests/lifecycle",
        "bot.risk_stop": "BotsTests/EngineTests, ServerTests/BotTests/riskLimit", "bot.failed": "BotsTests/EngineTests",
        "order.filled": "BotsTests/EngineTests", "audit.exported": "ServerTests/AuditCoverageTests/operatorExport",
        "alert.raised": "ServerTests/AlertTests/rapidFireEndToEnd", "alert.delivered": "ServerTests/AlertTests/rapidFireEndToEnd",
        "alert.acknowledged": "ServerTests/AlertTests/rapidFireEndToEnd", "admin.anomaly_scan": "ServerTests/AlertTests/rapidFireEndToEnd",
        "alert.delivery_failed": "ServerTests/AlertTests/deliveryRetries", "credential.disabled": "ServerTests/KeyRecheckTests/dailyRecheck",
        "telegram.linked": "ServerTests/TelegramTests/linkStatusKill", "telegram.unlinked": "ServerTests/TelegramTests/linkStatusKill",
    ]

    @Test("Every action declared in AuditAction.swift is listed with where its entry is shown")
    func everyActionListed() throws {
        let source = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Sources/AuditLog/AuditAction.swift"),
            encoding: .utf8
        )
        let pattern = try NSRegularExpression(pattern: #"static let \w+: AuditAction = "([a-z_.]+)""#)
        let declared = Set(
            pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)).map { String(source[Range($0.range(at: 1), in: source)!]) }
        )
        #expect(declared.count >= 30)
        #expect(
            declared == Set(Self.coverage.keys),
            "unlisted: \(declared.subtracting(Self.coverage.keys)); stale: \(Set(Self.coverage.keys).subtracting(declared))"
        )
    }

    @Test("Each action of the scenario appears in the caller's signed log after the call that makes it; the export verifies")
    func scenario() async throws {
        // A calm paper market: the grid's levels are fixed at its first step, and a restart must find the price
        // still inside them to place orders (a random walk that left the range would leave it nothing to place).
        let calm = AuditTrailTests.settings.merging([Setting.paperVolatility.name: "0.00002"]) { _, new in new }
        try await BotTests.withSession(calm) { session, inside in
            let driver = session.driver
            let user = session.user
            var mark: UInt64? = nil
            var seen: Set<String> = []

            /// After `call`, the entries newer than the last step's include each of `actions`.
            func expectLogged(_ actions: [String], sourceLocation: SourceLocation = #_sourceLocation, _ call: () async throws -> Void) async throws {
                try await call()
                // Read inside (the API's general rate limit would refuse a poll loop); the API's list is checked below.
                let owner = try #require(UUID(uuidString: user.userID))
                var found: [(index: UInt64, action: String)] = []
                for _ in 0..<240 {
                    try await inside.auditLog.sequence()
                    found = try await inside.auditLog.page(owner: owner, before: nil, limit: 500, action: nil)
                        .filter { entry in mark.map { entry.index > $0 } ?? true }
                        .map { ($0.index, try AuditEntry(bytes: $0.entry).action) }
                    if Set(actions).isSubset(of: found.map(\.action)) { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                let names = Set(found.map(\.action))
                #expect(Set(actions).isSubset(of: names), "missing \(Set(actions).subtracting(names))", sourceLocation: sourceLocation)
                mark = found.map(\.index).max() ?? mark
                seen.formUnion(names)
            }

            try await expectLogged(["auth.registered", "auth.totp_enrolled", "auth.login"]) {}
            try await expectLogged(["auth.email_verified"]) { () async throws in
                let mail = try #require(AuthDriver.latestMail(to: user.email, containing: "verify-email?token=", in: inside.dataDirectory))
                let token = try #require(AuthDriver.token(in: mail, after: "verify-email?token="))
                #expect(try await driver.request(.get, "/api/v1/auth/verify-email?token=\(token)", ip: user.ip).status == .ok)
            }
            try await expectLogged(["auth.login_failed"]) { () async throws in
                #expect(
                    try await driver.post("/api/v1/auth/login", ["email": user.email, "password": "not the password"], ip: user.ip).status
                        == .unauthorized
                )
            }
            try await expectLogged(["auth.backup_codes"]) { () async throws in
                #expect(try await session.post("/api/v1/auth/backup-codes", ["totp_code": driver.code(user)]).status == .ok)
            }
            var grid = ""
            try await expectLogged(["bot.deployed"]) { () async throws in
                grid = try #require(try await session.post("/api/v1/bots", BotTests.gridBody()).json()["id"] as? String)
            }
            try await expectLogged(["bot.params_changed"]) { () async throws in
                let patched = try await driver.request(
                    .patch,
                    "/api/v1/bots/\(grid)",
                    json: ["params": ["range_pct": 3, "levels": 5, "quantity": 0.001]],
                    ip: user.ip,
                    token: session.token
                )
                #expect(patched.status == .ok)
            }
            try await expectLogged(["bot.started", "order.placed"]) { () async throws in
                #expect(try await session.post("/api/v1/bots/\(grid)/start").status == .ok)
            }
            try await expectLogged(["bot.stopped"]) { () async throws in
                #expect(try await session.post("/api/v1/bots/\(grid)/stop").status == .ok)
            }
            // A stopped grid keeps its resting orders: started again, it places only what fills since made room for.
            try await expectLogged(["bot.started"]) { () async throws in
                #expect(try await session.post("/api/v1/bots/\(grid)/start").status == .ok)
            }
            try await expectLogged(["bot.killed", "order.cancelled"]) { () async throws in
                #expect(try await session.post("/api/v1/bots/\(grid)/kill", [:]).status == .ok)
            }
            var signalBot = ""
            var secret = ""
            try await expectLogged(["bot.deployed", "bot.webhook_secret_regenerated", "bot.started"]) { () async throws in
                let created = try await session.post(
                    "/api/v1/bots",
                    ["name": "tv", "strategy": "signal", "venue": "paper", "symbol": "SOLUSDT", "params": ["quantity": 1]]
                )
                signalBot = try #require(try created.json()["id"] as? String)
                let regenerated = try await session.post("/api/v1/bots/\(signalBot)/webhook-secret", ["totp_code": driver.code(user)])
                secret = try #require(try regenerated.json()["webhook_secret"] as? String)
                #expect(try await session.post("/api/v1/bots/\(signalBot)/start").status == .ok)
            }
            try await expectLogged(["signal.received"]) { () async throws in
                let signal = try await driver.post("/api/v1/signals/\(signalBot)", ["action": "buy", "secret": secret, "id": "c1"], ip: "10.9.9.9")
                #expect(signal.status == .accepted)
            }
            try await expectLogged(["account.kill_switch"]) { () async throws in
                #expect(try await session.post("/api/v1/kill-switch", [:]).status == .ok)
            }
            try await expectLogged(["bot.deleted"]) { () async throws in
                #expect(try await driver.request(.delete, "/api/v1/bots/\(grid)", ip: user.ip, token: session.token).status == .noContent)
            }
            try await expectLogged(["auth.login", "auth.session_revoked"]) { () async throws in
                let other = try await driver.signIn(user)
                let list = try await driver.request(.get, "/api/v1/auth/sessions", ip: user.ip, token: other.accessToken)
                let sessions = try #require(try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [[String: Any]])
                let first = try #require(sessions.first { $0["current"] as? Bool == false }?["id"] as? String)
                #expect(
                    try await driver.request(.delete, "/api/v1/auth/sessions/\(first)", ip: user.ip, token: other.accessToken).status == .noContent
                )
                // The rest of the scenario goes on in the new session.
                let changed = try await driver.post(
                    "/api/v1/auth/password/change",
                    ["current_password": user.password, "new_password": "another long passphrase here", "totp_code": driver.code(user)],
                    ip: user.ip,
                    token: other.accessToken
                )
                #expect(changed.status == .noContent)
                #expect(try await driver.request(.post, "/api/v1/auth/logout", ip: user.ip, token: other.accessToken).status == .noContent)
            }
            // The last three were made in the new session, whose token is gone: read them inside.
            try await AuditTrailTests.publish(inside)
            let owner = try #require(UUID(uuidString: user.userID))
            let tail = try await inside.auditLog.page(owner: owner, before: nil, limit: 10, action: nil).map {
                try AuditEntry(bytes: $0.entry).action
            }
            seen.formUnion(tail)
            #expect(Set(["auth.password_changed", "auth.logout"]).isSubset(of: Set(tail)))

            let scripted = Set(Self.coverage.filter { $0.value == "scenario" }.keys)
            // The API's own list shows them too (newest first).
            let listed = try await inside.auditLog.page(owner: owner, before: nil, limit: 500, action: nil)
            #expect(listed.map(\.index) == listed.map(\.index).sorted(by: >))
            #expect(scripted.isSubset(of: seen), "not seen: \(scripted.subtracting(seen))")
            let export = try AuditExportVerifier.verify(
                try await inside.auditLog.exportJSON(owner: owner, checkpoint: try await inside.auditLog.published())
            )
            #expect(scripted.isSubset(of: Set(export.entries.map(\.entry.action))))
        }
    }

    @Test("tradekeep audit export --user: the operator's export verifies and is itself in the log, as operator:cli")
    func operatorExport() async throws {
        try await BotTests.withSession(AuditTrailTests.settings) { session, inside in
            let administration = AuditAdministration(database: inside.database, publisher: inside.auditLog, logger: inside.logger)
            let export = try AuditExportVerifier.verify(try await administration.export(email: session.user.email))
            let exported = try #require(export.entries.last)
            #expect(exported.entry.action == "audit.exported" && exported.entry.actor == "operator:cli")
            await #expect(throws: AuditAdministration.Mismatch.self) { try await administration.export(email: "nobody@example.com") }
        }
    }
}
