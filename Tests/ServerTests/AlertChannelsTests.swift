// One rapid-fire episode through every channel at once: one alert, on the owner's WebSocket, by email (a real SMTP
// server, aiosmtpd) and by Telegram (the fake Bot API), to the owner and, in parallel, to an admin. It starts with
// SMTP and Telegram both down: the API answers as usual, the deliveries are recorded as failed attempts, and once
// both are back the retries deliver every one.

import Foundation
import Guard
import Testing

@testable import Server

@Suite struct AlertChannelsTests {
    @Test(
        "One rapid-fire episode: one alert on the owner's socket, by email and Telegram to owner and admin; with both channels down the API is unaffected and the deliveries are retried",
        .enabled(if: SMTPTests.enabled, SMTPTests.reason)
    )
    func everyChannel() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let smtpPort = try SMTPTests.freePort()
        let telegram = FakeTelegram()
        try await VenueHarness.live(telegram.router()) { url in
            let app = try AuthDriver.application(
                BotTests.settings.merging([
                    Setting.smtpURL.name: "smtp://127.0.0.1:\(smtpPort)",
                    Setting.telegramBotToken.name: telegram.token,
                    Setting.telegramAPIURL.name: url,
                ]) { _, new in new }
            )
            try await app.run(.live) { client, inside in
                let port = try #require(client.port)
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let session = BotTests.Session(driver: driver, user: user, token: try await driver.signIn(user).accessToken)
                let admin = try await AdminTests.admin(driver, inside: inside)
                let adminToken = try await driver.signIn(admin).accessToken
                // Both link a chat while Telegram is up.
                let userCode = try #require(try await session.post("/api/v1/notifications/telegram/link").json()["link_code"] as? String)
                let adminCode = try #require(
                    try await driver.post("/api/v1/notifications/telegram/link", [:], ip: admin.ip, token: adminToken).json()["link_code"] as? String
                )
                #expect(try await telegram.ask("/start \(userCode)", in: 501).hasPrefix("Linked"))
                #expect(try await telegram.ask("/start \(adminCode)", in: 502).hasPrefix("Linked"))

                // Now SMTP (nothing listens on its port) and Telegram are both down.
                telegram.down = true
                let ticket = try #require(try await session.post("/api/v1/ws/tickets").json()["ticket"] as? String)
                async let socket = LiveUpdateTests.connect(port: port, ticket: ticket) { lines in
                    lines.contains { LiveUpdateTests.json($0)["type"] as? String == "alert" }
                }
                let created = try await session.post(
                    "/api/v1/bots",
                    [
                        "name": "busy", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT",
                        "params": ["range_pct": 10, "levels": 40, "quantity": 0.001],
                    ]
                )
                let botID = try #require(try created.json()["id"] as? String)
                #expect(try await session.post("/api/v1/bots/\(botID)/start").status == .ok)
                #expect(try await session.eventually { try await session.array("/api/v1/orders?status=open").count > 10 })
                app.clock.advance(by: 5)
                _ = try await inside.scanner.scan()
                app.clock.advance(by: 5)
                _ = try await inside.scanner.scan()

                let alerts = try await session.get("/api/v1/alerts").json()["alerts"] as? [[String: Any]] ?? []
                let rapid = alerts.filter { $0["kind"] as? String == "rapid_fire_trading" }
                #expect(rapid.count == 1, "\(alerts)")
                let alertID = try #require(rapid.first?["id"] as? String).lowercased()
                guard case .lines(let lines) = try await socket else {
                    Issue.record("the socket was refused")
                    return
                }
                #expect(lines.map(LiveUpdateTests.json).contains { $0["type"] as? String == "alert" && $0["id"] as? String == alertID })

                // Four deliveries (email and Telegram, owner and admin), each tried and failed; the API answers.
                let id = try #require(UUID(uuidString: alertID))
                #expect(
                    try await session.eventually(60) {
                        let deliveries = try await inside.alerts.store.deliveries(alertID: id)
                        return deliveries.count == 4 && deliveries.allSatisfy { $0.attempts >= 1 && $0.status == .pending && $0.lastError != nil }
                    }
                )
                #expect(Set(try await inside.alerts.store.deliveries(alertID: id).map(\.channel)) == [.email, .telegram])
                let started = ContinuousClock.now
                #expect(try await session.get("/api/v1/bots").status == .ok)
                #expect(try await session.post("/api/v1/bots/\(botID)/stop").status == .ok)
                #expect(ContinuousClock.now - started < .seconds(10))

                // Both back: the retries deliver.
                let smtp = try SMTPServerProcess([], in: directory, port: smtpPort)
                defer { smtp.stop() }
                telegram.down = false
                app.clock.advance(by: 31)
                #expect(
                    try await session.eventually(60) {
                        try await inside.alerts.store.deliveries(alertID: id).allSatisfy { $0.status == .delivered }
                    }
                )
                let mails = smtp.received.filter { $0.data.contains("Subject: Tradekeep alert: rapid fire trading") }
                #expect(Set(mails.flatMap(\.rcptTos)) == [user.email, admin.email])
                let chats = Set(telegram.sent.filter { $0.text.contains("Tradekeep alert") && $0.text.contains("orders were placed") }.map(\.chat))
                #expect(chats == [501, 502])
            }
        }
    }
}
