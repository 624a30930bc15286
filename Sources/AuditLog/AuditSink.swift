// The one API through which security events are recorded. Changes write their entries inside their own
// transaction (Storage's `AuditWriter`); events that change nothing else (a refused login, a rejected key) go
// through an `AuditSink`, one transaction each. The audit-log issue makes the log tamper-evident; callers do not change.

import Foundation

/// Where a request came from, for the audit log and the session list.
public struct ClientInfo: Sendable, Equatable {
    public let ip: String?
    public let userAgent: String?

    public init(ip: String?, userAgent: String?) {
        self.ip = ip
        self.userAgent = userAgent
    }

    /// The bot engine acting on its own (a fill seen, a risk limit reached).
    public static let engine = ClientInfo(ip: nil, userAgent: "engine")
}

public struct AuditEvent: Sendable, Equatable {
    public let action: AuditAction
    /// The account the event concerns (nil for an unknown email, say).
    public let userID: UUID?
    public let ip: String?
    public let userAgent: String?
    /// Extra facts, never secrets: ids, reasons, counts.
    public let details: [String: String]
    public let at: Date

    public init(action: AuditAction, userID: UUID?, ip: String?, userAgent: String?, details: [String: String] = [:], at: Date = Date()) {
        self.action = action
        self.userID = userID
        self.ip = ip
        self.userAgent = userAgent
        self.details = details
        self.at = at
    }

    public init(_ action: AuditAction, user: UUID?, client: ClientInfo, _ details: [String: String] = [:], at: Date = Date()) {
        self.init(action: action, userID: user, ip: client.ip, userAgent: client.userAgent, details: details, at: at)
    }
}

/// The id quoted in an error answer or a status reason, and logged beside the detail: 64 random bits, hex —
/// unique enough to find one log line, useless to an attacker.
public enum ErrorID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let text = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }
}

/// Records events that change nothing else, each in its own transaction.
public protocol AuditSink: Sendable {
    func record(_ event: AuditEvent) async throws
}
