// `tradekeep-bench anomaly [entries] [users] [sqlite|postgres://…]` (scripts/bench-anomaly): one anomaly scan over
// `entries` audit entries of `users` accounts spread over the last 23 hours (sign-ins from a few addresses each,
// orders, failed sign-ins, signals), with two planted episodes (a rapid-fire burst, a sign-in from a new address); reports the scan's time, what it found, and the
// process's peak memory.

import AuditLog
import FluentKit
import Foundation
import Guard
import Logging
import SQLKit
import Storage
import Synchronization

/// Stores each anomaly as an alert (deduplicated), as the server's reporter does, without delivering anything.
struct StoringReporter: AnomalyReporter {
    let store: AlertStore

    func report(_ anomalies: [Anomaly], now: Date) async throws -> Int {
        var stored = 0
        for anomaly in anomalies where try await self.store.raise(anomaly, recipients: [], dedupWindow: 1_800, now: now) != nil { stored += 1 }
        return stored
    }
}

/// The store, with the time each of the scan's two reads took (the rest of a scan is the rules and the alerts).
final class TimedSource: AnomalySource {
    let store: AlertStore
    let phases = Mutex<[String: Double]>([:])

    init(_ store: AlertStore) { self.store = store }

    func timed<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer { self.phases.withLock { $0[name, default: 0] += seconds(ContinuousClock.now - start) } }
        return try await body()
    }

    func withExclusiveScan<T: Sendable>(now: Date, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await self.store.withExclusiveScan(now: now, body)
    }
    func scannedUntil() async throws -> Date? { try await self.store.scannedUntil() }
    func setScannedUntil(_ date: Date) async throws { try await self.store.setScannedUntil(date) }
    func events(from: Date, to: Date) async throws -> [ObservedEvent] {
        try await self.timed("events") { try await self.store.events(from: from, to: to) }
    }
    func knownIPs(users: Set<UUID>, from: Date, to: Date) async throws -> [UUID: Set<String>] {
        try await self.timed("known_ips") { try await self.store.knownIPs(users: users, from: from, to: to) }
    }
}

func anomalyBench(entries count: Int, users userCount: Int, database target: String) async throws {
    let logger = Logger(label: "bench")
    let (database, folder) = try await openBenchDatabase(target)
    let sql = try database.sql(logger: logger)
    let now = Date()
    let span: TimeInterval = 23 * 3_600
    let users = (0..<userCount).map { _ in UUID() }
    var generator = SystemRandomNumberGenerator()
    let started = ContinuousClock.now
    let batch = 1_000
    var written = 0
    while written < count {
        let rows = min(batch, count - written)
        var insert = sql.insert(into: "audit_events").columns("id", "user_id", "action", "ip", "user_agent", "details", "created_at")
        for index in 0..<rows {
            let position = written + index
            let user = users[position % userCount]
            // Time grows with the position, so each user's entries are spread over the whole span.
            let time = now.addingTimeInterval(-span + span * Double(position) / Double(count) - 60)
            let kind = Int(generator.next(upperBound: UInt32(100)))
            let action: AuditAction
            // Each account keeps to its own address (a new one is planted below).
            var ip: String? = "10.\(position % userCount / 256 % 256).\(position % userCount % 256).1"
            var details = "{}"
            switch kind {
            case 0..<10: action = .login
            case 10..<70:
                action = .orderPlaced
                ip = nil
                details = #"{"bot_id":"b","side":"buy"}"#
            case 70..<75:
                action = .loginFailed
                details = #"{"reason":"password"}"#
            default:
                action = .signalReceived
                ip = nil
            }
            insert = insert.values(
                SQLBind(UUID()),
                SQLBind(user),
                SQLBind(action.rawValue),
                SQLBind(ip),
                SQLBind("bench"),
                SQLBind(details),
                SQLBind(time)
            )
        }
        try await insert.run()
        written += rows
    }
    // Planted: one burst of 12 orders and one sign-in from a new address, in the last hour.
    for index in 0..<12 {
        try await sql.insert(into: "audit_events").columns("id", "user_id", "action", "details", "created_at")
            .values(
                SQLBind(UUID()),
                SQLBind(users[0]),
                SQLBind("order.placed"),
                SQLBind("{}"),
                SQLBind(now.addingTimeInterval(-1_800 + Double(index)))
            )
            .run()
    }
    try await sql.insert(into: "audit_events").columns("id", "user_id", "action", "ip", "details", "created_at")
        .values(
            SQLBind(UUID()),
            SQLBind(users[1]),
            SQLBind("auth.login"),
            SQLBind("203.0.113.99"),
            SQLBind("{}"),
            SQLBind(now.addingTimeInterval(-900))
        )
        .run()
    let loaded = seconds(ContinuousClock.now - started)

    let store = AlertStore(database: database, logger: logger)
    // The scan covers everything written (the scanner reads at most a day back).
    try await store.setScannedUntil(now.addingTimeInterval(-span - 120))
    let source = TimedSource(store)
    let scanner = AnomalyScanner(
        source: source,
        reporter: StoringReporter(store: store),
        thresholds: AnomalyThresholds(),
        interval: .seconds(300),
        now: { now },
        logger: logger
    )
    let scanStart = ContinuousClock.now
    guard let summary = try await scanner.scan() else { throw BenchFailure(message: "the scan did not run") }
    let scanned = seconds(ContinuousClock.now - scanStart)
    let kinds = Dictionary(grouping: summary.anomalies, by: \.kind.rawValue).mapValues(\.count)
    let kindsJSON = kinds.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
    print(
        #"{"operation":"anomaly_scan","database":"\#(target.hasPrefix("postgres") ? "postgresql" : "sqlite")","entries":\#(summary.entries),"users":\#(userCount),"seconds":\#(String(format: "%.2f", scanned)),"load_seconds":\#(String(format: "%.1f", loaded)),"alerts":\#(summary.alerts),"anomalies":{\#(kindsJSON)},"peak_rss_mb":\#(peakResidentMegabytes()),"events_seconds":\#(String(format: "%.2f", source.phases.withLock { $0["events"] ?? 0 })),"known_ips_seconds":\#(String(format: "%.2f", source.phases.withLock { $0["known_ips"] ?? 0 }))}"#
    )
    await database.shutdown()
    if let folder { try? FileManager.default.removeItem(at: folder) }
}

struct BenchFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}

/// VmHWM from /proc/self/status (Linux), in MiB.
func peakResidentMegabytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return kilobytes / 1024
}
