// Request signing on the venues' published vectors (../shared/vectors/venues.json) and against their official SDKs.

import Crypto
import Foundation
import InteropSupport
import Testing
import Vault
import VenueFakes

@testable import Venues

@Suite struct SigningTests {
    static var vectors: [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors/venues.json")
        let data = (try? Data(contentsOf: url)) ?? Data("{}".utf8)
        return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    static func secret(_ text: String) -> SecretBytes { SecretBytes(copying: Array(text.utf8)) }

    @Test("Binance: hex HMAC-SHA256 of the total params equals the documented signatures (ASCII and percent-encoded symbol)")
    func binanceVectors() throws {
        let entry = try #require(Self.vectors["binance_spot_hmac"] as? [String: Any])
        let secret = Self.secret(try #require(entry["secret"] as? String))
        let cases = try #require(entry["cases"] as? [[String: String]])
        #expect(cases.count == 2)
        for vector in cases {
            #expect(BinanceSigning.signature(payload: vector["payload"]!, secret: secret) == vector["signature_hex"])
        }
        // Our encoder produces exactly the documented percent-encoded payload for the full-width symbol.
        let encoded = formEncode([
            ("symbol", "１２３４５６"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "1"),
            ("price", "0.1"), ("recvWindow", "5000"), ("timestamp", "1499827319559"),
        ])
        #expect(encoded == cases[1]["payload"])
    }

    @Test("Kraken: API-Sign equals the documented vector")
    func krakenVector() throws {
        let entry = try #require(Self.vectors["kraken_spot"] as? [String: String])
        let secret = try #require(KrakenSigning.decodeSecret(Self.secret(entry["secret_base64"]!)))
        #expect(
            KrakenSigning.signature(uriPath: entry["uri_path"]!, nonce: entry["nonce"]!, postData: entry["post_data"]!, secret: secret)
                == entry["api_sign"]
        )
    }

    @Test("OKX: the timestamp is ISO 8601 UTC with milliseconds")
    func okxTimestamp() {
        #expect(OKXSigning.timestamp(milliseconds: 1_607_418_537_715) == "2020-12-08T09:08:57.715Z")
        #expect(OKXSigning.timestamp(milliseconds: 1_607_418_537_000) == "2020-12-08T09:08:57.000Z")
    }

    @Test("Bybit: bodies are signed as sent, keys in our order, values escaped as JSON")
    func bybitBody() {
        #expect(
            BybitVenue.jsonObject([("category", "linear"), ("qty", "0.001"), ("reduceOnly", false), ("orderLinkId", "a\"b/c")])
                == #"{"category":"linear","qty":"0.001","reduceOnly":false,"orderLinkId":"a\"b/c"}"#
        )
    }

    static func randomText(_ count: Int) -> String { TestKeys.text(count) }

    static let sdkModules = ["binance", "pybit", "okx", "ccxt", "jwt", "coinbase"]

