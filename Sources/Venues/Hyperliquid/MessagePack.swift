// MessagePack values and their encoding, byte for byte as Python's msgpack.packb, because Hyperliquid hashes those bytes.

/// A MessagePack value. Maps keep insertion order: Hyperliquid hashes a Python dict's bytes in its key order.
public indirect enum MessagePackValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    case map([(key: String, value: MessagePackValue)])

    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        // Python has one int type, so 5 as .int and as .uint are the same value (and encode the same).
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.int(let a), .uint(let b)), (.uint(let b), .int(let a)): a >= 0 && UInt64(a) == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.binary(let a), .binary(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// The value under `key` in a map (first match), or nil.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// The MessagePack bytes, as `msgpack.packb(obj)` (msgpack 1.x defaults: use_bin_type, float64, smallest int form).
    public func encoded() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        self.encode(into: &output)
        return output
    }

    public func encode(into output: inout [UInt8]) {
        switch self {
        case .null:
            output.append(0xC0)
        case .bool(let value):
            output.append(value ? 0xC3 : 0xC2)
        case .int(let value):
            if value >= 0 {
                // Python packs every non-negative int in the unsigned forms.
                Self.encodeUnsigned(UInt64(value), into: &output)
            } else if value >= -32 {
                output.append(UInt8(bitPattern: Int8(value)))
            } else if value >= Int64(Int8.min) {
                output.append(0xD0)
                output.append(UInt8(bitPattern: Int8(value)))
            } else if value >= Int64(Int16.min) {
                output.append(0xD1)
                Self.appendBigEndian(UInt64(UInt16(bitPattern: Int16(value))), byteCount: 2, to: &output)
            } else if value >= Int64(Int32.min) {
                output.append(0xD2)
                Self.appendBigEndian(UInt64(UInt32(bitPattern: Int32(value))), byteCount: 4, to: &output)
            } else {
                output.append(0xD3)
                Self.appendBigEndian(UInt64(bitPattern: value), byteCount: 8, to: &output)
            }
        case .uint(let value):
            Self.encodeUnsigned(value, into: &output)
        case .double(let value):
            output.append(0xCB)
            Self.appendBigEndian(value.bitPattern, byteCount: 8, to: &output)
        case .string(let value):
            let utf8 = Array(value.utf8)
            Self.appendHeader(count: utf8.count, fix: 0xA0, fixLimit: 32, eight: 0xD9, sixteen: 0xDA, thirtyTwo: 0xDB, to: &output)
            output.append(contentsOf: utf8)
        case .binary(let bytes):
            Self.appendHeader(count: bytes.count, fix: nil, fixLimit: 0, eight: 0xC4, sixteen: 0xC5, thirtyTwo: 0xC6, to: &output)
            output.append(contentsOf: bytes)
        case .array(let elements):
            Self.appendHeader(count: elements.count, fix: 0x90, fixLimit: 16, eight: nil, sixteen: 0xDC, thirtyTwo: 0xDD, to: &output)
            for element in elements { element.encode(into: &output) }
        case .map(let entries):
            Self.appendHeader(count: entries.count, fix: 0x80, fixLimit: 16, eight: nil, sixteen: 0xDE, thirtyTwo: 0xDF, to: &output)
            for entry in entries {
                MessagePackValue.string(entry.key).encode(into: &output)
                entry.value.encode(into: &output)
            }
        }
    }

    private static func encodeUnsigned(_ value: UInt64, into output: inout [UInt8]) {
        switch value {
        case 0..<0x80: output.append(UInt8(value))
        case 0x80...0xFF:
            output.append(0xCC)
            output.append(UInt8(value))
        case 0x100...0xFFFF:
            output.append(0xCD)
            Self.appendBigEndian(value, byteCount: 2, to: &output)
        case 0x1_0000...0xFFFF_FFFF:
            output.append(0xCE)
            Self.appendBigEndian(value, byteCount: 4, to: &output)
        default:
            output.append(0xCF)
            Self.appendBigEndian(value, byteCount: 8, to: &output)
        }
    }

    /// Length prefix for str/bin/array/map; `eight` is nil where the format has no 8-bit form (arrays, maps).
    private static func appendHeader(
        count: Int,
        fix: UInt8?,
        fixLimit: Int,
        eight: UInt8?,
        sixteen: UInt8,
        thirtyTwo: UInt8,
        to output: inout [UInt8]
    ) {
        if let fix, count < fixLimit {
            output.append(fix | UInt8(count))
        } else if let eight, count <= 0xFF {
            output.append(eight)
            output.append(UInt8(count))
        } else if count <= 0xFFFF {
            output.append(sixteen)
            Self.appendBigEndian(UInt64(count), byteCount: 2, to: &output)
        } else {
            // Python refuses objects of 2^32 or more elements; nothing Hyperliquid signs comes near that.
            precondition(count <= 0xFFFF_FFFF, "MessagePack cannot encode a length of \(count)")
            output.append(thirtyTwo)
            Self.appendBigEndian(UInt64(count), byteCount: 4, to: &output)
        }
    }

    private static func appendBigEndian(_ value: UInt64, byteCount: Int, to output: inout [UInt8]) {
        for index in stride(from: byteCount - 1, through: 0, by: -1) {
            output.append(UInt8(truncatingIfNeeded: value >> (UInt64(index) * 8)))
        }
    }
}

