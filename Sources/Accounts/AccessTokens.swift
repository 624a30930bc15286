// Access tokens: JWT HS256 with sub, sid, iat and exp — all required — bound to a server-side session.

import Foundation
import JWTKit
import Vault

/// The claims of an access token.
public struct AccessClaims: JWTPayload, Equatable {
    public let sub: SubjectClaim
    public let sid: String
    public let iat: IssuedAtClaim
    public let exp: ExpirationClaim

    public var userID: UUID? { UUID(uuidString: self.sub.value) }
    public var sessionID: UUID? { UUID(uuidString: self.sid) }

    /// Signature checks only; `AccessTokens.verify` checks the times against its clock.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    func verifyTimes(now: Date) throws {
        try self.exp.verifyNotExpired(currentDate: now)
        // A token issued in the future (beyond clock skew) was not issued by this server's clock.
        if self.iat.value.timeIntervalSince(now) > AccessTokens.clockSkew {
            throw JWTError.claimVerificationFailure(failedClaim: self.iat, reason: "issued in the future")
        }
    }
}

public struct AccessTokens: Sendable {
    public static let defaultLifetime: TimeInterval = 15 * 60
    public static let maximumLifetime: TimeInterval = 60 * 60
    static let clockSkew: TimeInterval = 60

    public let lifetime: TimeInterval
    private let keys: JWTKeyCollection
    private let clock: @Sendable () -> Date

    public init(key: SecretBytes, lifetime: TimeInterval = defaultLifetime, clock: @escaping @Sendable () -> Date = { Date() }) async {
        precondition(lifetime > 0 && lifetime <= Self.maximumLifetime)
        self.lifetime = lifetime
        self.clock = clock
        self.keys = JWTKeyCollection()
        await self.keys.add(hmac: HMACKey(key: key.symmetricKey), digestAlgorithm: .sha256)
    }

    public func issue(userID: UUID, sessionID: UUID) async throws -> String {
        // NumericDate in whole seconds, as most JWT libraries write it.
        let now = Date(timeIntervalSince1970: self.clock().timeIntervalSince1970.rounded(.down))
        let claims = AccessClaims(
            sub: SubjectClaim(value: userID.uuidString.lowercased()),
            sid: sessionID.uuidString.lowercased(),
            iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(self.lifetime))
        )
        return try await self.keys.sign(claims, header: ["typ": "JWT"])
    }

    public enum Rejection: Error, Equatable {
        case malformed
        case algorithm(String)
        case invalid
    }

    /// Verify signature and claims. Only HS256 is accepted: `none`, other HMACs and asymmetric algorithms are
    /// refused before any key is consulted. A missing `iat`, `exp`, `sub` or `sid` fails decoding.
    public func verify(_ token: String) async throws -> AccessClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64.decode(String(parts[0])),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any]
        else { throw Rejection.malformed }
        guard let algorithm = header["alg"] as? String, algorithm == "HS256" else {
            throw Rejection.algorithm(String(describing: header["alg"] ?? "missing"))
        }
        do {
            let claims = try await self.keys.verify(token, as: AccessClaims.self)
            try claims.verifyTimes(now: self.clock())
            return claims
        } catch {
            throw Rejection.invalid
        }
    }
}
