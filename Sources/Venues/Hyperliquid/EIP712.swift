// EIP-712 typed structured data hashing (encodeType, hashStruct, domain separator, signing digest) for Hyperliquid.

public enum EIP712Error: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownType(String)
    case missingValue(type: String, field: String)
    case typeMismatch(field: String, type: String)
    case numberOutOfRange(field: String, type: String)
    case wrongLength(field: String, type: String)

    public var message: String {
        switch self {
        case .unknownType(let type): "EIP-712 type \(type) is neither a supported atomic type nor defined in the types given."
        case .missingValue(let type, let field): "The \(type) value has no \(field) field."
        case .typeMismatch(let field, let type): "The value of \(field) is not a valid \(type)."
        case .numberOutOfRange(let field, let type): "The value of \(field) does not fit in \(type)."
        case .wrongLength(let field, let type): "The value of \(field) has the wrong length for \(type)."
        }
    }

    public var description: String { self.message }
}

public enum EIP712 {
    /// One member of a struct type, in declaration order.
    public struct Field: Sendable, Hashable {
        public let name: String
        public let type: String

        public init(_ name: String, _ type: String) {
            self.name = name
            self.type = type
        }
    }

    /// Struct type definitions by name. An "EIP712Domain" entry, if present, is ignored: the domain derives its own.
    public typealias Types = [String: [Field]]

    public indirect enum Value: Sendable, Equatable {
        case string(String)
        /// For `bytes` (any length) and `bytes1`…`bytes32` (exactly that length).
        case bytes([UInt8])
        case address(EthereumAddress)
        case bool(Bool)
        case uint(UInt64)
        case int(Int64)
        /// Any `uintN`/`intN` as decimal text ("-12", "1157…") or "0x" hex, for values beyond 64 bits.
        case number(String)
        case array([Value])
        case structure([String: Value])
    }

    /// The EIP712Domain; absent fields are left out of its type, as the EIP and eth-account do.
    public struct Domain: Sendable, Hashable {
        public var name: String?
        public var version: String?
        public var chainId: UInt64?
        public var verifyingContract: EthereumAddress?
        public var salt: [UInt8]?

        public init(
            name: String? = nil,
            version: String? = nil,
            chainId: UInt64? = nil,
            verifyingContract: EthereumAddress? = nil,
            salt: [UInt8]? = nil
        ) {
            self.name = name
            self.version = version
            self.chainId = chainId
            self.verifyingContract = verifyingContract
            self.salt = salt
        }

        /// The EIP712Domain fields present, in the EIP's order.
        public var fields: [Field] {
            var fields: [Field] = []
            if self.name != nil { fields.append(Field("name", "string")) }
            if self.version != nil { fields.append(Field("version", "string")) }
            if self.chainId != nil { fields.append(Field("chainId", "uint256")) }
            if self.verifyingContract != nil { fields.append(Field("verifyingContract", "address")) }
            if self.salt != nil { fields.append(Field("salt", "bytes32")) }
            return fields
        }

        public var values: [String: Value] {
            var values: [String: Value] = [:]
            if let name = self.name { values["name"] = .string(name) }
            if let version = self.version { values["version"] = .string(version) }
            if let chainId = self.chainId { values["chainId"] = .uint(chainId) }
            if let verifyingContract = self.verifyingContract { values["verifyingContract"] = .address(verifyingContract) }
            if let salt = self.salt { values["salt"] = .bytes(salt) }
            return values
        }
    }

    /// `Name(type1 name1,…)` followed by every struct type it references, directly or not, sorted by name.
    public static func encodeType(_ primaryType: String, types: Types) throws(EIP712Error) -> String {
        guard let fields = types[primaryType] else { throw .unknownType(primaryType) }
        var dependencies = Set<String>()
        try Self.collectDependencies(of: primaryType, types: types, into: &dependencies)
        dependencies.remove(primaryType)
        // Sorted by code points, as the EIP's reference implementation (and Python) sort.
        let sorted = dependencies.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
        var text = Self.encodeSingleType(primaryType, fields)
        for dependency in sorted { text += Self.encodeSingleType(dependency, types[dependency]!) }
        return text
    }

    public static func typeHash(_ primaryType: String, types: Types) throws(EIP712Error) -> [UInt8] {
        Keccak256.hash(Array(try Self.encodeType(primaryType, types: types).utf8))
    }

