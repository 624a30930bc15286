// A local fake of Kraken spot key introspection (public Time, private GetApiKeyInfo) with documented API-Sign and nonce checks.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// A Kraken API key as the fake knows it, with what `GetApiKeyInfo` reports for it.
public struct KrakenKey: Sendable {
    public var apiKey: String
    public var secretBase64: String
    /// Permission codes as GetApiKeyInfo lists them, e.g. "query-funds", "modify-trades", "withdraw-funds".
    public var permissions: [String]
    /// IPs/CIDRs the key is restricted to; empty means unrestricted. Reported only, not enforced.
    public var ipAllowlist: [String]
    public var name: String
    /// How far below the highest nonce seen a nonce may still be (0: strictly increasing).
    public var nonceWindow: UInt64
    public var iban: String

    public init(
        apiKey: String,
        secretBase64: String,
        permissions: [String],
        ipAllowlist: [String] = [],
        name: String = "tradekeep",
        nonceWindow: UInt64 = 0,
        iban: String = "AA88 N84G WOAK NMOI"
    ) {
        self.apiKey = apiKey
        self.secretBase64 = secretBase64
        self.permissions = permissions
        self.ipAllowlist = ipAllowlist
        self.name = name
        self.nonceWindow = nonceWindow
        self.iban = iban
    }
}

/// Fake Kraken spot: `GET /0/public/Time` and the signed `POST /0/private/GetApiKeyInfo`.
public final class FakeKraken: Sendable {
    private struct State {
        var keys: [String: KrakenKey] = [:]
        var highestNonce: [String: UInt64] = [:]
        var usedNonces: [String: Set<UInt64>] = [:]
        var lastUsed: [String: Int64] = [:]
        var createdAt: [String: Int64] = [:]
        var rejections: [String] = []
    }

    public let log: FakeVenueLog
    private let state = NIOLockedValueBox(State())

    public init(log: FakeVenueLog = FakeVenueLog()) { self.log = log }

    public func addKey(_ key: KrakenKey) {
        let now = self.log.nowMilliseconds / 1000
        self.state.withLockedValue {
            $0.keys[key.apiKey] = key
            $0.createdAt[key.apiKey] = now
        }
    }

    public func removeKey(apiKey: String) { _ = self.state.withLockedValue { $0.keys.removeValue(forKey: apiKey) } }

    /// The highest nonce the key has used so far (nil before its first accepted request).
    public func lastNonce(apiKey: String) -> UInt64? { self.state.withLockedValue { $0.highestNonce[apiKey] } }
    /// Kraken error strings the fake answered with, oldest first.
    public var rejections: [String] { self.state.withLockedValue { $0.rejections } }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))
        router.get("/0/public/Time") { _, _ in
            let seconds = self.log.nowMilliseconds / 1000
            return fakeJSON(.ok, ["error": [String](), "result": ["unixtime": seconds, "rfc1123": krakenRFC1123(seconds)]])
        }
        router.post("/0/private/GetApiKeyInfo") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            switch self.authenticate(request, body: body) {
            case .failure(let error):
                // Kraken answers every API error with HTTP 200 and the error list.
                return fakeJSON(.ok, ["error": [error.text], "result": [String: Any]()])
            case .success(let (key, nonce)):
                return fakeJSON(.ok, ["error": [String](), "result": self.keyInfo(key, nonce: nonce)])
            }
        }
        return router
    }

    // MARK: - Authentication

    private struct KrakenError: Error { var text: String }

    private func authenticate(_ request: Request, body: String) -> Result<(KrakenKey, UInt64), KrakenError> {
        let path = request.uri.path
        let apiKey = krakenHeader(request, "API-Key") ?? ""
        let sign = krakenHeader(request, "API-Sign") ?? ""
        let isJSON = (krakenHeader(request, "Content-Type") ?? "").lowercased().contains("json")
        let nonceText = krakenNonce(body: body, isJSON: isJSON)
        let now = self.log.nowMilliseconds / 1000
        let result: Result<(KrakenKey, UInt64), KrakenError> = self.state.withLockedValue { state in
            guard !apiKey.isEmpty, let key = state.keys[apiKey] else { return .failure(KrakenError(text: "EAPI:Invalid key")) }
            guard let nonceText, let nonce = UInt64(nonceText) else { return .failure(KrakenError(text: "EAPI:Invalid nonce")) }
            guard Self.apiSign(path: path, nonce: nonceText, postData: body, secretBase64: key.secretBase64) == sign
            else { return .failure(KrakenError(text: "EAPI:Invalid signature")) }
            // Checked only after the signature, so a forged request cannot burn a nonce.
            let highest = state.highestNonce[apiKey]
            if let highest {
                let floor = highest > key.nonceWindow ? highest - key.nonceWindow : 0
                let reused = state.usedNonces[apiKey, default: []].contains(nonce)
                if key.nonceWindow == 0 ? nonce <= highest : (nonce <= floor || reused) {
                    return .failure(KrakenError(text: "EAPI:Invalid nonce"))
                }
            }
            state.highestNonce[apiKey] = max(highest ?? 0, nonce)
            state.usedNonces[apiKey, default: []].insert(nonce)
            state.lastUsed[apiKey] = now
            return .success((key, nonce))
        }
        if case .failure(let error) = result { self.state.withLockedValue { $0.rejections.append(error.text) } }
        return result
    }

    /// The documented GetApiKeyInfo result (timestamps and nonce are strings, nonceWindow a number).
    private func keyInfo(_ key: KrakenKey, nonce: UInt64) -> [String: Any] {
        let (created, lastUsed) = self.state.withLockedValue { ($0.createdAt[key.apiKey] ?? 0, $0.lastUsed[key.apiKey] ?? 0) }
        return [
            "apiKeyName": key.name, "apiKey": key.apiKey, "nonce": String(nonce), "nonceWindow": key.nonceWindow,
            "permissions": key.permissions, "iban": key.iban, "validUntil": "0", "queryFrom": "0", "queryTo": "0",
            "createdTime": String(created), "modifiedTime": String(created), "ipAllowlist": key.ipAllowlist,
            "lastUsed": String(lastUsed),
        ]
    }
}

extension FakeKraken {
    /// API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata))).
    public static func apiSign(path: String, nonce: String, postData: String, secretBase64: String) -> String? {
        guard let secret = Data(base64Encoded: secretBase64) else { return nil }
        let inner = SHA256.hash(data: Data((nonce + postData).utf8))
        var message = Data(path.utf8)
        message.append(contentsOf: inner)
        let mac = HMAC<SHA512>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return Data(mac).base64EncodedString()
    }
}

private func krakenHeader(_ request: Request, _ name: String) -> String? {
    HTTPField.Name(name).flatMap { request.headers[$0] }
}

/// The nonce from either body encoding Kraken accepts: form-urlencoded or JSON.
private func krakenNonce(body: String, isJSON: Bool) -> String? {
    if isJSON {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        switch object["nonce"] {
        case let text as String: return text
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }
    for pair in body.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, parts[0] == "nonce" { return String(parts[1]).removingPercentEncoding }
    }
    return nil
}

private func krakenRFC1123(_ seconds: Int64) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "EEE, dd MMM yy HH:mm:ss +0000"
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}
