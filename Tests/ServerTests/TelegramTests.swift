// Telegram against a local fake of the Bot API: linking with a single-use code; /status; /kill only from a linked
// chat and only with a current, unused TOTP code as the next message; alerts delivered to the linked chat, and
// retried while Telegram is down without touching the API's answers.

import Accounts
import AuditLog
import Foundation
import Guard
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Server

@Suite struct TelegramTests {
    static func withTelegram(
        _ extra: [String: String] = [:],
        _ body: @Sendable (FakeTelegram, BotTests.Session, TestApplication, Inside) async throws -> Void
    ) async throws {
        let fake = FakeTelegram()
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(
                BotTests.settings.merging([Setting.telegramBotToken.name: fake.token, Setting.telegramAPIURL.name: url]) { _, new in new }
                    .merging(extra) { _, new in new }
            )
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let session = BotTests.Session(driver: driver, user: user, token: try await driver.signIn(user).accessToken)
                try await body(fake, session, app, inside)
            }
        }
    }

    /// One update posted to the webhook as Telegram does, with `secret` as its secret token (nil: none).
    static func postUpdate(
        _ driver: AuthDriver,
        id: Int,
        chat: Int64,
        _ text: String,
        secret: String?,
        ip: String = "149.154.167.200"
    ) async throws -> TestResponse {
        let update: [String: Any] = [
            "update_id": id, "message": ["message_id": id, "date": 0, "chat": ["id": chat, "type": "private"], "text": text],
        ]
        var headers = HTTPFields()
        if let secret { headers[HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!] = secret }
        return try await driver.request(.post, "/api/v1/telegram/webhook", json: update, ip: ip, headers: headers)
    }

    @Test("Link with a single-use code; /status; /kill needs a current code as the next message; an unlinked chat can do nothing")
    func linkStatusKill() async throws {
        try await Self.withTelegram { fake, session, app, inside in
            let created = try await session.post("/api/v1/bots", BotTests.gridBody("tg"))
            let botID = try #require(try created.json()["id"] as? String)
            #expect(try await session.post("/api/v1/bots/\(botID)/start").status == .ok)
            #expect(try await session.eventually { try await session.array("/api/v1/orders?status=open").count >= 2 })

            let linked = try await session.post("/api/v1/notifications/telegram/link")
            #expect(linked.status == .ok, "\(linked.bodyString)")
            let code = try #require(try linked.json()["link_code"] as? String)
            #expect(try linked.json()["expires_in"] as? Int == 600)

            // A stranger's chat: nothing works, not even a valid-looking code after /kill.
            #expect(try await fake.ask("/status", in: 999).contains("not linked"))
            #expect(try await fake.ask("/kill", in: 999).contains("not linked"))
            let strangerCode = TOTP.standard.code(secret: session.user.secret, at: app.clock.now)
            #expect(try await fake.ask(strangerCode, in: 999).contains("not linked"))
            #expect(try await session.array("/api/v1/orders?status=open").count >= 2)

            #expect(try await fake.ask("/start \(code)", in: 42).hasPrefix("Linked"))
            #expect(try await fake.ask("/start \(code)", in: 43).contains("already used"))
            #expect(try await BotTests.auditActions(inside).contains("telegram.linked"))

            let status = try await fake.ask("/status", in: 42)
            #expect(status.contains("tg (grid, BTCUSDT): running") && status.contains("Open orders:"), "\(status)")

            // /kill, then anything but a code: nothing happens.
            #expect(try await fake.ask("/kill", in: 42).contains("6-digit code"))
            #expect(try await fake.ask("yes please", in: 42).hasPrefix("Nothing was done"))
            #expect(try await session.array("/api/v1/orders?status=open").count >= 2)
            // /kill with a wrong code: nothing happens.
            #expect(try await fake.ask("/kill", in: 42).contains("6-digit code"))
            #expect(try await fake.ask("000000", in: 42).contains("not accepted"))
            #expect(try await session.array("/api/v1/orders?status=open").count >= 2)

            // /kill with the current code: every bot stops, every open order is cancelled.
            app.clock.advance(by: 30)
            let current = TOTP.standard.code(secret: session.user.secret, at: app.clock.now)
            #expect(try await fake.ask("/kill", in: 42).contains("6-digit code"))
            let killed = try await fake.ask(current, in: 42)
            #expect(killed.hasPrefix("Kill switch done"), "\(killed)")
            #expect(try await session.array("/api/v1/orders?status=open").isEmpty)
            #expect(try await session.get("/api/v1/bots/\(botID)").json()["status"] as? String == "killed")
            #expect(try await BotTests.auditActions(inside).contains("account.kill_switch"))

            // The same code again (a replay): refused, and the restarted bot keeps its orders.
            #expect(try await session.post("/api/v1/bots/\(botID)/start").status == .ok)
            #expect(try await session.eventually { try await session.array("/api/v1/orders?status=open").count >= 2 })
            #expect(try await fake.ask("/kill", in: 42).contains("6-digit code"))
            #expect(try await fake.ask(current, in: 42).contains("not accepted"))
            #expect(try await session.array("/api/v1/orders?status=open").count >= 2)

            #expect(try await fake.ask("/unlink", in: 42).hasPrefix("Unlinked"))
            #expect(try await fake.ask("/status", in: 42).contains("not linked"))
            #expect(try await BotTests.auditActions(inside).contains("telegram.unlinked"))
        }
    }

    @Test("Alerts go to the linked chat; while Telegram is down the API answers as usual and the delivery is retried")
    func alertsAndOutage() async throws {
        try await Self.withTelegram { fake, session, app, inside in
            let code = try #require(try await session.post("/api/v1/notifications/telegram/link").json()["link_code"] as? String)
            #expect(try await fake.ask("/start \(code)", in: 77).hasPrefix("Linked"))
            let id = try #require(UUID(uuidString: session.user.userID))
            let first = Anomaly(
                kind: .totpReplay,
                userID: id,
                subject: "tg-\(id)",
                message: "A code was used twice.",
                details: [:],
                time: app.clock.now
            )
            #expect(try await inside.alerts.report([first], now: app.clock.now) == 1)
            #expect(try await fake.reply(in: 77, after: 1).contains("Tradekeep alert: A code was used twice."))

            fake.down = true
            app.clock.advance(by: 1)
            let second = Anomaly(kind: .newIPAddress, userID: id, subject: "tg2-\(id)", message: "A new address.", details: [:], time: app.clock.now)
            #expect(try await inside.alerts.report([second], now: app.clock.now) == 1)
            let alert = try #require(try await inside.alerts.store.alerts(userID: id, limit: 1)?.first)
            #expect(alert.kind == "new_ip_address")
            #expect(
                try await session.eventually(30) {
                    try await inside.alerts.store.deliveries(alertID: alert.id).contains { $0.channel == .telegram && $0.attempts >= 1 }
                }
            )
            let failed = try #require(try await inside.alerts.store.deliveries(alertID: alert.id).first { $0.channel == .telegram })
            #expect(failed.status == .pending && failed.lastError?.contains("Telegram sendMessage failed") == true)
            #expect(failed.lastError?.contains(fake.token) == false)
            // The API is not held up.
            #expect(try await session.get("/api/v1/bots").status == .ok)
            #expect(try await session.get("/api/v1/alerts").status == .ok)

            fake.down = false
            app.clock.advance(by: 31)
            _ = try await inside.alerts.deliverDue()
            #expect(try await inside.alerts.store.deliveries(alertID: alert.id).first { $0.channel == .telegram }?.status == .delivered)
            #expect(fake.sent.contains { $0.chat == 77 && $0.text.contains("A new address.") })
        }
    }

    @Test("The dashboard's alerts page lists alerts, acknowledges one with its form, and links a Telegram chat")
    func alertsPage() async throws {
        try await Self.withTelegram { fake, session, app, inside in
            let driver = session.driver
            let user = session.user
            let id = try #require(UUID(uuidString: user.userID))
            let anomaly = Anomaly(
                kind: .totpReplay,
                userID: id,
                subject: "page-\(id)",
                message: "A code was used twice.",
                details: [:],
                time: app.clock.now
            )
            #expect(try await inside.alerts.report([anomaly], now: app.clock.now) == 1)
            let alert = try #require(try await inside.alerts.store.alerts(userID: id, limit: 1)?.first)

            let pages = PageDriver(client: driver.client, configuration: app.prepared.configuration, ip: user.ip)
            let login = try await pages.get("/login")
            let step = try await pages.post("/login", ["email": user.email, "password": user.password], csrf: PageDriver.csrf(login.bodyString))
            let mfa = try #require(PageDriver.field("mfa_token", in: step.bodyString))
            _ = try await pages.post("/login/code", ["mfa_token": mfa, "code": driver.code(user)], csrf: PageDriver.csrf(step.bodyString))
            try #require(pages.hasSession, "no page session: \(step.status) \(step.bodyString.prefix(300))")
            let page = try await pages.get("/alerts")
            #expect(
                page.status == .ok && page.bodyString.contains("A code was used twice.") && page.bodyString.contains("not linked"),
                "\(page.status) \(page.headers) \(page.bodyString.prefix(500))"
            )
            let form = try #require(PageDriver.csrf(page.bodyString))
            let acknowledged = try await pages.post("/alerts/\(alert.id.apiString)/acknowledge", [:], csrf: form)
            #expect(acknowledged.status == .ok && acknowledged.bodyString.contains("Acknowledged."))
            #expect(try await inside.alerts.store.alert(id: alert.id)?.acknowledgedAt != nil)
            // A forged form token changes nothing.
            let linkRefused = try await pages.post("/alerts/telegram", [:], csrf: "forged")
            #expect(linkRefused.status == .forbidden)
            let linked = try await pages.post("/alerts/telegram", [:], csrf: form)
            let command = try #require(linked.bodyString.firstMatch(of: #/<code id="telegram-command">(/start [A-Z0-9]+)</code>/#)).output.1
            #expect(try await fake.ask(String(command), in: 64).hasPrefix("Linked"))
            #expect(try await pages.get("/alerts").bodyString.contains("Telegram: linked"))
        }
    }

    @Test("Webhook mode: nothing polls; an update is handled only with the right secret token; without the setting the route is 404")
    func webhook() async throws {
        let fake = FakeTelegram()
        let secret = "hook-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application([
                Setting.telegramBotToken.name: fake.token, Setting.telegramAPIURL.name: url, Setting.telegramWebhookSecret.name: secret,
            ])
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                let code = try #require(
                    try await driver.post("/api/v1/notifications/telegram/link", [:], ip: user.ip, token: token).json()["link_code"] as? String
                )
                for wrong in [nil, "not-the-secret", secret + "x"] {
                    let refused = try await Self.postUpdate(driver, id: 1, chat: 808, "/start \(code)", secret: wrong)
                    #expect(refused.status == .unauthorized, "\(refused.bodyString)")
                }
                #expect(try await BotTests.auditActions(inside).contains("telegram.linked") == false)
                let accepted = try await Self.postUpdate(driver, id: 1, chat: 808, "/start \(code)", secret: secret)
                #expect(accepted.status == .ok)
                #expect(try await fake.reply(in: 808, after: 0).hasPrefix("Linked"))
                #expect(try await BotTests.auditActions(inside).contains("telegram.linked"))
                #expect(fake.polls == 0, "webhook mode never polls")
            }
        }
        try await BotTests.withSession { session, _ in
            let answer = try await session.driver.request(.post, "/api/v1/telegram/webhook", json: ["update_id": 1], ip: session.user.ip)
            #expect(answer.status == .notFound)
        }
    }

    @Test("POST /notifications/telegram/link without a configured bot is 409 telegram_not_configured")
    func notConfigured() async throws {
        try await BotTests.withSession { session, _ in
            let answer = try await session.post("/api/v1/notifications/telegram/link")
            #expect(answer.status == .conflict && answer.errorCode == "telegram_not_configured")
        }
    }

    /// Updates arrive on the webhook concurrently (Telegram opens up to 40 connections): each command's effect must
    /// still happen once.
    @Test("Concurrent webhook updates: one link code from 20 chats links exactly one; one /kill code sent 8 times kills once")
    func concurrentUpdates() async throws {
        let secret = "hook-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        try await Self.withTelegram([Setting.telegramWebhookSecret.name: secret]) { fake, session, app, inside in
            let driver = session.driver
            var nextUpdate = 1
            func updates(_ messages: [(chat: Int64, text: String)]) async throws {
                let first = nextUpdate
                nextUpdate += messages.count
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (offset, message) in messages.enumerated() {
                        group.addTask {
                            let answer = try await Self.postUpdate(
                                driver,
                                id: first + offset,
                                chat: message.chat,
                                message.text,
                                secret: secret,
                                ip: "149.154.167.\(200 + offset % 20)"
                            )
                            #expect(answer.status == .ok, "\(answer.bodyString)")
                        }
                    }
                    try await group.waitForAll()
                }
            }
            func count(_ action: String) async throws -> Int { try await BotTests.auditActions(inside).filter { $0 == action }.count }

            let code = try #require(try await session.post("/api/v1/notifications/telegram/link").json()["link_code"] as? String)
            let chats = (0..<20).map { Int64(5_000 + $0) }
            try await updates(chats.map { ($0, "/start \(code)") })
            let replies = fake.sent.filter { chats.contains($0.chat) }
            #expect(replies.count == 20)
            let winners = replies.filter { $0.text.hasPrefix("Linked") }
            #expect(winners.count == 1, "\(replies.map(\.text))")
            #expect(replies.filter { $0.text.contains("already used") }.count == 19)
            #expect(try await count("telegram.linked") == 1)
            let linked = try #require(winners.first?.chat)
            for chat in chats {
                #expect(try await inside.alerts.telegram?.links.user(chatID: chat) == (chat == linked ? UUID(uuidString: session.user.userID) : nil))
            }

            let created = try await session.post("/api/v1/bots", BotTests.gridBody("tg"))
            let botID = try #require(try created.json()["id"] as? String)
            #expect(try await session.post("/api/v1/bots/\(botID)/start").status == .ok)
            #expect(try await session.eventually { try await session.array("/api/v1/orders?status=open").count >= 2 })
            try await updates([(linked, "/kill")])
            app.clock.advance(by: 30)
            let current = TOTP.standard.code(secret: session.user.secret, at: app.clock.now)
            let before = fake.sent.filter { $0.chat == linked }.count
            // The code, eight times at once from the linked chat and from eight strangers' chats.
            try await updates((0..<8).map { _ in (linked, current) } + (0..<8).map { (Int64(6_000 + $0), current) })
            let answers = fake.sent.filter { $0.chat == linked }.dropFirst(before).map(\.text)
            #expect(answers.count == 8)
            #expect(answers.filter { $0.hasPrefix("Kill switch done") }.count == 1, "\(answers)")
            #expect(fake.sent.filter { $0.chat >= 6_000 && $0.chat < 6_008 }.allSatisfy { $0.text.contains("not linked") })
            #expect(try await count("account.kill_switch") == 1)
            #expect(try await session.array("/api/v1/orders?status=open").isEmpty)
            #expect(try await session.get("/api/v1/bots/\(botID)").json()["status"] as? String == "killed")
        }
    }
}
