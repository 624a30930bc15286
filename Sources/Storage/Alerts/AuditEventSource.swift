// The anomaly scanner's view of the audit log: entries by time (the `audit_events_created` index) and the
// addresses each account used before a scan window, plus the lock that makes one scan at a time across servers.

import AuditLog
import FluentKit
import FluentSQLiteDriver
import Foundation
import Guard
import SQLKit
import Synchronization

extension AlertStore: AnomalySource {
    /// How long a scan may hold the lease; a server that dies mid-scan delays the next scan by at most this.
    public static let scanLease: TimeInterval = 600

    /// One scan at a time across servers: a lease on the scanner's row, claimed by one atomic upsert and given
    /// back at the end. A lease rather than a PostgreSQL advisory lock: it works the same on SQLite, it is scoped to
    /// the deployment's schema (advisory locks are database-wide), and it holds no connection while the scan runs
    /// (a scan's queries would otherwise wait for a pool that its own lock connection is part of).
    public func withExclusiveScan<T: Sendable>(now: Date, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let holder = UUID().uuidString.lowercased()
        let claimed = try await self.sql().raw(
            """
            INSERT INTO anomaly_scans (name, lease_until, holder) VALUES ('anomaly', \(bind: now.addingTimeInterval(Self.scanLease)), \(bind: holder))
            ON CONFLICT (name) DO UPDATE SET lease_until = excluded.lease_until, holder = excluded.holder
            WHERE anomaly_scans.lease_until IS NULL OR anomaly_scans.lease_until < \(bind: now)
            RETURNING holder
            """
        ).all()
        guard !claimed.isEmpty else { return nil }
        let release = { @Sendable in
            try await self.sql().raw("UPDATE anomaly_scans SET lease_until = NULL WHERE name = 'anomaly' AND holder = \(bind: holder)").run()
        }
        do {
            let result = try await body()
            try await release()
            return result
        } catch {
            try? await release()
            throw error
        }
    }

    public func scannedUntil() async throws -> Date? { try await self.scannedUntil("anomaly") }

    public func setScannedUntil(_ date: Date) async throws { try await self.setScannedUntil(date, name: "anomaly", in: nil) }

    /// Only the actions the rules read, and details only where a rule reads them; rows are streamed, not collected
    /// first, so a catch-up scan over a million entries holds one compact value per entry.
    public func events(from: Date, to: Date) async throws -> [ObservedEvent] {
        let actions = AnomalyRules.observedActions.map(\.rawValue).sorted()
        let withDetails = AnomalyRules.actionsWithDetails.map(\.rawValue).sorted()
        let collected = Mutex<[ObservedEvent]>([])
        let decoder = JSONDecoder()
        try await self.sql().raw(
            """
            SELECT user_id, action, ip, created_at,
              CASE WHEN action IN (\(binds: withDetails)) THEN details ELSE NULL END AS details
            FROM audit_events
            WHERE created_at >= \(bind: from) AND created_at < \(bind: to) AND action IN (\(binds: actions))
            ORDER BY created_at
            """
        ).run { row in
            let userID: UUID?
            let action: String
            let ip: String?
            let details: String?
            let time: Date
            if let row = row as? SQLiteRow {
                // SQLite's values converted directly, as its decoder would, without the Codable machinery: a catch-up
                // scan reads a million rows.
                guard let name = row.column("action").flatMap(String.init(sqliteData:)),
                    let created = row.column("created_at").flatMap(Date.init(sqliteData:))
                else { return }
                (action, time) = (name, created)
                userID = row.column("user_id").flatMap(String.init(sqliteData:)).flatMap(UUID.init(uuidString:))
                ip = row.column("ip").flatMap(String.init(sqliteData:))
                details = row.column("details").flatMap(String.init(sqliteData:))
            } else {
                guard let name = try? row.decode(column: "action", as: String.self),
                    let created = try? row.decode(column: "created_at", as: Date.self)
                else { return }
                (action, time) = (name, created)
                userID = (try? row.decode(column: "user_id", as: UUID?.self)) ?? nil
                ip = (try? row.decode(column: "ip", as: String?.self)) ?? nil
                details = (try? row.decode(column: "details", as: String?.self)) ?? nil
            }
            let event = ObservedEvent(
                userID: userID,
                action: AuditAction(rawValue: action),
                ip: ip,
                details: details.flatMap { $0 == "{}" ? nil : try? decoder.decode([String: String].self, from: Data($0.utf8)) } ?? [:],
                time: time
            )
            collected.withLock { $0.append(event) }
        }
        return collected.withLock { $0 }
    }

    public func knownIPs(users: Set<UUID>, from: Date, to: Date) async throws -> [UUID: Set<String>] {
        struct Row: Decodable {
            var userId: UUID
            var ip: String
        }
        var known: [UUID: Set<String>] = [:]
        // In batches, so a scan over many accounts stays within the databases' bind limits.
        for batch in Array(users).chunked(500) {
            let rows = try await self.sql().select().distinct().columns("user_id", "ip").from("audit_events")
                .where("user_id", .in, Array(batch)).where("ip", .isNot, SQLLiteral.null)
                .where("created_at", .greaterThanOrEqual, from).where("created_at", .lessThan, to)
                .all(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase)
            for row in rows { known[row.userId, default: []].insert(row.ip) }
        }
        return known
    }
}
