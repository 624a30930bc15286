// Group commit for the paper venue: callers whose changes arrive while a save runs share the next save.

import Synchronization

/// Makes the exchange's changes durable through its ledger, one save at a time. A caller waits until a save covers
/// its change; while a save runs, later callers queue, and the next save (led by one of them) covers all of them, so
/// under load there are far fewer saves than changes.
final class PaperGroupCommit: Sendable {
    private enum Turn {
        /// A save that covers the caller's change has completed.
        case saved
        /// No save is running: the caller runs the next one.
        case lead
    }

    private struct Waiter {
        let version: UInt64
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State {
        /// Every change up to this version is durable.
        var saved: UInt64 = 0
        var saving = false
        var waiters: [Waiter] = []
    }

    let exchange: PaperExchange
    let ledger: any PaperLedger
    private let state = Mutex(State())

    init(exchange: PaperExchange, ledger: any PaperLedger) {
        self.exchange = exchange
        self.ledger = ledger
    }

    /// Returns once a save that includes every change up to `version` has completed; throws that save's error.
    func save(through version: UInt64) async throws {
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            let now: Turn? = self.state.withLock { state in
                if state.saved >= version { return .saved }
                if !state.saving {
                    state.saving = true
                    return .lead
                }
                state.waiters.append(Waiter(version: version, continuation: continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
        if case .lead = turn { try await self.lead() }
    }

    /// Save everything pending, answer the callers it covered (with its error if it failed), and hand the next save
    /// to a caller whose change came too late for this one.
    private func lead() async throws {
        let changes = await self.exchange.pendingChanges()
        let outcome: Result<Void, any Error>
        do {
            if !changes.isEmpty { try await self.ledger.save(changes) }
            await self.exchange.didSave(through: changes.version)
            outcome = .success(())
        } catch {
            // The changes stay pending in the exchange: the next save writes them.
            outcome = .failure(error)
        }
        let (covered, next) = self.state.withLock { state -> ([Waiter], Waiter?) in
            if case .success = outcome { state.saved = max(state.saved, changes.version) }
            let covered = state.waiters.filter { $0.version <= changes.version }
            let later = state.waiters.filter { $0.version > changes.version }
            state.waiters = Array(later.dropFirst())
            state.saving = !later.isEmpty
            return (covered, later.first)
        }
        for waiter in covered { waiter.continuation.resume(with: outcome.map { .saved }) }
        next?.continuation.resume(returning: .lead)
        try outcome.get()
    }
}
