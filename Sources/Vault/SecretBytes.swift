// Secret key material that zeroes itself and never prints itself.

import Crypto
import Foundation

/// Secret bytes (a key, a token secret) held in swift-crypto's zeroing storage.
///
/// The bytes are reachable only inside `withUnsafeBytes`; `description`,
/// `debugDescription` and reflection print a placeholder, so a secret cannot
/// reach a log line or an error message by string interpolation.
public struct SecretBytes: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let storage: SymmetricKey

    public init<D: ContiguousBytes>(copying bytes: D) {
        self.storage = SymmetricKey(data: bytes)
    }

    /// Fresh bytes from the system CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        precondition(count > 0, "a secret needs at least one byte")
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        for index in bytes.indices { bytes[index] = generator.next() }
        defer { bytes.resetBytes() }
        return SecretBytes(copying: bytes)
    }

    public var count: Int { self.storage.bitCount / 8 }

    /// The bytes, for the duration of `body` only.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.storage.withUnsafeBytes(body)
    }

    /// The bytes as a swift-crypto key, for APIs that take one.
    public var symmetricKey: SymmetricKey { self.storage }

    /// Constant-time equality.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        self.withUnsafeBytes { lhs in other.withUnsafeBytes { rhs in ConstantTime.equals(lhs, rhs) } }
    }

    public var description: String { "SecretBytes(\(self.count) bytes, redacted)" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension Array where Element == UInt8 {
    /// Overwrite with zeros (used on temporary copies of secret material).
    public mutating func resetBytes() {
        self.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            secureZero(base, buffer.count)
        }
    }
}

/// Zero a buffer through a non-inlined call, so the stores are not optimised away.
@inline(never)
func secureZero(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
    let bytes = pointer.assumingMemoryBound(to: UInt8.self)
    for index in 0..<count {
        // A volatile-style store: the loop cannot be proven dead across the opaque call.
        bytes.advanced(by: index).pointee = 0
    }
    withExtendedLifetime(pointer) {}
}

/// Constant-time comparisons of secret values.
public enum ConstantTime {
    /// True when both buffers hold the same bytes. Time depends only on the lengths.
    public static func equals(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<lhs.count {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    public static func equals<L: ContiguousBytes, R: ContiguousBytes>(_ lhs: L, _ rhs: R) -> Bool {
        lhs.withUnsafeBytes { l in rhs.withUnsafeBytes { r in equals(l, r) } }
    }

    public static func equals(_ lhs: String, _ rhs: String) -> Bool {
        equals(Array(lhs.utf8), Array(rhs.utf8))
    }
}
