// Hyperliquid perpetuals: API (agent) wallet check through /info userRole, and trading with signed L1 actions.

import AsyncHTTPClient
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import Vault

public struct HyperliquidVenue: Venue {
    public let id = VenueID.hyperliquid
    let transport: VenueTransport
    let isMainnet: Bool
    let nonces = HyperliquidNonce()
    /// Worst price of a market order (an IOC limit order) relative to the mid, as the SDK's default slippage.
    static let marketSlippage: Decimal = 0.05

    public init(baseURL: String, isMainnet: Bool = true, client: HTTPClient = .shared) {
        self.transport = VenueTransport(venue: .hyperliquid, baseURL: baseURL, client: client)
        self.isMainnet = isMainnet
    }

    // MARK: Requests

    func info(_ request: MessagePackValue, retry: Bool = true) async throws -> JSON {
        let body = try self.jsonText(request)
        let response = try await self.transport.send(retry: retry) {
            VenueRequest(method: .POST, path: "/info", headers: ["Content-Type": "application/json"], body: Array(body.utf8))
        }
        return try self.checked(response)
    }

    func checked(_ response: VenueResponse) throws -> JSON {
        if response.status.code >= 500 { throw VenueError.unreachable(self.id, "HTTP \(response.status.code)") }
        let json = JSON(bytes: response.body)
        guard response.status == .ok, !json.isNull else {
            throw VenueError.rejected(
                self.id,
                code: String(response.status.code),
                message: String(decoding: response.body.prefix(200), as: UTF8.self)
            )
        }
        if json["status"].string == "err" { throw VenueError.rejected(self.id, code: "err", message: json["response"].string ?? "") }
        return json
    }

    func jsonText(_ value: MessagePackValue) throws -> String {
        do { return try value.jsonString() } catch { throw VenueError.invalidResponse(self.id, "action not representable as JSON") }
    }

    static func secp() throws -> Secp256k1 {
        do { return try Secp256k1.load() } catch { throw VenueError.unavailable(.hyperliquid, error.message) }
    }

    /// The API wallet's private key from `api_secret` (0x + 64 hex digits), or a refusal a person can act on.
    static func privateKey(_ credentials: VenueCredentials) throws -> SecretBytes {
        try credentials.secret.withUnsafeBytes { raw in
            var text = Array(raw)
            defer { for index in text.indices { text[index] = 0 } }
            var digits = text[...]
            if digits.starts(with: Array("0x".utf8)) { digits = digits.dropFirst(2) }
            guard digits.count == 64 else { throw Self.badPrivateKey }
            var key = [UInt8](repeating: 0, count: 32)
            defer { for index in key.indices { key[index] = 0 } }
            for (index, pair) in stride(from: digits.startIndex, to: digits.endIndex, by: 2).enumerated() {
                guard let high = Self.nibble(digits[pair]), let low = Self.nibble(digits[pair + 1]) else { throw Self.badPrivateKey }
                key[index] = high << 4 | low
            }
            return SecretBytes(copying: key)
        }
    }

    static let badPrivateKey = KeyRejection(
        .unverifiableKey,
        "For Hyperliquid, api_secret must be the API wallet's private key: 64 hex digits, optionally prefixed with 0x."
    )

    static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func master(_ credentials: VenueCredentials) throws -> EthereumAddress {
        guard let address = EthereumAddress(credentials.apiKey) else {
            throw KeyRejection(.unverifiableKey, "For Hyperliquid, api_key must be your account's address (0x followed by 40 hex digits).")
        }
        return address
    }

    // MARK: Key inspection

    /// `userRole` of the address the private key signs as: it must be an agent of the master address given.
    public func inspectKey(_ credentials: VenueCredentials) async throws -> KeyInspection {
        let master = try Self.master(credentials)
        let key = try Self.privateKey(credentials)
        let secp = try Self.secp()
        let signer: EthereumAddress
        do { signer = try key.withUnsafeBytes { try secp.address(privateKey: $0) } } catch { throw Self.badPrivateKey }
        let role = try await self.info(["type": "userRole", "user": .string(signer.hex)], retry: false)
        switch role["role"].string {
        case "agent":
            guard let owner = role["data"]["user"].string.flatMap(EthereumAddress.init), owner == master else {
                let owner = role["data"]["user"].string ?? "another account"
                return KeyInspection(
                    venue: self.id,
                    role: .unverifiable(
                        reason:
                            "This API wallet (\(signer.checksummed)) trades for \(owner), not for the account address given as api_key (\(master.checksummed))."
                    ),
                    permissions: ["agent"],
                    canTrade: false,
                    ipRestriction: .notOffered
                )
            }
            return KeyInspection(venue: self.id, permissions: ["agent"], canTrade: true, ipRestriction: .notOffered)
        case "user":
            return KeyInspection(venue: self.id, role: .masterWallet, permissions: ["user"], canTrade: true, ipRestriction: .notOffered)
        case let other:
            let name = other ?? "unknown"
            return KeyInspection(
                venue: self.id,
                role: .unverifiable(
                    reason:
                        "Hyperliquid does not know \(signer.checksummed) as an API wallet (role: \(name)). Authorise it on app.hyperliquid.xyz → More → API first."
                ),
                permissions: [name],
                canTrade: false,
                ipRestriction: .notOffered
            )
        }
    }

