// Stored exchange keys are asked about again every 24 hours (SPEC §4 made continuous): a key whose owner gave it a
// withdrawal or transfer right, removed its IP lock or revoked it at the exchange is disabled, its bots stopped and
// its owner alerted (`CredentialService.recheck`). Keys fall due at their own times (24 hours after they were last
// confirmed), so the checks spread out; they go one at a time, half a second apart, within every venue's limits.

import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization
import Venues

struct KeyRechecker: Service {
    let credentials: CredentialService
    let now: @Sendable () -> Date
    let logger: Logger
    /// How long a key may go without being confirmed.
    var maximumAge: TimeInterval = 86_400
    /// How often due keys are looked for.
    var poll: Duration = .seconds(600)

    /// Re-check every key that is due; returns what each check found.
    @discardableResult
    func runOnce() async throws -> [CredentialService.RecheckResult] {
        try await self.credentials.recheckDue(checkedBefore: self.now().addingTimeInterval(-self.maximumAge))
    }

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                try await self.runOnce()
            } catch {
                self.logger.error("key re-checks failed", metadata: ["error": .string(String(describing: error))])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.poll) }
        }
    }
}

/// Set once the services it calls exist (see `buildApplicationParts`).
final class KeyDisabledHandler: Sendable {
    private let handler = Mutex<(@Sendable (CredentialRecord, String) async -> Void)?>(nil)

    func set(_ handler: @escaping @Sendable (CredentialRecord, String) async -> Void) { self.handler.withLock { $0 = handler } }

    func handle(_ record: CredentialRecord, reason: String) async {
        await self.handler.withLock { $0 }?(record, reason)
    }
}
