// The anomaly rules: small pure functions over recent audit entries (SPEC §7). Each looks at the entries of a scan
// window plus the lookback it needs before it, and reports only episodes whose triggering entry falls inside the
// window, so successive scans never report the same episode twice. Thresholds come from configuration.

import AuditLog
import Foundation

/// An audit entry as the rules see it.
public struct ObservedEvent: Sendable, Equatable {
    public let userID: UUID?
    public let action: AuditAction
    public let ip: String?
    public let details: [String: String]
    public let time: Date

    public init(userID: UUID?, action: AuditAction, ip: String?, details: [String: String] = [:], time: Date) {
        self.userID = userID
        self.action = action
        self.ip = ip
        self.details = details
        self.time = time
    }
}

/// The rules' thresholds (documented in docs/CONFIGURATION.md).
public struct AnomalyThresholds: Sendable, Equatable {
    /// Rapid-fire: more than this many orders placed …
    public var rapidFireOpens = 10
    /// … within this many seconds on one account.
    public var rapidFireWindow: TimeInterval = 300
    /// New IP: not seen on the account for this long.
    public var newIPLookback: TimeInterval = 30 * 86_400
    /// Credential stuffing: failed sign-ins for at least this many accounts from one IP …
    public var stuffingAccountsPerIP = 5
    /// … or from at least this many IPs on one account …
    public var stuffingIPsPerAccount = 5
    /// … within this many seconds.
    public var stuffingWindow: TimeInterval = 900
    /// Rejected keys: at least this many on one account …
    public var rejectedKeys = 3
    /// … within this many seconds.
    public var rejectedKeysWindow: TimeInterval = 3_600

    public init() {}

    /// How far before a scan window the rules need to look (the new-IP lookback is read separately, as IP sets).
    public var lookback: TimeInterval { max(self.rapidFireWindow, self.stuffingWindow, self.rejectedKeysWindow) }
}

/// One anomaly found: whom it concerns (nil: the operator only), what, and the key it is deduplicated on.
public struct Anomaly: Sendable, Equatable {
    public let kind: AnomalyKind
    /// The account concerned; nil for an operator-only alert (stuffing from one IP across accounts).
    public let userID: UUID?
    /// What is deduplicated on with `kind`: the user id, or `ip:<address>`.
    public let subject: String
    public let message: String
    public let details: [String: String]
    /// The entry that completed the pattern.
    public let time: Date

    public init(kind: AnomalyKind, userID: UUID?, subject: String, message: String, details: [String: String], time: Date) {
        self.kind = kind
        self.userID = userID
        self.subject = subject
        self.message = message
        self.details = details
        self.time = time
    }
}

public enum AnomalyRules {
    /// The actions a person takes (with an IP address): what the new-IP rule watches.
    public static let personalActions: Set<AuditAction> = [
        .login, .passwordChanged, .backupCodes, .credentialAdded, .credentialRotated, .credentialDeleted, .botDeployed,
        .botParamsChanged, .botStarted, .botStopped, .botKilled, .botDeleted, .botWebhookSecret, .accountKillSwitch,
        .auditExported,
    ]

    /// Every rule over `events` (sorted by time, covering `window` and `thresholds.lookback` before it); `knownIPs`
    /// are the addresses each account used in the `newIPLookback` before the window.
    public static func evaluate(
        _ events: [ObservedEvent],
        window: Range<Date>,
        knownIPs: [UUID: Set<String>],
        thresholds: AnomalyThresholds
    ) -> [Anomaly] {
        Self.rapidFire(events, window: window, thresholds: thresholds)
            + Self.newIP(events, window: window, knownIPs: knownIPs)
            + Self.credentialStuffing(events, window: window, thresholds: thresholds)
            + Self.totpReplay(events, window: window)
            + Self.rejectedKeys(events, window: window, thresholds: thresholds)
            + Self.botStopped(events, window: window)
    }

