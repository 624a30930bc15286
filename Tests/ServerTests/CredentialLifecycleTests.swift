// Exchange keys after the check: listing, reading, rotating and deleting; the venue list; unreachable venues; warn mode.

import AuditLog
import Foundation
import HTTPTypes
import SQLKit
import Storage
import Testing
import Vault
import VenueFakes
import Venues

@testable import Server

@Suite struct CredentialLifecycleTests {
    static func okxKey(perm: String = "read_only,trade", ip: String = "198.51.100.7") -> OKXKey {
        OKXKey(
            apiKey: UUID().uuidString.lowercased(),
            secret: VenueHarness.randomText(32),
            passphrase: "Pass-\(VenueHarness.randomText(8))",
            perm: perm,
            ip: ip
        )
    }

    static func submission(_ key: OKXKey) -> [String: Any] {
        ["venue": "okx", "label": "okx main", "api_key": key.apiKey, "api_secret": key.secret, "passphrase": key.passphrase]
    }

    @Test("GET /venues lists all eight ids with required and forbidden scopes, IP-allow-list support and the egress IPs")
    func venues() async throws {
        let app = try AuthDriver.application([Setting.egressIPs.name: "198.51.100.7, 2001:db8::7"])
        try await app.test { client in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            let response = try await driver.request(.get, "/api/v1/venues", ip: user.ip, token: token)
            #expect(response.status == .ok)
            let venues = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]])
            #expect(
                venues.compactMap { $0["id"] as? String } == [
                    "paper", "binance", "binance-usdm", "bybit", "okx", "coinbase", "kraken", "hyperliquid",
                ]
            )
            for venue in venues {
                #expect(venue["egress_ips"] as? [String] == ["198.51.100.7", "2001:db8::7"])
                #expect(venue["required_scopes"] is [String] && venue["forbidden_scopes"] is [String] && venue["supports_ip_allowlist"] is Bool)
            }
            let binance = try #require(venues.first { $0["id"] as? String == "binance" })
            #expect((binance["forbidden_scopes"] as? [String])?.contains("enableWithdrawals") == true)
            #expect(binance["supports_ip_allowlist"] as? Bool == true)
            let unauthenticated = try await driver.request(.get, "/api/v1/venues", ip: user.ip)
            #expect(unauthenticated.status == .unauthorized)
        }
    }

    @Test("A bad TRADEKEEP_EGRESS_IPS or venue base URL refuses to start, naming the setting")
    func badSettings() throws {
        #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.egressIPs.name: "198.51.100.7, not-an-ip"]) }
        #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.venueBaseURL(.bybit).name: "ftp://example.com"]) }
        #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.ipAllowlist.name: "sometimes"]) }
    }

    @Test(
        "The stored key opens to exactly what was submitted; GET never shows a secret; another user sees 404; rotation re-checks and replaces the material; delete removes row and secret"
    )
    func lifecycle() async throws {
        let fake = FakeOKX()
        let first = Self.okxKey()
        let second = Self.okxKey()
        let withdrawing = Self.okxKey(perm: "read_only,trade,withdraw")
        for key in [first, second, withdrawing] { fake.addKey(key) }
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(VenueHarness.settings(.okx, url))
            let logs = app.logs
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let other = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                let otherToken = try await driver.signIn(other).accessToken
                let store = inside.credentialStore

                // Step-up is checked before the venue is asked.
                let noCode = try await driver.post("/api/v1/credentials", Self.submission(first), ip: user.ip, token: token)
                #expect(noCode.errorCode == "step_up_required")
                #expect(fake.log.count(path: "/api/v5/account/config") == 0)

                var body = Self.submission(first)
                body["totp_code"] = driver.code(user)
                let created = try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token)
                #expect(created.status == .created)
                let credential = try created.json()
                let id = try #require(credential["id"] as? String)
                #expect(
                    Set(credential.keys) == [
                        "id", "venue", "label", "key_hint", "permissions", "ip_restricted", "warnings", "created_at", "rotated_at",
                        "status", "disabled_reason", "checked_at",
                    ]
                )
                #expect(credential["permissions"] as? [String] == ["read_only", "trade"])
                #expect(credential["ip_restricted"] as? Bool == true)

                let uuid = try #require(UUID(uuidString: id))
                let userID = try #require(UUID(uuidString: user.userID))
                let material = try await store.keys(id: uuid, userID: userID)
                let opened = [
                    material.apiKey, material.secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) },
                    material.passphrase?.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } ?? "",
                ]
                #expect(opened == [first.apiKey, first.secret, first.passphrase])

                for path in ["/api/v1/credentials", "/api/v1/credentials/\(id)"] {
                    let text = String(buffer: try await driver.request(.get, path, ip: user.ip, token: token).body)
                    #expect(!text.contains(first.secret) && !text.contains(first.passphrase) && !text.contains(first.apiKey))
                    #expect(text.contains(String(first.apiKey.suffix(4))))
                }
                #expect(try await driver.request(.get, "/api/v1/credentials/\(id)", ip: other.ip, token: otherToken).status == .notFound)
                #expect(
                    try await driver.post(
                        "/api/v1/credentials/\(id)/rotate",
                        [
                            "api_key": second.apiKey, "api_secret": second.secret,
                            "passphrase": second.passphrase, "totp_code": driver.code(other),
                        ],
                        ip: other.ip,
                        token: otherToken
                    ).status == .notFound
                )
                let foreignDelete = try await driver.request(
                    .delete,
                    "/api/v1/credentials/\(id)",
                    ip: other.ip,
                    token: otherToken,
                    headers: [.xTOTPCode: driver.code(other)]
                )
                #expect(foreignDelete.status == .notFound)

                // Rotating to a key that can withdraw is refused and changes nothing.
                let refused = try await driver.post(
                    "/api/v1/credentials/\(id)/rotate",
                    [
                        "api_key": withdrawing.apiKey, "api_secret": withdrawing.secret,
                        "passphrase": withdrawing.passphrase, "totp_code": driver.code(user),
                    ],
                    ip: user.ip,
                    token: token
                )
                #expect(refused.errorCode == "withdrawal_permission")
                let unchanged = try await store.keys(id: uuid, userID: userID).apiKey
                #expect(unchanged == first.apiKey)

                let rotated = try await driver.post(
                    "/api/v1/credentials/\(id)/rotate",
                    [
                        "api_key": second.apiKey, "api_secret": second.secret,
                        "passphrase": second.passphrase, "totp_code": driver.code(user),
                    ],
                    ip: user.ip,
                    token: token
                )
                #expect(rotated.status == .ok)
                #expect(try rotated.json()["key_hint"] as? String == String(second.apiKey.suffix(4)))
                #expect(try rotated.json()["rotated_at"] is String)
                let now = try await store.keys(id: uuid, userID: userID).apiKey
                #expect(now == second.apiKey)
                let sql = try inside.database.database(logger: .init(label: "test")) as! any SQLDatabase
                let secrets = try await sql.select().column("id").from("vault_secrets").where("purpose", .equal, CredentialStore.purpose).all()
                #expect(secrets.count == 1)

                let noDeleteCode = try await driver.request(.delete, "/api/v1/credentials/\(id)", ip: user.ip, token: token)
                #expect(noDeleteCode.errorCode == "step_up_required")
                let deleted = try await driver.request(
                    .delete,
                    "/api/v1/credentials/\(id)",
                    ip: user.ip,
                    token: token,
                    headers: [.xTOTPCode: driver.code(user)]
                )
                #expect(deleted.status == .noContent)
                #expect(try await driver.request(.get, "/api/v1/credentials/\(id)", ip: user.ip, token: token).status == .notFound)
                let left = try await sql.select().column("id").from("vault_secrets").where("purpose", .equal, CredentialStore.purpose).all()
                #expect(left.isEmpty)
                let actions = try await sql.select().column("action").from("audit_events").where("action", .like, "credential.%")
                    .orderBy("created_at").all().map { try $0.decode(column: "action", as: String.self) }
                #expect(actions == ["credential.added", "credential.rejected", "credential.rotated", "credential.deleted"])
                for key in [first, second, withdrawing] {
                    #expect(!logs.lines.contains { $0.contains(key.secret) || $0.contains(key.apiKey) || $0.contains(key.passphrase) })
                }
            }
        }
    }

    @Test("Bad input gets a clear 4xx and asks no venue: unknown venue, paper, empty key, oversized secret, missing field, bad label")
    func badInput() async throws {
        let fake = FakeOKX()
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(VenueHarness.settings(.okx, url))
            try await app.test { client in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                let cases: [([String: Any], String)] = [
                    (["venue": "mtgox", "label": "x", "api_key": "k", "api_secret": "s"], "unknown_venue"),
                    (["venue": "paper", "label": "x", "api_key": "k", "api_secret": "s"], "unknown_venue"),
                    (["venue": "okx", "label": "x", "api_key": " ", "api_secret": "s"], "invalid_key_material"),
                    (["venue": "okx", "label": "x", "api_key": "k", "api_secret": String(repeating: "s", count: 9000)], "invalid_key_material"),
                    (["venue": "okx", "label": "", "api_key": "k", "api_secret": "s"], "invalid_label"),
                    (["venue": "okx", "label": "two\nlines", "api_key": "k", "api_secret": "s"], "invalid_label"),
                    (["venue": "okx", "label": "x", "api_key": "k"], "bad_request"),
                ]
                for (body, code) in cases {
                    var body = body
                    body["totp_code"] = driver.code(user)
                    let response = try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token)
                    #expect(response.errorCode == code, "\(body)")
                }
                #expect(fake.log.requests.isEmpty)
            }
        }
    }

    @Test("A venue that is down, answers 5xx, or rate-limits the check answers 502 venue_unreachable; nothing is stored and the check is not retried")
    func unreachable() async throws {
        // A port nobody listens on.
        let closed = try await VenueHarness.submit(
            VenueHarness.settings(.okx, "http://127.0.0.1:9"),
            Self.submission(Self.okxKey()).mapValues { "\($0)" }
        )
        #expect(closed.status == .badGateway)
        #expect(closed.errorCode == "venue_unreachable")
        #expect(closed.storedSecrets == 0 && closed.credentialRows == 0)

        for answer in [
            InjectedAnswer(status: .internalServerError, body: "oops"),
            InjectedAnswer(status: .tooManyRequests, headers: ["Retry-After": "1"], body: #"{"code":"50011","msg":"Rate limit reached.","data":[]}"#),
        ] {
            let fake = FakeOKX()
            let key = Self.okxKey()
            fake.addKey(key)
            fake.log.inject(path: "/api/v5/account/config", answer, answer)
            let outcome = try await VenueHarness.live(fake.router()) { url in
                try await VenueHarness.submit(VenueHarness.settings(.okx, url), Self.submission(key).mapValues { "\($0)" })
            }
            #expect(outcome.status == .badGateway)
            #expect(outcome.errorCode == "venue_unreachable")
            #expect(outcome.storedSecrets == 0 && outcome.credentialRows == 0)
            #expect(fake.log.count(path: "/api/v5/account/config") == 1)
        }
    }

    @Test("TRADEKEEP_IP_ALLOWLIST=warn stores a key without an IP allow-list, with the warning; a withdrawal key is still refused")
    func warnMode() async throws {
        let fake = FakeOKX()
        let open = Self.okxKey(ip: "")
        let withdrawing = Self.okxKey(perm: "read_only,trade,withdraw", ip: "")
        fake.addKey(open)
        fake.addKey(withdrawing)
        try await VenueHarness.live(fake.router()) { url in
            let settings = VenueHarness.settings(.okx, url, extra: [Setting.ipAllowlist.name: "warn"])
            let accepted = try await VenueHarness.submit(settings, Self.submission(open).mapValues { "\($0)" })
            #expect(accepted.status == .created)
            #expect(accepted.body["ip_restricted"].map { "\($0)" } == "0")
            #expect("\(accepted.body["warnings"] ?? "")".contains("any IP address"))
            let refused = try await VenueHarness.submit(settings, Self.submission(withdrawing).mapValues { "\($0)" })
            #expect(refused.errorCode == "withdrawal_permission")
        }
    }
}

