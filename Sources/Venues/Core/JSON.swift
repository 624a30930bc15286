// A small read-only view of venue JSON answers, whose numbers arrive as strings on some venues and numbers on others.

import Foundation

public struct JSON: Sendable {
    /// The description of the decoding error for a number too large to hold.
    public static let outOfRange = "number out of range"

    /// Any JSON value; also used to carry caller-given JSON (bot parameters) through unchanged.
    public indirect enum Value: Sendable, Codable, Equatable {
        case null
        case bool(Bool)
        case number(Decimal)
        case string(String)
        case array([Value])
        case object([String: Value])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
            } else if let number = try? container.decode(Decimal.self) {
                self = .number(number)
            } else if (try? container.decode(Double.self)) != nil {
                // A number, but beyond what a Decimal holds (1e308): out of range, not of the wrong type.
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: JSON.outOfRange))
            } else if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let array = try? container.decode([Value].self) {
                self = .array(array)
            } else {
                self = .object(try container.decode([String: Value].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            case .string(let value): try container.encode(value)
            case .array(let value): try container.encode(value)
            case .object(let value): try container.encode(value)
            }
        }
    }

    let value: Value

    public init(bytes: [UInt8]) { self.value = (try? JSONDecoder().decode(Value.self, from: Data(bytes))) ?? .null }
    init(_ value: Value) { self.value = value }
    static let null = JSON(.null)

    public subscript(key: String) -> JSON {
        guard case .object(let members) = self.value, let member = members[key] else { return .null }
        return JSON(member)
    }

    public subscript(index: Int) -> JSON {
        guard case .array(let elements) = self.value, elements.indices.contains(index) else { return .null }
        return JSON(elements[index])
    }

    public var array: [JSON]? {
        guard case .array(let elements) = self.value else { return nil }
        return elements.map(JSON.init)
    }

    public var object: [String: JSON]? {
        guard case .object(let members) = self.value else { return nil }
        return members.mapValues(JSON.init)
    }

    public var isNull: Bool {
        if case .null = self.value { return true }
        return false
    }

    public var string: String? {
        switch self.value {
        case .string(let string): string
        case .number(let number): number.plain
        case .bool(let bool): bool ? "true" : "false"
        default: nil
        }
    }

    /// Numbers, or numeric strings ("0.001"), as Decimal.
    public var decimal: Decimal? {
        switch self.value {
        case .number(let number): number
        case .string(let string): Decimal(string: string, locale: Locale(identifier: "en_US_POSIX"))
        default: nil
        }
    }

    public var int64: Int64? { self.decimal.map { NSDecimalNumber(decimal: $0).int64Value } }

    public var bool: Bool? {
        switch self.value {
        case .bool(let bool): bool
        case .number(let number): number != 0
        case .string(let string): string == "true" ? true : string == "false" ? false : nil
        default: nil
        }
    }
}

extension Decimal {
    /// Plain decimal text as venues expect it ("0.001", never "1e-3").
    public var plain: String { NSDecimalNumber(decimal: self).stringValue }
}

/// Percent-encoded `key=value&…` in the given order (RFC 3986 unreserved characters kept).
func formEncode(_ pairs: [(String, String)]) -> String {
    pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
}

func percentEncode(_ text: String) -> String {
    // Byte by byte: Foundation's addingPercentEncoding costs more than the HMAC it precedes.
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(byte)
        default:
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// `text` as a JSON string literal (quotes, backslashes and control characters escaped; other characters as UTF-8).
func jsonQuoted(_ text: String) -> String {
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = [UInt8(ascii: "\"")]
    out.reserveCapacity(text.utf8.count + 2)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
    return String(decoding: out, as: UTF8.self)
}
