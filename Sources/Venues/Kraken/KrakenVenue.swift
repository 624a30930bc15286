// Kraken spot: key introspection through POST /0/private/GetApiKeyInfo; trading arrives in a later issue.

import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Vault

public struct KrakenVenue: InspectionOnlyVenue {
    public let id = VenueID.kraken
    let transport: VenueTransport
    let nonces = KrakenNonce()

    /// Kraken's permission codes by what they allow; anything else is unknown and refused (fail closed).
    static let withdrawal: Set = ["withdraw-funds", "add-withdraw-address", "update-withdraw-address"]
    static let known: Set = [
        "query-funds", "add-funds", "withdraw-funds", "earn-funds", "query-open-trades", "query-closed-trades",
        "modify-trades", "close-trades", "query-ledger", "export-data", "create-ws-token",
        "add-withdraw-address", "update-withdraw-address",
    ]

    public init(baseURL: String, client: HTTPClient = .shared) {
        self.transport = VenueTransport(venue: .kraken, baseURL: baseURL, client: client)
    }

    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        guard let secret = KrakenSigning.decodeSecret(credentials.secret) else {
            throw KeyRejection(
                .unverifiableKey,
                "Kraken API secrets are base64 text; this one is not. Paste the Private Key exactly as Kraken showed it."
            )
        }
        let path = "/0/private/GetApiKeyInfo"
        let nonce = String(await self.nonces.next())
        let response = try await self.transport.send(retry: false) {
            let body = "nonce=\(nonce)"
            let signature = KrakenSigning.signature(uriPath: path, nonce: nonce, postData: body, secret: secret)
            return VenueRequest(
                method: .POST,
                path: path,
                headers: [
                    "API-Key": credentials.apiKey, "API-Sign": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                ],
                body: Array(body.utf8)
            )
        }
        if response.status.code >= 500 { throw VenueError.unreachable(self.id, "HTTP \(response.status.code)") }
        let json = JSON(bytes: response.body)
        if let errors = json["error"].array?.compactMap(\.string), !errors.isEmpty {
            throw VenueError.rejected(self.id, code: errors[0], message: errors.joined(separator: "; "))
        }
        guard let granted = json["result"]["permissions"].array?.compactMap(\.string) else {
            throw VenueError.invalidResponse(self.id, "GetApiKeyInfo without permissions")
        }
        let unknown = granted.filter { !Self.known.contains($0) }
        let ips = json["result"]["ipAllowlist"].array?.compactMap(\.string) ?? []
        return KeyInspection(
            venue: self.id,
            role: unknown.isEmpty
                ? .tradingKey
                : .unverifiable(
                    reason:
                        "Kraken reports permissions Tradekeep does not know (\(unknown.joined(separator: ", "))), so it cannot tell whether the key can move funds."
                ),
            permissions: granted,
            canTrade: granted.contains("modify-trades"),
            withdrawalPermissions: granted.filter { Self.withdrawal.contains($0) },
            ipRestriction: ips.isEmpty ? .unrestricted : .addresses(ips)
        )
    }
}

/// Kraken nonces must rise strictly per key: microseconds since 1970, never repeated within this process.
actor KrakenNonce {
    private var last: UInt64 = 0

    func next() -> UInt64 {
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        self.last = max(self.last + 1, now)
        return self.last
    }
}
