// Coinbase Advanced Trade: key introspection through GET /api/v3/brokerage/key_permissions with a CDP JWT.

import AsyncHTTPClient
import Foundation
import NIOHTTP1

public struct CoinbaseVenue: InspectionOnlyVenue {
    public let id = VenueID.coinbase
    let transport: VenueTransport
    let clock = VenueClock()
    /// The host named in each JWT's `uri` claim: the base URL's host (and port, if not the default).
    let host: String

    public init(baseURL: String, client: HTTPClient = .shared) {
        self.transport = VenueTransport(venue: .coinbase, baseURL: baseURL, client: client)
        let components = URLComponents(string: baseURL)
        self.host = (components?.host ?? "api.coinbase.com") + (components?.port.map { ":\($0)" } ?? "")
    }

    func serverTime() async throws -> Int64 {
        let response = try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: "/api/v3/brokerage/time") }
        guard let millis = JSON(bytes: response.body)["epochMillis"].int64 else {
            throw VenueError.unreachable(self.id, "HTTP \(response.status.code)")
        }
        return millis
    }

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        let path = "/api/v3/brokerage/key_permissions"
        let now = Date(timeIntervalSince1970: Double(try await self.clock.now(sync: self.serverTime)) / 1000)
        let token: String
        do {
            token = try await CoinbaseAuth.token(
                keyName: credentials.apiKey,
                secret: credentials.secret,
                method: "GET",
                host: self.host,
                path: path,
                now: now
            )
        } catch {
            throw KeyRejection(.unverifiableKey, CoinbaseAuthError.unreadableKey.description)
        }
        let response = try await self.transport.send(retry: false) {
            VenueRequest(method: .GET, path: path, headers: ["Authorization": "Bearer \(token)"])
        }
        if response.status.code >= 500 { throw VenueError.unreachable(self.id, "HTTP \(response.status.code)") }
        let facts = JSON(bytes: response.body)
        guard response.status == .ok, let canTrade = facts["can_trade"].bool else {
            throw VenueError.rejected(self.id, code: String(response.status.code), message: facts["message"].string ?? facts["error"].string ?? "")
        }
        let flags = ["can_view", "can_trade", "can_transfer"].filter { facts[$0].bool == true }
        let portfolio = facts["portfolio_type"].string.map { ["portfolio_type=\($0)"] } ?? []
        return KeyInspection(
            venue: self.id,
            role: facts["can_transfer"].bool == nil
                ? .unverifiable(reason: "Coinbase's answer lacks can_transfer, so Tradekeep cannot tell whether the key can move funds.")
                : .tradingKey,
            permissions: flags + portfolio,
            canTrade: canTrade,
            withdrawalPermissions: flags.filter { $0 == "can_transfer" },
            ipRestriction: .unknown
        )
    }
}
