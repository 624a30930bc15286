// Hyperliquid L1 action signing and wire shapes, mirroring hyperliquid-python-sdk's utils/signing.py byte for byte.

import Foundation

/// L1 actions (orders, cancels, …) are signed as an EIP-712 "phantom agent" whose connectionId is the action's hash.
public enum HyperliquidSigning {
    /// The SDK's l1_payload domain: name "Exchange", version "1", chainId 1337, zero verifying contract.
    public static let l1Domain = EIP712.Domain(name: "Exchange", version: "1", chainId: 1337, verifyingContract: .zero)

    /// Agent(string source, bytes32 connectionId).
    public static let agentTypes: EIP712.Types = ["Agent": [EIP712.Field("source", "string"), EIP712.Field("connectionId", "bytes32")]]

    /// The SDK's action_hash: keccak256(msgpack(action) ‖ nonce (8 bytes BE) ‖ vault flag [‖ vault] [‖ 0x00 ‖ expiresAfter (8 bytes BE)]).
    public static func actionHash(action: MessagePackValue, nonce: UInt64, vaultAddress: EthereumAddress?, expiresAfter: UInt64?) -> [UInt8] {
        var data = action.encoded()
        Self.appendBigEndian(nonce, to: &data)
        if let vaultAddress {
            data.append(0x01)
            data += vaultAddress.bytes
        } else {
            data.append(0x00)
        }
        if let expiresAfter {
            data.append(0x00)
            Self.appendBigEndian(expiresAfter, to: &data)
        }
        return Keccak256.hash(data)
    }

    /// The SDK's construct_phantom_agent: source "a" on mainnet, "b" on testnet.
    public static func phantomAgent(connectionId: [UInt8], isMainnet: Bool) -> [String: EIP712.Value] {
        ["source": .string(isMainnet ? "a" : "b"), "connectionId": .bytes(connectionId)]
    }

    /// The EIP-712 digest of the phantom agent for a 32-byte action hash.
    public static func l1Digest(connectionId: [UInt8], isMainnet: Bool) -> [UInt8] {
        precondition(connectionId.count == 32, "a connection id is a 32-byte keccak256 hash")
        do {
            return try EIP712.digest(
                domain: Self.l1Domain,
                primaryType: "Agent",
                types: Self.agentTypes,
                message: Self.phantomAgent(connectionId: connectionId, isMainnet: isMainnet)
            )
        } catch {
            // The types and message are fixed above; only a 32-byte hash reaches here.
            preconditionFailure("Agent could not be encoded: \(error)")
        }
    }

    public static func l1Digest(
        action: MessagePackValue,
        nonce: UInt64,
        vaultAddress: EthereumAddress?,
        expiresAfter: UInt64?,
        isMainnet: Bool
    ) -> [UInt8] {
        Self.l1Digest(
            connectionId: Self.actionHash(action: action, nonce: nonce, vaultAddress: vaultAddress, expiresAfter: expiresAfter),
            isMainnet: isMainnet
        )
    }

    /// The SDK's sign_l1_action: the signature to post with the action, nonce, vaultAddress and expiresAfter.
    public static func signL1Action(
        action: MessagePackValue,
        nonce: UInt64,
        vaultAddress: EthereumAddress?,
        expiresAfter: UInt64?,
        isMainnet: Bool,
        privateKey: UnsafeRawBufferPointer,
        secp: Secp256k1
    ) throws(Secp256k1Error)
        -> RecoverableSignature
    {
        let digest = Self.l1Digest(action: action, nonce: nonce, vaultAddress: vaultAddress, expiresAfter: expiresAfter, isMainnet: isMainnet)
        return try secp.signRecoverable(digest: digest, privateKey: privateKey)
    }

