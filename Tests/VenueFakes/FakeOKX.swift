// A local fake of OKX v5 key introspection (public time, account config) that checks OK-ACCESS-* signatures as documented.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// An OKX API key as the fake knows it, with the account configuration `/api/v5/account/config` reports for it.
public struct OKXKey: Sendable {
    public var apiKey: String
    public var secret: String
    public var passphrase: String
    /// Comma list of `read_only`, `trade`, `withdraw`, e.g. "read_only,trade".
    public var perm: String
    /// Comma list of bound IPs, or "" when the key is bound to none.
    public var ip: String
    public var label: String
    /// A demo-trading key: only accepted with `x-simulated-trading: 1` (and a live key only without it).
    public var isDemo: Bool
    public var uid: String
    public var mainUid: String
    public var acctLv: String
    public var posMode: String
    public var autoLoan: Bool
    public var kycLv: String

    public init(
        apiKey: String,
        secret: String,
        passphrase: String,
        perm: String = "read_only,trade",
        ip: String = "",
        label: String = "tradekeep",
        isDemo: Bool = false,
        uid: String = "44705892343619584",
        mainUid: String? = nil,
        acctLv: String = "2",
        posMode: String = "net_mode",
        autoLoan: Bool = false,
        kycLv: String = "2"
    ) {
        self.apiKey = apiKey
        self.secret = secret
        self.passphrase = passphrase
        self.perm = perm
        self.ip = ip
        self.label = label
        self.isDemo = isDemo
        self.uid = uid
        self.mainUid = mainUid ?? uid
        self.acctLv = acctLv
        self.posMode = posMode
        self.autoLoan = autoLoan
        self.kycLv = kycLv
    }
}

/// Why the fake turned a signed request away: the documented OKX code and message.
public struct OKXRejection: Sendable, Equatable {
    public var code: String
    public var msg: String
    public var path: String
}

/// Fake OKX v5: `GET /api/v5/public/time` and the signed `GET /api/v5/account/config`.
public final class FakeOKX: Sendable {
    private struct State {
        var keys: [String: OKXKey] = [:]
        var rejections: [OKXRejection] = []
        var accepted = 0
        var timestampWindow: TimeInterval
    }

    public let log: FakeVenueLog
    private let state: NIOLockedValueBox<State>

    /// - Parameter timestampWindow: how far OK-ACCESS-TIMESTAMP may be from the venue clock (either way) before 50102.
    public init(log: FakeVenueLog = FakeVenueLog(), timestampWindow: TimeInterval = 30) {
        self.log = log
        self.state = NIOLockedValueBox(State(timestampWindow: timestampWindow))
    }

    public func addKey(_ key: OKXKey) { self.state.withLockedValue { $0.keys[key.apiKey] = key } }
    public func removeKey(apiKey: String) { _ = self.state.withLockedValue { $0.keys.removeValue(forKey: apiKey) } }

