// OKX v5: key introspection through GET /api/v5/account/config; trading arrives in a later issue.

import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Vault

public struct OKXVenue: InspectionOnlyVenue {
    public let id = VenueID.okx
    let transport: VenueTransport
    let clock = VenueClock()
    /// Demo trading: OKX serves it from the production host when `x-simulated-trading: 1` is sent.
    let simulated: Bool

    public init(baseURL: String, simulated: Bool = false, client: HTTPClient = .shared) {
        self.transport = VenueTransport(venue: .okx, baseURL: baseURL, client: client)
        self.simulated = simulated
    }

    func serverTime() async throws -> Int64 {
        let response = try await self.transport.send(retry: true) { VenueRequest(method: .GET, path: "/api/v5/public/time") }
        guard let time = try self.checked(response)[0]["ts"].int64 else { throw VenueError.invalidResponse(self.id, "no ts") }
        return time
    }

    /// `data` of a `{code: "0", …}` answer; any other code is the venue's refusal.
    func checked(_ response: VenueResponse) throws -> JSON {
        if response.status.code >= 500 { throw VenueError.unreachable(self.id, "HTTP \(response.status.code)") }
        let json = JSON(bytes: response.body)
        guard let code = json["code"].string else { throw VenueError.unreachable(self.id, "HTTP \(response.status.code), not the v5 API") }
        guard code == "0" else { throw VenueError.rejected(self.id, code: code, message: json["msg"].string ?? "") }
        return json["data"]
    }

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        guard let passphrase = credentials.passphrase else {
            throw KeyRejection(.unverifiableKey, "OKX keys come with a passphrase: send it as `passphrase`.")
        }
        let path = "/api/v5/account/config"
        let timestamp = OKXSigning.timestamp(milliseconds: try await self.clock.now(sync: self.serverTime))
        let response = try await self.transport.send(retry: false) {
            let signature = OKXSigning.signature(timestamp: timestamp, method: "GET", requestPath: path, body: "", secret: credentials.secret)
            var headers: HTTPHeaders = [
                "OK-ACCESS-KEY": credentials.apiKey, "OK-ACCESS-SIGN": signature, "OK-ACCESS-TIMESTAMP": timestamp,
                "OK-ACCESS-PASSPHRASE": passphrase.withUnsafeBytes { String(decoding: $0, as: UTF8.self) },
            ]
            if self.simulated { headers.add(name: "x-simulated-trading", value: "1") }
            return VenueRequest(method: .GET, path: path, headers: headers)
        }
        let facts = try self.checked(response)[0]
        guard let perm = facts["perm"].string else { throw VenueError.invalidResponse(self.id, "account/config without perm") }
        let granted = perm.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let ips = (facts["ip"].string ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return KeyInspection(
            venue: self.id,
            permissions: granted,
            canTrade: granted.contains("trade"),
            withdrawalPermissions: granted.filter { $0 == "withdraw" },
            ipRestriction: ips.isEmpty ? .unrestricted : .addresses(ips)
        )
    }
}