    /// The SDK's recover_agent_or_user_from_l1_action: who signed, as the exchange sees it.
    public static func recoverL1Signer(
        action: MessagePackValue,
        nonce: UInt64,
        vaultAddress: EthereumAddress?,
        expiresAfter: UInt64?,
        isMainnet: Bool,
        signature: RecoverableSignature,
        secp: Secp256k1
    ) throws(Secp256k1Error)
        -> EthereumAddress
    {
        let digest = Self.l1Digest(action: action, nonce: nonce, vaultAddress: vaultAddress, expiresAfter: expiresAfter, isMainnet: isMainnet)
        return try secp.recoverAddress(digest: digest, signature: signature)
    }

    private static func appendBigEndian(_ value: UInt64, to data: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// A client order id: 16 bytes, "0x" and 32 hex digits on the wire.
public struct HyperliquidCloid: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// "0x" and exactly 32 hex digits, as the SDK's Cloid requires.
    public init?(_ raw: String) {
        guard raw.hasPrefix("0x"), raw.utf8.count == 34, let bytes = HyperliquidHex.decode(raw.dropFirst(2)) else { return nil }
        self.bytes = bytes
    }

    /// The SDK's Cloid.from_int.
    public init(_ value: UInt64) {
        self.bytes = [UInt8](repeating: 0, count: 8) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - UInt64($0) * 8)) }
    }

    /// Lowercase "0x…" (the SDK sends its string as given; lowercase is what it builds).
    public var raw: String { HyperliquidHex.encode(self.bytes) }
    public var description: String { self.raw }
}

/// Order and cancel actions in the SDK's exact shapes and key order (the hash covers the msgpack bytes, so order matters).
public enum HyperliquidWire {
    public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The value has more than 8 decimals (or is not finite): Hyperliquid would see a different number than meant.
        case wouldRound(String)

        public var message: String {
            switch self {
            case .wouldRound(let value):
                "\(value) cannot be sent exactly: Hyperliquid prices and sizes take at most 8 decimals. Round it to the asset's tick and lot size first."
            }
        }

