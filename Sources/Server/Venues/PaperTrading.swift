// The embedded paper venue as a lifecycle Service: restored from the database at start, ticked, persisted.

import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization
import Venues

final class PaperTrading: Service, Sendable {
    let venue: PaperVenue
    let store: PaperStateStore
    let configuration: ServerConfiguration
    let logger: Logger

    init(configuration: ServerConfiguration, database: TradekeepDatabase, logger: Logger) {
        let store = PaperStateStore(database: database, logger: logger)
        self.store = store
        self.configuration = configuration
        self.logger = logger
        let exchange = PaperExchange(configuration: configuration.paper, feed: RandomWalkFeed(seed: 0, volatility: configuration.paperVolatility))
        self.venue = PaperVenue(exchange: exchange) { snapshot in
            try await store.save(try JSONEncoder().encode(snapshot))
        }
    }

    /// After migrations: continue from the saved snapshot (and the feed where it stopped), or start fresh.
    func restore() async throws {
        let saved = try await self.store.load().map { try JSONDecoder().decode(PaperSnapshot.self, from: $0) }
        let feed: any PriceFeed =
            switch self.configuration.paperFeed {
            case .random:
                RandomWalkFeed(seed: saved?.feedPosition ?? UInt64.random(in: 1...UInt64.max), volatility: self.configuration.paperVolatility)
            case .csv(let path): try CSVFeed(path: path, start: Int(saved?.feedPosition ?? 0))
            }
        let exchange = self.venue.exchange
        if let saved {
            await exchange.restore(saved, feed: feed)
        } else {
            await exchange.restore(await exchange.snapshot(), feed: feed)
            if case .csv = self.configuration.paperFeed { await exchange.tick() }
        }
        self.logger.debug("paper venue ready", metadata: ["restored": .stringConvertible(saved != nil)])
    }

    /// One price step per TRADEKEEP_PAPER_TICK until shutdown.
    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: self.configuration.paperTick)
                    do { try await self.venue.tick() } catch {
                        self.logger.warning("paper tick not saved", metadata: ["error": .string("\(type(of: error))")])
                    }
                }
            }
        } catch is CancellationError {
            // Shutdown: the last tick was saved; nothing is half done.
        }
    }
}
