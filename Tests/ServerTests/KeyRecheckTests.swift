// Stored keys re-checked with the (fake) venue: a key that gains a withdrawal right, loses its IP lock or is revoked
// at the exchange after it was stored is disabled within one re-check, its bots are stopped, its owner is alerted,
// and it is never used again; the same check runs before a bot using it starts.

import AuditLog
import Foundation
import Testing
import VenueFakes
import Venues

@testable import Server

@Suite struct KeyRecheckTests {
    enum Change: String, CaseIterable, Sendable {
        case withdrawalAdded, ipLockRemoved, revoked

        func apply(to key: BybitKey, at fake: FakeBybit) {
            var changed = key
            switch self {
            case .withdrawalAdded: changed.permissions["Wallet"] = ["Withdraw"]
            case .ipLockRemoved: changed.ips = ["*"]
            case .revoked:
                fake.removeKey(apiKey: key.apiKey)
                return
            }
            fake.addKey(changed)
        }
    }

    struct Setup {
        let session: BotTests.Session
        let credentialID: String
        let botID: String
    }

    /// A trade-only, IP-locked Bybit key stored through the API, and a running signal bot that trades with it.
    static func withKeyAndBot(_ body: @Sendable (FakeBybit, BybitKey, Setup, TestApplication, Inside) async throws -> Void) async throws {
        try await VenueHarness.withBybitKey { fake, key, app in
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let session = BotTests.Session(driver: driver, user: user, token: try await driver.signIn(user).accessToken)
                let stored = try await session.post(
                    "/api/v1/credentials",
                    ["venue": "bybit", "label": "main", "api_key": key.apiKey, "api_secret": key.secret, "totp_code": driver.code(user)]
                )
                let credentialID = try #require(try stored.json()["id"] as? String, "\(stored.bodyString)")
                #expect(try stored.json()["status"] as? String == "active")
                let bot = try await session.post(
                    "/api/v1/bots",
                    [
                        "name": "s", "strategy": "signal", "venue": "bybit", "credential_id": credentialID, "symbol": "BTCUSDT",
                        "params": ["quantity": 0.001],
                    ]
                )
                let botID = try #require(try bot.json()["id"] as? String, "\(bot.bodyString)")
                let started = try await session.post("/api/v1/bots/\(botID)/start")
                #expect(started.status == .ok, "\(started.bodyString)")
                try await body(fake, key, Setup(session: session, credentialID: credentialID, botID: botID), app, inside)
            }
        }
    }

    @Test(
        "A key changed at the exchange after it was stored is disabled by the next daily re-check; its bots stop; its owner is alerted",
        arguments: Change.allCases
    )
    func dailyRecheck(change: Change) async throws {
        try await Self.withKeyAndBot { fake, key, setup, app, inside in
            var session = setup.session
            // Days pass in this test: sign in again after each jump (access tokens expire).
            func signedIn() async throws -> BotTests.Session {
                BotTests.Session(driver: session.driver, user: session.user, token: try await session.driver.signIn(session.user).accessToken)
            }
            let rechecker = KeyRechecker(credentials: inside.credentials, now: { app.clock.now }, logger: inside.logger)
            // Not due yet: nothing is asked.
            #expect(try await rechecker.runOnce().isEmpty)
            // A day later, unchanged: confirmed, and still in use.
            app.clock.advance(by: 86_400 + 60)
            #expect(try await rechecker.runOnce() == [.confirmed])
            session = try await signedIn()
            #expect(try await session.get("/api/v1/credentials/\(setup.credentialID)").json()["checked_at"] is String)

            change.apply(to: key, at: fake)
            app.clock.advance(by: 86_400 + 60)
            let results = try await rechecker.runOnce()
            guard case .disabled(let reason)? = results.first, results.count == 1 else {
                Issue.record("not disabled: \(results)")
                return
            }
            session = try await signedIn()
            let credential = try await session.get("/api/v1/credentials/\(setup.credentialID)").json()
            #expect(credential["status"] as? String == "disabled")
            #expect(credential["disabled_reason"] as? String == reason)
            let bot = try await session.get("/api/v1/bots/\(setup.botID)").json()
            // A revoked key may fail the bot's own next step first (then it is `failed`, with that reason): either
            // way it no longer runs.
            if change == .revoked, bot["status"] as? String == "failed" {
                #expect(bot["status_reason"] is String)
            } else {
                #expect(bot["status"] as? String == "stopped", "\(bot)")
                #expect((bot["status_reason"] as? String)?.contains("exchange key was disabled") == true)
            }
            // Alerted, with what to fix; audited.
            let alerts = try await session.get("/api/v1/alerts").json()["alerts"] as? [[String: Any]] ?? []
            let alert = try #require(alerts.first { $0["kind"] as? String == "key_disabled" }, "\(alerts)")
            #expect((alert["message"] as? String)?.contains(reason) == true)
            #expect(try await BotTests.auditActions(inside).contains("credential.disabled"))
            // Never used again: the bot cannot start, a second re-check finds nothing due.
            let restart = try await session.post("/api/v1/bots/\(setup.botID)/start")
            #expect(restart.status == .conflict && restart.errorCode == "credential_disabled", "\(restart.bodyString)")
            #expect(try await rechecker.runOnce().isEmpty)
            switch change {
            case .withdrawalAdded: #expect(reason.lowercased().contains("withdraw"), "\(reason)")
            case .ipLockRemoved: #expect(reason.contains("IP"), "\(reason)")
            case .revoked: #expect(reason.contains("no longer accepts this key"), "\(reason)")
            }
        }
    }

    @Test("Before a bot starts, its key is re-checked: a key that gained a withdrawal right is disabled and the start refused")
    func checkedBeforeStart() async throws {
        try await Self.withKeyAndBot { fake, key, setup, app, inside in
            let session = setup.session
            #expect(try await session.post("/api/v1/bots/\(setup.botID)/stop").status == .ok)
            Change.withdrawalAdded.apply(to: key, at: fake)
            let refused = try await session.post("/api/v1/bots/\(setup.botID)/start")
            #expect(refused.status == .conflict && refused.errorCode == "credential_disabled", "\(refused.bodyString)")
            #expect(try await session.get("/api/v1/bots/\(setup.botID)").json()["status"] as? String == "stopped")
            #expect(try await session.get("/api/v1/credentials/\(setup.credentialID)").json()["status"] as? String == "disabled")
            // Rotating to a good key passes the checks again and enables it.
            let fresh = BybitKey(
                apiKey: VenueHarness.randomText(18),
                secret: VenueHarness.randomText(36),
                readOnly: 0,
                permissions: BybitKey.tradeOnlyPermissions,
                ips: ["127.0.0.1"]
            )
            fake.addKey(fresh)
            let rotated = try await session.post(
                "/api/v1/credentials/\(setup.credentialID)/rotate",
                ["api_key": fresh.apiKey, "api_secret": fresh.secret, "totp_code": session.driver.code(session.user)]
            )
            #expect(rotated.status == .ok, "\(rotated.bodyString)")
            #expect(try rotated.json()["status"] as? String == "active")
            #expect(try await session.post("/api/v1/bots/\(setup.botID)/start").status == .ok)
        }
    }

    /// The races a re-check can lose to a start: its stop pass runs before the start commits (the bot then runs with
    /// a key disabled under it), or the start's own check passed before the key changed. Neither leaves the bot
    /// running with a disabled key.
    @Test("A bot whose key is disabled under it stops at its next step; a start after the disable is refused by the store itself")
    func disabledUnderAStart() async throws {
        try await Self.withKeyAndBot { _, _, setup, app, inside in
            let session = setup.session
            let credentialID = try #require(UUID(uuidString: setup.credentialID))
            let botID = try #require(UUID(uuidString: setup.botID))
            let owner = try #require(UUID(uuidString: session.user.userID))
            // Running, and its key disabled without the stop pass (it ran before this bot's start committed).
            let reason = "Bybit now reports a withdrawal permission on this key."
            let event = AuditEvent(.credentialDisabled, user: owner, client: .engine, ["credential_id": setup.credentialID], at: app.clock.now)
            #expect(try await inside.credentialStore.disable(id: credentialID, userID: owner, reason: reason, at: app.clock.now, audit: event))
            inside.bots.engine.forgetKeys(credentialID: credentialID)
            var bot: [String: Any] = [:]
            #expect(
                try await session.eventually {
                    bot = try await session.get("/api/v1/bots/\(setup.botID)").json()
                    return bot["status"] as? String != "running"
                }
            )
            #expect(bot["status"] as? String == "failed", "\(bot)")
            #expect((bot["status_reason"] as? String)?.contains("exchange key was disabled. \(reason)") == true, "\(bot)")
            // A start that passed its check before the key was disabled: the store refuses it in its transaction.
            let started = AuditEvent(.botStarted, user: owner, client: .engine, ["bot_id": setup.botID], at: app.clock.now)
            #expect(try await inside.botStore.start(id: botID, userID: owner, runningLimit: 100, audit: started) == .credentialDisabled(reason))
            #expect(try await session.get("/api/v1/bots/\(setup.botID)").json()["status"] as? String == "failed")
        }
    }

    @Test("A start racing the re-check that disables its key: whichever wins, the bot does not stay running (6 rounds)")
    func startRacesRecheck() async throws {
        for round in 0..<6 {
            try await Self.withKeyAndBot { fake, key, setup, app, inside in
                #expect(try await setup.session.post("/api/v1/bots/\(setup.botID)/stop").status == .ok)
                let rechecker = KeyRechecker(credentials: inside.credentials, now: { app.clock.now }, logger: inside.logger)
                // A day later (the key is due), signed in again (access tokens expire).
                app.clock.advance(by: 86_400 + 60)
                let driver = setup.session.driver
                let session = BotTests.Session(
                    driver: driver,
                    user: setup.session.user,
                    token: try await driver.signIn(setup.session.user).accessToken
                )
                Change.withdrawalAdded.apply(to: key, at: fake)
                async let start = session.post("/api/v1/bots/\(setup.botID)/start")
                async let recheck = rechecker.runOnce()
                let (answer, results) = try await (start, recheck)
                #expect(results.allSatisfy { if case .disabled = $0 { true } else { false } }, "round \(round): \(results)")
                var bot: [String: Any] = [:]
                #expect(
                    try await session.eventually {
                        bot = try await session.get("/api/v1/bots/\(setup.botID)").json()
                        return bot["status"] as? String != "running"
                    },
                    "round \(round): \(bot)"
                )
                if answer.status == .ok {
                    // The start went first: the bot was stopped for the key (by the re-check or by its next step).
                    #expect((bot["status_reason"] as? String)?.contains("exchange key was disabled") == true, "round \(round): \(bot)")
                } else {
                    // The start saw the key disabled: refused, nothing started.
                    #expect(answer.errorCode == "credential_disabled", "round \(round): \(answer.bodyString)")
                    #expect(bot["status"] as? String == "stopped", "round \(round): \(bot)")
                }
                #expect(try await session.get("/api/v1/credentials/\(setup.credentialID)").json()["status"] as? String == "disabled")
            }
        }
    }
}
