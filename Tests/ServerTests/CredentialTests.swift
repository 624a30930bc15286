// POST /api/v1/credentials end to end against each venue's fake: every refusal of SPEC §4, and the accepted key.

import Crypto
import Foundation
import HTTPTypes
import InteropSupport
import Testing
import VenueFakes
import Venues

@testable import Server

@Suite struct CredentialTests {
    // MARK: Binance (spot and USDⓈ-M: both inspected through /sapi on the spot host)

    enum BinanceCase: String, CaseIterable, Sendable {
        case withdrawals, internalTransfer, universalTransfer, cannotTrade, noIPRestriction, unknownKey, accepted
    }

    static func binanceKey(_ scenario: BinanceCase, futures: Bool) -> BinanceKey {
        var key = BinanceKey(
            apiKey: VenueHarness.randomText(64),
            secret: VenueHarness.randomText(64),
            enableSpotAndMarginTrading: !futures,
            enableFutures: futures,
            ipRestrict: true
        )
        switch scenario {
        case .withdrawals: key.enableWithdrawals = true
        case .internalTransfer: key.enableInternalTransfer = true
        case .universalTransfer: key.permitsUniversalTransfer = true
        case .cannotTrade:
            key.enableSpotAndMarginTrading = false
            key.enableFutures = false
        case .noIPRestriction: key.ipRestrict = false
        case .unknownKey, .accepted: break
        }
        return key
    }

    static func expected(_ scenario: BinanceCase) -> String {
        switch scenario {
        case .withdrawals: "withdrawal_permission"
        case .internalTransfer, .universalTransfer: "transfer_permission"
        case .cannotTrade: "trade_permission_missing"
        case .noIPRestriction: "ip_allowlist_missing"
        case .unknownKey: "unverifiable_key"
        case .accepted: "accepted"
        }
    }

    func binanceCase(_ scenario: BinanceCase, venue: VenueID) async throws {
        let fake = FakeBinance()
        let key = Self.binanceKey(scenario, futures: venue == .binanceUSDM)
        if scenario != .unknownKey { fake.addKey(key) }
        let outcome = try await VenueHarness.live(fake.router()) { url in
            try await VenueHarness.submit(
                VenueHarness.settings(venue, url),
                ["venue": venue.rawValue, "api_key": key.apiKey, "api_secret": key.secret]
            )
        }
        let calls = fake.log.count(path: "/sapi/v1/account/apiRestrictions")
        if scenario == .accepted {
            VenueHarness.expectAccepted(outcome, keyHint: String(key.apiKey.suffix(4)), secrets: [key.apiKey, key.secret], introspections: calls)
        } else {
            VenueHarness.expectRefused(outcome, Self.expected(scenario), secrets: [key.apiKey, key.secret], introspections: calls)
        }
        if scenario == .withdrawals {
            // The issue's example message: what to untick, and which addresses to allow.
            let message = "\(outcome.body["message"] ?? "")"
            #expect(message.contains("API Management → Edit restrictions → untick Enable Withdrawals"))
            #expect(message.contains("restrict access to 198.51.100.7, 198.51.100.8"))
        }
    }

    @Test(
        "Binance spot: withdrawals → withdrawal_permission, internal or universal transfer → transfer_permission, no spot trading → trade_permission_missing, no IP restriction → ip_allowlist_missing, an unknown key → unverifiable_key; a trade-only IP-restricted key is stored",
        arguments: BinanceCase.allCases
    )
    func binance(_ scenario: BinanceCase) async throws {
        try await self.binanceCase(scenario, venue: .binance)
    }

    @Test(
        "Binance USDⓈ-M: the same refusals, with Enable Futures as the trading permission",
        arguments: BinanceCase.allCases
    )
    func binanceUSDM(_ scenario: BinanceCase) async throws {
        try await self.binanceCase(scenario, venue: .binanceUSDM)
    }

