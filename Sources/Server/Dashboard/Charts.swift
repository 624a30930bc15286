// The bot page's charts, drawn on the server as SVG: no script, no style attribute (CSP), and readable without
// colour — buys are upward triangles, sells downward ones, levels dashed, the price a solid line, and every chart
// has a text caption saying what it shows.

import Bots
import Foundation

enum Charts {
    static let width = 720.0
    static let height = 260.0
    static let margin = (left: 70.0, right: 12.0, top: 12.0, bottom: 28.0)

    struct Fill {
        let time: Date
        let price: Decimal
        let quantity: Decimal
        let isBuy: Bool
    }

    /// Price over time with horizontal lines at `levels` (grid levels or the prices of resting orders) and a mark at
    /// each fill.
    static func price(history: [PricePoint], levels: [Decimal], fills: [Fill], label: String) -> String {
        let prices = history.map(\.price) + levels + fills.map(\.price)
        let times = history.map(\.time) + fills.map(\.time)
        guard let low = prices.min(), let high = prices.max() else {
            return Self.empty(label: label, text: "No prices yet: the chart starts with the bot's first step.")
        }
        let start = times.min() ?? Date()
        let end = max(times.max() ?? start, start.addingTimeInterval(1))
        let frame = Frame(low: low, high: high, start: start, end: end)
        var body = frame.axes()
        for level in levels {
            let y = frame.y(level)
            body +=
                "<line x1=\"\(Self.format(margin.left))\" x2=\"\(Self.format(width - margin.right))\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#555b66\" stroke-dasharray=\"4 4\" stroke-width=\"1\"/>"
        }
        if history.count > 1 {
            let points = history.map { "\(frame.x($0.time)),\(frame.y($0.price))" }.joined(separator: " ")
            body += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"#0b57d0\" stroke-width=\"2\"/>"
        } else if let only = history.first {
            body += "<circle cx=\"\(frame.x(only.time))\" cy=\"\(frame.y(only.price))\" r=\"3\" fill=\"#0b57d0\"/>"
        }
        for fill in fills {
            let x = Double(frame.x(fill.time)) ?? 0
            let y = Double(frame.y(fill.price)) ?? 0
            let points =
                fill.isBuy
                ? "\(Self.format(x)),\(Self.format(y - 6)) \(Self.format(x - 6)),\(Self.format(y + 5)) \(Self.format(x + 6)),\(Self.format(y + 5))"
                : "\(Self.format(x)),\(Self.format(y + 6)) \(Self.format(x - 6)),\(Self.format(y - 5)) \(Self.format(x + 6)),\(Self.format(y - 5))"
            body += "<polygon points=\"\(points)\" fill=\"\(fill.isBuy ? "#146c2e" : "#b3261e")\" stroke=\"#16181d\" stroke-width=\"1\">"
            body += "<title>\(fill.isBuy ? "Buy" : "Sell") \(fill.quantity) at \(fill.price)</title></polygon>"
        }
        return Self.svg(body, label: label)
    }

    /// Profit and loss after each fill: the quote currency spent and received plus what is held, valued at that
    /// fill's price.
    static func pnl(fills: [Fill], label: String) -> String {
        var position: Decimal = 0
        var quote: Decimal = 0
        var series: [(Date, Decimal)] = []
        for fill in fills.sorted(by: { $0.time < $1.time }) {
            position += fill.isBuy ? fill.quantity : -fill.quantity
            quote += (fill.isBuy ? -1 : 1) * fill.quantity * fill.price
            series.append((fill.time, quote + position * fill.price))
        }
        guard let first = series.first, let last = series.last else {
            return Self.empty(label: label, text: "No fills yet: profit and loss start with the first fill.")
        }
        let values = series.map(\.1) + [0]
        let frame = Frame(
            low: values.min() ?? 0,
            high: values.max() ?? 0,
            start: first.0,
            end: max(last.0, first.0.addingTimeInterval(1))
        )
        var body = frame.axes()
        let zero = frame.y(0)
        body +=
            "<line x1=\"\(Self.format(margin.left))\" x2=\"\(Self.format(width - margin.right))\" y1=\"\(zero)\" y2=\"\(zero)\" stroke=\"#16181d\" stroke-width=\"1\"/>"
        var points: [String] = []
        var previous: Decimal?
        for (time, value) in series {
            if let previous { points.append("\(frame.x(time)),\(frame.y(previous))") }
            points.append("\(frame.x(time)),\(frame.y(value))")
            previous = value
        }
        body += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"#16181d\" stroke-width=\"2\"/>"
        for (time, value) in series {
            body += "<circle cx=\"\(frame.x(time))\" cy=\"\(frame.y(value))\" r=\"2.5\" fill=\"#16181d\"><title>\(value)</title></circle>"
        }
        return Self.svg(body, label: label)
    }

