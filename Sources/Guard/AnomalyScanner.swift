// The anomaly scanner (SPEC §7): a lifecycle Service that reads the audit log every interval (and on demand),
// runs the rules over what is new since its last scan, and hands what it finds to the alerts. One scan at a time
// in this process and, through the source's lock (a lease in the database), across servers; the position it has
// read to is kept in the database, so each episode is reported once whichever server scans next.

import AuditLog
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What the scanner reads: the audit log by time, and where the last scan stopped.
public protocol AnomalySource: Sendable {
    /// Run `body` as the only scan across servers; nil (without running it) when another scan holds the lock.
    func withExclusiveScan<T: Sendable>(now: Date, _ body: @escaping @Sendable () async throws -> T) async throws -> T?
    func scannedUntil() async throws -> Date?
    func setScannedUntil(_ date: Date) async throws
    /// Entries with `from <= time < to`, oldest first.
    func events(from: Date, to: Date) async throws -> [ObservedEvent]
    /// The IP addresses each of `users` used with `from <= time < to`.
    func knownIPs(users: Set<UUID>, from: Date, to: Date) async throws -> [UUID: Set<String>]
}

/// Where anomalies go: stored as alerts (deduplicated) and delivered. Returns how many alerts were stored.
public protocol AnomalyReporter: Sendable {
    func report(_ anomalies: [Anomaly], now: Date) async throws -> Int
}

public struct ScanSummary: Sendable, Equatable {
    public let window: Range<Date>
    /// The entries read inside the window (the lookback before it is read too, for the rules' sliding windows).
    public let entries: Int
    public let anomalies: [Anomaly]
    public let alerts: Int
}

public final class AnomalyScanner: Service, Sendable {
    let source: any AnomalySource
    let reporter: any AnomalyReporter
    let thresholds: AnomalyThresholds
    let interval: Duration
    let now: @Sendable () -> Date
    let logger: Logger
    /// Entries younger than this are left to the next scan (a transaction may still be committing older ones).
    static let settle: TimeInterval = 2
    /// A first scan, or one after a long pause, reads at most this far back.
    static let maximumCatchUp: TimeInterval = 86_400
    private let scanning = Mutex(false)
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(
        source: any AnomalySource,
        reporter: any AnomalyReporter,
        thresholds: AnomalyThresholds,
        interval: Duration,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.source = source
        self.reporter = reporter
        self.thresholds = thresholds
        self.interval = interval
        self.now = now
        self.logger = logger
        (self.wakeUps, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Ask the running service for a scan now (the admin route); returns at once.
    public func requestScan() { self.wake.yield() }

    /// One scan; nil when another is running (in this process or, on PostgreSQL, on another server).
    public func scan() async throws -> ScanSummary? {
        guard
            self.scanning.withLock({ running in
                running
                    ? false
                    : {
                        running = true
                        return true
                    }()
            })
        else { return nil }
        defer { self.scanning.withLock { $0 = false } }
        let source = self.source
        let reporter = self.reporter
        let thresholds = self.thresholds
        let now = self.now()
        let firstLook = max(thresholds.lookback, Double(self.interval.components.seconds))
        return try await source.withExclusiveScan(now: now) {
            let end = now.addingTimeInterval(-Self.settle)
            let previous = try await source.scannedUntil() ?? end.addingTimeInterval(-firstLook)
            let start = max(previous, end.addingTimeInterval(-Self.maximumCatchUp))
            guard start < end else { return ScanSummary(window: end..<end, entries: 0, anomalies: [], alerts: 0) }
            let events = try await source.events(from: start.addingTimeInterval(-thresholds.lookback), to: end)
            let users = Set(events.lazy.filter { $0.time >= start }.compactMap(\.userID))
            let known = try await source.knownIPs(users: users, from: start.addingTimeInterval(-thresholds.newIPLookback), to: start)
            let anomalies = AnomalyRules.evaluate(events, window: start..<end, knownIPs: known, thresholds: thresholds)
            let alerts = anomalies.isEmpty ? 0 : try await reporter.report(anomalies, now: now)
            try await source.setScannedUntil(end)
            let inWindow = events.count - (events.firstIndex { $0.time >= start } ?? events.count)
            return ScanSummary(window: start..<end, entries: inWindow, anomalies: anomalies, alerts: alerts)
        }
    }

    public func run() async throws {
        let interval = self.interval
        let wake = self.wake
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wake.yield()
                }
            }
            for await _ in self.wakeUps.cancelOnGracefulShutdown() {
                do {
                    if let summary = try await self.scan(), !summary.anomalies.isEmpty {
                        self.logger.notice(
                            "anomaly scan",
                            metadata: ["entries": "\(summary.entries)", "anomalies": "\(summary.anomalies.count)", "alerts": "\(summary.alerts)"]
                        )
                    }
                } catch {
                    self.logger.error("anomaly scan failed", metadata: ["error": .string(String(describing: error))])
                }
            }
            group.cancelAll()
        }
    }
}
