// The embedded paper venue as a lifecycle Service: restored from its ledger at start, then one price step per
// TRADEKEEP_PAPER_TICK, each saved as the rows it changed.

import Bots
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Storage
import Venues

final class PaperTrading: Service, Sendable {
    let venue: PaperVenue
    let ledger: any PaperLedger
    let configuration: ServerConfiguration
    let clock: any Clock<Duration>
    /// Ticks whose save failed; each is also logged with its error.
    let failedTicks: Counter
    let logger: Logger

    convenience init(configuration: ServerConfiguration, database: TradekeepDatabase, logger: Logger) {
        self.init(configuration: configuration, ledger: DatabasePaperLedger(database: database, logger: logger), logger: logger)
    }

    init(
        configuration: ServerConfiguration,
        ledger: any PaperLedger,
        clock: any Clock<Duration> = ContinuousClock(),
        metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) {
        self.ledger = ledger
        self.configuration = configuration
        self.clock = clock
        self.failedTicks = Counter(label: "tradekeep_paper_tick_failures_total", factory: metrics)
        self.logger = logger
        let exchange = PaperExchange(configuration: configuration.paper, feed: RandomWalkFeed(seed: 0, volatility: configuration.paperVolatility))
        self.venue = PaperVenue(exchange: exchange, ledger: ledger)
    }

    /// After migrations: continue from the saved state (and the feed where it stopped), or start fresh.
    func restore() async throws {
        let saved = try await self.ledger.load()
        let feed: any PriceFeed =
            switch self.configuration.paperFeed {
            case .random:
                RandomWalkFeed(seed: saved?.feedPosition ?? UInt64.random(in: 1...UInt64.max), volatility: self.configuration.paperVolatility)
            case .csv(let path): try CSVFeed(path: path, start: Int(saved?.feedPosition ?? 0))
            }
        await self.venue.exchange.restore(saved, feed: feed)
        if saved == nil, case .csv = self.configuration.paperFeed { try await self.venue.tick() }
        self.logger.debug("paper venue ready", metadata: ["restored": .stringConvertible(saved != nil)])
    }

    /// One price step and the fills it causes, returned once saved.
    func tick() async throws {
        try await self.venue.tick()
    }

    /// A tick per TRADEKEEP_PAPER_TICK until graceful shutdown, which lets the tick in flight finish. A failed tick is
    /// logged and counted; its changes stay pending and the next tick's save writes them.
    func run() async throws {
        try await self.run(on: self.clock)
    }

    private func run<C: Clock<Duration>>(on clock: C) async throws {
        for await _ in PeriodicTimer(interval: self.configuration.paperTick, clock: clock).cancelOnGracefulShutdown() {
            do {
                try await self.tick()
            } catch {
                self.failedTicks.increment()
                self.logger.error(
                    "paper tick not saved",
                    metadata: ["error.type": .string(String(reflecting: type(of: error))), "error.message": .string("\(error)")]
                )
            }
        }
    }
}
