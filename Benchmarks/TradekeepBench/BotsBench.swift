// 1,000 paper grid bots in one process: decisions per second, tick-to-order latency, memory per bot.
// The strategy and the paper engine only: the server's engine also writes each order to the database.

import Bots
import Foundation
import Venues

/// Resident memory of this process, in bytes (Linux /proc/self/statm).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func botsBench(bots count: Int, ticks: Int) async throws {
    let memoryBefore = residentBytes()
    let exchange = PaperExchange(feed: RandomWalkFeed(seed: 7, volatility: 0.002))
    let rules = try await exchange.rules("BTCUSDT")
    let parameters = GridParameters(rangePct: 3, levels: 11, quantity: Decimal(string: "0.001")!)
    var states = [GridState](repeating: GridState(), count: count)
    var keys = [[String: String]](repeating: [:], count: count)
    var sequence = 0
    var decisions = 0
    var latencies: [Double] = []
    var decideTime = Duration.zero
    let start = ContinuousClock.now
    for _ in 0..<ticks {
        let tickStart = ContinuousClock.now
        await exchange.tick()
        let price = try await exchange.ticker("BTCUSDT").price
        for bot in 0..<count {
            let account = "bot-\(bot)"
            let balances = await exchange.balances(account: account)
            let open = await exchange.openOrders(account: account, symbol: "BTCUSDT")
            var orders = open.map { order in
                BotOrder(
                    key: keys[bot][order.clientOrderID!] ?? "",
                    clientOrderID: order.clientOrderID!,
                    side: order.side,
                    type: order.type,
                    price: order.price,
                    quantity: order.quantity,
                    filled: order.filledQuantity,
                    status: order.status
                )
            }
            // Orders that filled since the last step, each reported once.
            for (clientOrderID, key) in keys[bot] where !open.contains(where: { $0.clientOrderID == clientOrderID }) {
                if let done = try? await exchange.order(account: account, clientOrderID: clientOrderID), done.status == .filled {
                    orders.append(
                        BotOrder(
                            key: key,
                            clientOrderID: clientOrderID,
                            side: done.side,
                            type: done.type,
                            price: done.price,
                            quantity: done.quantity,
                            filled: done.filledQuantity,
                            status: .filled
                        )
                    )
                }
                keys[bot][clientOrderID] = nil
            }
            let market = MarketState(
                price: price,
                rules: rules,
                time: Date(),
                quoteAvailable: balances.first { $0.asset == "USDT" }?.available ?? 0,
                baseAvailable: balances.first { $0.asset == "BTC" }?.available ?? 0
            )
            let decideStart = ContinuousClock.now
            let decision = GridStrategy.decide(parameters, state: &states[bot], market: market, orders: orders)
            decideTime += ContinuousClock.now - decideStart
            decisions += 1
            for key in decision.cancel {
                if let clientOrderID = keys[bot].first(where: { $0.value == key })?.key {
                    _ = await exchange.cancel(account: account, symbol: "BTCUSDT", clientOrderID: clientOrderID)
                }
            }
            for intent in decision.place {
                sequence += 1
                let clientOrderID = "b\(bot)-\(sequence)"
                keys[bot][clientOrderID] = intent.key
                _ = try? await exchange.place(
                    account: account,
                    OrderRequest(
                        symbol: "BTCUSDT",
                        side: intent.side,
                        type: intent.type,
                        quantity: intent.quantity,
                        price: intent.price,
                        clientOrderID: clientOrderID
                    )
                )
                let latency = ContinuousClock.now - tickStart
                latencies.append(Double(latency.components.seconds) * 1e3 + Double(latency.components.attoseconds) / 1e15)
            }
        }
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    latencies.sort()
    let p50 = latencies.isEmpty ? 0 : latencies[latencies.count / 2]
    let p99 = latencies.isEmpty ? 0 : latencies[latencies.count * 99 / 100]
    let decideSeconds = Double(decideTime.components.seconds) + Double(decideTime.components.attoseconds) / 1e18
    let memoryPerBot = (residentBytes() - memoryBefore) / count
    // Order ids are handed out one per accepted order; the exchange keeps only the open ones.
    let orders = Int(await exchange.snapshot().nextOrderID - 1)
    print(
        String(
            format:
                #"{"bench":"bots","bots":%d,"ticks":%d,"orders":%d,"decisions_per_second":%.0f,"strategy_decisions_per_second":%.0f,"tick_to_order_ms_p50":%.2f,"tick_to_order_ms_p99":%.2f,"memory_per_bot_bytes":%d}"#,
            count,
            ticks,
            orders,
            Double(decisions) / seconds,
            Double(decisions) / decideSeconds,
            p50,
            p99,
            memoryPerBot
        )
    )
}
