// Passwords, backup codes, opaque tokens, rate limiting and lockout policy.

import Foundation
import NIOPosix
import Testing
import Vault

@testable import Accounts

@Suite struct PasswordPolicyTests {
    @Test("12 to 256 characters counted as typed (Unicode scalars), no composition rules")
    func lengths() {
        let policy = PasswordPolicy()
        #expect(policy.checkForm("elevenchars") == .tooShort(minimum: 12))
        #expect(policy.checkForm("twelve chars") == nil)
        #expect(policy.checkForm("ééééééééééé") == .tooShort(minimum: 12))  // 11 characters, 22 bytes
        #expect(policy.checkForm(String(repeating: "a", count: 256)) == nil)
        #expect(policy.checkForm(String(repeating: "a", count: 257)) == .tooLong(maximum: 256))
        #expect(policy.checkForm("no\u{0}nul bytes here") == .controlCharacter)
    }

    @Test("The shipped list has at least 10,000 entries and is matched case-insensitively")
    func commonList() throws {
        let list = try CommonPasswords.bundled()
        #expect(list.entries.count >= 10_000)
        #expect(list.contains("password1234"))
        #expect(list.contains("QwertyUiop"))
        #expect(!list.contains("correct horse battery staple"))
    }

    @Test("Pwned Passwords: only the 5-hex prefix is sent; padding rows with count 0 never count")
    func pwnedParsing() {
        let (prefix, suffix) = PwnedPasswords.split("password")
        #expect(prefix == "5BAA6")
        #expect(suffix == "1E4C9B93F3F0682250B6CF8331B7EE68FD8")
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\(suffix):0\r\nFFFF:3\r\n"
        #expect(PwnedPasswords.verdict(in: body, suffix: suffix) == .notFound)
        #expect(PwnedPasswords.verdict(in: "\(suffix.lowercased()):42\n", suffix: suffix) == .breached(count: 42))
        #expect(PwnedPasswords.verdict(in: "", suffix: suffix) == .notFound)
    }
}

@Suite struct PasswordHasherTests {
    @Test("Production cost is 12; hashes are $2b$ and verify; a wrong password does not")
    func hashing() async throws {
        #expect(PasswordHasher.productionCost == 12)
        let hasher = PasswordHasher(cost: 4)
        let hash = try await hasher.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$2b$04$") && hash.count == 60)
        #expect(try await hasher.verify("correct horse battery staple", hash: hash))
        #expect(try await !hasher.verify("correct horse battery stapler", hash: hash))
    }

    @Test("Every character of a long password counts (bcrypt alone reads only 72 bytes)")
    func longPasswords() async throws {
        let hasher = PasswordHasher(cost: 4)
        let base = String(repeating: "x", count: 80)
        let hash = try await hasher.hash(base + "A")
        #expect(try await hasher.verify(base + "A", hash: hash))
        #expect(try await !hasher.verify(base + "B", hash: hash))
    }

    @Test("The dummy verification runs at full cost and never matches")
    func dummy() async throws {
        let hasher = PasswordHasher(cost: 10)
        let start = ContinuousClock.now
        try await hasher.verifyAgainstDummy("anything at all")
        #expect(ContinuousClock.now - start > .milliseconds(5))
    }
}

@Suite struct TokenPolicyTests {
    @Test("Opaque tokens carry 256 bits and are stored as SHA-256")
    func opaqueTokens() {
        let token = OpaqueToken.generate()
        #expect(token.count == 43)
        #expect(Base64.decode(token)?.count == 32)
        #expect(OpaqueToken.generate() != token)
        #expect(OpaqueToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("Backup codes: ten distinct, ≥ 50 secret bits, parsed whatever the case, spaces or dashes")
    func backupCodes() {
        let codes = BackupCode.generateSet()
        #expect(codes.count == 10 && Set(codes.map(\.lookupID)).count == 10)
        #expect(BackupCode.secretBits >= 50)
        let code = codes[0]
        #expect(BackupCode.parse(code.full.uppercased().replacingOccurrences(of: "-", with: " ")) == code)
        #expect(BackupCode.parse("abcd-efgh") == nil)
        #expect(BackupCode.parse("0000-0000-0000-0000") == nil)
    }
}

@Suite struct RateLimitPolicyTests {
    @Test("GCRA: a burst of `limit`, then one every period/limit; Retry-After says when")
    func gcra() async throws {
        let store = InMemoryRateLimitStore()
        let limit = RateLimit(5, per: 60)
        let start = Date(timeIntervalSince1970: 1_000_000)
        for index in 0..<5 {
            let decision = try await store.acquire(key: "k", limit: limit, now: start)
            #expect(decision.allowed && decision.remaining == 4 - index)
        }
        let refused = try await store.acquire(key: "k", limit: limit, now: start)
        #expect(!refused.allowed && refused.remaining == 0)
        #expect(abs(refused.retryAfter - 12) < 0.001)
        #expect(try await store.acquire(key: "other", limit: limit, now: start).allowed)
        #expect(try await !store.acquire(key: "k", limit: limit, now: start.addingTimeInterval(11.9)).allowed)
        #expect(try await store.acquire(key: "k", limit: limit, now: start.addingTimeInterval(12)).allowed)
    }

    @Test("Lockout: the fifth consecutive failure locks for 15 minutes")
    func lockout() {
        let policy = LockoutPolicy()
        let now = Date()
        #expect(policy.lockUntil(afterFailures: 4, now: now) == nil)
        #expect(policy.lockUntil(afterFailures: 5, now: now) == now.addingTimeInterval(900))
    }
}
