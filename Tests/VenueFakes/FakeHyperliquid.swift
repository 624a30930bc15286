// A local fake of Hyperliquid's /info and /exchange for perpetuals: key roles, documented nonce rules, and orders that rest or fill at a settable mid.

import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// One perpetual in `meta.universe`; its position there is its asset index.
public struct HyperliquidAsset: Sendable {
    public var name: String
    public var szDecimals: Int
    public var maxLeverage: Int

    public init(name: String, szDecimals: Int, maxLeverage: Int) {
        self.name = name
        self.szDecimals = szDecimals
        self.maxLeverage = maxLeverage
    }

    /// BTC, ETH, SOL with mainnet-like size decimals.
    public static let defaultUniverse = [
        HyperliquidAsset(name: "BTC", szDecimals: 5, maxLeverage: 40),
        HyperliquidAsset(name: "ETH", szDecimals: 4, maxLeverage: 25),
        HyperliquidAsset(name: "SOL", szDecimals: 2, maxLeverage: 20),
    ]
}

/// An order as the fake holds it (every order that got an oid, in any state).
public struct HyperliquidOrder: Sendable {
    public var oid: Int64
    /// The account the order belongs to (master or sub-account), lowercase.
    public var user: String
    public var coin: String
    public var asset: Int
    public var isBuy: Bool
    public var limitPx: Decimal
    /// Remaining size.
    public var size: Decimal
    public var originalSize: Decimal
    public var cloid: String?
    public var tif: String
    public var reduceOnly: Bool
    public var timestamp: Int64
    /// orderStatus vocabulary: "open", "filled", "canceled", "iocCancelRejected", …
    public var status: String
    public var statusTimestamp: Int64
}

/// A signed /exchange request the fake refused as a whole, with its `response` text.
public struct HyperliquidRejection: Sendable, Equatable {
    public var actionType: String
    public var response: String
}

/// Fake Hyperliquid perpetuals venue: POST /info and POST /exchange.
public final class FakeHyperliquid: Sendable {
    /// Per-order error for a cloid the account already used. Not documented by Hyperliquid: an assumption (see the facts note).
    public static let duplicateCloidError = "Duplicate cloid."
    /// Answer to a body the venue cannot deserialize (HTTP 422, text/plain).
    public static let deserializeError = "Failed to deserialize the JSON body into the target type"

    public typealias SignerRecovery =
        @Sendable (
            _ rawActionJSON: String, _ nonce: UInt64, _ vaultAddress: String?,
            _ expiresAfter: UInt64?, _ r: String, _ s: String, _ v: Int,
            _ isMainnet: Bool
        ) -> String?

    private struct Position {
        var szi: Decimal
        var entryPx: Decimal
    }

    private struct State {
        var isMainnet: Bool
        var universe: [HyperliquidAsset]
        var mids: [String: Decimal] = [:]
        var users: Set<String> = []
        var agents: [String: String] = [:]
        var subAccounts: [String: String] = [:]
        var balances: [String: Decimal] = [:]
        var positions: [String: [String: Position]] = [:]
        var leverage: [String: [String: Int]] = [:]
        var orders: [Int64: HyperliquidOrder] = [:]
        var cloids: [String: [String: Int64]] = [:]
        var nonces: [String: [UInt64]] = [:]
        var nextOid: Int64 = 100_000_000_000
        var nonceSetSize = 100
        var rejections: [HyperliquidRejection] = []
    }

    public let log: FakeVenueLog
    private let state: NIOLockedValueBox<State>
    private let recoverSigner: SignerRecovery

    /// - Parameter recoverSigner: recovers the lowercase 0x address that signed the L1 action; the raw action JSON is
    ///   passed exactly as received because the action hash depends on its key order.
    public init(
        log: FakeVenueLog = FakeVenueLog(),
        isMainnet: Bool = true,
        universe: [HyperliquidAsset] = HyperliquidAsset.defaultUniverse,
        recoverSigner: @escaping SignerRecovery
    ) {
        self.log = log
        self.state = NIOLockedValueBox(State(isMainnet: isMainnet, universe: universe))
        self.recoverSigner = recoverSigner
    }

    // MARK: - Set-up and assertions

