// SPEC §5: a bot survives its server being killed — no client order id is used twice, the bot resumes, orders reconcile.

import Accounts
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import Vault

extension ProcessTests {
    struct HTTP {
        let client: HTTPClient
        var base: String
        var token: String?

        func call(_ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, Any?) {
            var request = HTTPClientRequest(url: self.base + path)
            request.method = method
            if let token = self.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            }
            let response = try await self.client.execute(request, timeout: .seconds(10))
            let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
            return (Int(response.status.code), try? JSONSerialization.jsonObject(with: data))
        }
    }

    /// Register, confirm TOTP and sign in over HTTP; returns an access token.
    static func signUp(_ http: HTTP, email: String) async throws -> String {
        let password = "a long passphrase of mine"
        let (_, registered) = try await http.call(.POST, "/api/v1/auth/register", ["email": email, "password": password])
        let enrolment = try #require(registered as? [String: Any])
        let totpSecret = try #require(enrolment["totp_secret"] as? String)
        let secret = SecretBytes(copying: try #require(Base32.decode(totpSecret)))
        let (_, confirmed) = try await http.call(
            .POST,
            "/api/v1/auth/totp/confirm",
            ["enrollment_token": enrolment["enrollment_token"]!, "code": TOTP.standard.code(secret: secret, at: Date())]
        )
        let backupCodes = try #require((confirmed as? [String: Any])?["backup_codes"] as? [String])
        let (_, challenge) = try await http.call(.POST, "/api/v1/auth/login", ["email": email, "password": password])
        let (_, tokens) = try await http.call(
            .POST,
            "/api/v1/auth/login/totp",
            ["mfa_token": (challenge as? [String: Any])?["mfa_token"] ?? "", "backup_code": backupCodes[0]]
        )
        return try #require((tokens as? [String: Any])?["access_token"] as? String)
    }

    @Test("SIGKILL mid-run, start again: the bot resumes, no client order id is used twice, its open orders are the venue's")
    func botSurvivesSIGKILL() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let arguments = ["serve", "--port", "0", "--data-dir", directory.appending("data").path]
        let environment = ["TRADEKEEP_BOT_INTERVAL": "0.1"]
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await self.botSurvivesSIGKILL(client: client, arguments: arguments, environment: environment)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func botSurvivesSIGKILL(client: HTTPClient, arguments: [String], environment: [String: String]) async throws {

        let first = try RunningProcess(arguments, environment: environment)
        var http = HTTP(client: client, base: "http://127.0.0.1:\(try await first.waitForPort())", token: nil)
        http.token = try await Self.signUp(http, email: "restart@example.com")
        let (created, bot) = try await http.call(
            .POST,
            "/api/v1/bots",
            [
                "name": "grid", "strategy": "grid", "venue": "paper", "symbol": "ETHUSDT",
                "params": ["range_pct": 10, "levels": 9, "quantity": 0.01],
            ]
        )
        #expect(created == 201)
        let id = try #require((bot as? [String: Any])?["id"] as? String)
        _ = try await http.call(.POST, "/api/v1/bots/\(id)/start")
        func orders() async throws -> [[String: Any]] { (try await http.call(.GET, "/api/v1/bots/\(id)/orders").1 as? [[String: Any]]) ?? [] }
        var before: [[String: Any]] = []
        for _ in 0..<600 where before.filter({ $0["status"] as? String == "open" }).count < 4 {
            try await Task.sleep(for: .milliseconds(100))
            before = try await orders()
        }
        #expect(before.filter { $0["status"] as? String == "open" }.count >= 4)
        kill(first.process.processIdentifier, SIGKILL)
        _ = try await first.waitForExit()

        let second = try RunningProcess(arguments, environment: environment)
        http.base = "http://127.0.0.1:\(try await second.waitForPort())"
        // Sessions and keys live in the data folder: the same access token still works.
        try await Task.sleep(for: .seconds(1))
        // The bot keeps trading after the restart, so these are invariants, not counts at one moment.
        let after = try await orders()
        let ids = after.compactMap { $0["client_order_id"] as? String }
        #expect(Set(ids).count == ids.count, "a client order id was used twice: \(ids)")
        #expect(Set(before.compactMap { $0["client_order_id"] as? String }).isSubset(of: Set(ids)), "an order was lost")
        #expect(after.filter { $0["status"] as? String == "open" }.count >= 1)
        let (_, state) = try await http.call(.GET, "/api/v1/bots/\(id)")
        #expect((state as? [String: Any])?["status"] as? String == "running")
        // What the API calls open is what the bot's orders call open.
        let (_, open) = try await http.call(.GET, "/api/v1/orders?status=open")
        let openIDs = Set(((open as? [[String: Any]]) ?? []).compactMap { $0["client_order_id"] as? String })
        #expect(openIDs.isSubset(of: Set(ids)))
        kill(second.process.processIdentifier, SIGTERM)
        _ = try await second.waitForExit()
    }
}

