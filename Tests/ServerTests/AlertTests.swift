// Alerts end to end: API actions → audit entries → a scan → one stored alert, listed, mailed to the owner and the
// admins, audited; deduplication holds under concurrency; failed deliveries are retried and then given up; the
// routes refuse bad input and other users.

import Accounts
import AuditLog
import Foundation
import Guard
import Logging
import SQLKit
import Storage
import Synchronization
import Testing
import VenueFakes

@testable import Server

@Suite struct AlertTests {
    @Test("A grid bot placing more than 10 orders in 5 minutes raises one rapid-fire alert: listed, mailed to owner and admins, audited, once")
    func rapidFireEndToEnd() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        let outbox = app.prepared.configuration.dataDirectory
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let session = BotTests.Session(driver: driver, user: user, token: try await driver.signIn(user).accessToken)
            let admin = try await AdminTests.admin(driver, inside: inside)
            let adminToken = try await driver.signIn(admin).accessToken
            let created = try await session.post(
                "/api/v1/bots",
                [
                    "name": "busy", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT",
                    "params": ["range_pct": 10, "levels": 40, "quantity": 0.001],
                ]
            )
            let id = try #require(try created.json()["id"] as? String, "\(created.bodyString)")
            #expect(try await session.post("/api/v1/bots/\(id)/start").status == .ok)
            #expect(try await session.eventually { try await session.array("/api/v1/orders?status=open").count > 10 })

            // Entries younger than the scanner's settle time wait for the next scan: move past it.
            app.clock.advance(by: 5)
            let summary = try #require(try await inside.scanner.scan())
            #expect(summary.anomalies.map(\.kind).contains(.rapidFireTrading), "\(summary.anomalies)")
            // The same episode, scanned again (the bot keeps trading): no second alert within 30 minutes.
            app.clock.advance(by: 5)
            _ = try await inside.scanner.scan()

            let page = try await session.get("/api/v1/alerts").json()
            let alerts = try #require(page["alerts"] as? [[String: Any]])
            let rapid = alerts.filter { $0["kind"] as? String == "rapid_fire_trading" }
            #expect(rapid.count == 1, "\(alerts)")
            let alert = try #require(rapid.first)
            #expect(alert["user_id"] as? String == user.userID && alert["acknowledged_at"] == nil)
            #expect((alert["message"] as? String)?.contains("orders were placed") == true)

