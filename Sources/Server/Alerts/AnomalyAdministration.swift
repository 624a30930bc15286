// `tradekeep anomaly scan-now`: one scan from the command line, on the server's database, with the same rules,
// thresholds, deduplication and mail as the running server's scanner (which it excludes while it runs).

import Foundation
import Guard
import Logging
import Storage

public enum AnomalyAdministration {
    public struct Outcome: Sendable {
        /// Nil when another scan was running.
        public let summary: ScanSummary?
        public let deliveries: Int
    }

    public static func scanNow(_ sources: ConfigurationSources, logger: Logger) async throws -> Outcome {
        let prepared = try StartupPolicy.prepareForCommand(sources)
        let configuration = prepared.configuration
        let database = try TradekeepDatabase(location: configuration.database)
        do {
            try await database.migrate(logger: logger)
            let store = AlertStore(database: database, logger: logger)
            let alerts = AlertService(
                store: store,
                mailer: try alertMailer(configuration, logger: logger),
                logger: logger
            )
            let scanner = AnomalyScanner(
                source: store,
                reporter: alerts,
                thresholds: configuration.anomalyThresholds,
                interval: configuration.anomalyInterval,
                logger: logger
            )
            let summary = try await scanner.scan()
            let deliveries = try await alerts.deliverDue()
            await database.shutdown()
            return Outcome(summary: summary, deliveries: deliveries)
        } catch {
            await database.shutdown()
            throw error
        }
    }
}
