// A local fake of Coinbase Advanced Trade key introspection that verifies CDP API-key JWTs (ES256 or EdDSA) as documented.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import NIOConcurrencyHelpers
import NIOCore

/// The public half of a CDP API key: ECDSA P-256 ("ES256") or Ed25519 ("EdDSA").
public enum CoinbasePublicKey: Sendable {
    case p256(P256.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)

    var jwtAlgorithm: String {
        switch self {
        case .p256: "ES256"
        case .ed25519: "EdDSA"
        }
    }
}

/// A CDP API key as the fake knows it, with what `key_permissions` reports for it.
public struct CoinbaseKey: Sendable {
    /// The key name, `organizations/{org_id}/apiKeys/{key_id}`: the JWT's `kid` and `sub`.
    public var name: String
    public var publicKey: CoinbasePublicKey
    public var canView: Bool
    public var canTrade: Bool
    public var canTransfer: Bool
    public var portfolioUUID: String
    /// One of UNDEFINED, DEFAULT, CONSUMER, INTX.
    public var portfolioType: String

    public init(
        name: String,
        publicKey: CoinbasePublicKey,
        canView: Bool = true,
        canTrade: Bool = true,
        canTransfer: Bool = false,
        portfolioUUID: String = "8bfc20d7-f7c6-4422-bf07-8243ca4169fe",
        portfolioType: String = "DEFAULT"
    ) {
        self.name = name
        self.publicKey = publicKey
        self.canView = canView
        self.canTrade = canTrade
        self.canTransfer = canTransfer
        self.portfolioUUID = portfolioUUID
        self.portfolioType = portfolioType
    }
}

/// The claims of a CDP REST JWT.
struct CoinbaseJWTClaims: JWTPayload {
    var sub: String?
    var iss: String?
    var nbf: Double?
    var exp: Double?
    var uri: String?

    /// Claims are checked by the fake against its own (skewable) clock, not here.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Fake Coinbase Advanced Trade: `GET /api/v3/brokerage/time` and the JWT-authenticated `GET /api/v3/brokerage/key_permissions`.
public final class FakeCoinbase: Sendable {
    private struct State {
        var keys: [String: CoinbaseKey] = [:]
        var expectedHost: String
        var rejections: [String] = []
        var accepted = 0
    }

    public let log: FakeVenueLog
    private let state: NIOLockedValueBox<State>

    /// - Parameter expectedHost: the host the `uri` claim must name (the public host in production).
    public init(log: FakeVenueLog = FakeVenueLog(), expectedHost: String = "api.coinbase.com") {
        self.log = log
        self.state = NIOLockedValueBox(State(expectedHost: expectedHost))
    }

    public func addKey(_ key: CoinbaseKey) { self.state.withLockedValue { $0.keys[key.name] = key } }
    public func removeKey(name: String) { _ = self.state.withLockedValue { $0.keys.removeValue(forKey: name) } }

    public var expectedHost: String {
        get { self.state.withLockedValue { $0.expectedHost } }
        set { self.state.withLockedValue { $0.expectedHost = newValue } }
    }
    /// Why each rejected request was rejected (the venue itself only says "Unauthorized"), oldest first.
    public var rejections: [String] { self.state.withLockedValue { $0.rejections } }
    public var acceptedCount: Int { self.state.withLockedValue { $0.accepted } }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))
        router.get("/api/v3/brokerage/time") { _, _ in
            let millis = self.log.nowMilliseconds
            let iso = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
            // int64 fields come back as strings from Coinbase's gRPC gateway.
            return fakeJSON(.ok, ["iso": iso, "epochSeconds": String(millis / 1000), "epochMillis": String(millis)])
        }
        router.get("/api/v3/brokerage/key_permissions") { request, _ in
            switch await self.authenticate(request) {
            case .failure(let reason):
                self.state.withLockedValue { $0.rejections.append(reason.text) }
                return coinbaseUnauthorized()
            case .success(let key):
                self.state.withLockedValue { $0.accepted += 1 }
                return fakeJSON(
                    .ok,
                    [
                        "can_view": key.canView, "can_trade": key.canTrade, "can_transfer": key.canTransfer,
                        "portfolio_uuid": key.portfolioUUID, "portfolio_type": key.portfolioType,
                    ]
                )
            }
        }
        return router
    }

    // MARK: - Authentication

    private struct Reason: Error { var text: String }

    private func authenticate(_ request: Request) async -> Result<CoinbaseKey, Reason> {
        func fail(_ text: String) -> Result<CoinbaseKey, Reason> { .failure(Reason(text: text)) }
        guard let authorization = HTTPField.Name("Authorization").flatMap({ request.headers[$0] }),
            authorization.hasPrefix("Bearer ")
        else { return fail("no bearer token") }
        let token = String(authorization.dropFirst("Bearer ".count))
        guard let (header, _, _) = try? DefaultJWTParser().parse(Array(token.utf8), as: CoinbaseJWTClaims.self)
        else { return fail("malformed JWT") }
        let (keys, host) = self.state.withLockedValue { ($0.keys, $0.expectedHost) }
        guard let kid = header.kid, let key = keys[kid] else { return fail("unknown kid") }
        guard header.alg == key.publicKey.jwtAlgorithm else { return fail("alg \(header.alg ?? "none") does not fit the key") }
        if let typ = header.typ, typ != "JWT" { return fail("typ \(typ)") }
        guard let nonce = header.fields["nonce"]?.asString, !nonce.isEmpty else { return fail("no nonce in header") }

        // The signature, with a collection holding only this key.
        let collection = JWTKeyCollection()
        do {
            switch key.publicKey {
            case .p256(let publicKey): await collection.add(ecdsa: try ES256PublicKey(backing: publicKey))
            case .ed25519(let publicKey): await collection.add(eddsa: EdDSA.PublicKey(backing: publicKey))
            }
        } catch { return fail("unusable key") }
        guard let claims = try? await collection.verify(token, as: CoinbaseJWTClaims.self) else { return fail("bad signature") }

        guard claims.sub == key.name else { return fail("sub is not the key name") }
        guard claims.iss == "cdp" else { return fail("iss is not cdp") }
        guard let nbf = claims.nbf, let exp = claims.exp else { return fail("nbf/exp missing") }
        let now = Double(self.log.nowMilliseconds) / 1000
        if nbf > now { return fail("not yet valid (nbf)") }
        if exp <= now { return fail("expired (exp)") }
        if exp - nbf > 120 { return fail("lifetime over 120 s") }
        // uri = METHOD + " " + host + path (no scheme, no query).
        let expectedURI = "\(request.method.rawValue) \(host)\(request.uri.path)"
        guard claims.uri == expectedURI else { return fail("uri \(claims.uri ?? "missing") != \(expectedURI)") }
        return .success(key)
    }
}

/// What Coinbase answers for any JWT problem: 401 with a plain-text body.
private func coinbaseUnauthorized() -> Response {
    var fields = HTTPFields()
    fields[.contentType] = "text/plain; charset=utf-8"
    return Response(status: .unauthorized, headers: fields, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized\n")))
}
