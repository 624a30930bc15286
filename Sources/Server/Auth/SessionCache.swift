// A short-lived, in-process cache of session checks, so authenticating a request rarely touches the database.
// Revocation through this process invalidates the entry at once; other instances see it within `lifetime`.

import Foundation
import NIOConcurrencyHelpers
import Storage

final class SessionCache: Sendable {
    struct Entry: Sendable {
        let userID: UUID
        let role: AccountRole
        let sessionExpiresAt: Date
        let cachedUntil: Date
    }

    let lifetime: TimeInterval
    private let entries = NIOLockedValueBox([UUID: Entry]())
    private let maximumEntries = 50_000

    init(lifetime: TimeInterval = 5) {
        self.lifetime = lifetime
    }

    func lookup(_ sessionID: UUID, now: Date) -> Entry? {
        self.entries.withLockedValue { table in
            guard let entry = table[sessionID] else { return nil }
            guard entry.cachedUntil > now, entry.sessionExpiresAt > now else {
                table[sessionID] = nil
                return nil
            }
            return entry
        }
    }

    func store(_ sessionID: UUID, userID: UUID, role: AccountRole, sessionExpiresAt: Date, now: Date) {
        self.entries.withLockedValue { table in
            if table.count >= self.maximumEntries { table = table.filter { $0.value.cachedUntil > now } }
            table[sessionID] = Entry(
                userID: userID,
                role: role,
                sessionExpiresAt: sessionExpiresAt,
                cachedUntil: now.addingTimeInterval(self.lifetime)
            )
        }
    }

    func invalidate(sessions: [UUID]) {
        self.entries.withLockedValue { table in
            for id in sessions { table[id] = nil }
        }
    }
}