    /// More than `rapidFireOpens` orders placed on one account within `rapidFireWindow`: one anomaly per account,
    /// at the first order inside the scan window that exceeds the count.
    public static func rapidFire(_ events: [ObservedEvent], window: Range<Date>, thresholds: AnomalyThresholds) -> [Anomaly] {
        Self.firstBurst(
            events.filter { $0.action == .orderPlaced },
            key: \.userID,
            over: thresholds.rapidFireWindow,
            window: window,
            exceeds: { $0.count > thresholds.rapidFireOpens }
        ).map { user, burst in
            Anomaly(
                kind: .rapidFireTrading,
                userID: user,
                subject: user.apiSubject,
                message: "\(burst.count) orders were placed within \(Int(thresholds.rapidFireWindow / 60)) minutes.",
                details: ["orders": String(burst.count), "window_seconds": String(Int(thresholds.rapidFireWindow))],
                time: burst.last!.time
            )
        }
    }

    /// A sign-in or personal action from an IP address the account has not used in the lookback (nor earlier in
    /// the window). An account with no address at all before it (its first sign-up) is not flagged.
    public static func newIP(_ events: [ObservedEvent], window: Range<Date>, knownIPs: [UUID: Set<String>]) -> [Anomaly] {
        var seen = knownIPs
        var found: [Anomaly] = []
        var flagged: Set<UUID> = []
        for event in events {
            guard let user = event.userID, let ip = event.ip, !ip.isEmpty else { continue }
            let known = seen[user, default: []]
            defer { seen[user, default: []].insert(ip) }
            guard window.contains(event.time), Self.personalActions.contains(event.action) || event.action == .registered else { continue }
            guard !known.isEmpty, !known.contains(ip), event.action != .registered, !flagged.contains(user) else { continue }
            flagged.insert(user)
            found.append(
                Anomaly(
                    kind: .newIPAddress,
                    userID: user,
                    subject: user.apiSubject,
                    message: "Your account was used from \(ip), an address it has not used in the last 30 days (\(event.action.rawValue)).",
                    details: ["ip": ip, "action": event.action.rawValue],
                    time: event.time
                )
            )
        }
        return found
    }

    /// Failed sign-ins: for at least `stuffingAccountsPerIP` accounts from one IP (unknown emails count as accounts:
    /// the entries do not say which), or from at least `stuffingIPsPerAccount` IPs on one account, within
    /// `stuffingWindow`.
    public static func credentialStuffing(_ events: [ObservedEvent], window: Range<Date>, thresholds: AnomalyThresholds) -> [Anomaly] {
        let failures = events.filter {
            $0.action == .loginFailed && $0.details["reason"] != "locked" && $0.details["reason"] != "attempts_in_progress"
        }
        let byIP = Self.firstBurst(
            failures,
            key: \.ip,
            over: thresholds.stuffingWindow,
            window: window,
            exceeds: { burst in
                // Distinct known accounts, plus each unknown-account failure.
                Set(burst.compactMap(\.userID)).count + burst.filter { $0.userID == nil }.count >= thresholds.stuffingAccountsPerIP
            }
        ).map { ip, burst in
            let accounts = Set(burst.compactMap(\.userID)).count + burst.filter { $0.userID == nil }.count
            return Anomaly(
                kind: .credentialStuffing,
                userID: nil,
                subject: "ip:\(ip)",
                message: "Failed sign-ins for \(accounts) accounts from \(ip) within \(Int(thresholds.stuffingWindow / 60)) minutes.",
                details: ["ip": ip, "accounts": String(accounts)],
                time: burst.last!.time
            )
        }
        let byAccount = Self.firstBurst(
            failures.filter { $0.ip != nil },
            key: \.userID,
            over: thresholds.stuffingWindow,
            window: window,
            exceeds: { Set($0.compactMap(\.ip)).count >= thresholds.stuffingIPsPerAccount }
        ).map { user, burst in
            let addresses = Set(burst.compactMap(\.ip)).count
            return Anomaly(
                kind: .credentialStuffing,
                userID: user,
                subject: user.apiSubject,
                message:
                    "Failed sign-ins on your account from \(addresses) different addresses within \(Int(thresholds.stuffingWindow / 60)) minutes.",
                details: ["addresses": String(addresses)],
                time: burst.last!.time
            )
        }
        return byIP + byAccount
    }