    /// A master account with `usdc` of collateral.
    public func registerUser(address: String, usdc: Decimal = 10_000) {
        self.state.withLockedValue {
            $0.users.insert(address.lowercased())
            $0.balances[address.lowercased()] = usdc
        }
    }

    /// An API (agent) wallet that signs for `master`.
    public func registerAgent(agent: String, master: String) {
        self.state.withLockedValue { $0.agents[agent.lowercased()] = master.lowercased() }
    }

    /// A sub-account of `master`, traded by setting `vaultAddress` to it.
    public func registerSubAccount(address: String, master: String, usdc: Decimal = 0) {
        self.state.withLockedValue {
            $0.subAccounts[address.lowercased()] = master.lowercased()
            $0.balances[address.lowercased()] = usdc
        }
    }

    /// Moves the mid; resting orders the new mid crosses fill at their limit price.
    public func setMid(coin: String, price: Decimal) {
        let now = self.log.nowMilliseconds
        self.state.withLockedValue { state in
            state.mids[coin] = price
            for oid in state.orders.keys.sorted() {
                guard let order = state.orders[oid], order.status == "open", order.coin == coin else { continue }
                if order.isBuy ? price <= order.limitPx : price >= order.limitPx {
                    Self.fill(&state, user: order.user, coin: coin, isBuy: order.isBuy, size: order.size, px: order.limitPx)
                    state.orders[oid]?.size = 0
                    state.orders[oid]?.status = "filled"
                    state.orders[oid]?.statusTimestamp = now
                }
            }
        }
    }

    public func setBalance(user: String, usdc: Decimal) { self.state.withLockedValue { $0.balances[user.lowercased()] = usdc } }

    public var isMainnet: Bool {
        get { self.state.withLockedValue { $0.isMainnet } }
        set { self.state.withLockedValue { $0.isMainnet = newValue } }
    }

    /// How many of a signer's highest nonces are kept (the docs say 100).
    public var nonceSetSize: Int {
        get { self.state.withLockedValue { $0.nonceSetSize } }
        set { self.state.withLockedValue { $0.nonceSetSize = newValue } }
    }

    /// Every order of `user` that got an oid, oldest first.
    public func orders(user: String) -> [HyperliquidOrder] {
        self.state.withLockedValue { $0.orders.values.filter { $0.user == user.lowercased() }.sorted { $0.oid < $1.oid } }
    }

    public func openOrders(user: String) -> [HyperliquidOrder] { self.orders(user: user).filter { $0.status == "open" } }

    /// Signed position size (+ long, − short); 0 when flat.
    public func position(user: String, coin: String) -> Decimal {
        self.state.withLockedValue { $0.positions[user.lowercased()]?[coin]?.szi ?? 0 }
    }

    public func balance(user: String) -> Decimal { self.state.withLockedValue { $0.balances[user.lowercased()] ?? 0 } }

    /// The nonces the venue holds for a signer, ascending.
    public func storedNonces(signer: String) -> [UInt64] { self.state.withLockedValue { $0.nonces[signer.lowercased()] ?? [] } }

    /// Whole /exchange requests refused with `{"status":"err"}`, oldest first.
    public var rejections: [HyperliquidRejection] { self.state.withLockedValue { $0.rejections } }