    /// typeHash ‖ enc(value₁) ‖ … ‖ enc(valueₙ), 32 bytes per field.
    public static func encodeData(_ primaryType: String, _ value: [String: Value], types: Types) throws(EIP712Error) -> [UInt8] {
        guard let fields = types[primaryType] else { throw .unknownType(primaryType) }
        var output = try Self.typeHash(primaryType, types: types)
        for field in fields {
            guard let member = value[field.name] else { throw .missingValue(type: primaryType, field: field.name) }
            output += try Self.encodeField(name: field.name, type: field.type, value: member, types: types)
        }
        return output
    }

    public static func hashStruct(_ primaryType: String, _ value: [String: Value], types: Types) throws(EIP712Error) -> [UInt8] {
        Keccak256.hash(try Self.encodeData(primaryType, value, types: types))
    }

    public static func domainSeparator(_ domain: Domain) -> [UInt8] {
        do {
            return try Self.hashStruct("EIP712Domain", domain.values, types: ["EIP712Domain": domain.fields])
        } catch {
            // Domain builds its fields and values together from typed properties, so they always agree.
            preconditionFailure("EIP712Domain could not be encoded: \(error)")
        }
    }

    /// keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message)): the 32 bytes a wallet signs.
    public static func digest(domain: Domain, primaryType: String, types: Types, message: [String: Value]) throws(EIP712Error) -> [UInt8] {
        var types = types
        types["EIP712Domain"] = nil
        let messageHash = try Self.hashStruct(primaryType, message, types: types)
        return Keccak256.hash([0x19, 0x01] + Self.domainSeparator(domain) + messageHash)
    }

    // MARK: - Encoding

    private static func encodeSingleType(_ name: String, _ fields: [Field]) -> String {
        name + "(" + fields.map { "\($0.type) \($0.name)" }.joined(separator: ",") + ")"
    }

    /// "Person[][3]" → ("Person[]", 3); "string[]" → ("string", nil). Nil when not an array type.
    private static func arrayElement(of type: String) -> (element: String, length: Int?)? {
        guard type.hasSuffix("]"), let open = type.lastIndex(of: "[") else { return nil }
        let inside = type[type.index(after: open)..<type.index(before: type.endIndex)]
        if inside.isEmpty { return (String(type[..<open]), nil) }
        guard let length = Int(inside), length >= 0 else { return nil }
        return (String(type[..<open]), length)
    }

    private static func baseType(_ type: String) -> String {
        var type = type
        while let (element, _) = Self.arrayElement(of: type) { type = element }
        return type
    }

    private static func collectDependencies(of type: String, types: Types, into found: inout Set<String>) throws(EIP712Error) {
        let base = Self.baseType(type)
        guard let fields = types[base], !found.contains(base) else { return }
        found.insert(base)
        for field in fields {
            let fieldBase = Self.baseType(field.type)
            if types[fieldBase] == nil, AtomicType(fieldBase) == nil { throw .unknownType(fieldBase) }
            try Self.collectDependencies(of: fieldBase, types: types, into: &found)
        }
    }

    private static func encodeField(name: String, type: String, value: Value, types: Types) throws(EIP712Error) -> [UInt8] {
        if let (element, length) = Self.arrayElement(of: type) {
            guard case .array(let elements) = value else { throw .typeMismatch(field: name, type: type) }
            if let length, elements.count != length { throw .wrongLength(field: name, type: type) }
            var concatenated: [UInt8] = []
            for item in elements { concatenated += try Self.encodeField(name: name, type: element, value: item, types: types) }
            return Keccak256.hash(concatenated)
        }
        if types[type] != nil {
            guard case .structure(let members) = value else { throw .typeMismatch(field: name, type: type) }
            return try Self.hashStruct(type, members, types: types)
        }
        guard let atomic = AtomicType(type) else { throw .unknownType(type) }
        switch (atomic, value) {
        case (.string, .string(let text)):
            return Keccak256.hash(Array(text.utf8))
        case (.dynamicBytes, .bytes(let bytes)):
            return Keccak256.hash(bytes)
        case (.fixedBytes(let size), .bytes(let bytes)):
            guard bytes.count == size else { throw .wrongLength(field: name, type: type) }
            return bytes + [UInt8](repeating: 0, count: 32 - size)
        case (.address, .address(let address)):
            return [UInt8](repeating: 0, count: 12) + address.bytes
        case (.bool, .bool(let flag)):
            return [UInt8](repeating: 0, count: 31) + [flag ? 1 : 0]
        case (.integer(let signed, let bits), .uint(let number)):
            return try Self.encodeInteger(Word(number), negative: false, signed: signed, bits: bits, field: name, type: type)
        case (.integer(let signed, let bits), .int(let number)):
            return try Self.encodeInteger(Word(number.magnitude), negative: number < 0, signed: signed, bits: bits, field: name, type: type)
        case (.integer(let signed, let bits), .number(let text)):
            guard let (magnitude, negative) = Word.parse(text) else { throw .typeMismatch(field: name, type: type) }
            return try Self.encodeInteger(magnitude, negative: negative, signed: signed, bits: bits, field: name, type: type)
        default:
            throw .typeMismatch(field: name, type: type)
        }
    }

