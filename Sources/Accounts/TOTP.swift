// RFC 6238 time-based one-time passwords (and RFC 4226 HOTP underneath), on swift-crypto's HMAC.

import Crypto
import Foundation
import Vault

public struct TOTP: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"
    }

    public let algorithm: Algorithm
    public let digits: Int
    public let period: Int64

    /// Tradekeep's parameters: SHA-1, 6 digits, 30 seconds — what every authenticator app supports.
    public static let standard = TOTP(algorithm: .sha1, digits: 6, period: 30)

    /// 160 bits, the RFC 4226 recommendation for HMAC-SHA-1.
    public static let secretByteCount = 20

    public init(algorithm: Algorithm, digits: Int, period: Int64) {
        precondition((6...10).contains(digits) && period > 0)
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
    }

    public func step(at date: Date) -> Int64 {
        Int64(floor(date.timeIntervalSince1970)) / self.period
    }

    public func code(secret: SecretBytes, at date: Date) -> String {
        self.code(secret: secret, step: self.step(at: date))
    }

    /// HOTP(K, step) truncated to `digits` decimal digits.
    public func code(secret: SecretBytes, step: Int64) -> String {
        Self.hotp(secret: secret, counter: UInt64(bitPattern: step), digits: self.digits, algorithm: self.algorithm)
    }

    public static func hotp(secret: SecretBytes, counter: UInt64, digits: Int, algorithm: Algorithm = .sha1) -> String {
        let message = withUnsafeBytes(of: counter.bigEndian) { Array($0) }
        let mac: [UInt8]
        switch algorithm {
        case .sha1: mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: secret.symmetricKey))
        case .sha256: mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: secret.symmetricKey))
        case .sha512: mac = Array(HMAC<SHA512>.authenticationCode(for: message, using: secret.symmetricKey))
        }
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt64 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(UInt64(binary) % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    public enum Verification: Equatable, Sendable {
        /// The code matches this step, later than any used before: accept it and store the step.
        case accepted(step: Int64)
        /// The code matches a step already used: refuse it and record the replay.
        case replayed(step: Int64)
        case invalid
    }

    /// Check `code` against the steps `window` either side of now. Each candidate is compared in constant
    /// time and every candidate is computed, so timing does not reveal which step (if any) matched.
    public func verify(_ code: String, secret: SecretBytes, at date: Date, lastUsedStep: Int64?, window: Int64 = 1) -> Verification {
        let normalized = code.filter { !$0.isWhitespace }
        guard normalized.count == self.digits, normalized.allSatisfy(\.isASCII), normalized.allSatisfy(\.isNumber) else { return .invalid }
        let current = self.step(at: date)
        var matched: Int64?
        for step in (current - window)...(current + window) {
            if ConstantTime.equals(self.code(secret: secret, step: step), normalized), matched == nil {
                matched = step
            }
        }
        guard let step = matched else { return .invalid }
        if let last = lastUsedStep, step <= last { return .replayed(step: step) }
        return .accepted(step: step)
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`. The separator
    /// stays a literal `:`; some readers (pyotp) do not decode `%3A` before splitting the label.
    public func provisioningURI(secret: SecretBytes, account: String, issuer: String) -> String {
        let label = "\(Self.percentEncode(issuer)):\(Self.percentEncode(account))"
        let encodedSecret = secret.withUnsafeBytes { Base32.encode($0) }
        return "otpauth://totp/\(label)?secret=\(encodedSecret)&issuer=\(Self.percentEncode(issuer))"
            + "&algorithm=\(self.algorithm.rawValue)&digits=\(self.digits)&period=\(self.period)"
    }

    static func percentEncode(_ text: String) -> String {
        // RFC 3986 unreserved characters only (ASCII letters and digits, not every Unicode alphanumeric).
        var allowed = CharacterSet(charactersIn: "a"..."z").union(CharacterSet(charactersIn: "A"..."Z")).union(CharacterSet(charactersIn: "0"..."9"))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
