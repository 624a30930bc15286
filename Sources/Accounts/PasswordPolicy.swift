// What makes a password acceptable (SPEC §2): 12–256 characters, no composition rules, not common, not breached.

import Foundation

public struct PasswordPolicy: Sendable {
    public var minimumLength = 12
    public var maximumLength = 256

    public init() {}

    public enum Violation: Error, Equatable, Sendable {
        case tooShort(minimum: Int)
        case tooLong(maximum: Int)
        case controlCharacter
        case common
        case breached(count: Int)

        /// The API error code (API.md): length and form are `weak_password`, list hits `breached_password`.
        public var code: String {
            switch self {
            case .tooShort, .tooLong, .controlCharacter: "weak_password"
            case .common, .breached: "breached_password"
            }
        }

        public var message: String {
            switch self {
            case .tooShort(let minimum): "Use at least \(minimum) characters. A few unrelated words make a strong, memorable password."
            case .tooLong(let maximum): "Use at most \(maximum) characters."
            case .controlCharacter: "Passwords cannot contain control characters."
            case .common: "This password is one of the most common passwords. Choose another."
            case .breached: "This password appears in known data breaches. Choose another."
            }
        }
    }

    /// Length counted in Unicode scalars (what a person typed), not bytes.
    public func checkForm(_ password: String) -> Violation? {
        let length = password.unicodeScalars.count
        if length < self.minimumLength { return .tooShort(minimum: self.minimumLength) }
        if length > self.maximumLength { return .tooLong(maximum: self.maximumLength) }
        if password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return .controlCharacter }
        return nil
    }
}

/// The shipped list of common passwords (see Resources/COMMON-PASSWORDS.md for its origin and licence).
public struct CommonPasswords: Sendable {
    public let entries: Set<String>

    public init(entries: Set<String>) {
        self.entries = entries
    }

    public static func bundled() throws -> CommonPasswords {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt") else {
            throw CocoaError(.fileNoSuchFile)
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        return CommonPasswords(entries: Set(text.split(separator: "\n").map(String.init)))
    }

    public func contains(_ password: String) -> Bool {
        self.entries.contains(password.lowercased())
    }
}
