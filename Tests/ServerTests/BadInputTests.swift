// Hostile input on every route that takes a body or an id: malformed JSON, wrong types, unknown fields, nulls, empty
// and huge bodies, deep nesting, bytes that are not UTF-8, ids that are not UUIDs. Each answers 4xx in the error
// shape with the security headers, and changes nothing.

import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

@testable import Server

@Suite struct BadInputTests {
    /// Raw bodies, each wrong in its own way.
    static let bodies: [(name: String, bytes: [UInt8])] = [
        ("malformed", Array(#"{"name": "x", "#.utf8)),
        ("top-level array", Array("[]".utf8)),
        ("top-level string", Array(#""hello""#.utf8)),
        ("wrong types", Array(#"{"name": 5, "strategy": [], "venue": {}, "symbol": true, "params": "x", "email": 1, "password": false}"#.utf8)),
        ("nulls", Array(#"{"name": null, "strategy": null, "venue": null, "symbol": null, "params": null, "email": null, "password": null}"#.utf8)),
        ("unknown field", Array(#"{"totp_code": "123456", "is_admin": true}"#.utf8)),
        ("deep nesting", Array((String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)).utf8)),
        ("not UTF-8", [0x7B, 0x22, 0x6E, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0xC3, 0x28, 0x22, 0x7D]),
        (
            "out-of-range numbers",
            Array(
                #"{"name": "x", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT", "params": {"range_pct": 1e308, "levels": 1e308, "quantity": 1e308}}"#
                    .utf8
            )
        ),
        ("huge", Array(repeating: UInt8(ascii: " "), count: 70 * 1024) + Array("{}".utf8)),
    ]

    @Test("Every body-taking route answers hostile bodies with 4xx in the error shape and the security headers, and nothing changes")
    func hostileBodies() async throws {
        let app = try AuthDriver.application(BotTests.settings.merging([Setting.rateLimitGeneral.name: "100000"]) { _, new in new })
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            let created = try await driver.post(
                "/api/v1/bots",
                BotTests.gridBody("g"),
                ip: user.ip,
                token: token
            )
            let bot = try #require(try created.json()["id"] as? String)
            let sql = try inside.database.database(logger: .init(label: "test")) as! any SQLDatabase
            func counts() async throws -> [Int] {
                var result: [Int] = []
                for table in ["users", "bots", "bot_orders", "exchange_credentials", "sessions", "audit_events"] {
                    let row = try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(table).first()
                    result.append(try row?.decode(column: "n", as: Int.self) ?? -1)
                }
                return result
            }
            let before = try await counts()
            let routes: [(HTTPRequest.Method, String, Bool)] = [
                (.post, "/api/v1/auth/register", false), (.post, "/api/v1/auth/login", false), (.post, "/api/v1/auth/login/totp", false),
                (.post, "/api/v1/auth/totp/confirm", false), (.post, "/api/v1/auth/password/forgot", false),
                (.post, "/api/v1/auth/password/reset", false), (.post, "/api/v1/auth/password/change", true),
                (.post, "/api/v1/auth/backup-codes", true), (.post, "/api/v1/bots", true), (.patch, "/api/v1/bots/\(bot)", true),
                (.post, "/api/v1/bots/\(bot)/kill", true), (.post, "/api/v1/kill-switch", true), (.post, "/api/v1/credentials", true),
                (.post, "/api/v1/bots/\(bot)/webhook-secret", true), (.post, "/api/v1/signals/\(bot)", false),
            ]
            var wrong: [String] = []
            for (method, path, signedIn) in routes {
                for (name, bytes) in Self.bodies {
                    var headers: HTTPFields = [.contentType: "application/json", .xForwardedFor: "10.80.\(Int.random(in: 0...255)).1"]
                    if signedIn { headers[.authorization] = "Bearer \(token)" }
                    let response = try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(bytes: bytes))
                    let shape = (try? response.json()).map { $0["error"] is String && $0["message"] is String && $0["error_id"] is String } ?? false
                    let code = response.status.code
                    if !(400..<500).contains(code) || !shape || response.headers[.xContentTypeOptions] != "nosniff"
                        || response.headers[.contentSecurityPolicy] == nil
                    {
                        wrong.append("\(method) \(path) [\(name)]: \(code) \(response.bodyString.prefix(200))")
                    }
                    if name == "huge" && code != 413 { wrong.append("\(method) \(path) [huge]: \(code), expected 413") }
                }
            }
            #expect(wrong.isEmpty, "\(wrong)")
            #expect(try await counts() == before, "a refused body changed something")
            #expect(try await driver.request(.get, "/api/v1/bots/\(bot)", ip: user.ip, token: token).status == .ok)
        }
    }

    @Test("Ids that are not UUIDs, or no one's, answer 404 in the error shape on every id route")
    func invalidIDs() async throws {
        let app = try AuthDriver.application([Setting.rateLimitGeneral.name: "100000"])
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            for id in ["not-a-uuid", "0", "%00", "%2e%2e", "1%20OR%201=1", String(repeating: "f", count: 600), UUID().uuidString] {
                for (method, template) in [
                    (HTTPRequest.Method.get, "/api/v1/bots/ID"), (.post, "/api/v1/bots/ID/start"), (.delete, "/api/v1/bots/ID"),
                    (.get, "/api/v1/bots/ID/orders"), (.get, "/api/v1/credentials/ID"), (.delete, "/api/v1/auth/sessions/ID"),
                ] {
                    let path = template.replacingOccurrences(of: "ID", with: id)
                    let response = try await driver.request(method, path, ip: user.ip, token: token)
                    #expect(response.status == .notFound, "\(method) \(path): \(response.status)")
                    #expect(response.errorCode == "not_found", "\(method) \(path)")
                }
            }
        }
    }

    @Test("Messages name the field and never internals: top-level array, a fraction for a count, 1e308, an unreachable venue")
    func messagesNameTheField() async throws {
        let app = try AuthDriver.application([Setting.venueBaseURL(.hyperliquid).name: "http://127.0.0.1:9"])
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            func post(_ json: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/v1/bots",
                    method: .post,
                    headers: [.contentType: "application/json", .authorization: "Bearer \(token)", .xForwardedFor: user.ip],
                    body: ByteBuffer(string: json)
                )
            }
            let grid = #"{"name":"x","strategy":"grid","venue":"paper","symbol":"BTCUSDT","params":{"range_pct":RP,"levels":LV,"quantity":1}}"#
            let array = try await post("[]")
            #expect(array.status == .badRequest)
            #expect(try array.decoded(ErrorBody.self).message == "The body must be a JSON object.")
            let fraction = try await post(grid.replacingOccurrences(of: "RP", with: "5").replacingOccurrences(of: "LV", with: "2.5"))
            #expect(fraction.status == .unprocessableContent)
            #expect(try fraction.decoded(ErrorBody.self).message.contains("`params.levels`"))
            for (rp, lv, field) in [("1e308", "5", "params.range_pct"), ("5", "1e308", "params.levels")] {
                let huge = try await post(grid.replacingOccurrences(of: "RP", with: rp).replacingOccurrences(of: "LV", with: lv))
                #expect(huge.status == .unprocessableContent)
                #expect(huge.errorCode == "out_of_range")
                #expect(try huge.decoded(ErrorBody.self).message == "Field `\(field)` is out of range.")
            }
            let unreachable = try await driver.request(.get, "/api/v1/markets/hyperliquid/BTC", ip: user.ip, token: token)
            #expect(unreachable.status == .badGateway)
            let message = try unreachable.decoded(ErrorBody.self).message
            #expect(message == "Hyperliquid could not be reached. Try again later.")
            #expect(!message.contains("NIO") && !message.contains("Error"))
        }
    }
}
