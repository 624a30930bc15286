// The one API through which security events are recorded. The audit issue makes the log tamper-evident;
// the callers do not change.

import Foundation

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
}

public protocol AuditSink: Sendable {
    func record(_ event: AuditEvent) async throws
}