    /// Range-checks a sign and magnitude against uintN/intN and returns the 32-byte two's-complement word.
    private static func encodeInteger(
        _ magnitude: Word,
        negative: Bool,
        signed: Bool,
        bits: Int,
        field: String,
        type: String
    ) throws(EIP712Error) -> [UInt8] {
        let negative = negative && !magnitude.isZero
        if negative {
            // intN holds down to -2^(N-1) inclusive.
            guard signed, magnitude.bitWidth <= bits - 1 || magnitude.isPowerOfTwo(bits - 1) else {
                throw .numberOutOfRange(field: field, type: type)
            }
            return magnitude.negated().bytes
        }
        guard magnitude.bitWidth <= (signed ? bits - 1 : bits) else { throw .numberOutOfRange(field: field, type: type) }
        return magnitude.bytes
    }

    private enum AtomicType: Equatable {
        case string
        case dynamicBytes
        case fixedBytes(Int)
        case address
        case bool
        case integer(signed: Bool, bits: Int)

        init?(_ type: String) {
            switch type {
            case "string": self = .string
            case "bytes": self = .dynamicBytes
            case "address": self = .address
            case "bool": self = .bool
            default:
                if type.hasPrefix("bytes"), let size = Int(type.dropFirst(5)), (1...32).contains(size), String(size) == type.dropFirst(5) {
                    self = .fixedBytes(size)
                } else if type.hasPrefix("uint"), let bits = Int(type.dropFirst(4)), Self.validWidth(bits), String(bits) == type.dropFirst(4) {
                    self = .integer(signed: false, bits: bits)
                } else if type.hasPrefix("int"), let bits = Int(type.dropFirst(3)), Self.validWidth(bits), String(bits) == type.dropFirst(3) {
                    self = .integer(signed: true, bits: bits)
                } else {
                    return nil
                }
            }
        }

        private static func validWidth(_ bits: Int) -> Bool { bits >= 8 && bits <= 256 && bits % 8 == 0 }
    }

    /// A 256-bit unsigned big-endian word: just enough arithmetic to parse, range-check and negate.
    private struct Word {
        var bytes: [UInt8]

        init(_ value: UInt64) {
            self.bytes = [UInt8](repeating: 0, count: 24) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - UInt64($0) * 8)) }
        }

        var isZero: Bool { self.bytes.allSatisfy { $0 == 0 } }

        /// Number of significant bits.
        var bitWidth: Int {
            guard let first = self.bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
            return (31 - first) * 8 + (8 - self.bytes[first].leadingZeroBitCount)
        }

        func isPowerOfTwo(_ exponent: Int) -> Bool {
            self.bitWidth == exponent + 1 && self.bytes.map(\.nonzeroBitCount).reduce(0, +) == 1
        }

        /// Two's complement: invert and add one.
        func negated() -> Word {
            var result = self
            var carry: UInt16 = 1
            for index in stride(from: 31, through: 0, by: -1) {
                let sum = UInt16(~self.bytes[index]) + carry
                result.bytes[index] = UInt8(truncatingIfNeeded: sum)
                carry = sum >> 8
            }
            return result
        }

        /// Decimal ("-123") or hex ("0x7b") text; nil when malformed or beyond 256 bits.
        static func parse(_ text: String) -> (Word, negative: Bool)? {
            var digits = Substring(text)
            let negative = digits.hasPrefix("-")
            if negative { digits = digits.dropFirst() }
            var radix: UInt16 = 10
            if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
                radix = 16
                digits = digits.dropFirst(2)
            }
            guard !digits.isEmpty else { return nil }
            var word = Word(0)
            for character in digits {
                guard let digit = character.hexDigitValue, digit < Int(radix) else { return nil }
                // word = word * radix + digit, failing on overflow past 256 bits.
                var carry = UInt16(digit)
                for index in stride(from: 31, through: 0, by: -1) {
                    let product = UInt16(word.bytes[index]) * radix + carry
                    word.bytes[index] = UInt8(truncatingIfNeeded: product)
                    carry = product >> 8
                }
                if carry != 0 { return nil }
            }
            return (word, negative)
        }
    }
}