    @Test("Binance: an answer without one of the money-moving flags is unverifiable_key, not a pass")
    func binanceMissingFlag() async throws {
        let fake = FakeBinance()
        let key = Self.binanceKey(.accepted, futures: true)
        fake.addKey(key)
        fake.log.inject(
            path: "/sapi/v1/account/apiRestrictions",
            InjectedAnswer(
                status: .ok,
                body:
                    #"{"ipRestrict":true,"enableReading":true,"enableFutures":true,"enableInternalTransfer":false,"permitsUniversalTransfer":false}"#
            )
        )
        let outcome = try await VenueHarness.live(fake.router()) { url in
            try await VenueHarness.submit(
                VenueHarness.settings(.binanceUSDM, url),
                ["venue": "binance-usdm", "api_key": key.apiKey, "api_secret": key.secret]
            )
        }
        VenueHarness.expectRefused(
            outcome,
            "unverifiable_key",
            secrets: [key.apiKey, key.secret],
            introspections: fake.log.count(path: "/sapi/v1/account/apiRestrictions")
        )
        #expect("\(outcome.body["message"] ?? "")".contains("enableWithdrawals"))
    }

    // MARK: Bybit

    @Test(
        "Bybit: Wallet.Withdraw → withdrawal_permission, Wallet.AccountTransfer/SubMemberTransfer → transfer_permission, read-only → trade_permission_missing, ips [*] → ip_allowlist_missing, a foreign IP → ip_allowlist_mismatch, an unknown key → unverifiable_key; a trade-only key bound to our IPs is stored",
        arguments: [
            ("withdrawal_permission", ["Wallet": ["Withdraw"]], 0, ["127.0.0.1"], false),
            ("transfer_permission", ["Wallet": ["AccountTransfer"]], 0, ["127.0.0.1"], false),
            ("transfer_permission", ["Wallet": ["SubMemberTransfer"]], 0, ["127.0.0.1"], false),
            ("transfer_permission", ["Wallet": ["SubMemberTransferList"]], 0, ["127.0.0.1"], false),
            ("withdrawal_permission", ["FiatP2P": ["FiatP2POrder"]], 0, ["127.0.0.1"], false),
            ("withdrawal_permission", ["FiatBitPay": ["FaitPayOrder"]], 0, ["127.0.0.1"], false),
            ("unverifiable_key", ["SomethingNew": ["Move"]], 0, ["127.0.0.1"], false),
            ("trade_permission_missing", [String: [String]](), 1, ["127.0.0.1"], false),
            ("ip_allowlist_missing", [String: [String]](), 0, ["*"], false),
            ("ip_allowlist_mismatch", [String: [String]](), 0, ["127.0.0.1", "203.0.113.9"], false),
            ("unverifiable_key", [String: [String]](), 0, ["127.0.0.1"], true),
            // Bound only to another address: Bybit refuses our call (10010) before it says anything.
            ("unverifiable_key", [String: [String]](), 0, ["203.0.113.9"], false),
            ("accepted", [String: [String]](), 0, ["127.0.0.1", "198.51.100.7"], false),
        ]
    )
    func bybit(expected: String, extra: [String: [String]], readOnly: Int, ips: [String], unknownKey: Bool) async throws {
        let fake = FakeBybit()
        let key = BybitKey(
            apiKey: VenueHarness.randomText(18),
            secret: VenueHarness.randomText(36),
            readOnly: readOnly,
            permissions: BybitKey.tradeOnlyPermissions.merging(extra) { $0 + $1 },
            ips: ips
        )
        if !unknownKey { fake.addKey(key) }
        let outcome = try await VenueHarness.live(fake.router()) { url in
            // The fake, like Bybit, refuses calls from outside a key's bound IPs: this machine (127.0.0.1) is the egress here.
            let settings = VenueHarness.settings(.bybit, url, extra: [Setting.egressIPs.name: "127.0.0.1,198.51.100.7"])
            return try await VenueHarness.submit(settings, ["venue": "bybit", "api_key": key.apiKey, "api_secret": key.secret])
        }
        let calls = fake.log.count(path: "/v5/user/query-api")
        if expected == "accepted" {
            VenueHarness.expectAccepted(outcome, keyHint: String(key.apiKey.suffix(4)), secrets: [key.apiKey, key.secret], introspections: calls)
        } else {
            VenueHarness.expectRefused(outcome, expected, secrets: [key.apiKey, key.secret], introspections: calls)
        }
    }

    // MARK: OKX