    // MARK: Market data

    /// The coin for a symbol: Hyperliquid names perps by coin ("BTC"); "BTCUSDT"/"BTC-USD"-style names are accepted.
    func asset(_ symbol: String) async throws -> (coin: String, index: Int, szDecimals: Int) {
        let universe = try await self.info(["type": "meta"])["universe"].array ?? []
        let candidates =
            [symbol]
            + ["USDT", "USDC", "-USD", "-PERP", "USD"].compactMap { suffix in
                symbol.hasSuffix(suffix) ? String(symbol.dropLast(suffix.count)) : nil
            }
        for candidate in candidates {
            if let index = universe.firstIndex(where: { $0["name"].string == candidate }) {
                return (candidate, index, Int(universe[index]["szDecimals"].int64 ?? 0))
            }
        }
        throw VenueError.rejected(self.id, code: "unknown_symbol", message: "\(symbol) is not a Hyperliquid perpetual")
    }

    public func ticker(symbol: String) async throws -> Ticker {
        let (coin, _, _) = try await self.asset(symbol)
        let book = try await self.info(["type": "l2Book", "coin": .string(coin)])
        let mids = try await self.info(["type": "allMids"])
        guard let mid = mids[coin].decimal else { throw VenueError.invalidResponse(self.id, "no mid for \(coin)") }
        let time = book["time"].int64.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        return Ticker(symbol: symbol, price: mid, bid: book["levels"][0][0]["px"].decimal, ask: book["levels"][1][0]["px"].decimal, time: time)
    }

    /// Sizes step by 10^-szDecimals; prices carry at most 6 - szDecimals decimals (and 5 significant figures); $10 minimum.
    public func symbolRules(symbol: String) async throws -> SymbolRules {
        let (_, _, decimals) = try await self.asset(symbol)
        let step = Decimal(sign: .plus, exponent: -decimals, significand: 1)
        return SymbolRules(
            symbol: symbol,
            tickSize: Decimal(sign: .plus, exponent: -(6 - decimals), significand: 1),
            stepSize: step,
            minQuantity: step,
            minNotional: 10
        )
    }

    // MARK: Trading

    /// Client order ids become Hyperliquid cloids (16 bytes): a 0x+32-hex id is used as is, anything else hashed, so
    /// the same client order id always names the same order.
    static func cloid(_ clientOrderID: String) -> HyperliquidCloid {
        if let direct = HyperliquidCloid(clientOrderID) { return direct }
        return HyperliquidCloid(bytes: Array(SHA256.hash(data: Array(clientOrderID.utf8)).prefix(16)))!
    }

    /// Sign `action` with the agent key and post it to /exchange; the answer's `response.data`.
    func exchange(_ action: MessagePackValue, credentials: VenueCredentials) async throws -> JSON {
        let key = try Self.privateKey(credentials)
        let secp = try Self.secp()
        let actionJSON = try self.jsonText(action)
        let isMainnet = self.isMainnet
        let nonces = self.nonces
        let response = try await self.transport.send(retry: true) {
            // A fresh nonce for every attempt: a nonce is spent once seen.
            try Self.signedExchangeRequest(action, actionJSON: actionJSON, nonce: nonces.next(), isMainnet: isMainnet, key: key, secp: secp)
        }
        return try self.checked(response)["response"]["data"]
    }

    /// POST /exchange for an L1 action: the action as JSON in its msgpack key order, the nonce, the agent's signature.
    static func signedExchangeRequest(
        _ action: MessagePackValue,
        actionJSON: String,
        nonce: UInt64,
        isMainnet: Bool,
        key: SecretBytes,
        secp: Secp256k1
    ) throws -> VenueRequest {
        let signature = try key.withUnsafeBytes { raw in
            try HyperliquidSigning.signL1Action(
                action: action,
                nonce: nonce,
                vaultAddress: nil,
                expiresAfter: nil,
                isMainnet: isMainnet,
                privateKey: raw,
                secp: secp
            )
        }
        let body =
            "{\"action\":\(actionJSON),\"nonce\":\(nonce),\"signature\":{\"r\":\"\(signature.rHex)\",\"s\":\"\(signature.sHex)\",\"v\":\(signature.v)},\"vaultAddress\":null}"
        return VenueRequest(method: .POST, path: "/exchange", headers: ["Content-Type": "application/json"], body: Array(body.utf8))
    }