    @Test(
        "Signatures equal those of python-binance, pybit, python-okx and ccxt; Coinbase JWTs verify with PyJWT and match coinbase-advanced-py's shape"
    )
    func officialSDKs() async throws {
        guard Python.has("binance", "pybit", "okx", "ccxt", "jwt", "coinbase") else {
            if Python.requireAll { Issue.record("the exchanges' Python SDKs are required (pip install -r interop/requirements.txt)") }
            print("skipped: the exchanges' Python SDKs are not installed (pip install -r interop/requirements.txt)")
            return
        }
        var cases: [[String: Any]] = []
        for index in 0..<4 {
            // Binance: an order's total params as BinanceFuturesVenue builds them, including a non-ASCII client id.
            let binanceSecret = Self.randomText(64)
            let payload = formEncode([
                ("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.00\(index + 1)"), ("timeInForce", "GTC"),
                ("price", "50000.5"), ("newClientOrderId", index == 3 ? "tk-ü-\(index)" : "tk-\(index)"),
                ("recvWindow", "5000"), ("timestamp", String(1_700_000_000_000 + index)),
            ])
            cases.append([
                "venue": "binance", "secret": binanceSecret, "payload": payload,
                "signature": BinanceSigning.signature(payload: payload, secret: Self.secret(binanceSecret)),
            ])

            let bybitKey = Self.randomText(18)
            let bybitSecret = Self.randomText(36)
            let timestamp = String(1_700_000_000_000 + index)
            let bybitPayload =
                index % 2 == 0
                ? "category=linear&symbol=BTCUSDT&orderLinkId=tk-\(index)"
                : BybitVenue.jsonObject([
                    ("category", "linear"), ("symbol", "BTCUSDT"), ("side", "Buy"), ("orderType", "Limit"), ("qty", "0.001"),
                    ("price", "50000"), ("timeInForce", "GTC"), ("orderLinkId", "tk-\(index)"), ("reduceOnly", false),
                ])
            cases.append([
                "venue": "bybit", "api_key": bybitKey, "secret": bybitSecret, "timestamp": timestamp, "recv_window": "5000", "payload": bybitPayload,
                "signature": BybitSigning.signature(
                    timestamp: timestamp,
                    apiKey: bybitKey,
                    recvWindow: "5000",
                    payload: bybitPayload,
                    secret: Self.secret(bybitSecret)
                ),
            ])

            let okxSecret = Self.randomText(32)
            let okxTime = OKXSigning.timestamp(milliseconds: 1_700_000_000_123 + Int64(index))
            let (method, path, body) =
                index % 2 == 0
                ? ("GET", "/api/v5/account/config", "")
                : (
                    "POST", "/api/v5/trade/order",
                    #"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"1","px":"50000"}"#
                )
            cases.append([
                "venue": "okx", "secret": okxSecret, "timestamp": okxTime, "method": method, "request_path": path, "body": body,
                "signature": OKXSigning.signature(timestamp: okxTime, method: method, requestPath: path, body: body, secret: Self.secret(okxSecret)),
            ])

            let krakenSecret = Data((0..<64).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let nonce = String(1_700_000_000_000_000 + index)
            let postData = "nonce=\(nonce)&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
            cases.append([
                "venue": "kraken", "secret_base64": krakenSecret, "nonce": nonce, "post_data": postData, "uri_path": "/0/private/AddOrder",
                "signature": KrakenSigning.signature(
                    uriPath: "/0/private/AddOrder",
                    nonce: nonce,
                    postData: postData,
                    secret: KrakenSigning.decodeSecret(Self.secret(krakenSecret))!
                ),
            ])
        }
        // Coinbase: one P-256 key (as CDP issues them, a SEC1 PEM) and one Ed25519 key (base64 seed ‖ public key).
        let ecKey = P256.Signing.PrivateKey()
        let keyName = "organizations/\(UUID().uuidString.lowercased())/apiKeys/\(UUID().uuidString.lowercased())"
        let ecPEM = try Self.sec1PEM(ecKey)
        let ecToken = try await CoinbaseAuth.token(
            keyName: keyName,
            secret: Self.secret(ecPEM),
            method: "GET",
            host: "api.coinbase.com",
            path: "/api/v3/brokerage/key_permissions",
            now: Date()
        )
        cases.append([
            "venue": "coinbase", "jwt": ecToken, "public_key_pem": ecKey.publicKey.pemRepresentation, "private_key_pem": ecPEM,
            "key_name": keyName, "method": "GET", "host": "api.coinbase.com", "path": "/api/v3/brokerage/key_permissions", "algorithm": "ES256",
        ])
        let edKey = Curve25519.Signing.PrivateKey()
        let edSecret = (edKey.rawRepresentation + edKey.publicKey.rawRepresentation).base64EncodedString()
        let edToken = try await CoinbaseAuth.token(
            keyName: keyName,
            secret: Self.secret(edSecret),
            method: "GET",
            host: "api.coinbase.com",
            path: "/api/v3/brokerage/key_permissions",
            now: Date()
        )
        let edPublicPEM =
            "-----BEGIN PUBLIC KEY-----\n"
            + (Data([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]) + edKey.publicKey.rawRepresentation)
            .base64EncodedString() + "\n-----END PUBLIC KEY-----\n"
        cases.append([
            "venue": "coinbase", "jwt": edToken, "public_key_pem": edPublicPEM, "key_name": keyName, "method": "GET",
            "host": "api.coinbase.com", "path": "/api/v3/brokerage/key_permissions", "algorithm": "EdDSA",
        ])

        let answer = try Python.interop("venue_signing.py", ["cases": cases])
        let results = try #require(answer["results"] as? [[String: Any]])
        for index in cases.indices {
            let checks = results.filter { ($0["index"] as? Int) == index }
            let venue = cases[index]["venue"] as? String ?? "?"
            #expect(!checks.isEmpty, "case \(index) (\(venue)) was not checked")
            for check in checks { Self.expectAgreement(check, "case \(index) (\(venue))") }
        }
        let vectors = try Python.interop("venue_signing.py", ["mode": "vectors"])
        for check in try #require(vectors["results"] as? [[String: Any]]) { Self.expectAgreement(check, "a published vector") }
    }

    static func expectAgreement(_ check: [String: Any], _ what: String) {
        let sdk = check["sdk"] as? String ?? "?"
        let expected = String(describing: check["expected"] ?? "?")
        let agrees = check["ok"] as? Bool == true
        #expect(agrees, "\(sdk) disagrees on \(what): it expected \(expected)")
    }

    /// A SEC1 "EC PRIVATE KEY" PEM, the format Coinbase Developer Platform hands out, made with Python's cryptography.
    static func sec1PEM(_ key: P256.Signing.PrivateKey) throws -> String {
        let result = try Python.run(
            [
                "-c",
                """
                import sys
                from cryptography.hazmat.primitives import serialization
                key = serialization.load_pem_private_key(sys.stdin.buffer.read(), password=None)
                sys.stdout.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode())
                """,
            ],
            input: Data(key.pemRepresentation.utf8)
        )
        guard result.status == 0 else { throw Python.InteropFailure(message: result.error) }
        return String(decoding: result.output, as: UTF8.self)
    }
}