    @Test(
        "OKX: withdraw → withdrawal_permission, read-only → trade_permission_missing, no IPs → ip_allowlist_missing, a foreign IP → ip_allowlist_mismatch, wrong passphrase → unverifiable_key; a trade-only IP-locked key is stored",
        arguments: [
            ("withdrawal_permission", "read_only,withdraw,trade", "198.51.100.7", false),
            ("trade_permission_missing", "read_only", "198.51.100.7", false),
            ("ip_allowlist_missing", "read_only,trade", "", false), ("ip_allowlist_mismatch", "read_only,trade", "198.51.100.7,203.0.113.9", false),
            ("unverifiable_key", "read_only,trade", "198.51.100.7", true), ("accepted", "read_only,trade", "198.51.100.7,198.51.100.8", false),
        ]
    )
    func okx(expected: String, perm: String, ip: String, wrongPassphrase: Bool) async throws {
        let fake = FakeOKX()
        let key = UUID().uuidString.lowercased()
        let secret = VenueHarness.randomText(32)
        let passphrase = "Pass-\(VenueHarness.randomText(8))"
        fake.addKey(OKXKey(apiKey: key, secret: secret, passphrase: passphrase, perm: perm, ip: ip))
        let outcome = try await VenueHarness.live(fake.router()) { url in
            try await VenueHarness.submit(
                VenueHarness.settings(.okx, url),
                [
                    "venue": "okx", "api_key": key, "api_secret": secret,
                    "passphrase": wrongPassphrase ? "not-it" : passphrase,
                ]
            )
        }
        let calls = fake.log.count(path: "/api/v5/account/config")
        if expected == "accepted" {
            VenueHarness.expectAccepted(outcome, keyHint: String(key.suffix(4)), secrets: [key, secret, passphrase], introspections: calls)
        } else {
            VenueHarness.expectRefused(outcome, expected, secrets: [key, secret, passphrase], introspections: calls)
        }
    }

    // MARK: Coinbase

    @Test(
        "Coinbase: can_transfer → withdrawal_permission, view-only → trade_permission_missing, an unknown key → unverifiable_key; a View+Trade key is stored with an IP warning (ES256 and Ed25519)",
        arguments: [
            ("withdrawal_permission", true, true, false, false), ("trade_permission_missing", false, false, false, false),
            ("unverifiable_key", true, false, true, false), ("accepted", true, false, false, false), ("accepted", true, false, false, true),
        ]
    )
    func coinbase(expected: String, canTrade: Bool, canTransfer: Bool, unknownKey: Bool, ed25519: Bool) async throws {
        let fake = FakeCoinbase()
        let name = "organizations/\(UUID().uuidString.lowercased())/apiKeys/\(UUID().uuidString.lowercased())"
        let secret: String
        if ed25519 {
            let key = Curve25519.Signing.PrivateKey()
            secret = (key.rawRepresentation + key.publicKey.rawRepresentation).base64EncodedString()
            fake.addKey(CoinbaseKey(name: name, publicKey: .ed25519(key.publicKey), canTrade: canTrade, canTransfer: canTransfer))
        } else {
            let key = P256.Signing.PrivateKey()
            secret = key.pemRepresentation
            fake.addKey(
                CoinbaseKey(name: unknownKey ? name + "x" : name, publicKey: .p256(key.publicKey), canTrade: canTrade, canTransfer: canTransfer)
            )
        }
        let outcome = try await VenueHarness.live(fake.router()) { url in
            fake.expectedHost = String(url.dropFirst("http://".count))
            return try await VenueHarness.submit(VenueHarness.settings(.coinbase, url), ["venue": "coinbase", "api_key": name, "api_secret": secret])
        }
        let calls = fake.log.count(path: "/api/v3/brokerage/key_permissions")
        let material = [name, secret] + secret.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        if expected == "accepted" {
            VenueHarness.expectAccepted(outcome, keyHint: String(name.suffix(4)), secrets: material, introspections: calls)
            #expect(outcome.body["ip_restricted"] == nil || "\(outcome.body["ip_restricted"]!)" == "<null>")
            #expect("\(outcome.body["warnings"] ?? "")".contains("IP"))
        } else {
            VenueHarness.expectRefused(outcome, expected, secrets: material, introspections: calls)
        }
    }

    // MARK: Kraken

