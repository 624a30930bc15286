// Group commit for the engine's writes: while one transaction runs, later writes queue, and one of them then runs
// them all in the next transaction. Hundreds of bots placing orders in one tick cost a few commits, not hundreds.

import AuditLog
import Foundation
import Logging
import Synchronization

final class GroupCommit: Sendable {
    typealias Work = @Sendable (AuditedTransaction) async throws -> Void

    private enum Role: Sendable {
        case done
        case lead
    }

    private struct Waiting {
        let work: Work
        let outcome: CheckedContinuation<Role, any Error>
    }

    private struct State {
        var busy = false
        var queue: [Waiting] = []
    }

    private let state = Mutex(State())
    let database: TradekeepDatabase
    let logger: Logger

    init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Run `work` in a transaction, probably shared with others; returns (or throws) when that transaction is over.
    func run<T: Sendable>(_ work: @escaping @Sendable (AuditedTransaction) async throws -> T) async throws -> T {
        let result = Mutex<T?>(nil)
        let wrapped: Work = { transaction in
            let value = try await work(transaction)
            result.withLock { $0 = value }
        }
        if self.state.withLock({ state in
            if state.busy { return false }
            state.busy = true
            return true
        }) {
            try await self.lead(wrapped)
        } else {
            let role = try await withCheckedThrowingContinuation { (outcome: CheckedContinuation<Role, any Error>) in
                let leads = self.state.withLock { state -> Bool in
                    if !state.busy {
                        state.busy = true
                        return true
                    }
                    state.queue.append(Waiting(work: wrapped, outcome: outcome))
                    return false
                }
                if leads { outcome.resume(returning: .lead) }
            }
            if role == .lead { try await self.lead(wrapped) }
        }
        guard let value = result.withLock({ $0 }) else { throw CancellationError() }
        return value
    }

    /// Run `own` and everything queued in one transaction, answer the queued ones, hand the lead to the next.
    private func lead(_ own: @escaping Work) async throws {
        let batch = self.state.withLock { state in
            defer { state.queue.removeAll() }
            return state.queue
        }
        var ownError: (any Error)?
        do {
            try await self.database.transaction(logger: self.logger) { transaction in
                try await own(transaction)
                for waiting in batch { try await waiting.work(transaction) }
            }
            for waiting in batch { waiting.outcome.resume(returning: .done) }
        } catch {
            // One write failed the shared transaction: each runs again alone, so only the failing one fails.
            if !batch.isEmpty {
                self.logger.debug("group commit split", metadata: ["writes": .stringConvertible(batch.count + 1)])
            }
            do {
                try await self.database.transaction(logger: self.logger) { try await own($0) }
            } catch {
                ownError = error
            }
            for waiting in batch {
                do {
                    try await self.database.transaction(logger: self.logger) { try await waiting.work($0) }
                    waiting.outcome.resume(returning: .done)
                } catch {
                    waiting.outcome.resume(throwing: error)
                }
            }
        }
        let next = self.state.withLock { state -> Waiting? in
            guard !state.queue.isEmpty else {
                state.busy = false
                return nil
            }
            return state.queue.removeFirst()
        }
        next?.outcome.resume(returning: .lead)
        if let ownError { throw ownError }
    }
}