        public var description: String { self.message }
    }

    /// The SDK's float_to_wire for a Double: "%.8f", refused if that moved it by 1e-12 or more, trailing zeros stripped.
    /// Negative zero becomes "0" (the SDK means to do this but its check never matches; it sends "-0").
    public static func floatToWire(_ value: Double) throws(WireError) -> String {
        guard value.isFinite else { throw .wouldRound(value.description) }
        let rounded = String(format: "%.8f", value)
        guard let back = Double(rounded), abs(back - value) < 1e-12 else { throw .wouldRound(value.description) }
        return Self.normalize(rounded)
    }

    /// float_to_wire for a Decimal: exact, so any digit past the 8th decimal is refused rather than rounded.
    public static func floatToWire(_ value: Decimal) throws(WireError) -> String {
        guard !value.isNaN else { throw .wouldRound(value.description) }
        var rounded = Decimal()
        var input = value
        NSDecimalRound(&rounded, &input, 8, .plain)
        guard rounded == value else { throw .wouldRound(value.description) }
        // Decimal prints plain notation; normalize in case a build pads zeros.
        return Self.normalize(rounded.description)
    }

    private static func normalize(_ text: String) -> String {
        var text = Substring(text)
        if text.contains(".") {
            while text.hasSuffix("0") { text = text.dropLast() }
            if text.hasSuffix(".") { text = text.dropLast() }
        }
        return text == "-0" ? "0" : String(text)
    }

    public enum TimeInForce: String, Sendable, CaseIterable {
        case addLiquidityOnly = "Alo"
        case immediateOrCancel = "Ioc"
        case goodTillCancel = "Gtc"
    }

    public enum TPSL: String, Sendable, CaseIterable {
        case takeProfit = "tp"
        case stopLoss = "sl"
    }

    public enum OrderType: Sendable, Equatable {
        case limit(TimeInForce)
        case trigger(triggerPrice: Decimal, isMarket: Bool, tpsl: TPSL)
    }

    /// The SDK's OrderRequest with the coin already resolved to its asset index.
    public struct OrderRequest: Sendable, Equatable {
        public var asset: Int
        public var isBuy: Bool
        public var limitPrice: Decimal
        public var size: Decimal
        public var reduceOnly: Bool
        public var orderType: OrderType
        public var cloid: HyperliquidCloid?

        public init(
            asset: Int,
            isBuy: Bool,
            limitPrice: Decimal,
            size: Decimal,
            reduceOnly: Bool,
            orderType: OrderType,
            cloid: HyperliquidCloid? = nil
        ) {
            self.asset = asset
            self.isBuy = isBuy
            self.limitPrice = limitPrice
            self.size = size
            self.reduceOnly = reduceOnly
            self.orderType = orderType
            self.cloid = cloid
        }
    }

    public enum Grouping: String, Sendable {
        case na
        case normalTpsl
        case positionTpsl
    }

    /// A builder fee: the builder's address (sent lowercase, as the SDK does) and fee in tenths of a basis point.
    public struct Builder: Sendable, Equatable {
        public var address: EthereumAddress
        public var fee: UInt64

        public init(address: EthereumAddress, fee: UInt64) {
            self.address = address
            self.fee = fee
        }
    }

    /// The SDK's order_request_to_order_wire: {a, b, p, s, r, t[, c]}.
    public static func orderWire(_ order: OrderRequest) throws(WireError) -> MessagePackValue {
        let orderType: MessagePackValue
        switch order.orderType {
        case .limit(let tif):
            orderType = ["limit": ["tif": .string(tif.rawValue)]]
        case .trigger(let triggerPrice, let isMarket, let tpsl):
            orderType = [
                "trigger": ["isMarket": .bool(isMarket), "triggerPx": .string(try Self.floatToWire(triggerPrice)), "tpsl": .string(tpsl.rawValue)]
            ]
        }
        var entries: [(key: String, value: MessagePackValue)] = [
            ("a", .int(Int64(order.asset))),
            ("b", .bool(order.isBuy)),
            ("p", .string(try Self.floatToWire(order.limitPrice))),
            ("s", .string(try Self.floatToWire(order.size))),
            ("r", .bool(order.reduceOnly)),
            ("t", orderType),
        ]
        if let cloid = order.cloid { entries.append(("c", .string(cloid.raw))) }
        return .map(entries)
    }

    /// The SDK's order_wires_to_order_action: {type: "order", orders, grouping[, builder {b, f}]}.
    public static func orderAction(_ orderWires: [MessagePackValue], grouping: Grouping = .na, builder: Builder? = nil) -> MessagePackValue {
        var entries: [(key: String, value: MessagePackValue)] = [
            ("type", "order"),
            ("orders", .array(orderWires)),
            ("grouping", .string(grouping.rawValue)),
        ]
        if let builder { entries.append(("builder", ["b": .string(builder.address.hex), "f": .uint(builder.fee)])) }
        return .map(entries)
    }

    /// The SDK's bulk_cancel action: {type: "cancel", cancels: [{a, o}]}.
    public static func cancelAction(_ cancels: [(asset: Int, oid: UInt64)]) -> MessagePackValue {
        ["type": "cancel", "cancels": .array(cancels.map { ["a": .int(Int64($0.asset)), "o": .uint($0.oid)] })]
    }

    /// The SDK's bulk_cancel_by_cloid action: {type: "cancelByCloid", cancels: [{asset, cloid}]}.
    public static func cancelByCloidAction(_ cancels: [(asset: Int, cloid: HyperliquidCloid)]) -> MessagePackValue {
        ["type": "cancelByCloid", "cancels": .array(cancels.map { ["asset": .int(Int64($0.asset)), "cloid": .string($0.cloid.raw)] })]
    }
}

/// Lowercase "0x" hex for addresses, hashes and signatures.
enum HyperliquidHex {
    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = Array("0x".utf8)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Hex digits (no prefix, even count, any case) to bytes; nil if malformed.
    static func decode(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Accepts an optional "0x" prefix.
    static func decode(prefixed text: String) -> [UInt8]? {
        let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? Substring(text).dropFirst(2) : Substring(text)
        return Self.decode(digits)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: character - 0x30
        case 0x41...0x46: character - 0x41 + 10
        case 0x61...0x66: character - 0x61 + 10
        default: nil
        }
    }
}