    // MARK: - Routes

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: FakeVenueRecorder(log: self.log))
        router.post("/info") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let answer = self.info(object)
            else { return hyperliquidText(.unprocessableContent, Self.deserializeError) }
            return fakeJSON(.ok, answer)
        }
        router.post("/exchange") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            switch self.exchange(body) {
            case .undecodable: return hyperliquidText(.unprocessableContent, Self.deserializeError)
            case .answer(let answer): return fakeJSON(.ok, answer)
            }
        }
        return router
    }

    // MARK: - /info

    private func info(_ request: [String: Any]) -> Any? {
        let user = (request["user"] as? String)?.lowercased() ?? ""
        return self.state.withLockedValue { state -> Any? in
            switch request["type"] as? String {
            case "meta":
                return ["universe": state.universe.map { ["name": $0.name, "szDecimals": $0.szDecimals, "maxLeverage": $0.maxLeverage] }]
            case "allMids":
                return state.mids.mapValues { hlFormat($0) }
            case "l2Book":
                guard let coin = request["coin"] as? String else { return nil }
                return self.l2Book(state, coin: coin)
            case "userRole":
                if let master = state.agents[user] { return ["role": "agent", "data": ["user": master]] }
                if let master = state.subAccounts[user] { return ["role": "subAccount", "data": ["master": master]] }
                if state.users.contains(user) { return ["role": "user"] }
                return ["role": "missing"]
            case "openOrders":
                return state.orders.values.filter { $0.user == user && $0.status == "open" }.sorted { $0.oid > $1.oid }.map { order in
                    var entry: [String: Any] = [
                        "coin": order.coin, "side": order.isBuy ? "B" : "A", "limitPx": hlFormat(order.limitPx),
                        "sz": hlFormat(order.size), "oid": order.oid, "timestamp": order.timestamp,
                        "origSz": hlFormat(order.originalSize),
                    ]
                    if let cloid = order.cloid { entry["cloid"] = cloid }
                    return entry
                }
            case "orderStatus":
                let oid: Int64?
                if let cloid = request["oid"] as? String {
                    oid = state.cloids[user]?[cloid.lowercased()]
                } else if let number = hlInteger(request["oid"]) {
                    oid = number
                } else {
                    return nil
                }
                guard let oid, let order = state.orders[oid], order.user == user else { return ["status": "unknownOid"] }
                return [
                    "status": "order",
                    "order": [
                        "order": Self.frontendOrder(order), "status": order.status,
                        "statusTimestamp": order.statusTimestamp,
                    ],
                ]
            case "clearinghouseState":
                return self.clearinghouseState(state, user: user)
            default:
                return nil
            }
        }
    }

    private func l2Book(_ state: State, coin: String) -> [String: Any] {
        var bids: [Decimal: (Decimal, Int)] = [:]
        var asks: [Decimal: (Decimal, Int)] = [:]
        if let mid = state.mids[coin] {
            // One synthetic level either side of the mid, one basis point away.
            bids[mid * Decimal(string: "0.9999")!] = (10, 1)
            asks[mid * Decimal(string: "1.0001")!] = (10, 1)
        }
        for order in state.orders.values where order.coin == coin && order.status == "open" {
            if order.isBuy {
                let level = bids[order.limitPx] ?? (0, 0)
                bids[order.limitPx] = (level.0 + order.size, level.1 + 1)
            } else {
                let level = asks[order.limitPx] ?? (0, 0)
                asks[order.limitPx] = (level.0 + order.size, level.1 + 1)
            }
        }
        func levels(_ side: [Decimal: (Decimal, Int)], descending: Bool) -> [[String: Any]] {
            side.keys.sorted(by: descending ? (>) : (<)).map { ["px": hlFormat($0), "sz": hlFormat(side[$0]!.0), "n": side[$0]!.1] }
        }
        return ["coin": coin, "time": self.log.nowMilliseconds, "levels": [levels(bids, descending: true), levels(asks, descending: false)]]
    }

    private func clearinghouseState(_ state: State, user: String) -> [String: Any] {
        var positions: [[String: Any]] = []
        var notional: Decimal = 0
        var marginUsed: Decimal = 0
        var unrealized: Decimal = 0
        var costBasis: Decimal = 0
        for (coin, position) in (state.positions[user] ?? [:]).sorted(by: { $0.key < $1.key }) {
            let mid = state.mids[coin] ?? position.entryPx
            let leverage = Self.leverage(state, user: user, coin: coin)
            let value = abs(position.szi) * mid
            let pnl = position.szi * (mid - position.entryPx)
            let margin = value / Decimal(leverage)
            let initialMargin = abs(position.szi) * position.entryPx / Decimal(leverage)
            notional += value
            marginUsed += margin
            unrealized += pnl
            costBasis += position.szi * position.entryPx
            positions.append([
                "type": "oneWay",
                "position": [
                    "coin": coin, "szi": hlFormat(position.szi), "entryPx": hlFormat(position.entryPx),
                    "positionValue": hlFormat(value), "unrealizedPnl": hlFormat(pnl),
                    "returnOnEquity": hlFormat(initialMargin == 0 ? 0 : pnl / initialMargin),
                    "liquidationPx": NSNull(), "marginUsed": hlFormat(margin),
                    "leverage": ["type": "cross", "value": leverage],
                    "maxLeverage": state.universe.first { $0.name == coin }?.maxLeverage ?? leverage,
                    "cumFunding": ["allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"],
                ] as [String: Any],
            ])
        }
        let balance = state.balances[user] ?? 0
        let accountValue = balance + unrealized
        let summary: [String: Any] = [
            "accountValue": hlFormat(accountValue), "totalNtlPos": hlFormat(notional),
            "totalRawUsd": hlFormat(balance - costBasis), "totalMarginUsed": hlFormat(marginUsed),
        ]
        return [
            "assetPositions": positions, "marginSummary": summary, "crossMarginSummary": summary,
            "crossMaintenanceMarginUsed": hlFormat(marginUsed / 2),
            "withdrawable": hlFormat(max(0, accountValue - marginUsed)), "time": self.log.nowMilliseconds,
        ]
    }

    private static func frontendOrder(_ order: HyperliquidOrder) -> [String: Any] {
        [
            "coin": order.coin, "side": order.isBuy ? "B" : "A", "limitPx": hlFormat(order.limitPx),
            "sz": hlFormat(order.size), "oid": order.oid, "timestamp": order.timestamp,
            "origSz": hlFormat(order.originalSize), "triggerCondition": "N/A", "isTrigger": false,
            "triggerPx": "0.0", "children": [Any](), "isPositionTpsl": false, "reduceOnly": order.reduceOnly,
            "orderType": "Limit", "tif": order.tif, "cloid": order.cloid.map { $0 as Any } ?? NSNull(),
        ]
    }

    // MARK: - /exchange

    private enum ExchangeAnswer {
        case undecodable
        case answer([String: Any])
    }

    private func exchange(_ body: String) -> ExchangeAnswer {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let action = object["action"] as? [String: Any], let type = action["type"] as? String,
            let rawAction = hyperliquidRawMember("action", in: body),
            let nonce = hlInteger(object["nonce"]).flatMap({ UInt64(exactly: $0) }),
            let signature = object["signature"] as? [String: Any],
            let r = signature["r"] as? String, let s = signature["s"] as? String,
            let v = hlInteger(signature["v"]).map({ Int($0) })
        else { return .undecodable }
        let vaultAddress = (object["vaultAddress"] as? String)?.lowercased()
        let expiresAfter = hlInteger(object["expiresAfter"]).flatMap { UInt64(exactly: $0) }
        let isMainnet = self.isMainnet
        // Recovery runs outside the lock: it is the caller's crypto and may be slow.
        let signer = self.recoverSigner(rawAction, nonce, vaultAddress, expiresAfter, r, s, v, isMainnet)?.lowercased()
        let now = self.log.nowMilliseconds

        return self.state.withLockedValue { state -> ExchangeAnswer in
            func refuse(_ text: String) -> ExchangeAnswer {
                state.rejections.append(HyperliquidRejection(actionType: type, response: text))
                return .answer(["status": "err", "response": text])
            }
            guard let signer else { return refuse("Unable to recover signer.") }
            // A wrong signature recovers some other address, which the venue then does not know.
            guard let master = state.users.contains(signer) ? signer : state.agents[signer] else {
                return refuse("User or API Wallet \(signer) does not exist.")
            }
            var account = master
            if let vaultAddress {
                guard state.subAccounts[vaultAddress] == master else { return refuse("Vault not registered: \(vaultAddress)") }
                account = vaultAddress
            }
            if let expiresAfter, Int64(clamping: expiresAfter) < now { return refuse("Action expired") }
            if let problem = Self.useNonce(&state, signer: signer, nonce: nonce, now: now) { return refuse(problem) }

            switch type {
            case "order":
                guard let orders = action["orders"] as? [[String: Any]] else { return .undecodable }
                return Self.placeOrders(&state, user: account, orders: orders, now: now)
            case "cancel":
                guard let cancels = action["cancels"] as? [[String: Any]] else { return .undecodable }
                let statuses = cancels.map { cancel -> Any in
                    let asset = hlInteger(cancel["a"]).map { Int($0) } ?? -1
                    let oid = hlInteger(cancel["o"]) ?? -1
                    return Self.cancel(&state, user: account, asset: asset, oid: oid, now: now)
                }
                return .answer(["status": "ok", "response": ["type": "cancel", "data": ["statuses": statuses]]])
            case "cancelByCloid":
                guard let cancels = action["cancels"] as? [[String: Any]] else { return .undecodable }
                let statuses = cancels.map { cancel -> Any in
                    let asset = hlInteger(cancel["asset"]).map { Int($0) } ?? -1
                    let cloid = (cancel["cloid"] as? String)?.lowercased() ?? ""
                    let oid = state.cloids[account]?[cloid] ?? -1
                    return Self.cancel(&state, user: account, asset: asset, oid: oid, now: now)
                }
                return .answer(["status": "ok", "response": ["type": "cancel", "data": ["statuses": statuses]]])
            case "updateLeverage":
                guard let asset = hlInteger(action["asset"]).map({ Int($0) }), state.universe.indices.contains(asset),
                    let leverage = hlInteger(action["leverage"]).map({ Int($0) })
                else { return .undecodable }
                guard leverage >= 1, leverage <= state.universe[asset].maxLeverage else { return refuse("Invalid leverage value") }
                state.leverage[account, default: [:]][state.universe[asset].name] = leverage
                return .answer(["status": "ok", "response": ["type": "default"]])
            default:
                return .undecodable
            }
        }
    }

    /// Documented rule: nonce within (T − 2 days, T + 1 day), unused, and above the smallest of the signer's kept set.
    private static func useNonce(_ state: inout State, signer: String, nonce: UInt64, now: Int64) -> String? {
        let day: Int64 = 86_400_000
        let value = Int64(clamping: nonce)
        guard value > now - 2 * day, value < now + day else { return "Invalid nonce: nonce too far from current time \(nonce)" }
        var kept = state.nonces[signer] ?? []
        if kept.contains(nonce) { return "Invalid nonce: duplicate nonce \(nonce)" }
        // The kept set starts as zeros, so the bar only rises once it is full.
        let least = kept.count < state.nonceSetSize ? 0 : kept[0]
        if nonce <= least { return "Invalid nonce: nonce too low \(nonce) < \(least)" }
        kept.insert(nonce, at: kept.firstIndex { $0 > nonce } ?? kept.count)
        if kept.count > state.nonceSetSize { kept.removeFirst(kept.count - state.nonceSetSize) }
        state.nonces[signer] = kept
        return nil
    }

    private static func cancel(_ state: inout State, user: String, asset: Int, oid: Int64, now: Int64) -> Any {
        guard let order = state.orders[oid], order.user == user, order.asset == asset, order.status == "open" else {
            return ["error": "Order was never placed, already canceled, or filled. asset=\(asset)"]
        }
        state.orders[oid]?.status = "canceled"
        state.orders[oid]?.statusTimestamp = now
        return "success"
    }

    private static func placeOrders(_ state: inout State, user: String, orders: [[String: Any]], now: Int64) -> ExchangeAnswer {
        struct Wire {
            var asset: Int, isBuy: Bool, px: String, sz: String, reduceOnly: Bool, tif: String, cloid: String?
        }
        // Pre-validation: one malformed order refuses the whole batch, as the venue does.
        var wires: [Wire] = []
        for order in orders {
            guard let asset = hlInteger(order["a"]).map({ Int($0) }), state.universe.indices.contains(asset),
                let isBuy = order["b"] as? Bool, let px = order["p"] as? String, let sz = order["s"] as? String,
                let reduceOnly = order["r"] as? Bool,
                let tif = ((order["t"] as? [String: Any])?["limit"] as? [String: Any])?["tif"] as? String,
                ["Gtc", "Ioc", "Alo"].contains(tif)
            else { return .undecodable }
            let cloid = (order["c"] as? String)?.lowercased()
            if let cloid, cloid.range(of: "^0x[0-9a-f]{32}$", options: .regularExpression) == nil { return .undecodable }
            wires.append(Wire(asset: asset, isBuy: isBuy, px: px, sz: sz, reduceOnly: reduceOnly, tif: tif, cloid: cloid))
        }

        var statuses: [Any] = []
        for wire in wires {
            let asset = state.universe[wire.asset]
            if let cloid = wire.cloid, state.cloids[user]?[cloid] != nil {
                statuses.append(["error": duplicateCloidError])
                continue
            }
            guard let size = hlDecimal(wire.sz), let price = hlDecimal(wire.px) else {
                statuses.append(["error": "Order has invalid size."])
                continue
            }
            if size == 0 {
                statuses.append(["error": "Order has zero size."])
                continue
            }
            if hlDecimalPlaces(wire.sz) > asset.szDecimals {
                statuses.append(["error": "Order has invalid size."])
                continue
            }

            let oid = state.nextOid
            state.nextOid += 1
            var order = HyperliquidOrder(
                oid: oid,
                user: user,
                coin: asset.name,
                asset: wire.asset,
                isBuy: wire.isBuy,
                limitPx: price,
                size: size,
                originalSize: size,
                cloid: wire.cloid,
                tif: wire.tif,
                reduceOnly: wire.reduceOnly,
                timestamp: now,
                status: "open",
                statusTimestamp: now
            )
            if let cloid = wire.cloid { state.cloids[user, default: [:]][cloid] = oid }
            // Order-level rejections still get an oid and an orderStatus, like the venue's "…Rejected" states.
            func reject(_ status: String, _ error: String) {
                order.status = status
                state.orders[oid] = order
                statuses.append(["error": error])
            }

            let mid = state.mids[asset.name]
            let held = state.positions[user]?[asset.name]?.szi ?? 0
            let signed = wire.isBuy ? size : -size
            let increases = held == 0 || (held > 0) == (signed > 0) || abs(signed) > abs(held)
            if !hlValidTick(wire.px, szDecimals: asset.szDecimals) {
                reject("tickRejected", "Price must be divisible by tick size.")
                continue
            }
            if price * size < 10 {
                reject("minTradeNtlRejected", "Order must have minimum value of $10.")
                continue
            }
            if wire.reduceOnly && (held == 0 || (held > 0) == (signed > 0)) {
                reject("reduceOnlyRejected", "Reduce only order would increase position.")
                continue
            }
            if wire.reduceOnly && size > abs(held) {
                order.size = abs(held)
                order.originalSize = abs(held)
            }
            let crosses = mid.map { wire.isBuy ? price >= $0 : price <= $0 } ?? false
            if wire.tif == "Alo" && crosses {
                let bbo = mid.map { "\(hlFormat($0 * Decimal(string: "0.9999")!))@\(hlFormat($0 * Decimal(string: "1.0001")!))" } ?? ""
                reject("badAloPxRejected", "Post only order would have immediately matched, bbo was \(bbo).")
                continue
            }
            if wire.tif == "Ioc" && !crosses {
                reject("iocCancelRejected", "Order could not immediately match against any resting orders.")
                continue
            }
            if increases && !wire.reduceOnly {
                let leverage = Decimal(Self.leverage(state, user: user, coin: asset.name))
                // Margin for the exposure this order adds: growth of the same side, or the whole new side after a flip.
                let after = held + signed
                let added = held == 0 || (after > 0) == (held > 0) ? max(0, abs(after) - abs(held)) : abs(after)
                let needed = added * (mid ?? price) / leverage
                if needed > Self.available(state, user: user) {
                    reject("perpMarginRejected", "Insufficient margin to place order.")
                    continue
                }
            }
            if crosses, let mid {
                Self.fill(&state, user: user, coin: asset.name, isBuy: wire.isBuy, size: order.size, px: mid)
                let total = order.size
                order.size = 0
                order.status = "filled"
                state.orders[oid] = order
                var filled: [String: Any] = ["totalSz": hlFormat(total), "avgPx": hlFormat(mid), "oid": oid]
                if let cloid = wire.cloid { filled["cloid"] = cloid }
                statuses.append(["filled": filled])
            } else {
                state.orders[oid] = order
                var resting: [String: Any] = ["oid": oid]
                if let cloid = wire.cloid { resting["cloid"] = cloid }
                statuses.append(["resting": resting])
            }
        }
        return .answer(["status": "ok", "response": ["type": "order", "data": ["statuses": statuses]]])
    }

    // MARK: - Accounting

    private static func leverage(_ state: State, user: String, coin: String) -> Int {
        state.leverage[user]?[coin] ?? min(20, state.universe.first { $0.name == coin }?.maxLeverage ?? 20)
    }

    /// Account value less margin in use: what a new position may draw on.
    private static func available(_ state: State, user: String) -> Decimal {
        var value = state.balances[user] ?? 0
        var used: Decimal = 0
        for (coin, position) in state.positions[user] ?? [:] {
            let mid = state.mids[coin] ?? position.entryPx
            value += position.szi * (mid - position.entryPx)
            used += abs(position.szi) * mid / Decimal(Self.leverage(state, user: user, coin: coin))
        }
        return value - used
    }

    /// Applies a fill to the position; closing part realises PnL into the balance.
    private static func fill(_ state: inout State, user: String, coin: String, isBuy: Bool, size: Decimal, px: Decimal) {
        let signed = isBuy ? size : -size
        var position = state.positions[user]?[coin] ?? Position(szi: 0, entryPx: 0)
        if position.szi == 0 || (position.szi > 0) == (signed > 0) {
            let total = position.szi + signed
            position.entryPx = (abs(position.szi) * position.entryPx + size * px) / abs(total)
            position.szi = total
        } else {
            let closing = min(abs(signed), abs(position.szi))
            let direction: Decimal = position.szi > 0 ? 1 : -1
            state.balances[user, default: 0] += closing * (px - position.entryPx) * direction
            let total = position.szi + signed
            if total != 0, (total > 0) != (position.szi > 0) { position.entryPx = px }
            position.szi = total
        }
        state.positions[user, default: [:]][coin] = position.szi == 0 ? nil : position
    }
}