    /// A TOTP code presented a second time.
    public static func totpReplay(_ events: [ObservedEvent], window: Range<Date>) -> [Anomaly] {
        var flagged: Set<UUID> = []
        return events.compactMap { event in
            guard event.action == .totpReplay, window.contains(event.time), let user = event.userID, flagged.insert(user).inserted else { return nil }
            return Anomaly(
                kind: .totpReplay,
                userID: user,
                subject: user.apiSubject,
                message: "A sign-in code of your account was used a second time\(event.ip.map { " (from \($0))" } ?? ""): someone may have seen it.",
                details: event.ip.map { ["ip": $0] } ?? [:],
                time: event.time
            )
        }
    }

    /// At least `rejectedKeys` exchange keys refused on one account within `rejectedKeysWindow`.
    public static func rejectedKeys(_ events: [ObservedEvent], window: Range<Date>, thresholds: AnomalyThresholds) -> [Anomaly] {
        Self.firstBurst(
            events.filter { $0.action == .credentialRejected },
            key: \.userID,
            over: thresholds.rejectedKeysWindow,
            window: window,
            exceeds: { $0.count >= thresholds.rejectedKeys }
        ).map { user, burst in
            Anomaly(
                kind: .repeatedRejectedKeys,
                userID: user,
                subject: user.apiSubject,
                message: "\(burst.count) exchange keys were refused within \(Int(thresholds.rejectedKeysWindow / 60)) minutes.",
                details: ["rejected": String(burst.count)],
                time: burst.last!.time
            )
        }
    }

    /// A bot stopped by a risk limit or a failure: one anomaly per bot.
    public static func botStopped(_ events: [ObservedEvent], window: Range<Date>) -> [Anomaly] {
        var flagged: Set<String> = []
        return events.compactMap { event in
            guard event.action == .botRiskStop || event.action == .botFailed, window.contains(event.time), let user = event.userID else { return nil }
            let bot = event.details["bot_id"] ?? ""
            guard flagged.insert(user.uuidString + bot).inserted else { return nil }
            let why = event.details["reason"].map { ": \($0)" } ?? ""
            return Anomaly(
                kind: .botStopped,
                userID: user,
                subject: user.apiSubject,
                message: (event.action == .botRiskStop ? "A bot was stopped by a risk limit" : "A bot stopped after failing") + why,
                details: ["bot_id": bot, "action": event.action.rawValue],
                time: event.time
            )
        }
    }

    /// For each key, the first sliding burst (entries within `span` of each other, ending inside the window) that
    /// satisfies `exceeds`, as the entries of that burst.
    static func firstBurst<Key: Hashable>(
        _ events: [ObservedEvent],
        key: (ObservedEvent) -> Key?,
        over span: TimeInterval,
        window: Range<Date>,
        exceeds: ([ObservedEvent]) -> Bool
    ) -> [(Key, [ObservedEvent])] {
        var groups: [Key: [ObservedEvent]] = [:]
        var order: [Key] = []
        for event in events {
            guard let name = key(event) else { continue }
            if groups[name] == nil { order.append(name) }
            groups[name, default: []].append(event)
        }
        return order.compactMap { name in
            let group = groups[name]!
            var start = 0
            for end in group.indices where window.contains(group[end].time) {
                while group[end].time.timeIntervalSince(group[start].time) > span { start += 1 }
                let burst = Array(group[start...end])
                if exceeds(burst) { return (name, burst) }
            }
            return nil
        }
    }

    /// The actions any rule reads: a scan loads only these.
    public static let observedActions: Set<AuditAction> = personalActions.union([
        .registered, .orderPlaced, .loginFailed, .totpReplay, .credentialRejected, .botRiskStop, .botFailed,
    ])

    /// The actions whose details a rule reads (the reason of a failed sign-in, the bot and reason of a stop).
    public static let actionsWithDetails: Set<AuditAction> = [.loginFailed, .botRiskStop, .botFailed]
}

extension UUID {
    /// The lower-case form the API and the dedup keys use.
    var apiSubject: String { self.uuidString.lowercased() }
}
