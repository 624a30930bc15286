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
        let (_, registered) = try await http.call(
            .POST,
            "/api/v1/auth/register",
            ["email": "restart@example.com", "password": "a long passphrase of mine"]
        )
        let enrolment = try #require(registered as? [String: Any])
        let totpSecret = try #require(enrolment["totp_secret"] as? String)
        let secret = SecretBytes(copying: try #require(Base32.decode(totpSecret)))
        let (_, confirmed) = try await http.call(
            .POST,
            "/api/v1/auth/totp/confirm",
            [
                "enrollment_token": enrolment["enrollment_token"]!,
                "code": TOTP.standard.code(secret: secret, at: Date()),
            ]
        )
        let backupCodes = try #require((confirmed as? [String: Any])?["backup_codes"] as? [String])
        let (_, challenge) = try await http.call(
            .POST,
            "/api/v1/auth/login",
            ["email": "restart@example.com", "password": "a long passphrase of mine"]
        )
        let (_, tokens) = try await http.call(
            .POST,
            "/api/v1/auth/login/totp",
            [
                "mfa_token": (challenge as? [String: Any])?["mfa_token"] ?? "",
                "backup_code": backupCodes[0],
            ]
        )
        http.token = try #require((tokens as? [String: Any])?["access_token"] as? String)
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
        for _ in 0..<100 where before.filter({ $0["status"] as? String == "open" }).count < 4 {
            try await Task.sleep(for: .milliseconds(100))
            before = try await orders()
        }
        #expect(before.filter { $0["status"] as? String == "open" }.count == 4)
        kill(first.process.processIdentifier, SIGKILL)
        _ = try await first.waitForExit()

        let second = try RunningProcess(arguments, environment: environment)
        http.base = "http://127.0.0.1:\(try await second.waitForPort())"
        // Sessions and keys live in the data folder: the same access token still works.
        try await Task.sleep(for: .seconds(1))
        let after = try await orders()
        let ids = after.compactMap { $0["client_order_id"] as? String }
        #expect(Set(ids).count == ids.count, "a client order id was used twice: \(ids)")
        #expect(after.filter { $0["status"] as? String == "open" }.count == 4)
        #expect(Set(before.compactMap { $0["client_order_id"] as? String }).isSubset(of: Set(ids)))
        let (_, state) = try await http.call(.GET, "/api/v1/bots/\(id)")
        #expect((state as? [String: Any])?["status"] as? String == "running")
        let (_, open) = try await http.call(.GET, "/api/v1/orders?status=open")
        #expect((open as? [Any])?.count == 4)
        kill(second.process.processIdentifier, SIGTERM)
        _ = try await second.waitForExit()
    }
}
