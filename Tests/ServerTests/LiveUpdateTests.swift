// POST /api/v1/ws/tickets and GET /api/v1/ws on the real server (a live socket): a ticket opens one socket once,
// expires after 30 seconds, is bound to its user, and the stream carries that user's orders as they happen.

import Foundation
import Guard
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import Server

@Suite struct LiveUpdateTests {
    enum Outcome: Equatable {
        case refused
        case lines([String])
    }

    /// Connect with `ticket` and read lines until `enough` says so (or 30 s pass); `.refused` when no upgrade.
    static func connect(
        port: Int,
        ticket: String,
        timeout: Duration = .seconds(30),
        enough: @escaping @Sendable ([String]) -> Bool
    ) async throws -> Outcome {
        let lines = NIOLockedValueBox<[String]>([])
        do {
            _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/api/v1/ws?ticket=\(ticket)", logger: Logger(label: "ws-test")) {
                inbound,
                _,
                _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 16) {
                            guard case .text(let text) = message else { continue }
                            let all = lines.withLockedValue {
                                $0.append(text)
                                return $0
                            }
                            if enough(all) { return }
                        }
                    }
                    group.addTask { try await Task.sleep(for: timeout) }
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            return lines.withLockedValue { $0.isEmpty } ? .refused : .lines(lines.withLockedValue { $0 })
        }
        return .lines(lines.withLockedValue { $0 })
    }

    static func json(_ line: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("A ticket opens one socket, once; the stream carries the user's own bot and orders and nothing of another user's")
    func ticketOnceAndOwnEvents() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        try await app.run(.live) { client, _ in
            let port = try #require(client.port)
            let driver = AuthDriver(client: client, clock: app.clock)
            let alice = try await driver.signUp()
            let aliceToken = try await driver.signIn(alice).accessToken
            let bob = try await driver.signUp()
            let bobToken = try await driver.signIn(bob).accessToken
            let bobBot = try #require(
                try await driver.post("/api/v1/bots", BotTests.gridBody("b"), ip: bob.ip, token: bobToken).json()["id"] as? String
            )
            _ = try await driver.post("/api/v1/bots/\(bobBot)/start", [:], ip: bob.ip, token: bobToken)

            let issued = try await driver.post("/api/v1/ws/tickets", [:], ip: alice.ip, token: aliceToken)
            #expect(issued.status == .created)
            let body = try issued.json()
            #expect(body["expires_in"] as? Int == 30)
            let ticket = try #require(body["ticket"] as? String)
            #expect(Data(base64Encoded: ticket.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=")?.count == 32)

            let aliceBot = try #require(
                try await driver.post("/api/v1/bots", BotTests.gridBody("a"), ip: alice.ip, token: aliceToken).json()["id"] as? String
            )
            async let stream = Self.connect(port: port, ticket: ticket) { lines in
                lines.contains { Self.json($0)["type"] as? String == "order" && Self.json($0)["bot_id"] as? String == aliceBot }
            }
            try await Task.sleep(for: .milliseconds(200))
            _ = try await driver.post("/api/v1/bots/\(aliceBot)/start", [:], ip: alice.ip, token: aliceToken)
            guard case .lines(let lines) = try await stream else {
                Issue.record("the first use of a ticket was refused")
                return
            }
            let events = lines.map(Self.json)
            #expect(events.contains { $0["type"] as? String == "order" && $0["bot_id"] as? String == aliceBot })
            #expect(events.contains { $0["type"] as? String == "bot" && $0["id"] as? String == aliceBot })
            #expect(!lines.contains { $0.contains(bobBot) }, "another user's bot in the stream")
            // The same ticket again: refused before any upgrade.
            #expect(try await Self.connect(port: port, ticket: ticket) { _ in true } == .refused)
            // Without an upgrade, the route answers in the API's error shape.
            let plain = try await driver.request(.get, "/api/v1/ws?ticket=\(ticket)", ip: alice.ip)
            #expect(plain.status == .badRequest)
        }
    }

    @Test("An alert reaches its owner's socket as {\"type\":\"alert\"}, and not another user's")
    func alertsOnTheSocket() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        try await app.run(.live) { client, inside in
            let port = try #require(client.port)
            let driver = AuthDriver(client: client, clock: app.clock)
            let alice = try await driver.signUp()
            let aliceToken = try await driver.signIn(alice).accessToken
            let bob = try await driver.signUp()
            let bobToken = try await driver.signIn(bob).accessToken
            let aliceTicket = try #require(
                try await driver.post("/api/v1/ws/tickets", [:], ip: alice.ip, token: aliceToken).json()["ticket"] as? String
            )
            let bobTicket = try #require(try await driver.post("/api/v1/ws/tickets", [:], ip: bob.ip, token: bobToken).json()["ticket"] as? String)
            async let aliceStream = Self.connect(port: port, ticket: aliceTicket) { lines in
                lines.contains { Self.json($0)["type"] as? String == "alert" }
            }
            try await Task.sleep(for: .milliseconds(300))
            let id = try #require(UUID(uuidString: alice.userID))
            let anomaly = Anomaly(
                kind: .totpReplay,
                userID: id,
                subject: alice.userID,
                message: "A code was used twice.",
                details: [:],
                time: app.clock.now
            )
            let alert = try #require(
                try await inside.alerts.report([anomaly], now: app.clock.now) == 1 ? inside.alerts.store.alerts(userID: id, limit: 1)?.first : nil
            )
            guard case .lines(let lines) = try await aliceStream else {
                Issue.record("Alice's socket was refused")
                return
            }
            let event = try #require(lines.map(Self.json).first { $0["type"] as? String == "alert" })
            #expect(event["id"] as? String == alert.id.apiString && event["kind"] as? String == "totp_replay")
            #expect(event["message"] as? String == "A code was used twice.")
            // Bob's stream, read for three polls, never carries it.
            let bobStream = try await Self.connect(port: port, ticket: bobTicket, timeout: .seconds(3)) { lines in
                lines.contains { Self.json($0)["type"] as? String == "alert" }
            }
            guard case .lines(let bobLines) = bobStream else {
                Issue.record("Bob's socket was refused")
                return
            }
            #expect(!bobLines.contains { $0.contains(alert.id.apiString) })
        }
    }

    @Test("A ticket expires 30 seconds after it was issued; a forged or empty one is refused")
    func ticketExpires() async throws {
        let app = try AuthDriver.application()
        try await app.run(.live) { client, _ in
            let port = try #require(client.port)
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            let ticket = try #require(try await driver.post("/api/v1/ws/tickets", [:], ip: user.ip, token: token).json()["ticket"] as? String)
            app.clock.advance(by: 31)
            #expect(try await Self.connect(port: port, ticket: ticket) { _ in true } == .refused)
            let fresh = try #require(try await driver.post("/api/v1/ws/tickets", [:], ip: user.ip, token: token).json()["ticket"] as? String)
            app.clock.advance(by: 29)
            #expect(try await Self.connect(port: port, ticket: fresh) { !$0.isEmpty } != .refused)
            #expect(try await Self.connect(port: port, ticket: "AAAA") { _ in true } == .refused)
            #expect(try await Self.connect(port: port, ticket: "") { _ in true } == .refused)
            let anonymous = try await driver.post("/api/v1/ws/tickets", [:], ip: user.ip)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test("Fifty parallel presentations of one ticket: exactly one is accepted")
    func ticketConsumedOnceUnderConcurrency() async throws {
        let store = MemoryTicketStore()
        let identity = Identity(userID: UUID(), sessionID: UUID(), role: .user)
        let now = Date()
        let ticket = try await store.issue(for: identity, now: now)
        let accepted = try await withThrowingTaskGroup(of: Identity?.self) { group in
            for _ in 0..<50 { group.addTask { try await store.consume(ticket, now: now) } }
            return try await group.reduce(into: [Identity]()) { if let identity = $1 { $0.append(identity) } }
        }
        #expect(accepted == [identity])
        // A user holds at most 16 outstanding tickets: the oldest go first.
        var tickets: [String] = []
        for index in 0..<20 { tickets.append(try await store.issue(for: identity, now: now.addingTimeInterval(Double(index) * 0.01))) }
        #expect(store.count == 16)
        #expect(try await store.consume(tickets[0], now: now) == nil)
        #expect(try await store.consume(tickets[19], now: now) == identity)
    }

    @Test("The dashboard gets tickets with its session cookie from our own origin only")
    func cookieTickets() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, _ in
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            _ = try await pages.signUp(email: "ticket@example.com", clock: app.clock)
            let sameOrigin = try await pages.send(.post, "/api/v1/ws/tickets", body: nil, headers: [.origin: pages.origin])
            #expect(sameOrigin.status == .created)
            let noOrigin = try await pages.send(.post, "/api/v1/ws/tickets", body: nil, headers: [:])
            #expect(noOrigin.status == .unauthorized)
            let foreign = try await pages.send(.post, "/api/v1/ws/tickets", body: nil, headers: [.origin: "https://evil.example"])
            #expect(foreign.status == .unauthorized)
            // The cookie is no credential for the rest of the API.
            let bots = try await pages.send(.get, "/api/v1/bots", body: nil, headers: [.origin: pages.origin])
            #expect(bots.status == .unauthorized)
        }
    }
}