    // MARK: Drawing

    struct Frame {
        let low: Double
        let high: Double
        let start: Date
        let end: Date

        init(low: Decimal, high: Decimal, start: Date, end: Date) {
            let l = NSDecimalNumber(decimal: low).doubleValue
            let h = NSDecimalNumber(decimal: high).doubleValue
            let pad = h > l ? (h - l) * 0.08 : max(abs(h) * 0.01, 1)
            self.low = l - pad
            self.high = h + pad
            self.start = start
            self.end = end
        }

        func x(_ time: Date) -> String {
            let span = max(self.end.timeIntervalSince(self.start), 1)
            let fraction = time.timeIntervalSince(self.start) / span
            return Charts.format(margin.left + fraction * (width - margin.left - margin.right))
        }

        func y(_ value: Decimal) -> String {
            let fraction = (NSDecimalNumber(decimal: value).doubleValue - self.low) / (self.high - self.low)
            return Charts.format(height - margin.bottom - fraction * (height - margin.top - margin.bottom))
        }

        func axes() -> String {
            let bottom = height - margin.bottom
            var text = "<rect x=\"0\" y=\"0\" width=\"\(Charts.format(width))\" height=\"\(Charts.format(height))\" fill=\"#fff\"/>"
            text +=
                "<line x1=\"\(Charts.format(margin.left))\" x2=\"\(Charts.format(margin.left))\" y1=\"\(Charts.format(margin.top))\" y2=\"\(Charts.format(bottom))\" stroke=\"#16181d\"/>"
            text +=
                "<line x1=\"\(Charts.format(margin.left))\" x2=\"\(Charts.format(width - margin.right))\" y1=\"\(Charts.format(bottom))\" y2=\"\(Charts.format(bottom))\" stroke=\"#16181d\"/>"
            for step in 0...4 {
                let value = self.low + (self.high - self.low) * Double(step) / 4
                let y = bottom - Double(step) / 4 * (height - margin.top - margin.bottom)
                text +=
                    "<text x=\"\(Charts.format(margin.left - 6))\" y=\"\(Charts.format(y + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#16181d\">\(Charts.label(value))</text>"
            }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withTime, .withColonSeparatorInTime]
            text +=
                "<text x=\"\(Charts.format(margin.left))\" y=\"\(Charts.format(height - 8))\" font-size=\"11\" fill=\"#16181d\">\(formatter.string(from: self.start)) UTC</text>"
            text +=
                "<text x=\"\(Charts.format(width - margin.right))\" y=\"\(Charts.format(height - 8))\" text-anchor=\"end\" font-size=\"11\" fill=\"#16181d\">\(formatter.string(from: self.end)) UTC</text>"
            return text
        }
    }

    static func svg(_ body: String, label: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.format(width)) \(Self.format(height))\" role=\"img\" aria-label=\"\(HTMLText.escape(label))\">\(body)</svg>"
    }

    static func empty(label: String, text: String) -> String {
        Self.svg(
            "<rect x=\"0\" y=\"0\" width=\"\(Self.format(width))\" height=\"\(Self.format(height))\" fill=\"#fff\"/>"
                + "<text x=\"\(Self.format(width / 2))\" y=\"\(Self.format(height / 2))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#16181d\">\(HTMLText.escape(text))</text>",
            label: label
        )
    }

    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    static func label(_ value: Double) -> String {
        abs(value) >= 1000 ? String(format: "%.0f", value) : abs(value) >= 1 ? String(format: "%.2f", value) : String(format: "%.5f", value)
    }
}
