// Rate limits as a policy (GCRA, one timestamp per key) behind a store protocol: in memory now, Redis later.

import Foundation
import NIOConcurrencyHelpers

/// `limit` requests per `period`, with bursts up to `limit`.
public struct RateLimit: Sendable, Equatable {
    public let limit: Int
    public let period: TimeInterval

    public init(_ limit: Int, per period: TimeInterval) {
        precondition(limit > 0 && period > 0)
        self.limit = limit
        self.period = period
    }

    var interval: TimeInterval { self.period / Double(self.limit) }

    public static let register = RateLimit(3, per: 60)
    public static let login = RateLimit(5, per: 60)
    public static let general = RateLimit(200, per: 60)
    public static let webhook = RateLimit(60, per: 60)
}

/// The limits a server enforces, each configurable (SPEC §2 gives the defaults).
public struct RateLimits: Sendable, Equatable {
    /// Per client IP: sign-in attempts and sign-ups.
    public var login: RateLimit
    public var register: RateLimit
    /// Per user (per IP when anonymous), everything else under /api.
    public var general: RateLimit
    /// Per signal bot, its public webhook.
    public var webhook: RateLimit

    public init(login: RateLimit, register: RateLimit, general: RateLimit, webhook: RateLimit) {
        self.login = login
        self.register = register
        self.general = general
        self.webhook = webhook
    }

    public static let defaults = RateLimits(login: .login, register: .register, general: .general, webhook: .webhook)

    /// The limits raised above the defaults, by name: production refuses them unless told otherwise.
    public var raised: [(name: String, limit: RateLimit)] {
        let defaults = Self.defaults
        return [
            ("login", self.login, defaults.login), ("register", self.register, defaults.register), ("general", self.general, defaults.general),
            ("webhook", self.webhook, defaults.webhook),
        ]
        .filter { $0.1.limit > $0.2.limit }.map { ($0.0, $0.1) }
    }
}

public struct RateLimitDecision: Sendable, Equatable {
    public let allowed: Bool
    public let limit: Int
    public let remaining: Int
    /// Seconds until a request would be allowed again (0 when allowed).
    public let retryAfter: TimeInterval
    /// Seconds until the allowance is full again.
    public let resetAfter: TimeInterval
}

/// Where rate-limit state lives. One implementation per deployment shape (in-process, shared Redis).
public protocol RateLimitStore: Sendable {
    func acquire(key: String, limit: RateLimit, now: Date) async throws -> RateLimitDecision
}

/// The generic cell rate algorithm: each key holds its theoretical arrival time (TAT).
public enum GCRA {
    public static func decide(tat: Date?, limit: RateLimit, now: Date) -> (decision: RateLimitDecision, newTAT: Date?) {
        let interval = limit.interval
        let tolerance = limit.period - interval
        let current = max(tat ?? now, now)
        let allowAt = current.addingTimeInterval(-tolerance)
        if now < allowAt {
            let retry = allowAt.timeIntervalSince(now)
            let remaining = 0
            return (
                RateLimitDecision(
                    allowed: false,
                    limit: limit.limit,
                    remaining: remaining,
                    retryAfter: retry,
                    resetAfter: current.timeIntervalSince(now)
                ), nil
            )
        }
        let newTAT = current.addingTimeInterval(interval)
        let used = newTAT.timeIntervalSince(now)
        let remaining = max(0, Int(((limit.period - used) / interval).rounded(.down)))
        return (RateLimitDecision(allowed: true, limit: limit.limit, remaining: remaining, retryAfter: 0, resetAfter: used), newTAT)
    }
}

/// In-process store: enough for one server. Several instances behind a load balancer need a shared store.
public final class InMemoryRateLimitStore: RateLimitStore {
    private let state = NIOLockedValueBox([String: Date]())
    private let maximumKeys: Int

    public init(maximumKeys: Int = 100_000) {
        self.maximumKeys = maximumKeys
    }

    public func acquire(key: String, limit: RateLimit, now: Date) async throws -> RateLimitDecision {
        self.state.withLockedValue { table in
            if table.count >= self.maximumKeys {
                // Expired entries carry no information: a key whose TAT has passed is as good as absent.
                table = table.filter { $0.value > now }
            }
            let (decision, newTAT) = GCRA.decide(tat: table[key], limit: limit, now: now)
            if let newTAT { table[key] = newTAT }
            return decision
        }
    }
}

/// Account lockout (SPEC §2): 5 consecutive failures lock the account for 15 minutes, whatever the source.
public struct LockoutPolicy: Sendable {
    public var maximumFailures = 5
    public var lockDuration: TimeInterval = 15 * 60

    public init() {}

    /// After a failure that brings the count to `failures`: the lock deadline, if the account now locks.
    public func lockUntil(afterFailures failures: Int, now: Date) -> Date? {
        failures >= self.maximumFailures ? now.addingTimeInterval(self.lockDuration) : nil
    }
}
