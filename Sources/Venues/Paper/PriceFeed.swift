// Prices for the paper venue: a seeded random walk, or a replay of an OHLCV CSV file (TRADEKEEP_PAPER_FEED).

import Foundation

/// Where the paper venue's prices come from; `next` moves every symbol one step.
public protocol PriceFeed: Sendable {
    mutating func next(from prices: [String: Decimal]) -> [String: Decimal]
    /// What to persist so a restart continues the same sequence.
    var position: UInt64 { get }
}

/// A geometric random walk with a fixed per-step volatility, from a seeded generator (SplitMix64), so the same seed
/// gives the same prices and a restart resumes where it stopped.
public struct RandomWalkFeed: PriceFeed {
    public var state: UInt64
    public let volatility: Double
    public var position: UInt64 { self.state }

    public init(seed: UInt64, volatility: Double = 0.001) {
        self.state = seed
        self.volatility = volatility
    }

    mutating func nextUInt64() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal draw (Box–Muller).
    mutating func gaussian() -> Double {
        let u1 = max(Double(self.nextUInt64() >> 11) / Double(1 << 53), .leastNonzeroMagnitude)
        let u2 = Double(self.nextUInt64() >> 11) / Double(1 << 53)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    public mutating func next(from prices: [String: Decimal]) -> [String: Decimal] {
        var moved = prices
        for symbol in prices.keys.sorted() {
            let price = NSDecimalNumber(decimal: prices[symbol]!).doubleValue
            let step = price * exp(self.volatility * self.gaussian() - self.volatility * self.volatility / 2)
            var value = Decimal(step)
            var rounded = Decimal()
            NSDecimalRound(&rounded, &value, 8, .plain)
            moved[symbol] = max(rounded, Decimal(string: "0.00000001")!)
        }
        return moved
    }
}

/// Replays closing prices from an OHLCV CSV (`time,open,high,low,close[,volume]` with a `symbol` column, or one
/// symbol per file named by `symbol=`), looping at the end.
public struct CSVFeed: PriceFeed {
    let rows: [[String: Decimal]]
    public var index: Int
    public var position: UInt64 { UInt64(self.index) }

    public enum LoadError: Error, CustomStringConvertible {
        case unreadable(String)
        case malformed(line: Int, String)
        case empty
        public var description: String {
            switch self {
            case .unreadable(let path): "cannot read the price file \(path)"
            case .malformed(let line, let why): "price file line \(line): \(why)"
            case .empty: "the price file has no prices"
            }
        }
    }

    /// `text` has a header with `close` and either a `symbol` column or none (then every row is `defaultSymbol`).
    public init(text: String, defaultSymbol: String = "BTCUSDT", start: Int = 0) throws {
        var lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { throw LoadError.empty }
        let header = lines.removeFirst().lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let close = header.firstIndex(of: "close") else { throw LoadError.malformed(line: 1, "no `close` column") }
        let symbolColumn = header.firstIndex(of: "symbol")
        let timeColumn = header.firstIndex(where: { $0 == "time" || $0 == "timestamp" })
        var grouped: [(time: String, prices: [String: Decimal])] = []
        for (offset, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count > close, let price = Decimal(string: fields[close], locale: Locale(identifier: "en_US_POSIX")), price > 0 else {
                throw LoadError.malformed(line: offset + 2, "`close` is not a positive number")
            }
            let symbol = symbolColumn.flatMap { fields.count > $0 ? fields[$0].uppercased() : nil } ?? defaultSymbol
            let time = timeColumn.flatMap { fields.count > $0 ? fields[$0] : nil } ?? String(offset)
            if let last = grouped.last, last.time == time {
                grouped[grouped.count - 1].prices[symbol] = price
            } else {
                grouped.append((time, [symbol: price]))
            }
        }
        self.rows = grouped.map(\.prices)
        self.index = self.rows.isEmpty ? 0 : start % self.rows.count
    }

    public init(path: String, start: Int = 0) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw LoadError.unreadable(path) }
        try self.init(text: text, start: start)
    }

    public mutating func next(from prices: [String: Decimal]) -> [String: Decimal] {
        guard !self.rows.isEmpty else { return prices }
        let row = self.rows[self.index]
        self.index = (self.index + 1) % self.rows.count
        return prices.merging(row) { _, new in new }
    }
}