extension ProcessTests {
    @Test(
        "SIGTERM while 20 paper bots are mid-step, start again: all 20 running, no client order id used twice, no order lost",
        .enabled(if: TestEnvironment.needs(binaryAvailable), "needs the built tradekeep executable")
    )
    func twentyBotsSurviveSIGTERM() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let arguments = ["serve", "--port", "0", "--data-dir", directory.appending("data").path]
        let environment = ["TRADEKEEP_BOT_INTERVAL": "0.05", "TRADEKEEP_PAPER_TICK": "0.05"]
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await self.twentyBotsSurviveSIGTERM(client: client, arguments: arguments, environment: environment)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func twentyBotsSurviveSIGTERM(client: HTTPClient, arguments: [String], environment: [String: String]) async throws {
        let first = try RunningProcess(arguments, environment: environment)
        var http = HTTP(client: client, base: "http://127.0.0.1:\(try await first.waitForPort())", token: nil)
        http.token = try await Self.signUp(http, email: "twenty@example.com")
        var ids: [String] = []
        for index in 0..<20 {
            let (status, bot) = try await http.call(
                .POST,
                "/api/v1/bots",
                [
                    "name": "grid \(index)", "strategy": "grid", "venue": "paper", "symbol": ["BTCUSDT", "ETHUSDT", "SOLUSDT"][index % 3],
                    "params": ["range_pct": 2, "levels": 7, "quantity": index % 3 == 0 ? 0.001 : (index % 3 == 1 ? 0.01 : 0.1)],
                ]
            )
            #expect(status == 201)
            ids.append(try #require((bot as? [String: Any])?["id"] as? String))
        }
        for id in ids { #expect(try await http.call(.POST, "/api/v1/bots/\(id)/start").0 == 200) }
        func orders() async throws -> [[String: Any]] { (try await http.call(.GET, "/api/v1/orders").1 as? [[String: Any]]) ?? [] }
        // Every bot has orders going out: the SIGTERM lands while steps are in flight.
        var before: [[String: Any]] = []
        for _ in 0..<600 {
            before = try await orders()
            if Set(before.compactMap { $0["bot_id"] as? String }).count == ids.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Set(before.compactMap { $0["bot_id"] as? String }).count == ids.count)
        kill(first.process.processIdentifier, SIGTERM)
        #expect(try await first.waitForExit() == 0, "\(first.stderr)")
        #expect(!first.stderr.contains("bot failed"))

        let second = try RunningProcess(arguments, environment: environment)
        http.base = "http://127.0.0.1:\(try await second.waitForPort())"
        try await Task.sleep(for: .seconds(1))
        let (_, bots) = try await http.call(.GET, "/api/v1/bots")
        let statuses = ((bots as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String }
        #expect(statuses.count == 20 && statuses.allSatisfy { $0 == "running" }, "\(statuses)")
        let after = try await orders()
        let clientIDs = after.compactMap { $0["client_order_id"] as? String }
        #expect(Set(clientIDs).count == clientIDs.count, "a client order id was used twice")
        #expect(Set(before.compactMap { $0["client_order_id"] as? String }).isSubset(of: Set(clientIDs)), "an order was lost")
        kill(second.process.processIdentifier, SIGTERM)
        #expect(try await second.waitForExit() == 0)
    }
}
