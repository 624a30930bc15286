// Length rules for passwords (SPEC §2): long enough, no composition rules.

/// What makes a password acceptable before the breached-list checks.
public struct PasswordPolicy: Sendable {
    public var minimumLength = 12
    public var maximumLength = 256

    public init() {}

    public enum Violation: Error, Equatable, Sendable {
        case tooShort(minimum: Int)
        case tooLong(maximum: Int)
    }

    /// Length counted in Unicode scalars (what a person typed), not bytes.
    public func check(_ password: String) -> Violation? {
        let length = password.unicodeScalars.count
        if length < self.minimumLength { return .tooShort(minimum: self.minimumLength) }
        if length > self.maximumLength { return .tooLong(maximum: self.maximumLength) }
        return nil
    }
}