// MARK: - Helpers

private func hyperliquidText(_ status: HTTPResponse.Status, _ text: String) -> Response {
    var fields = HTTPFields()
    fields[.contentType] = "text/plain; charset=utf-8"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// The exact text of a top-level member's value in a JSON object, without re-serialising it.
func hyperliquidRawMember(_ name: String, in json: String) -> String? {
    let bytes = Array(json.utf8)
    var i = 0
    func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
    func skipString() -> Bool {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
        i += 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            i += 1
        }
        return false
    }
    func skipValue() -> Bool {
        guard i < bytes.count else { return false }
        switch bytes[i] {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    if !skipString() { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return true
                    }
                default: break
                }
                i += 1
            }
            return false
        default:
            while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            return true
        }
    }
    skipSpace()
    guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
    i += 1
    while true {
        skipSpace()
        let keyStart = i
        guard skipString() else { return nil }
        let key = String(decoding: bytes[(keyStart + 1)..<(i - 1)], as: UTF8.self)
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        skipSpace()
        let valueStart = i
        guard skipValue() else { return nil }
        if key == name { return String(decoding: bytes[valueStart..<i], as: UTF8.self) }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ",") else { return nil }
        i += 1
    }
}

private func hlDecimal(_ text: String) -> Decimal? {
    guard text.range(of: #"^\d+(\.\d+)?$"#, options: .regularExpression) != nil else { return nil }
    return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
}

private func hlDecimalPlaces(_ text: String) -> Int {
    guard let dot = text.firstIndex(of: ".") else { return 0 }
    var fraction = text[text.index(after: dot)...]
    while fraction.last == "0" { fraction = fraction.dropLast() }
    return fraction.count
}

/// Perp prices: at most 5 significant figures (integers always allowed) and at most 6 − szDecimals decimals.
private func hlValidTick(_ text: String, szDecimals: Int) -> Bool {
    let places = hlDecimalPlaces(text)
    if places > 6 - szDecimals { return false }
    if places == 0 { return true }
    let integerPart = text.prefix { $0 != "." }
    let fraction = text.drop { $0 != "." }.dropFirst().prefix(places)
    return (integerPart + fraction).drop { $0 == "0" }.count <= 5
}

/// JSON integers arrive as Int or NSNumber depending on the Foundation in use.
private func hlInteger(_ value: Any?) -> Int64? {
    switch value {
    case let number as Int: return Int64(number)
    case let number as Int64: return number
    case let number as UInt64: return Int64(exactly: number)
    case let number as NSNumber: return number.int64Value
    default: return nil
    }
}

/// Hyperliquid-style float string: plain notation, at most 8 decimals, integers as "N.0".
private func hlFormat(_ value: Decimal) -> String {
    var input = value
    var rounded = Decimal()
    NSDecimalRound(&rounded, &input, 8, .plain)
    var text = NSDecimalNumber(decimal: rounded).stringValue
    if !text.contains(".") { text += ".0" }
    return text
}