@Suite struct ExchangeKeysAtRestTests {
    @Test("No exchange secret or passphrase reaches the database file or its WAL in plaintext")
    func exchangeSecretsEncryptedAtRest() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = directory.appending("data/tradekeep.sqlite")
        let fake = FakeOKX()
        let keys = (0..<3).map { _ in CredentialLifecycleTests.okxKey() }
        for key in keys { fake.addKey(key) }
        try await VenueHarness.live(fake.router()) { url in
            var settings = VenueHarness.settings(.okx, url)
            settings[Setting.dataDirectory.name] = directory.appending("data").path
            settings[Setting.databaseURL.name] = "sqlite:\(database.path)"
            let app = try AuthDriver.application(settings)
            try await app.test { client in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                for key in keys {
                    var body = CredentialLifecycleTests.submission(key)
                    body["totp_code"] = driver.code(user)
                    #expect(try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token).status == .created)
                }
            }
        }
        var files = Data()
        for suffix in ["", "-wal", "-shm"] { files.append((try? Data(contentsOf: URL(fileURLWithPath: database.path + suffix))) ?? Data()) }
        #expect(files.count > 10_000)
        for key in keys {
            #expect(files.range(of: Data(key.secret.utf8)) == nil, "an API secret in the database files")
            #expect(files.range(of: Data(key.passphrase.utf8)) == nil, "a passphrase in the database files")
            #expect(files.range(of: Data(key.apiKey.utf8)) == nil, "a full API key in the database files")
        }
    }
}

