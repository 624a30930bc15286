// RFC 6238 / RFC 4226 on the official vectors (../shared/vectors/otp.json), base32, verification rules.

import Foundation
import Testing
import Vault

@testable import Accounts

@Suite struct TOTPTests {
    struct Vectors: Decodable {
        struct TOTPCase: Decodable {
            let time: Int64
            let SHA1: String
            let SHA256: String
            let SHA512: String
        }
        let totp_seeds_ascii: [String: String]
        let totp: [TOTPCase]
        let hotp_secret_ascii: String
        let hotp: [String]
    }

    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors/otp.json")
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    @Test("RFC 4226 Appendix D: HOTP counters 0–9")
    func hotpVectors() {
        let secret = SecretBytes(copying: Array(Self.vectors.hotp_secret_ascii.utf8))
        for (counter, expected) in Self.vectors.hotp.enumerated() {
            #expect(TOTP.hotp(secret: secret, counter: UInt64(counter), digits: 6) == expected, "counter \(counter)")
        }
    }

    @Test("RFC 6238 Appendix B: every time and algorithm, 8 digits", arguments: TOTP.Algorithm.allCases)
    func totpVectors(algorithm: TOTP.Algorithm) {
        let totp = TOTP(algorithm: algorithm, digits: 8, period: 30)
        let secret = SecretBytes(copying: Array(Self.vectors.totp_seeds_ascii[algorithm.rawValue]!.utf8))
        for vector in Self.vectors.totp {
            let expected =
                switch algorithm {
                case .sha1: vector.SHA1
                case .sha256: vector.SHA256
                case .sha512: vector.SHA512
                }
            #expect(totp.code(secret: secret, at: Date(timeIntervalSince1970: TimeInterval(vector.time))) == expected, "t=\(vector.time)")
        }
    }

    @Test("Verification accepts ±1 step, refuses ±2, refuses a replay of a used step, and refuses malformed codes")
    func verificationWindowAndReplay() {
        let totp = TOTP.standard
        let secret = SecretBytes.random(count: 20)
        let now = Date(timeIntervalSince1970: 1_800_000_015)
        let step = totp.step(at: now)
        for offset: Int64 in [-1, 0, 1] {
            #expect(
                totp.verify(totp.code(secret: secret, step: step + offset), secret: secret, at: now, lastUsedStep: nil)
                    == .accepted(step: step + offset)
            )
        }
        for offset: Int64 in [-2, 2] {
            #expect(totp.verify(totp.code(secret: secret, step: step + offset), secret: secret, at: now, lastUsedStep: nil) == .invalid)
        }
        let code = totp.code(secret: secret, step: step)
        #expect(totp.verify(code, secret: secret, at: now, lastUsedStep: step) == .replayed(step: step))
        #expect(totp.verify(totp.code(secret: secret, step: step - 1), secret: secret, at: now, lastUsedStep: step) == .replayed(step: step - 1))
        #expect(totp.verify(totp.code(secret: secret, step: step + 1), secret: secret, at: now, lastUsedStep: step) == .accepted(step: step + 1))
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            #expect(totp.verify(bad, secret: secret, at: now, lastUsedStep: nil) == .invalid, "\(bad)")
        }
        #expect(totp.verify(" \(code.prefix(3)) \(code.suffix(3)) ", secret: secret, at: now, lastUsedStep: nil) == .accepted(step: step))
    }

    @Test("The otpauth URI carries the base32 secret and the parameters")
    func provisioningURI() {
        let secret = SecretBytes(copying: Array("12345678901234567890".utf8))
        let uri = TOTP.standard.provisioningURI(secret: secret, account: "a+b@example.com", issuer: "Tradekeep")
        #expect(
            uri
                == "otpauth://totp/Tradekeep:a%2Bb%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tradekeep&algorithm=SHA1&digits=6&period=30"
        )
    }

    @Test("Base32 matches RFC 4648 §10 and round-trips random bytes")
    func base32() {
        let cases = ["": "", "f": "MY", "fo": "MZXQ", "foo": "MZXW6", "foob": "MZXW6YQ", "fooba": "MZXW6YTB", "foobar": "MZXW6YTBOI"]
        for (plain, encoded) in cases {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(Base32.decode(encoded) == Array(plain.utf8))
            #expect(Base32.decode(encoded.lowercased() + "===") == Array(plain.utf8))
        }
        #expect(Base32.decode("MZXW1") == nil)
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
        }
    }
}
