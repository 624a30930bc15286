// Backup codes: ten single-use codes shown once, each 80 random bits, stored bcrypt-hashed.

import Foundation
import Vault

/// A backup code looks like `k7q2-mxr9-4bta-p3nz`. Its first group is a lookup id (so a login verifies one
/// hash, not ten); the other three groups — 60 bits — are known only to the user.
public struct BackupCode: Sendable, Equatable {
    public let lookupID: String
    public let full: String

    static let alphabet = Array("abcdefghjkmnpqrstuvwxyz23456789")  // 31 symbols; no 0/o, 1/l/i
    static let groupLength = 4
    static let groups = 4

    /// Entropy of the three secret groups: 12 × log2(31) ≈ 59.4 bits (80 with the lookup id).
    public static var secretBits: Double { Double((groups - 1) * groupLength) * log2(Double(alphabet.count)) }

    public static func generate() -> BackupCode {
        var generator = SystemRandomNumberGenerator()
        let symbols = (0..<(groups * groupLength)).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] }
        let text = stride(from: 0, to: symbols.count, by: groupLength).map { String(symbols[$0..<$0 + groupLength]) }
        return BackupCode(lookupID: text[0], full: text.joined(separator: "-"))
    }

    public static func generateSet(count: Int = 10) -> [BackupCode] {
        var codes: [BackupCode] = []
        while codes.count < count {
            let code = generate()
            if !codes.contains(where: { $0.lookupID == code.lookupID }) { codes.append(code) }
        }
        return codes
    }

    /// Parse what a person typed: case, spaces and dashes do not matter.
    public static func parse(_ text: String) -> BackupCode? {
        let compact = text.lowercased().filter { $0 != "-" && !$0.isWhitespace }
        guard compact.count == groups * groupLength, compact.allSatisfy({ alphabet.contains($0) }) else { return nil }
        let characters = Array(compact)
        let text = stride(from: 0, to: characters.count, by: groupLength).map { String(characters[$0..<$0 + groupLength]) }
        return BackupCode(lookupID: text[0], full: text.joined(separator: "-"))
    }
}