@Suite struct UnverifiedTestnetTests {
    @Test(
        "Binance's testnets have no key introspection: their keys are refused (unverifiable_key) without asking, unless TRADEKEEP_UNVERIFIED_VENUES allows them, and then stored with a 'Not verified' warning"
    )
    func binanceTestnet() async throws {
        let fake = FakeBinance()
        let key = BinanceKey(apiKey: TestKeys.text(64), secret: TestKeys.text(64), enableWithdrawals: true)
        fake.addKey(key)
        try await VenueHarness.live(fake.router()) { url in
            let testnet = VenueHarness.settings(.binanceUSDM, url, extra: [Setting.venueTestnet(.binanceUSDM).name: "true"])
            let submission = ["venue": "binance-usdm", "api_key": key.apiKey, "api_secret": key.secret]
            let refused = try await VenueHarness.submit(testnet, submission)
            #expect(refused.errorCode == "unverifiable_key")
            #expect("\(refused.body["message"] ?? "")".contains("TRADEKEEP_UNVERIFIED_VENUES=binance-usdm"))
            #expect(refused.storedSecrets == 0 && refused.credentialRows == 0)

            var allowed = testnet
            allowed[Setting.unverifiedVenues.name] = "binance-usdm"
            let stored = try await VenueHarness.submit(allowed, submission)
            #expect(stored.status == .created)
            #expect("\(stored.body["warnings"] ?? "")".contains("Not verified"))
            #expect(stored.auditDetails.first?.contains("false") == true)
            #expect(fake.log.count(path: "/sapi/v1/account/apiRestrictions") == 0)
        }
    }