    @Test(
        "Kraken: withdraw-funds → withdrawal_permission, query-only → trade_permission_missing, no allowlist → ip_allowlist_missing, a foreign IP → ip_allowlist_mismatch, a wrong secret → unverifiable_key; a trading key locked to our IPs is stored",
        arguments: [
            ("withdrawal_permission", ["query-funds", "modify-trades", "withdraw-funds"], ["198.51.100.7"], false),
            ("trade_permission_missing", ["query-funds", "query-open-trades"], ["198.51.100.7"], false),
            ("ip_allowlist_missing", ["query-funds", "modify-trades", "close-trades"], [String](), false),
            ("ip_allowlist_mismatch", ["query-funds", "modify-trades", "close-trades"], ["198.51.100.7", "203.0.113.0/24"], false),
            ("unverifiable_key", ["query-funds", "modify-trades", "close-trades"], ["198.51.100.7"], true),
            ("accepted", ["query-funds", "query-open-trades", "modify-trades", "close-trades"], ["198.51.100.8"], false),
        ]
    )
    func kraken(expected: String, permissions: [String], allowlist: [String], wrongSecret: Bool) async throws {
        let fake = FakeKraken()
        let key = VenueHarness.randomText(56)
        let secret = Data((0..<64).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let other = Data((0..<64).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        fake.addKey(KrakenKey(apiKey: key, secretBase64: secret, permissions: permissions, ipAllowlist: allowlist))
        let sent = wrongSecret ? other : secret
        let outcome = try await VenueHarness.live(fake.router()) { url in
            try await VenueHarness.submit(VenueHarness.settings(.kraken, url), ["venue": "kraken", "api_key": key, "api_secret": sent])
        }
        let calls = fake.log.count(path: "/0/private/GetApiKeyInfo")
        if expected == "accepted" {
            VenueHarness.expectAccepted(outcome, keyHint: String(key.suffix(4)), secrets: [key, sent], introspections: calls)
        } else {
            VenueHarness.expectRefused(outcome, expected, secrets: [key, sent], introspections: calls)
        }
    }

    // MARK: Hyperliquid

    enum HyperliquidCase: String, CaseIterable, Sendable { case agent, masterKey, unknownWallet, agentOfAnother, notAKey }

    @Test(
        "Hyperliquid: a master wallet's key → master_wallet_key; an unknown wallet, another account's agent or a malformed key → unverifiable_key; an agent of the given account is stored",
        arguments: HyperliquidCase.allCases
    )
    func hyperliquid(_ scenario: HyperliquidCase) async throws {
        guard Secp256k1.isAvailable || Python.requireAll else {
            print("skipped: libsecp256k1 is not installed (apt-get install libsecp256k1-1)")
            return
        }
        let fake = FakeHyperliquid.recovering()
        let master = try TestWallet()
        let agent = try TestWallet()
        let stranger = try TestWallet()
        fake.registerUser(address: master.address)
        fake.registerUser(address: stranger.address)
        switch scenario {
        case .agent, .notAKey: fake.registerAgent(agent: agent.address, master: master.address)
        case .agentOfAnother: fake.registerAgent(agent: agent.address, master: stranger.address)
        case .masterKey, .unknownWallet: break
        }
        let secret =
            switch scenario {
            case .masterKey: master.privateKeyHex
            case .notAKey: "0x1234"
            default: agent.privateKeyHex
            }
        let outcome = try await VenueHarness.live(fake.router()) { url in
            try await VenueHarness.submit(
                VenueHarness.settings(.hyperliquid, url),
                ["venue": "hyperliquid", "api_key": master.address, "api_secret": secret]
            )
        }
        let calls = fake.log.requests.filter { $0.path == "/info" && $0.body.contains("userRole") }.count
        let secrets = [secret, String(secret.dropFirst(2))]
        switch scenario {
        case .agent: VenueHarness.expectAccepted(outcome, keyHint: String(master.address.suffix(4)), secrets: secrets, introspections: calls)
        case .masterKey: VenueHarness.expectRefused(outcome, "master_wallet_key", secrets: secrets, introspections: calls)
        case .notAKey:
            // Refused before any request: the key is not even a private key.
            #expect(outcome.errorCode == "unverifiable_key")
            #expect(calls == 0 && outcome.storedSecrets == 0)
        default: VenueHarness.expectRefused(outcome, "unverifiable_key", secrets: secrets, introspections: calls)
        }
    }
}
