// Interop with independent implementations (interop/*.py): pyotp, pyca bcrypt, PyJWT.

import Foundation
import InteropSupport
import NIOPosix
import Testing
import Vault

@testable import Accounts

@Suite(
    .enabled(
        if: Python.interopAvailable || Python.requireAll,
        "needs python3 with pyotp, bcrypt, PyJWT and cryptography (pip install -r interop/requirements.txt)"
    )
)
struct InteropTests {
    @Test("TOTP: our codes verify with pyotp, pyotp's codes verify with ours, our otpauth URI parses in pyotp")
    func totp() throws {
        let totp = TOTP.standard
        var verify: [[String: Any]] = []
        var generate: [[String: Any]] = []
        var secrets: [SecretBytes] = []
        var times: [Int] = []
        for _ in 0..<40 {
            let secret = SecretBytes.random(count: 20)
            let time = Int.random(in: 0...4_000_000_000)
            let base32 = secret.withUnsafeBytes { Base32.encode($0) }
            verify.append(["secret": base32, "time": time, "code": totp.code(secret: secret, at: Date(timeIntervalSince1970: TimeInterval(time)))])
            generate.append(["secret": base32, "time": time + 30])
            secrets.append(secret)
            times.append(time + 30)
        }
        let uri = totp.provisioningURI(secret: secrets[0], account: "alice@example.com", issuer: "Tradekeep")
        let answer = try Python.interop("totp.py", ["verify": verify, "generate": generate, "uris": [uri]])
        #expect((answer["verified"] as? [Bool]) == Array(repeating: true, count: 40))
        let theirs = try #require(answer["generated"] as? [String])
        for (index, code) in theirs.enumerated() {
            let result = totp.verify(code, secret: secrets[index], at: Date(timeIntervalSince1970: TimeInterval(times[index])), lastUsedStep: nil)
            #expect(result == .accepted(step: Int64(times[index]) / 30), "pyotp code \(code) refused")
        }
        let parsed = try #require((answer["uri_secrets"] as? [[Any]])?.first)
        #expect(parsed[0] as? String == secrets[0].withUnsafeBytes { Base32.encode($0) })
        #expect(parsed[1] as? Int == 6 && parsed[2] as? Int == 30)
        #expect(parsed[3] as? String == "alice@example.com" && parsed[4] as? String == "Tradekeep")
    }

    @Test("bcrypt: our cost-12 hashes verify with pyca bcrypt; its hashes verify with ours")
    func bcrypt() async throws {
        let hasher = PasswordHasher(cost: 12)
        let passwords = ["correct horse battery staple", "pässwörd with ünïcode ✓", String(repeating: "seventy-two ", count: 6)]
        var ours: [[String: Any]] = []
        for password in passwords.prefix(2) {
            ours.append(["password": password, "hash": try await hasher.hash(password)])
        }
        ours.append(["password": "wrong password entirely", "hash": ours[0]["hash"]!])
        let answer = try Python.interop("bcrypt_check.py", ["check": ours, "hash": passwords.prefix(2).map { ["password": $0, "cost": 12] }])
        #expect((answer["checked"] as? [Bool]) == [true, true, false])
        let theirs = try #require(answer["hashes"] as? [String])
        for (password, hash) in zip(passwords, theirs) {
            #expect(hash.hasPrefix("$2b$12$"))
            #expect(try await hasher.verify(password, hash: hash))
            #expect(try await !hasher.verify(password + "!", hash: hash))
        }
    }

    @Test("JWT: our access tokens decode with PyJWT (HS256, sub, sid, iat, exp); PyJWT's forgeries are refused")
    func jwt() async throws {
        let key = SecretBytes.random(count: 64)
        let tokens = await AccessTokens(key: key)
        let userID = UUID()
        let sessionID = UUID()
        let ours = try await tokens.issue(userID: userID, sessionID: sessionID)
        let keyText = key.withUnsafeBytes { Data($0).base64EncodedString() }
        let claims = ["sub": userID.uuidString.lowercased(), "sid": sessionID.uuidString.lowercased()]
        let answer = try Python.interop("jwt_check.py", ["key": keyText, "decode": [ours], "claims": claims])
        let decoded = try #require((answer["decoded"] as? [[String: Any]])?.first)
        #expect(decoded["ok"] as? Bool == true, "\(decoded)")
        #expect(decoded["alg"] as? String == "HS256")
        let decodedClaims = try #require(decoded["claims"] as? [String: Any])
        #expect(decodedClaims["sub"] as? String == claims["sub"] && decodedClaims["sid"] as? String == claims["sid"])
        #expect((decodedClaims["exp"] as? Int ?? 0) - (decodedClaims["iat"] as? Int ?? 0) == 900)

        let forged = try #require(answer["tokens"] as? [String: String])
        let valid = try await tokens.verify(try #require(forged["valid"]))
        #expect(valid.userID == userID && valid.sessionID == sessionID)
        for name in ["hs512", "none", "no_iat", "expired", "wrong_key"] {
            await #expect(throws: AccessTokens.Rejection.self, "\(name) accepted") { try await tokens.verify(try #require(forged[name])) }
        }
    }
}