// Literals make actions read like the SDK's dicts, in the same key order.
extension MessagePackValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: MessagePackValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, MessagePackValue)...) {
        self = .map(elements.map { (key: $0.0, value: $0.1) })
    }
}

// JSON in the same key order: the body posted to Hyperliquid carries the action whose msgpack bytes were signed.
extension MessagePackValue {
    public enum JSONError: Error, Sendable, Equatable, CustomStringConvertible {
        case invalid(offset: Int)
        case numberOutOfRange(String)
        case binaryHasNoJSONForm
        case nonFiniteNumber

        public var description: String {
            switch self {
            case .invalid(let offset): "invalid JSON at byte \(offset)"
            case .numberOutOfRange(let text): "the JSON number \(text) does not fit in 64 bits"
            case .binaryHasNoJSONForm: "binary MessagePack values have no JSON form"
            case .nonFiniteNumber: "NaN and infinities have no JSON form"
            }
        }
    }

    /// Compact JSON text (as Python's `json.dumps(obj, separators=(",", ":"), ensure_ascii=False)`), keys in order.
    public func jsonString() throws(JSONError) -> String {
        var output = ""
        try self.writeJSON(into: &output)
        return output
    }

    private func writeJSON(into output: inout String) throws(JSONError) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .int(let value): output += String(value)
        case .uint(let value): output += String(value)
        case .double(let value):
            guard value.isFinite else { throw .nonFiniteNumber }
            // Swift's shortest round-trip form; "100.0" stays a float when read back.
            output += value.description
        case .string(let value): Self.writeJSONString(value, into: &output)
        case .binary: throw .binaryHasNoJSONForm
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                try element.writeJSON(into: &output)
            }
            output += "]"
        case .map(let entries):
            output += "{"
            for (index, entry) in entries.enumerated() {
                if index > 0 { output += "," }
                Self.writeJSONString(entry.key, into: &output)
                output += ":"
                try entry.value.writeJSON(into: &output)
            }
            output += "}"
        }
    }

    private static func writeJSONString(_ value: String, into output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hexDigits = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hexDigits.count) + hexDigits
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    /// Parses JSON keeping object key order (JSONSerialization does not), e.g. to re-hash an action a client posted.
    /// Integers become `.int`/`.uint`; numbers with a fraction or exponent become `.double`.
    public init<Bytes: Collection>(json: Bytes) throws(JSONError) where Bytes.Element == UInt8 {
        var parser = MessagePackJSONParser(bytes: Array(json))
        self = try parser.parseDocument()
    }

    public init(json: String) throws(JSONError) {
        try self.init(json: Array(json.utf8))
    }
}

/// A small RFC 8259 parser producing MessagePackValue with ordered maps.
private struct MessagePackJSONParser {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(MessagePackValue.JSONError) -> MessagePackValue {
        let value = try self.parseValue(depth: 0)
        self.skipWhitespace()
        guard self.position == self.bytes.count else { throw .invalid(offset: self.position) }
        return value
    }

    private var current: UInt8? { self.position < self.bytes.count ? self.bytes[self.position] : nil }

    private mutating func skipWhitespace() {
        while let byte = self.current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { self.position += 1 }
    }