            // Mailed to the owner and, in parallel, to the admin; both deliveries audited.
            #expect(try await AuthDriver.awaitMail(to: user.email, containing: "Tradekeep alert: rapid fire trading", in: outbox) != nil)
            #expect(try await AuthDriver.awaitMail(to: admin.email, containing: "Tradekeep alert: rapid fire trading", in: outbox) != nil)
            let alertID = try #require(alert["id"] as? String)
            #expect(
                try await session.eventually {
                    try await inside.alerts.store.deliveries(alertID: UUID(uuidString: alertID)!).allSatisfy { $0.status == .delivered }
                }
            )
            let actions = try await BotTests.auditActions(inside)
            #expect(actions.filter { $0 == "alert.raised" }.count >= 1 && actions.filter { $0 == "alert.delivered" }.count >= 2)

            // The admin feed holds it; a user cannot read it, nor scan.
            #expect(try await session.get("/api/v1/admin/alerts").status == .forbidden)
            let feed = try await driver.request(
                .get,
                "/api/v1/admin/alerts",
                ip: admin.ip,
                token: adminToken,
                headers: [.xTOTPCode: driver.code(admin)]
            )
            #expect(feed.status == .ok)
            #expect((try feed.json()["alerts"] as? [[String: Any]])?.contains { $0["id"] as? String == alertID } == true)
            #expect(try await session.post("/api/v1/admin/anomaly/scan", ["totp_code": driver.code(user)]).status == .forbidden)
            app.clock.advance(by: 31)
            let scan = try await driver.post("/api/v1/admin/anomaly/scan", ["totp_code": driver.code(admin)], ip: admin.ip, token: adminToken)
            #expect(scan.status == .accepted, "\(scan.bodyString)")
            #expect(try await BotTests.auditActions(inside).contains("admin.anomaly_scan"))

            // Acknowledged by its owner only; the second time changes nothing.
            let stranger = try await driver.signUp()
            let strangerToken = try await driver.signIn(stranger).accessToken
            #expect(try await driver.post("/api/v1/alerts/\(alertID)/acknowledge", [:], ip: stranger.ip, token: strangerToken).status == .notFound)
            #expect(try await session.post("/api/v1/alerts/\(alertID)/acknowledge").status == .noContent)
            #expect(try await session.post("/api/v1/alerts/\(alertID)/acknowledge").status == .noContent)
            let acknowledged = try await session.get("/api/v1/alerts").json()["alerts"] as? [[String: Any]]
            #expect(acknowledged?.first { $0["id"] as? String == alertID }?["acknowledged_at"] is String)
            #expect(try await BotTests.auditActions(inside).filter { $0 == "alert.acknowledged" }.count == 1)
            #expect(
                (try await driver.request(.get, "/api/v1/alerts", ip: stranger.ip, token: strangerToken).json()["alerts"] as? [Any])?.isEmpty == true
            )
        }
    }

    @Test(
        "Every rule end to end, from API actions to a stored alert: new IP, TOTP replay, credential stuffing (one IP, one account), rejected keys, a bot stopped by a risk limit"
    )
    func everyRuleEndToEnd() async throws {
        let fake = FakeOKX()
        try await VenueHarness.live(fake.router()) { url in
            let settings = BotTests.settings.merging(VenueHarness.settings(.okx, url)) { _, new in new }
                .merging([Setting.rateLimitLogin.name: "1000"]) { _, new in new }
            let app = try AuthDriver.application(settings)
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let session = BotTests.Session(driver: driver, user: user, token: try await driver.signIn(user).accessToken)
                let id = try #require(UUID(uuidString: user.userID))

                // Rejected keys: three keys that can withdraw.
                for _ in 0..<3 {
                    let key = CredentialLifecycleTests.okxKey(perm: "read_only,trade,withdraw")
                    fake.addKey(key)
                    var body = CredentialLifecycleTests.submission(key)
                    body["totp_code"] = driver.code(user)
                    #expect(try await session.post("/api/v1/credentials", body).status == .unprocessableContent)
                }
                // A bot stopped by its risk limit.
                let created = try await session.post(
                    "/api/v1/bots",
                    [
                        "name": "risky", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT",
                        "params": ["range_pct": 5, "levels": 11, "quantity": 0.001, "risk": ["max_orders_per_minute": 3]],
                    ]
                )
                let botID = try #require(try created.json()["id"] as? String)
                _ = try await session.post("/api/v1/bots/\(botID)/start")
                #expect(try await session.eventually { try await BotTests.auditActions(inside).contains("bot.risk_stop") })

                // New IP: a sign-in from an address the account never used.
                let fromElsewhere = TestUser(
                    email: user.email,
                    password: user.password,
                    userID: user.userID,
                    secret: user.secret,
                    backupCodes: [],
                    ip: "10.99.0.7"
                )
                _ = try await driver.signIn(fromElsewhere)
                // TOTP replay: the code just used, presented again.
                let usedAt = app.clock.now.addingTimeInterval(-30)
                let replayed = TOTP.standard.code(secret: user.secret, at: usedAt)
                let mfa = try await driver.mfaToken(user)
                let replay = try await driver.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": replayed], ip: user.ip)
                #expect(replay.status == .unauthorized, "\(replay.bodyString)")
                // Stuffing on one account: wrong passwords from five addresses. From one address: five unknown emails.
                for index in 0..<5 {
                    _ = try await driver.post(
                        "/api/v1/auth/login",
                        ["email": user.email, "password": "wrong password \(index)"],
                        ip: "10.98.0.\(index)"
                    )
                    _ = try await driver.post(
                        "/api/v1/auth/login",
                        ["email": "nobody\(index)@example.com", "password": "whatever it is"],
                        ip: "10.97.0.1"
                    )
                }
                app.clock.advance(by: 5)
                let summary = try #require(try await inside.scanner.scan())
                let kinds = Set(summary.anomalies.map(\.kind))
                #expect(kinds.isSuperset(of: [.newIPAddress, .totpReplay, .credentialStuffing, .repeatedRejectedKeys, .botStopped]), "\(kinds)")
                let stored = try #require(try await inside.alerts.store.alerts(userID: nil, limit: 100))
                let mine = Set(stored.filter { $0.userID == id }.map(\.kind))
                #expect(
                    mine.isSuperset(of: ["new_ip_address", "totp_replay", "credential_stuffing", "repeated_rejected_keys", "bot_stopped"]),
                    "\(mine)"
                )
                #expect(stored.contains { $0.userID == nil && $0.kind == "credential_stuffing" && $0.subject == "ip:10.97.0.1" })
                #expect(stored.first { $0.kind == "new_ip_address" }?.details["ip"] == "10.99.0.7")
            }
        }
    }

    @Test("Paging and bad input: limit out of range and a malformed cursor are 400, another user's cursor is 404")
    func paging() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            let id = try #require(UUID(uuidString: user.userID))
            let now = app.clock.now
            // Five alerts of one scan share a time: paging must still return each exactly once.
            for index in 0..<5 {
                let anomaly = Anomaly(
                    kind: .totpReplay,
                    userID: id,
                    subject: "\(user.userID)-\(index)",
                    message: "m\(index)",
                    details: [:],
                    time: now
                )
                #expect(try await inside.alerts.store.raise(anomaly, recipients: [], dedupWindow: 1_800, now: now) != nil)
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await driver.request(
                    .get,
                    "/api/v1/alerts?limit=2" + (cursor.map { "&before=\($0)" } ?? ""),
                    ip: user.ip,
                    token: token
                )
                #expect(page.status == .ok)
                let body = try page.json()
                seen += (body["alerts"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
                cursor = body["next"] as? String
            } while cursor != nil && seen.count < 10
            #expect(seen.sorted() == ["m0", "m1", "m2", "m3", "m4"])
            // The live poll's read: newer than a cursor, oldest first, each once even at one time; another user's
            // cursor reads nothing.
            let newestFirst = try #require(try await inside.alerts.store.alerts(userID: id, limit: 5))
            var forward: [String] = []
            var after = newestFirst.last!.id
            while true {
                let page = try await inside.alerts.store.alerts(userID: id, after: after, limit: 2)
                guard let last = page.last else { break }
                forward += page.map(\.message)
                after = last.id
            }
            #expect(forward == newestFirst.dropLast().reversed().map(\.message))
            #expect(try await inside.alerts.store.alerts(userID: UUID(), after: newestFirst.last!.id, limit: 5).isEmpty)
            for bad in ["limit=0", "limit=201", "limit=x", "before=nope"] {
                let answer = try await driver.request(.get, "/api/v1/alerts?\(bad)", ip: user.ip, token: token)
                #expect(answer.status == .badRequest && answer.errorCode == "bad_request", "\(bad): \(answer.status)")
            }
            let other = try await driver.signUp()
            let otherToken = try await driver.signIn(other).accessToken
            let mine = try #require(try await inside.alerts.store.alerts(userID: id, limit: 1)?.first)
            let foreign = try await driver.request(.get, "/api/v1/alerts?before=\(mine.id.apiString)", ip: other.ip, token: otherToken)
            #expect(foreign.status == .notFound)
            #expect(try await driver.post("/api/v1/alerts/not-a-uuid/acknowledge", [:], ip: user.ip, token: token).status == .notFound)
        }
    }

    @Test("Twenty scanners and reporters racing on one episode store one alert; parallel scans report each episode once")
    func dedupUnderConcurrency() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let id = try #require(UUID(uuidString: user.userID))
            let now = app.clock.now
            let store = inside.alerts.store
            let anomaly = Anomaly(kind: .rapidFireTrading, userID: id, subject: user.userID, message: "burst", details: [:], time: now)
            let stored = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 { group.addTask { try await store.raise(anomaly, recipients: [], dedupWindow: 1_800, now: now) != nil } }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(stored == 1)
            // Within the window: none; after it: a new alert.
            #expect(try await store.raise(anomaly, recipients: [], dedupWindow: 1_800, now: now.addingTimeInterval(1_799)) == nil)
            #expect(try await store.raise(anomaly, recipients: [], dedupWindow: 1_800, now: now.addingTimeInterval(1_801)) != nil)

            // The scan lease: a second server is refused while one scans, and takes over a lease left by a dead one.
            let nested = try await store.withExclusiveScan(now: now) { try await store.withExclusiveScan(now: now) { 1 } }
            #expect(nested == .some(nil))
            let takeover = try await store.withExclusiveScan(now: now) {
                try await store.withExclusiveScan(now: now.addingTimeInterval(AlertStore.scanLease + 1)) { 1 }
            }
            #expect(takeover == .some(1))
            #expect(try await store.withExclusiveScan(now: now) { 2 } == 2)

            // Replays recorded through the sink, then five scans at once: one alert for the episode.
            let sink = DatabaseAuditSink(database: inside.database, logger: Logger(label: "test"))
            for _ in 0..<3 {
                try await sink.record(AuditEvent(.totpReplay, user: id, client: ClientInfo(ip: "10.77.0.1", userAgent: nil), at: now))
            }
            app.clock.advance(by: 5)
            let scanner = inside.scanner
            let summaries = try await withThrowingTaskGroup(of: ScanSummary?.self) { group in
                for _ in 0..<5 { group.addTask { try await scanner.scan() } }
                return try await group.reduce(into: [ScanSummary?]()) { $0.append($1) }
            }
            #expect(summaries.compactMap { $0 }.count >= 1)
            let replays = try await store.alerts(userID: id, limit: 50)?.filter { $0.kind == "totp_replay" }
            #expect(replays?.count == 1)
        }
    }

    /// A mailer that fails until told otherwise, counting its calls.
    final class FlakyMailer: Mailer, Sendable {
        let failing = Mutex(true)
        let sent = Mutex([MailMessage]())

        func send(_ message: MailMessage) async throws {
            if self.failing.withLock({ $0 }) { throw Down() }
            self.sent.withLock { $0.append(message) }
        }

        struct Down: Error, CustomStringConvertible {
            var description: String { "connection refused" }
        }
    }

    @Test("A channel that is down: the delivery is retried with backoff and delivered once it is back; given up after the last attempt")
    func deliveryRetries() async throws {
        // A database of its own, with no running server whose delivery worker could take the delivery first.
        let database = try TradekeepDatabase(location: .sqliteMemory)
        let logger = Logger(label: "test")
        try await database.migrate(logger: logger)
        do {
            let store = AlertStore(database: database, logger: logger)
            let user = (userID: UUID().uuidString.lowercased(), email: "owner@example.com")
            let id = try #require(UUID(uuidString: user.userID))
            let mailer = FlakyMailer()
            let clock = TestClock()
            var policy = AlertDeliveryPolicy()
            policy.retries.attempts = 3
            let alerts = AlertService(store: store, mailer: mailer, policy: policy, logger: logger, now: { clock.now })
            let now = clock.now
            let anomaly = Anomaly(kind: .totpReplay, userID: id, subject: "retry-\(user.userID)", message: "replayed", details: [:], time: now)
            let alert = try #require(
                try await store.raise(
                    anomaly,
                    recipients: [AlertRecipient(channel: .email, recipient: user.email)],
                    dedupWindow: 1_800,
                    now: now
                )
            )
            #expect(try await alerts.deliverDue() == 1)
            var delivery = try #require(try await store.deliveries(alertID: alert.id).first)
            #expect(delivery.status == .pending && delivery.attempts == 1 && delivery.lastError == "connection refused")
            // Not due again before its backoff (30 s).
            #expect(try await alerts.deliverDue() == 0)
            clock.advance(by: 31)
            mailer.failing.withLock { $0 = false }
            #expect(try await alerts.deliverDue() == 1)
            delivery = try #require(try await store.deliveries(alertID: alert.id).first)
            #expect(delivery.status == .delivered && delivery.attempts == 2)
            #expect(mailer.sent.withLock { $0.map(\.to) } == [user.email])

            // Down for good: three attempts, then failed and audited.
            mailer.failing.withLock { $0 = true }
            let second = Anomaly(kind: .totpReplay, userID: id, subject: "giveup-\(user.userID)", message: "replayed", details: [:], time: clock.now)
            let doomed = try #require(
                try await store.raise(
                    second,
                    recipients: [AlertRecipient(channel: .email, recipient: user.email)],
                    dedupWindow: 1_800,
                    now: clock.now
                )
            )
            for _ in 0..<3 {
                _ = try await alerts.deliverDue()
                clock.advance(by: 3_600)
            }
            let failed = try #require(try await store.deliveries(alertID: doomed.id).first)
            #expect(failed.status == .failed && failed.attempts == 3)
            #expect(try await alerts.deliverDue() == 0)
            let actions = try await database.sql(logger: logger).select().column("action").from("audit_events").all()
                .map { try $0.decode(column: "action", as: String.self) }
            #expect(actions.contains("alert.delivery_failed") && actions.contains("alert.delivered"))
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
    }
}
