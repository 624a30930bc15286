// Risk limits per bot (SPEC §5) as pure functions over the bot's ledger, its recent orders and an injected time:
// breaching one stops the bot. The daily window starts at midnight UTC.

import Foundation
import Venues

public struct RiskLimits: Sendable, Codable, Equatable {
    /// Most base asset the bot may hold.
    public var maxPosition: Decimal?
    public var maxOrdersPerMinute: Int?
    /// Largest loss (quote) since midnight UTC before the bot stops.
    public var maxDailyLoss: Decimal?

    public init(maxPosition: Decimal? = nil, maxOrdersPerMinute: Int? = nil, maxDailyLoss: Decimal? = nil) {
        self.maxPosition = maxPosition
        self.maxOrdersPerMinute = maxOrdersPerMinute
        self.maxDailyLoss = maxDailyLoss
    }

    public func validate() throws(InvalidParameters) {
        if let limit = self.maxPosition, !(limit > 0 && limit <= Limits.quantity) {
            throw InvalidParameters(field: "risk.max_position", "must be above 0 and at most \(Limits.quantity)")
        }
        if let limit = self.maxOrdersPerMinute, !(1...10_000).contains(limit) {
            throw InvalidParameters(field: "risk.max_orders_per_minute", "must be between 1 and 10,000")
        }
        if let limit = self.maxDailyLoss, !(limit > 0 && limit <= Limits.amount) {
            throw InvalidParameters(field: "risk.max_daily_loss", "must be above 0 and at most \(Limits.amount)")
        }
    }
}

/// A limit the bot reached: it stops, with this reason.
public struct RiskBreach: Error, Sendable, Equatable {
    public enum Limit: String, Sendable {
        case maxPosition = "max_position"
        case orderRate = "max_orders_per_minute"
        case dailyLoss = "max_daily_loss"
    }

    public let limit: Limit
    /// A sentence for a person.
    public let reason: String
}

public enum Risk {
    /// Midnight UTC of the day `now` falls in (days are 86,400 s in UTC: no calendar needed).
    public static func dayStart(_ now: Date) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    /// At the first look in a new UTC day (or ever), the bot's equity now becomes that day's starting point.
    /// Returns whether the ledger changed.
    @discardableResult
    public static func rollDay(_ ledger: inout BotLedger, now: Date, price: Decimal) -> Bool {
        let today = Self.dayStart(now)
        guard ledger.dayStart != today else { return false }
        ledger.dayStart = today
        ledger.dayStartEquity = ledger.equity(at: price)
        return true
    }

    /// What the bot lost since midnight UTC at `price` (negative: it gained).
    public static func lossToday(_ ledger: BotLedger, price: Decimal) -> Decimal {
        (ledger.dayStartEquity ?? ledger.equity(at: price)) - ledger.equity(at: price)
    }

    /// The limits the bot breaches as it stands: a position above `max_position`, or a loss today above `max_daily_loss`.
    public static func breach(_ limits: RiskLimits, ledger: BotLedger, price: Decimal) -> RiskBreach? {
        if let limit = limits.maxPosition, ledger.position > limit {
            return RiskBreach(
                limit: .maxPosition,
                reason: "Stopped: the position of \(ledger.position.plain) is above max_position (\(limit.plain))."
            )
        }
        if let limit = limits.maxDailyLoss {
            let loss = Self.lossToday(ledger, price: price)
            if loss > limit {
                return RiskBreach(
                    limit: .dailyLoss,
                    reason: "Stopped: the loss today of \(loss.plain) is above max_daily_loss (\(limit.plain)); the day started at midnight UTC."
                )
            }
        }
        return nil
    }

    /// Whether one more order now would exceed `max_orders_per_minute`, given when the bot's recent orders went out.
    public static func orderRateBreach(_ limits: RiskLimits, recentOrders: [Date], now: Date) -> RiskBreach? {
        guard let limit = limits.maxOrdersPerMinute else { return nil }
        let recent = recentOrders.filter { $0 > now.addingTimeInterval(-60) }.count
        guard recent >= limit else { return nil }
        return RiskBreach(limit: .orderRate, reason: "Stopped: the bot wanted more than \(limit) orders in a minute (max_orders_per_minute).")
    }

    /// Whether buying `quantity` more would take the position above `max_position`.
    public static func positionBreach(_ limits: RiskLimits, position: Decimal, buying quantity: Decimal) -> RiskBreach? {
        guard let limit = limits.maxPosition, position + quantity > limit else { return nil }
        return RiskBreach(
            limit: .maxPosition,
            reason:
                "Stopped: a buy of \(quantity.plain) would take the position to \((position + quantity).plain), above max_position (\(limit.plain))."
        )
    }
}

/// Upper bounds that no sane parameter reaches: anything above is a typo or an attack, refused with the field named.
public enum Limits {
    /// Largest quantity of a base asset in one parameter.
    public static let quantity: Decimal = 1_000_000_000
    /// Largest quote amount or price in one parameter.
    public static let amount: Decimal = 1_000_000_000_000
}
