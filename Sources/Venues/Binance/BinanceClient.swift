// Binance's signed-request rules (HMAC over the total params, X-MBX-APIKEY, recvWindow) and key introspection.

import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Vault

/// Signed and public requests to one Binance API (spot `api.binance.com` or USDⓈ-M `fapi.binance.com`).
struct BinanceClient: Sendable {
    let venue: VenueID
    let transport: VenueTransport
    let clock = VenueClock()
    /// The path of this API's time endpoint (`/api/v3/time` or `/fapi/v1/time`).
    let timePath: String
    static let recvWindow = "5000"

    init(venue: VenueID, baseURL: String, timePath: String, client: HTTPClient, weightLimit: Int) {
        self.venue = venue
        self.timePath = timePath
        self.transport = VenueTransport(venue: venue, baseURL: baseURL, client: client) { response in
            if let refused = VenueTransport.retryAfterSignal(response) { return refused }
            // Binance counts request weight per minute; at the limit, wait for the next minute.
            if let used = response.headers.first(name: "X-MBX-USED-WEIGHT-1M").flatMap(Int.init), used >= weightLimit {
                let millisecondsIntoMinute = Int64(Date().timeIntervalSince1970 * 1000) % 60_000
                return .exhausted(pause: .milliseconds(60_000 - millisecondsIntoMinute))
            }
            return nil
        }
    }

    func serverTime() async throws -> Int64 {
        let response = try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: self.timePath) }
        guard let time = try self.checked(response)["serverTime"].int64 else { throw VenueError.invalidResponse(self.venue, "no serverTime") }
        return time
    }

    /// A signed request: `params` then recvWindow and timestamp in the query, `signature` last. With `retry`,
    /// rate-limit refusals are waited out and a -1021 (timestamp outside recvWindow) resyncs the clock once.
    func signed(
        _ method: HTTPMethod,
        _ path: String,
        _ params: [(String, String)],
        credentials: VenueCredentials,
        retry: Bool = true
    ) async throws -> JSON {
        var resynced = false
        while true {
            let response = try await self.transport.send(retry: retry) {
                Self.signedRequest(method, path, params, timestamp: try await self.clock.now(sync: self.serverTime), credentials: credentials)
            }
            do {
                return try self.checked(response)
            } catch VenueError.rejected(_, "-1021", _) where retry && !resynced {
                resynced = true
                try await self.clock.resync(self.serverTime)
            }
        }
    }

    /// The request as sent: params, recvWindow and timestamp in the query, `signature` (over exactly that query) last.
    static func signedRequest(
        _ method: HTTPMethod,
        _ path: String,
        _ params: [(String, String)],
        timestamp: Int64,
        credentials: VenueCredentials
    ) -> VenueRequest {
        let query = formEncode(params + [("recvWindow", Self.recvWindow), ("timestamp", String(timestamp))])
        let signature = BinanceSigning.signature(payload: query, secret: credentials.secret)
        return VenueRequest(method: method, path: path, query: query + "&signature=" + signature, headers: ["X-MBX-APIKEY": credentials.apiKey])
    }

    func get(_ path: String, _ params: [(String, String)] = []) async throws -> JSON {
        let response = try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: path, query: formEncode(params)) }
        return try self.checked(response)
    }

    /// The answer's JSON, or the venue's `{code, msg}` error as `.rejected`; 5xx and non-JSON as `.unreachable`.
    func checked(_ response: VenueResponse) throws -> JSON {
        let json = JSON(bytes: response.body)
        if response.status.code >= 500 { throw VenueError.unreachable(self.venue, "HTTP \(response.status.code)") }
        if response.status.code >= 400 || (json["code"].int64 ?? 0) < 0 {
            guard let code = json["code"].int64 else { throw VenueError.unreachable(self.venue, "HTTP \(response.status.code)") }
            throw VenueError.rejected(self.venue, code: String(code), message: json["msg"].string ?? "")
        }
        if json.isNull { throw VenueError.invalidResponse(self.venue, "not JSON") }
        return json
    }

    /// GET /sapi/v1/account/apiRestrictions: one call, never retried (SPEC §4).
    func inspect(_ credentials: VenueCredentials) async throws -> KeyInspection {
        let facts = try await self.signed(.GET, "/sapi/v1/account/apiRestrictions", [], credentials: credentials, retry: false)
        guard facts["enableReading"].bool != nil else { throw VenueError.invalidResponse(self.venue, "apiRestrictions without enableReading") }
        let names = [
            "enableReading", "enableSpotAndMarginTrading", "enableMargin", "enableFutures", "enableVanillaOptions",
            "enablePortfolioMarginTrading", "enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer",
        ]
        let granted = names.filter { facts[$0].bool == true }
        // A missing money-moving flag is not "false": without all three the key's powers are unknown.
        let moneyFlags = ["enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer"]
        let missing = moneyFlags.filter { facts[$0].bool == nil }
        let tradeFlag = self.venue == .binanceUSDM ? "enableFutures" : "enableSpotAndMarginTrading"
        return KeyInspection(
            venue: self.venue,
            role: missing.isEmpty
                ? .tradingKey
                : .unverifiable(
                    reason: "Binance's answer lacks \(missing.joined(separator: ", ")), so Tradekeep cannot tell whether the key can move funds."
                ),
            permissions: granted,
            canTrade: granted.contains(tradeFlag),
            withdrawalPermissions: granted.filter { $0 == "enableWithdrawals" },
            transferPermissions: granted.filter { $0 == "enableInternalTransfer" || $0 == "permitsUniversalTransfer" },
            ipRestriction: facts["ipRestrict"].bool == true ? .restrictedUnlisted : .unrestricted
        )
    }
}

/// Binance spot: key inspection now; trading arrives in a later issue.
public struct BinanceSpotVenue: InspectionOnlyVenue {
    public let id = VenueID.binance
    let client: BinanceClient

    public init(baseURL: String, client: HTTPClient = .shared) {
        self.client = BinanceClient(venue: .binance, baseURL: baseURL, timePath: "/api/v3/time", client: client, weightLimit: 6000)
    }

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        try await self.client.inspect(credentials)
    }
}