    /// The signed order request exactly as it would be sent (for the signing benchmark): a limit order on asset
    /// `asset` with `szDecimals`, built into an action, msgpacked, hashed and signed.
    public static func signedOrderRequest(
        _ order: OrderRequest,
        asset: Int,
        nonce: UInt64,
        isMainnet: Bool,
        credentials: VenueCredentials
    ) throws -> VenueRequest {
        guard let price = order.price else { throw VenueError.rejected(.hyperliquid, code: "price_required", message: "a limit order needs a price") }
        let action = HyperliquidWire.orderAction([try Self.orderWire(order, asset: asset, limit: price)])
        let actionJSON: String
        do { actionJSON = try action.jsonString() } catch { throw VenueError.invalidResponse(.hyperliquid, "action not representable as JSON") }
        return try Self.signedExchangeRequest(
            action,
            actionJSON: actionJSON,
            nonce: nonce,
            isMainnet: isMainnet,
            key: try Self.privateKey(credentials),
            secp: try Self.secp()
        )
    }

    static func orderWire(_ order: OrderRequest, asset: Int, limit: Decimal) throws -> MessagePackValue {
        let request = HyperliquidWire.OrderRequest(
            asset: asset,
            isBuy: order.side == .buy,
            limitPrice: limit,
            size: order.quantity,
            reduceOnly: order.reduceOnly,
            orderType: .limit(order.type == .market ? .immediateOrCancel : .goodTillCancel),
            cloid: Self.cloid(order.clientOrderID)
        )
        do { return try HyperliquidWire.orderWire(request) } catch {
            throw VenueError.rejected(.hyperliquid, code: "invalid_order", message: error.message)
        }
    }

    public func placeOrder(_ order: OrderRequest, credentials: VenueCredentials) async throws -> VenueOrder {
        let (coin, index, decimals) = try await self.asset(order.symbol)
        var price = order.price
        if order.type == .market && price == nil {
            guard let mid = try await self.info(["type": "allMids"])[coin].decimal, mid > 0 else {
                throw VenueError.invalidResponse(self.id, "no mid for \(coin)")
            }
            price = Self.marketPrice(mid: mid, isBuy: order.side == .buy, szDecimals: decimals)
        }
        guard let limit = price else { throw VenueError.rejected(self.id, code: "price_required", message: "a limit order needs a price") }
        let data: JSON
        do {
            data = try await self.exchange(
                HyperliquidWire.orderAction([try Self.orderWire(order, asset: index, limit: limit)]),
                credentials: credentials
            )
        } catch VenueError.unreachable(let venue, let reason) {
            // The outcome is unknown: the cloid tells whether the order exists.
            if let existing = try? await self.order(symbol: order.symbol, clientOrderID: order.clientOrderID, credentials: credentials) {
                return existing
            }
            throw VenueError.unreachable(venue, reason)
        }
        let status = data["statuses"][0]
        if let error = status["error"].string { throw VenueError.rejected(self.id, code: "order_rejected", message: error) }
        let filled = status["filled"]
        let oid = status["resting"]["oid"].string ?? filled["oid"].string ?? ""
        return VenueOrder(
            venueOrderID: oid,
            clientOrderID: order.clientOrderID,
            symbol: order.symbol,
            side: order.side,
            type: order.type,
            price: limit,
            quantity: order.quantity,
            filledQuantity: filled["totalSz"].decimal ?? 0,
            averagePrice: filled["avgPx"].decimal,
            status: filled.isNull ? .open : (filled["totalSz"].decimal ?? 0) >= order.quantity ? .filled : .partiallyFilled
        )
    }

    /// The SDK's market price: mid ± slippage, rounded to 5 significant figures and 6 - szDecimals decimals.
    static func marketPrice(mid: Decimal, isBuy: Bool, szDecimals: Int) -> Decimal {
        var price = mid * (isBuy ? 1 + Self.marketSlippage : 1 - Self.marketSlippage)
        let magnitude = Int(floor(log10(NSDecimalNumber(decimal: price).doubleValue)))
        var significant = Decimal()
        var rounded = Decimal()
        NSDecimalRound(&significant, &price, max(0, 4 - magnitude), .plain)
        NSDecimalRound(&rounded, &significant, 6 - szDecimals, .plain)
        return rounded
    }