    private mutating func expect(_ literal: String) throws(MessagePackValue.JSONError) {
        for byte in literal.utf8 {
            guard self.current == byte else { throw .invalid(offset: self.position) }
            self.position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(MessagePackValue.JSONError) -> MessagePackValue {
        // Bounded nesting so hostile input cannot exhaust the stack.
        guard depth < 512 else { throw .invalid(offset: self.position) }
        self.skipWhitespace()
        guard let byte = self.current else { throw .invalid(offset: self.position) }
        switch byte {
        case UInt8(ascii: "n"):
            try self.expect("null")
            return .null
        case UInt8(ascii: "t"):
            try self.expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.expect("false")
            return .bool(false)
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "["):
            self.position += 1
            var elements: [MessagePackValue] = []
            self.skipWhitespace()
            if self.current == UInt8(ascii: "]") {
                self.position += 1
                return .array(elements)
            }
            while true {
                elements.append(try self.parseValue(depth: depth + 1))
                self.skipWhitespace()
                if self.current == UInt8(ascii: ",") {
                    self.position += 1
                    continue
                }
                try self.expect("]")
                return .array(elements)
            }
        case UInt8(ascii: "{"):
            self.position += 1
            var entries: [(key: String, value: MessagePackValue)] = []
            self.skipWhitespace()
            if self.current == UInt8(ascii: "}") {
                self.position += 1
                return .map(entries)
            }
            while true {
                self.skipWhitespace()
                guard self.current == UInt8(ascii: "\"") else { throw .invalid(offset: self.position) }
                let key = try self.parseString()
                self.skipWhitespace()
                try self.expect(":")
                entries.append((key: key, value: try self.parseValue(depth: depth + 1)))
                self.skipWhitespace()
                if self.current == UInt8(ascii: ",") {
                    self.position += 1
                    continue
                }
                try self.expect("}")
                return .map(entries)
            }
        default:
            return try self.parseNumber()
        }
    }

    private mutating func parseNumber() throws(MessagePackValue.JSONError) -> MessagePackValue {
        let start = self.position
        var isInteger = true
        if self.current == UInt8(ascii: "-") { self.position += 1 }
        guard let first = self.current, first >= 0x30, first <= 0x39 else { throw .invalid(offset: self.position) }
        self.position += 1
        if first != 0x30 { while let byte = self.current, byte >= 0x30, byte <= 0x39 { self.position += 1 } }
        if self.current == UInt8(ascii: ".") {
            isInteger = false
            self.position += 1
            guard let byte = self.current, byte >= 0x30, byte <= 0x39 else { throw .invalid(offset: self.position) }
            while let byte = self.current, byte >= 0x30, byte <= 0x39 { self.position += 1 }
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            isInteger = false
            self.position += 1
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.position += 1 }
            guard let byte = self.current, byte >= 0x30, byte <= 0x39 else { throw .invalid(offset: self.position) }
            while let byte = self.current, byte >= 0x30, byte <= 0x39 { self.position += 1 }
        }
        let text = String(decoding: self.bytes[start..<self.position], as: UTF8.self)
        if isInteger {
            if let value = Int64(text) { return .int(value) }
            if let value = UInt64(text) { return .uint(value) }
            throw .numberOutOfRange(text)
        }
        guard let value = Double(text) else { throw .invalid(offset: start) }
        return .double(value)
    }

    private mutating func parseHex4() throws(MessagePackValue.JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = self.current else { throw .invalid(offset: self.position) }
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw .invalid(offset: self.position)
            }
            value = value << 4 | UInt32(digit)
            self.position += 1
        }
        return value
    }

    private mutating func parseString() throws(MessagePackValue.JSONError) -> String {
        self.position += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = self.current else { throw .invalid(offset: self.position) }
            self.position += 1
            switch byte {
            case UInt8(ascii: "\""):
                // Validate rather than repair: a malformed body should be rejected, not re-hashed differently.
                guard let string = String(validating: utf8, as: UTF8.self) else { throw .invalid(offset: self.position) }
                return string
            case UInt8(ascii: "\\"):
                guard let escape = self.current else { throw .invalid(offset: self.position) }
                self.position += 1
                switch escape {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalarValue = try self.parseHex4()
                    if (0xD800..<0xDC00).contains(scalarValue) {
                        try self.expect("\\u")
                        let low = try self.parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw .invalid(offset: self.position) }
                        scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { throw .invalid(offset: self.position) }
                    utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw .invalid(offset: self.position)
                }
            case 0x00..<0x20:
                throw .invalid(offset: self.position - 1)
            default:
                utf8.append(byte)
            }
        }
    }
}
