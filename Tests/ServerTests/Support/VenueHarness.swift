// Runs a fake venue on 127.0.0.1 and submits an exchange key to the real application pointed at it.

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Storage
import Testing
import VenueFakes
import Venues

@testable import Server

enum VenueHarness {
    static let egressIPs = ["198.51.100.7", "198.51.100.8"]

    /// Serve `router` on a free loopback port for the duration of `body`.
    static func live<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in try await body("http://127.0.0.1:\(try #require(client.port))") }
    }

    /// The settings that point `venue` (and, for USDⓈ-M, its spot host) at `baseURL`, with the published egress IPs.
    static func settings(_ venue: VenueID, _ baseURL: String, extra: [String: String] = [:]) -> [String: String] {
        var settings = [Setting.venueBaseURL(venue).name: baseURL, Setting.egressIPs.name: Self.egressIPs.joined(separator: ",")]
        if venue == .binanceUSDM { settings[Setting.venueBaseURL(.binance).name] = baseURL }
        return settings.merging(extra) { _, new in new }
    }

    /// A fake Bybit quoting BTCUSDT at 50,000 with one trade-only key locked to 127.0.0.1 and 198.51.100.7, and the
    /// application pointed at it (with those as its egress addresses, so the key passes the IP check).
    static func withBybitKey(_ body: @Sendable (FakeBybit, BybitKey, TestApplication) async throws -> Void) async throws {
        let fake = FakeBybit()
        fake.setPrice(symbol: "BTCUSDT", price: 50_000)
        let key = BybitKey(
            apiKey: Self.randomText(18),
            secret: Self.randomText(36),
            readOnly: 0,
            permissions: BybitKey.tradeOnlyPermissions,
            ips: ["127.0.0.1", "198.51.100.7"]
        )
        fake.addKey(key)
        try await Self.live(fake.router()) { url in
            try await body(
                fake,
                key,
                try AuthDriver.application(Self.settings(.bybit, url, extra: [Setting.egressIPs.name: "127.0.0.1,198.51.100.7"]))
            )
        }
    }

    /// What one submission did, seen from outside (HTTP) and inside (rows, audit, logs).
    struct Outcome: Sendable {
        let status: HTTPResponse.Status
        let body: [String: any Sendable]
        let errorCode: String?
        let listed: Int
        let storedSecrets: Int
        let credentialRows: Int
        let auditActions: [String]
        let auditDetails: [String]
        let logs: [String]
    }

    /// Sign up, sign in and POST /api/v1/credentials with a fresh TOTP code; then look at everything it left behind.
    static func submit(_ settings: [String: String], _ submission: [String: String]) async throws -> Outcome {
        let app = try AuthDriver.application(settings)
        let logs = app.logs
        return try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let signedIn = try await driver.signIn(user)
            var body: [String: Any] = ["label": "main"]
            for (key, value) in submission { body[key] = value }
            body["totp_code"] = driver.code(user)
            let response = try await driver.post("/api/v1/credentials", body, ip: user.ip, token: signedIn.accessToken)
            let listed = try await driver.request(.get, "/api/v1/credentials", ip: user.ip, token: signedIn.accessToken)
            let list = try JSONSerialization.jsonObject(with: Data(listed.body.readableBytesView)) as? [Any] ?? []
            let sql = try inside.database.database(logger: .init(label: "test")) as! any SQLDatabase
            let secrets =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("vault_secrets")
                .where("purpose", .equal, CredentialStore.purpose).first()?.decode(column: "n", as: Int.self) ?? -1
            let rows =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("exchange_credentials").first()?
                .decode(column: "n", as: Int.self) ?? -1
            let audit = try await sql.select().columns("action", "details").from("audit_events").where("action", .like, "credential.%").all()
            let json = (try? response.json()) ?? [:]
            return Outcome(
                status: response.status,
                body: json.mapValues { "\($0)" },
                errorCode: response.errorCode,
                listed: list.count,
                storedSecrets: secrets,
                credentialRows: rows,
                auditActions: try audit.map { try $0.decode(column: "action", as: String.self) },
                auditDetails: try audit.map { try $0.decode(column: "details", as: String.self) },
                logs: logs.lines
            )
        }
    }

    /// Everything SPEC §4 promises about a refused key: the 422 and its code, nothing stored, the refusal audited with
    /// its reason only, no key material in any log line, and exactly one introspection call.
    static func expectRefused(
        _ outcome: Outcome,
        _ code: String,
        secrets: [String],
        introspections: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(outcome.status == .unprocessableContent, sourceLocation: sourceLocation)
        #expect(outcome.errorCode == code, sourceLocation: sourceLocation)
        #expect(outcome.listed == 0 && outcome.storedSecrets == 0 && outcome.credentialRows == 0, sourceLocation: sourceLocation)
        #expect(outcome.auditActions == ["credential.rejected"], sourceLocation: sourceLocation)
        #expect(outcome.auditDetails.allSatisfy { $0.contains(code) }, sourceLocation: sourceLocation)
        #expect(introspections == 1, "introspection calls: \(introspections)", sourceLocation: sourceLocation)
        Self.expectNoLeak(outcome, secrets: secrets, sourceLocation: sourceLocation)
    }

    static func expectAccepted(
        _ outcome: Outcome,
        keyHint: String,
        secrets: [String],
        introspections: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(outcome.status == .created, "\(outcome.errorCode ?? ""): \(outcome.body["message"] ?? "")", sourceLocation: sourceLocation)
        #expect(outcome.body["key_hint"] as? String == keyHint, sourceLocation: sourceLocation)
        #expect(outcome.listed == 1 && outcome.storedSecrets == 1 && outcome.credentialRows == 1, sourceLocation: sourceLocation)
        #expect(outcome.auditActions == ["credential.added"], sourceLocation: sourceLocation)
        #expect(introspections == 1, "introspection calls: \(introspections)", sourceLocation: sourceLocation)
        Self.expectNoLeak(outcome, secrets: secrets, sourceLocation: sourceLocation)
    }

    /// No secret (nor the full key id) in the answer, the audit details or any log line.
    static func expectNoLeak(_ outcome: Outcome, secrets: [String], sourceLocation: SourceLocation) {
        let answer = outcome.body.values.map { "\($0)" }.joined(separator: " ")
        for secret in secrets where !secret.isEmpty {
            #expect(!answer.contains(secret), "a secret is in the answer", sourceLocation: sourceLocation)
            #expect(!outcome.auditDetails.contains { $0.contains(secret) }, "a secret is in the audit log", sourceLocation: sourceLocation)
            #expect(!outcome.logs.contains { $0.contains(secret) }, "a secret is in a log line", sourceLocation: sourceLocation)
        }
    }

    static func randomText(_ count: Int) -> String { TestKeys.text(count) }
}