    /// Signed requests turned away, oldest first.
    public var rejections: [OKXRejection] { self.state.withLockedValue { $0.rejections } }
    /// How many signed requests passed authentication.
    public var acceptedCount: Int { self.state.withLockedValue { $0.accepted } }
    public var timestampWindow: TimeInterval {
        get { self.state.withLockedValue { $0.timestampWindow } }
        set { self.state.withLockedValue { $0.timestampWindow = newValue } }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))
        router.get("/api/v5/public/time") { _, _ in
            fakeJSON(.ok, ["code": "0", "msg": "", "data": [["ts": String(self.log.nowMilliseconds)]]])
        }
        router.get("/api/v5/account/config") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            switch self.authenticate(request, body: body) {
            case .failure(let rejection):
                return fakeJSON(rejection.status, ["code": rejection.code, "msg": rejection.msg, "data": [Any]()])
            case .success(let key):
                return fakeJSON(.ok, ["code": "0", "msg": "", "data": [Self.accountConfig(key)]])
            }
        }
        return router
    }

    // MARK: - Authentication

    private struct Failure: Error {
        var status: HTTPResponse.Status
        var code: String
        var msg: String
    }

    /// Checks the four OK-ACCESS-* headers in the order a client can least easily confuse (see the facts note).
    private func authenticate(_ request: Request, body: String) -> Result<OKXKey, Failure> {
        let result = self.check(request, body: body)
        self.state.withLockedValue { state in
            switch result {
            case .success: state.accepted += 1
            case .failure(let f): state.rejections.append(OKXRejection(code: f.code, msg: f.msg, path: request.uri.path))
            }
        }
        return result
    }

    private func check(_ request: Request, body: String) -> Result<OKXKey, Failure> {
        func fail(_ code: String, _ msg: String) -> Result<OKXKey, Failure> {
            .failure(Failure(status: .unauthorized, code: code, msg: msg))
        }
        let apiKey = okxHeader(request, "OK-ACCESS-KEY") ?? ""
        let passphrase = okxHeader(request, "OK-ACCESS-PASSPHRASE") ?? ""
        let sign = okxHeader(request, "OK-ACCESS-SIGN") ?? ""
        let timestamp = okxHeader(request, "OK-ACCESS-TIMESTAMP") ?? ""
        if apiKey.isEmpty { return fail("50103", "Request header \"OK-ACCESS-KEY\" cannot be empty.") }
        if passphrase.isEmpty { return fail("50104", "Request header \"OK-ACCESS-PASSPHRASE\" cannot be empty.") }
        if sign.isEmpty { return fail("50106", "Request header \"OK-ACCESS-SIGN\" cannot be empty.") }
        if timestamp.isEmpty { return fail("50107", "Request header \"OK-ACCESS-TIMESTAMP\" cannot be empty.") }
        guard let sentAt = okxParseTimestamp(timestamp) else { return fail("50112", "Invalid OK-ACCESS-TIMESTAMP.") }
        let (keys, window) = self.state.withLockedValue { ($0.keys, $0.timestampWindow) }
        let now = Double(self.log.nowMilliseconds) / 1000
        if abs(now - sentAt) > window { return fail("50102", "Timestamp request expired.") }
        guard let key = keys[apiKey] else { return fail("50111", "Invalid OK-ACCESS-KEY.") }
        // Demo keys live in a separate environment selected by this header.
        let simulated = okxHeader(request, "x-simulated-trading") == "1"
        if simulated != key.isDemo { return fail("50101", "APIKey does not match current environment.") }
        if passphrase != key.passphrase { return fail("50105", "Request header \"OK-ACCESS-PASSPHRASE\" incorrect.") }
        // requestPath is the raw request target, query string included, exactly as sent.
        let prehash = timestamp + request.method.rawValue.uppercased() + request.uri.string + body
        let mac = HMAC<SHA256>.authenticationCode(for: Data(prehash.utf8), using: SymmetricKey(data: Data(key.secret.utf8)))
        if Data(mac).base64EncodedString() != sign { return fail("50113", "Invalid signature.") }
        return .success(key)
    }

    /// The documented data[0] of GET /api/v5/account/config.
    private static func accountConfig(_ key: OKXKey) -> [String: Any] {
        [
            "uid": key.uid, "mainUid": key.mainUid, "acctLv": key.acctLv, "acctStpMode": "cancel_maker",
            "posMode": key.posMode, "autoLoan": key.autoLoan, "greeksType": "PA", "feeType": "0",
            "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic",
            "spotOffsetType": "", "roleType": "0", "traderInsts": [String](), "spotRoleType": "0",
            "spotTraderInsts": [String](), "opAuth": "0", "kycLv": key.kycLv, "label": key.label,
            "ip": key.ip, "perm": key.perm, "liquidationGear": "-1", "enableSpotBorrow": false,
            "spotBorrowAutoRepay": false, "type": key.uid == key.mainUid ? "0" : "1",
        ]
    }
}

private func okxHeader(_ request: Request, _ name: String) -> String? {
    HTTPField.Name(name).flatMap { request.headers[$0] }
}

/// Parses the documented form only: `2020-12-08T09:08:57.715Z` (UTC, exactly three fraction digits).
private func okxParseTimestamp(_ text: String) -> TimeInterval? {
    let pattern = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#
    guard text.range(of: pattern, options: .regularExpression) != nil else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)?.timeIntervalSince1970
}