    @Test("TRADEKEEP_UNVERIFIED_VENUES refuses start-up for a mainnet venue or one that has key introspection")
    func onlyTestnets() throws {
        #expect(throws: ConfigurationError.self) { try AuthDriver.application([Setting.unverifiedVenues.name: "binance-usdm"]) }
        #expect(throws: ConfigurationError.self) {
            try AuthDriver.application([Setting.unverifiedVenues.name: "bybit", Setting.venueTestnet(.bybit).name: "true"])
        }
        _ = try AuthDriver.application([Setting.unverifiedVenues.name: "binance", Setting.venueTestnet(.binance).name: "true"])
    }
}

@Suite struct CredentialConcurrencyTests {
    @Test("Concurrent rotations and a delete of one key leave no orphaned sealed material: one secret per remaining row")
    func rotateAndDeleteRace() async throws {
        let fake = FakeOKX()
        let keys = (0..<4).map { _ in CredentialLifecycleTests.okxKey() }
        for key in keys { fake.addKey(key) }
        try await VenueHarness.live(fake.router()) { url in
            let app = try AuthDriver.application(VenueHarness.settings(.okx, url))
            try await app.run { client, inside in
                let driver = AuthDriver(client: client, clock: app.clock)
                let user = try await driver.signUp()
                let token = try await driver.signIn(user).accessToken
                let userID = try #require(UUID(uuidString: user.userID))
                var body = CredentialLifecycleTests.submission(keys[0])
                body["totp_code"] = driver.code(user)
                let id = try #require(try await driver.post("/api/v1/credentials", body, ip: user.ip, token: token).json()["id"] as? String)
                let uuid = try #require(UUID(uuidString: id))
                // Straight at the store (no TOTP step between them), so the operations really overlap.
                let store = inside.credentialStore
                let event = AuditEvent(.credentialRotated, user: userID, client: .engine)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for key in keys.dropFirst() {
                        group.addTask {
                            let material = VenueCredentials(apiKey: key.apiKey, secret: SecretBytes(copying: Array(key.secret.utf8)))
                            let findings = KeyFindings(keyHint: "x", permissions: [], ipRestricted: true, warnings: [])
                            _ = try? await store.rotate(id: uuid, userID: userID, findings: findings, keys: material, at: Date(), audit: event)
                        }
                    }
                    group.addTask { _ = try await store.delete(id: uuid, userID: userID, audit: event) }
                    try await group.waitForAll()
                }
                let sql = try inside.database.database(logger: .init(label: "test")) as! any SQLDatabase
                let secrets = try await sql.select().column("id").from("vault_secrets").where("purpose", .equal, CredentialStore.purpose).all().count
                let rows = try await sql.select().column("id").from("exchange_credentials").all().count
                #expect(rows == 0)
                #expect(secrets == rows)
            }
        }
    }
}