    public func cancelOrder(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder? {
        let (_, index, _) = try await self.asset(symbol)
        let data = try await self.exchange(
            HyperliquidWire.cancelByCloidAction([(asset: index, cloid: Self.cloid(clientOrderID))]),
            credentials: credentials
        )
        if data["statuses"][0]["error"].string != nil { return nil }  // never placed, already cancelled, or filled
        return try? await self.order(symbol: symbol, clientOrderID: clientOrderID, credentials: credentials)
    }

    /// One cancel action with every open order of the coin, repeated while any remain (orders placed meanwhile).
    public func cancelAllOrders(symbol: String, credentials: VenueCredentials) async throws -> Int {
        let (coin, index, _) = try await self.asset(symbol)
        var total = 0
        for _ in 0..<10 {
            let open = try await self.openOrders(symbol: nil, credentials: credentials).filter { $0.symbol == coin }
            if open.isEmpty { return total }
            let cancels = open.compactMap { UInt64($0.venueOrderID) }.map { (asset: index, oid: $0) }
            let data = try await self.exchange(HyperliquidWire.cancelAction(cancels), credentials: credentials)
            total += (data["statuses"].array ?? []).filter { $0.string == "success" }.count
        }
        throw VenueError.invalidResponse(self.id, "open orders kept appearing during cancel-all")
    }

    public func openOrders(symbol: String?, credentials: VenueCredentials) async throws -> [VenueOrder] {
        let master = try Self.master(credentials)
        var coin: String?
        if let symbol { coin = try await self.asset(symbol).coin }
        let orders = try await self.info(["type": "openOrders", "user": .string(master.hex)]).array ?? []
        return orders.compactMap { entry -> VenueOrder? in
            guard let name = entry["coin"].string, coin == nil || name == coin, let oid = entry["oid"].string else { return nil }
            let original = entry["origSz"].decimal ?? entry["sz"].decimal ?? 0
            let remaining = entry["sz"].decimal ?? original
            return VenueOrder(
                venueOrderID: oid,
                clientOrderID: entry["cloid"].string,
                symbol: name,
                side: entry["side"].string == "A" ? .sell : .buy,
                type: .limit,
                price: entry["limitPx"].decimal,
                quantity: original,
                filledQuantity: original - remaining,
                status: remaining < original ? .partiallyFilled : .open
            )
        }
    }

    public func order(symbol: String, clientOrderID: String, credentials: VenueCredentials) async throws -> VenueOrder {
        let master = try Self.master(credentials)
        let answer = try await self.info(["type": "orderStatus", "user": .string(master.hex), "oid": .string(Self.cloid(clientOrderID).raw)])
        guard answer["status"].string == "order" else { throw VenueError.rejected(self.id, code: "unknownOid", message: "Order does not exist") }
        let entry = answer["order"]["order"]
        let original = entry["origSz"].decimal ?? 0
        let remaining = entry["sz"].decimal ?? 0
        let status: OrderStatus =
            switch answer["order"]["status"].string {
            case "open", "triggered": remaining < original ? .partiallyFilled : .open
            case "filled": .filled
            case let other? where other.hasSuffix("Rejected") || other == "rejected": .rejected
            default: .cancelled
            }
        return VenueOrder(
            venueOrderID: entry["oid"].string ?? "",
            clientOrderID: clientOrderID,
            symbol: entry["coin"].string ?? symbol,
            side: entry["side"].string == "A" ? .sell : .buy,
            type: entry["tif"].string == "Ioc" ? .market : .limit,
            price: entry["limitPx"].decimal,
            quantity: original,
            filledQuantity: original - remaining,
            status: status
        )
    }

    public func positions(credentials: VenueCredentials) async throws -> [Position] {
        let state = try await self.info(["type": "clearinghouseState", "user": .string(try Self.master(credentials).hex)])
        return (state["assetPositions"].array ?? []).compactMap { entry in
            let position = entry["position"]
            guard let coin = position["coin"].string, let size = position["szi"].decimal, size != 0 else { return nil }
            return Position(symbol: coin, quantity: size, entryPrice: position["entryPx"].decimal)
        }
    }

    public func balances(credentials: VenueCredentials) async throws -> [Balance] {
        let state = try await self.info(["type": "clearinghouseState", "user": .string(try Self.master(credentials).hex)])
        guard let value = state["marginSummary"]["accountValue"].decimal else { return [] }
        return [Balance(asset: "USDC", total: value, available: state["withdrawable"].decimal ?? value)]
    }
}

/// Nonces are milliseconds, unique per signer: never repeated within this process, even within one millisecond.
final class HyperliquidNonce: Sendable {
    private let last = NIOLockedValueBox<UInt64>(0)

    func next() -> UInt64 {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        return self.last.withLockedValue { last in
            last = max(last + 1, now)
            return last
        }
    }
}
